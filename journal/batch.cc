#include "journal/batch.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "engine/base/assert.h"
#include "engine/base/crc32c.h"

namespace flashsaga::journal {
namespace {

void put_bytes(std::vector<std::byte>& out, const void* data, std::size_t size) {
  if (size == 0) return;
  const auto* p = static_cast<const std::byte*>(data);
  out.insert(out.end(), p, p + size);
}

std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08" PRIX32, v);
  return buf;
}

Status corrupt_batch(std::uint64_t first, const std::string& what) {
  return Status(ErrorCode::corrupt, 0,
                "journal batch at sequence " + std::to_string(first) + " is corrupt: " + what);
}

Status corrupt_record(std::uint64_t sequence, const std::string& what) {
  return Status(ErrorCode::corrupt, 0,
                "journal record at sequence " + std::to_string(sequence) + " is corrupt: " + what);
}

std::uint32_t sections_checksum(Bytes state, Bytes outbox) noexcept {
  std::uint32_t crc = crc32c(state.data(), state.size());
  return crc32c(outbox.data(), outbox.size(), crc);
}

// Checks one record at the front of `rest`; on success `out` is set and `size` is its length.
Status decode_one(Bytes rest, std::uint64_t sequence, RecordView& out, std::size_t& size) {
  if (rest.size() < sizeof(RecordHeader)) {
    return corrupt_record(sequence, std::to_string(rest.size()) +
                                        " bytes left in its batch, shorter than a 32-byte header");
  }
  RecordHeader h;
  std::memcpy(&h, rest.data(), sizeof h);  // the map gives no alignment guarantee
  if (h.magic != journal_magic) {
    return corrupt_record(sequence,
                          "magic " + hex32(h.magic) + ", expected " + hex32(journal_magic));
  }
  if (h.version != journal_layout_version) {
    return corrupt_record(sequence, "layout version " + std::to_string(h.version) + ", expected " +
                                        std::to_string(journal_layout_version));
  }
  if (h.payload_size > record_payload_size_max_bytes) {
    return corrupt_record(
        sequence, "payload of " + std::to_string(h.payload_size) + " bytes is over the limit");
  }
  if (h.payload_size > rest.size() - sizeof h) {
    return corrupt_record(sequence, "header says " + std::to_string(h.payload_size) +
                                        " payload bytes, its batch holds " +
                                        std::to_string(rest.size() - sizeof h));
  }
  const Bytes payload = rest.subspan(sizeof h, h.payload_size);
  const std::uint32_t computed = record_checksum(h, payload);
  if (computed != h.checksum) {
    return corrupt_record(sequence,
                          "checksum " + hex32(h.checksum) + ", computed " + hex32(computed));
  }
  out.sequence = sequence;
  out.header = h;
  out.payload = payload;
  size = sizeof h + h.payload_size;
  return {};
}

}  // namespace

std::uint32_t record_checksum(RecordHeader header, Bytes payload) noexcept {
  header.checksum = 0;
  std::uint32_t crc = crc32c(&header, sizeof header);
  if (!payload.empty()) crc = crc32c(payload.data(), payload.size(), crc);
  return crc;
}

// --- BatchBuilder --------------------------------------------------------------------------

void BatchBuilder::begin(std::uint64_t first_sequence, std::int64_t time_ns) noexcept {
  FS_ASSERT(first_sequence >= 1);
  clear();
  first_sequence_ = first_sequence;
  next_time_ns_ = time_ns;
}

void BatchBuilder::clear() noexcept {
  record_count_ = 0;
  records_.clear();
  state_.clear();
  outbox_.clear();
}

std::uint64_t BatchBuilder::add_record(std::uint16_t type, std::uint64_t order_id, Bytes payload) {
  FS_ASSERT(first_sequence_ >= 1);  // begin() first
  FS_ASSERT(type != 0);             // record types are stable numbers from 1
  FS_ASSERT(payload.size() <= record_payload_size_max_bytes);
  RecordHeader h{};
  h.magic = journal_magic;
  h.version = journal_layout_version;
  h.type = type;
  h.payload_size = static_cast<std::uint32_t>(payload.size());
  h.order_id = order_id;
  h.time_ns = next_time_ns_++;
  h.checksum = record_checksum(h, payload);
  put_bytes(records_, &h, sizeof h);
  put_bytes(records_, payload.data(), payload.size());
  return first_sequence_ + record_count_++;
}

void BatchBuilder::add_entry(Section section, std::uint16_t tag, Bytes key, Bytes value) {
  FS_ASSERT(key.size() <= entry_key_size_max_bytes);
  FS_ASSERT(value.size() <= entry_value_size_max_bytes);
  std::size_t stored = value.size();
  while (stored > 0 && value[stored - 1] == std::byte{0}) --stored;
  std::vector<std::byte>& out = section == Section::state ? state_ : outbox_;
  const EntryHeader h{tag, static_cast<std::uint16_t>(key.size()),
                      static_cast<std::uint16_t>(value.size()), static_cast<std::uint16_t>(stored)};
  put_bytes(out, &h, sizeof h);
  put_bytes(out, key.data(), key.size());
  put_bytes(out, value.data(), stored);
}

void Entry::copy_value(std::byte* out) const noexcept {
  if (!stored.empty()) std::memcpy(out, stored.data(), stored.size());
  if (value_size > stored.size()) std::memset(out + stored.size(), 0, value_size - stored.size());
}

