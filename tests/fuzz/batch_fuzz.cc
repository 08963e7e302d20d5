// batch_fuzz: journal batch and record decoding (journal/batch.h): decode_batch(),
// for_each_record() and for_each_entry() over arbitrary stored values.
//
// Input: one flag byte, an 8-byte key, then the value. Flag bit 0 recomputes the header's
// section checksum and bit 1 each record's checksum (walking the records as their headers
// say, bounded), so the mutator gets past the CRCs into the framing behind them.
// Checks: nothing crashes or reads outside the value (ASan); a decoded batch's sections lie
// inside the value and add up; every record and entry handed out lies inside its section and
// within the journal's limits; copy_value() writes exactly value_size bytes.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "engine/base/crc32c.h"
#include "journal/batch.h"

using namespace flashsaga;
using namespace flashsaga::journal;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "batch_fuzz: %s\n", what);
    std::abort();
  }
}

bool inside(Bytes part, Bytes whole) {
  if (part.empty()) return true;
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

// Recomputes the checksums the flags ask for, trusting the header's sizes only within the value.
void fix_up(std::vector<std::byte>& v, std::uint8_t flags) {
  if (v.size() < sizeof(BatchHeader)) return;
  BatchHeader h;
  std::memcpy(&h, v.data(), sizeof h);
  const std::size_t body = v.size() - sizeof h;
  if ((flags & 2) != 0 && h.records_bytes <= body) {
    std::size_t at = sizeof h;
    const std::size_t end = sizeof h + h.records_bytes;
    for (std::uint32_t i = 0; i < h.record_count && i < 4096 && end - at >= sizeof(RecordHeader);
         ++i) {
      RecordHeader r;
      std::memcpy(&r, v.data() + at, sizeof r);
      if (r.payload_size > end - at - sizeof r) break;
      r.checksum = record_checksum(r, Bytes(v.data() + at + sizeof r, r.payload_size));
      std::memcpy(v.data() + at, &r, sizeof r);
      at += sizeof r + r.payload_size;
    }
  }
  if ((flags & 1) != 0 && std::uint64_t{h.records_bytes} + h.state_bytes + h.outbox_bytes <= body) {
    const std::byte* sections = v.data() + sizeof h + h.records_bytes;
    h.checksum = crc32c(sections, std::size_t{h.state_bytes} + h.outbox_bytes);
    std::memcpy(v.data(), &h, sizeof h);
  }
}

void visit(const BatchView& b, Bytes value) {
  require(inside(b.records, value) && inside(b.state, value) && inside(b.outbox, value),
          "a section lies outside the value");
  require(b.records.size() + b.state.size() + b.outbox.size() + sizeof(BatchHeader) <= value.size(),
          "the sections are larger than the value");
  std::uint64_t records = 0;
  bool stopped = false;
  (void)for_each_record(
      b, b.first_sequence,
      [&](const RecordView& r) {
        require(inside(r.payload, b.records),
                "a record's payload lies outside the records section");
        require(r.payload.size() == r.header.payload_size,
                "a record's payload size differs from its header");
        require(r.sequence == b.first_sequence + records, "records are not numbered in order");
        ++records;
        return records < 100000;
      },
      &stopped);
  require(records <= b.record_count, "more records than the batch says");
  std::vector<std::byte> copy;
  for (Section s : {Section::state, Section::outbox}) {
    const Bytes section = s == Section::state ? b.state : b.outbox;
    (void)for_each_entry(b, s, [&](const Entry& e) {
      require(inside(e.key, section) && inside(e.stored, section),
              "an entry lies outside its section");
      require(e.key.size() <= entry_key_size_max_bytes, "an entry's key is over the limit");
      require(e.value_size <= entry_value_size_max_bytes && e.stored.size() <= e.value_size,
              "an entry's value is over the limit");
      copy.assign(e.value_size + 1, std::byte{0x5a});
      e.copy_value(copy.data());
      require(copy[e.value_size] == std::byte{0x5a}, "copy_value() wrote past value_size");
    });
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 9) return 0;
  const std::uint8_t flags = data[0];
  const Bytes key(reinterpret_cast<const std::byte*>(data + 1), 8);
  // The value in its own allocation, exactly its size: ASan sees any read past it.
  std::vector<std::byte> value(reinterpret_cast<const std::byte*>(data + 9),
                               reinterpret_cast<const std::byte*>(data + size));
  fix_up(value, flags);
  const Bytes v(value.data(), value.size());
  BatchView b;
  if (decode_batch(key, v, b).ok()) visit(b, v);
  // A key of another length than 8 must be refused or handled, never read past.
  BatchView short_key;
  (void)decode_batch(key.first(flags % 9), v, short_key);
  return 0;
}