std::size_t BatchBuilder::stored_bytes() const noexcept {
  return sizeof(BatchHeader) + records_.size() + state_.size() + outbox_.size();
}

void BatchBuilder::write_to(std::byte* out) const noexcept {
  BatchHeader h{};
  h.magic = batch_magic;
  h.version = journal_layout_version;
  h.record_count = record_count_;
  h.records_bytes = static_cast<std::uint32_t>(records_.size());
  h.state_bytes = static_cast<std::uint32_t>(state_.size());
  h.outbox_bytes = static_cast<std::uint32_t>(outbox_.size());
  h.checksum =
      sections_checksum(Bytes(state_.data(), state_.size()), Bytes(outbox_.data(), outbox_.size()));
  std::memcpy(out, &h, sizeof h);
  std::size_t at = sizeof h;
  for (const std::vector<std::byte>* part : {&records_, &state_, &outbox_}) {
    if (!part->empty()) std::memcpy(out + at, part->data(), part->size());
    at += part->size();
  }
}

BatchView BatchBuilder::view() const noexcept {
  BatchView v;
  v.first_sequence = first_sequence_;
  v.record_count = record_count_;
  v.records = Bytes(records_.data(), records_.size());
  v.state = Bytes(state_.data(), state_.size());
  v.outbox = Bytes(outbox_.data(), outbox_.size());
  return v;
}

// --- Reading -------------------------------------------------------------------------------

Status decode_batch(Bytes key, Bytes value, BatchView& out) {
  if (key.size() != 8) {
    return Status(
        ErrorCode::corrupt, 0,
        "journal key of " + std::to_string(key.size()) + " bytes (keys are 8-byte sequences)");
  }
  const std::uint64_t first = u64_from_key(key);
  if (value.size() < sizeof(BatchHeader)) {
    return corrupt_batch(first, "value of " + std::to_string(value.size()) +
                                    " bytes is shorter than its 32-byte header");
  }
  BatchHeader h;
  std::memcpy(&h, value.data(), sizeof h);
  if (h.magic != batch_magic)
    return corrupt_batch(first, "magic " + hex32(h.magic) + ", expected " + hex32(batch_magic));
  if (h.version != journal_layout_version) {
    return corrupt_batch(first, "layout version " + std::to_string(h.version) + ", expected " +
                                    std::to_string(journal_layout_version));
  }
  const std::uint64_t sections = std::uint64_t{h.records_bytes} + h.state_bytes + h.outbox_bytes;
  if (sizeof h + sections != value.size()) {
    return corrupt_batch(first, "sections of " + std::to_string(sections) +
                                    " bytes in a value of " + std::to_string(value.size()));
  }
  if (first == 0 && h.record_count != 0) return corrupt_batch(first, "sequence 0");
  out.first_sequence = first;
  out.record_count = h.record_count;
  out.records = value.subspan(sizeof h, h.records_bytes);
  out.state = value.subspan(sizeof h + h.records_bytes, h.state_bytes);
  out.outbox = value.subspan(sizeof h + h.records_bytes + h.state_bytes, h.outbox_bytes);
  const std::uint32_t computed = sections_checksum(out.state, out.outbox);
  if (computed != h.checksum) {
    return corrupt_batch(first,
                         "section checksum " + hex32(h.checksum) + ", computed " + hex32(computed));
  }
  return {};
}

Status for_each_record(const BatchView& batch, std::uint64_t from_sequence,
                       const std::function<bool(const RecordView&)>& fn, bool* stopped) {
  *stopped = false;
  Bytes rest = batch.records;
  for (std::uint32_t i = 0; i < batch.record_count; ++i) {
    RecordView view{};
    std::size_t size = 0;
    if (Status s = decode_one(rest, batch.first_sequence + i, view, size); !s.ok()) return s;
    rest = rest.subspan(size);
    if (view.sequence < from_sequence) continue;
    if (!fn(view)) {
      *stopped = true;
      return {};
    }
  }
  if (!rest.empty()) {
    return corrupt_batch(batch.first_sequence,
                         std::to_string(rest.size()) + " bytes after its last record");
  }
  return {};
}

Status for_each_entry(const BatchView& batch, Section section,
                      const std::function<void(const Entry&)>& fn) {
  Bytes rest = section == Section::state ? batch.state : batch.outbox;
  // Each entry takes at least its 8-byte header, so this bounds the loop by the section size.
  const std::size_t entries_max = rest.size() / sizeof(EntryHeader);
  for (std::size_t n = 0; n < entries_max && !rest.empty(); ++n) {
    if (rest.size() < sizeof(EntryHeader)) break;
    EntryHeader h;
    std::memcpy(&h, rest.data(), sizeof h);
    const std::size_t size = sizeof h + std::size_t{h.key_size} + h.stored_size;
    if (h.key_size > entry_key_size_max_bytes || h.value_size > entry_value_size_max_bytes ||
        h.stored_size > h.value_size || size > rest.size()) {
      return corrupt_batch(batch.first_sequence, "an entry overruns its section");
    }
    fn(Entry{h.tag, rest.subspan(sizeof h, h.key_size),
             rest.subspan(sizeof h + h.key_size, h.stored_size), h.value_size});
    rest = rest.subspan(size);
  }
  if (!rest.empty()) return corrupt_batch(batch.first_sequence, "a section ends inside an entry");
  return {};
}

}  // namespace flashsaga::journal
