// batch: the unit a journal stores — one LMDB value per committed batch of a domain.
//
// A domain's batch is journaled as ONE value in the journal table, under the key of its first
// record's sequence (u64 big-endian), appended with MDB_APPEND. One put per batch instead of
// one per record: the copy-on-write B-tree then writes each journal page once, full, in order,
// and a commit of a thousand records costs one LMDB operation.
//
// Layout of one stored batch (offsets in bytes; every integer little-endian):
//
//    0       4   6   8       12      16      20      24      28      32
//    +-------+---+---+-------+-------+-------+-------+-------+-------+
//    | magic |ver|rsv|records| rbytes| sbytes| obytes|  crc  | rsvd  |   BatchHeader (32 B)
//    +-------+---+---+-------+-------+-------+-------+-------+-------+
//    | records section: `records` x (RecordHeader (32 B) + payload), rbytes in all          |
//    +--------------------------------------------------------------------------------------+
//    | state section: entries, sbytes in all  (the domain's state changes: a redo log)      |
//    +--------------------------------------------------------------------------------------+
//    | outbox section: entries, obytes in all (the messages the batch sends)                |
//    +--------------------------------------------------------------------------------------+
//
//   entry:  0        2        4        6        8
//           +--------+--------+--------+--------+------------+----------------------+
//           |  tag   | keylen | vallen | stored | key bytes  | value bytes (stored)  |
//           +--------+--------+--------+--------+------------+----------------------+
//   A value is stored without its trailing zero bytes (`stored` <= `vallen`); readers get it
//   back whole (Entry::value_size says how long, the missing tail is zero).
//
// Records keep their own RecordHeader and CRC32C (journal.h): the inspector names a broken
// record by its sequence. The header's crc is the CRC32C of the state and outbox sections.
// What an entry's tag, key and value mean is the writer's business (the runtime: a table index
// and a row image; an output edge and a message); the journal only frames and checks them.
//
// Requires: one BatchBuilder per writing thread; payloads and entries within the limits below.
// Guarantees: a finished builder holds exactly what append_batch() stores; decode_batch()
//   accepts only a value whose framing and checksums hold, and never reads past it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "journal/journal.h"

namespace flashsaga::journal {

inline constexpr std::uint32_t batch_magic = 0x424A5346u;  // "FSJB" little-endian
// Keys up to 128 bytes: a view key is at most an e-mail address (the user domain's emails).
inline constexpr std::size_t entry_key_size_max_bytes = 128;
inline constexpr std::size_t entry_value_size_max_bytes = 4096;

struct BatchHeader {
  std::uint32_t magic;          //  0 batch_magic
  std::uint16_t version;        //  4 journal_layout_version
  std::uint16_t reserved0;      //  6 zero
  std::uint32_t record_count;   //  8
  std::uint32_t records_bytes;  // 12
  std::uint32_t state_bytes;    // 16
  std::uint32_t outbox_bytes;   // 20
  std::uint32_t checksum;       // 24 CRC32C of the state and outbox sections
  std::uint32_t reserved1;      // 28 zero
};
static_assert(sizeof(BatchHeader) == 32);
static_assert(std::has_unique_object_representations_v<BatchHeader>);

struct EntryHeader {
  std::uint16_t tag;
  std::uint16_t key_size;
  std::uint16_t value_size;   // the value's whole size
  std::uint16_t stored_size;  // bytes stored: the value without its trailing zeros
};
static_assert(sizeof(EntryHeader) == 8);

enum class Section : std::uint8_t { state = 0, outbox = 1 };

struct Entry {
  std::uint16_t tag;
  Bytes key;
  Bytes stored;            // the value's first stored.size() bytes
  std::size_t value_size;  // the value's whole size; bytes past `stored` are zero
  // Copies the whole value into out (value_size bytes).
  void copy_value(std::byte* out) const noexcept;
};

// One stored batch, checked. Views point into the transaction's map.
struct BatchView {
  std::uint64_t first_sequence = 0;
  std::uint32_t record_count = 0;
  Bytes records;
  Bytes state;
  Bytes outbox;
  std::uint64_t next_sequence() const noexcept { return first_sequence + record_count; }
};

// Builds one batch in memory, ready for WriteTxn::append_batch. Its buffers are kept from batch
// to batch (clear() keeps capacity), so a warm writer does not allocate.
class BatchBuilder {
 public:
  BatchBuilder() = default;
  // Starts a batch: its first record gets first_sequence (>= 1); records are stamped time_ns,
  // time_ns + 1, ... (strictly increasing along the journal; the caller passes
  // max(now, last record's time + 1)).
  void begin(std::uint64_t first_sequence, std::int64_t time_ns) noexcept;
  void clear() noexcept;

  // Appends a record; returns its sequence. Asserts type != 0 and the payload limit.
  std::uint64_t add_record(std::uint16_t type, std::uint64_t order_id, Bytes payload);
  // Appends an entry to a section. Asserts the key and value limits.
  void add_entry(Section section, std::uint16_t tag, Bytes key, Bytes value);

  bool empty() const noexcept { return record_count_ == 0 && state_.empty() && outbox_.empty(); }
  std::uint64_t first_sequence() const noexcept { return first_sequence_; }
  std::uint64_t next_sequence() const noexcept { return first_sequence_ + record_count_; }
  std::uint32_t record_count() const noexcept { return record_count_; }
  // time_ns of the last record added (the begin time - 1 if none).
  std::int64_t last_time_ns() const noexcept { return next_time_ns_ - 1; }
  std::size_t stored_bytes() const noexcept;

  // Writes the stored form (header and sections) into out, which has stored_bytes().
  void write_to(std::byte* out) const noexcept;
  // The batch as a reader sees it once stored (valid until the builder changes).
  BatchView view() const noexcept;

 private:
  std::uint64_t first_sequence_ = 0;
  std::int64_t next_time_ns_ = 0;
  std::uint32_t record_count_ = 0;
  std::vector<std::byte> records_;
  std::vector<std::byte> state_;
  std::vector<std::byte> outbox_;
};

// Checks a stored batch's framing and section checksum (records are checked one by one as
// they are read). Returns ok or corrupt (the message names the batch's first sequence).
Status decode_batch(Bytes key, Bytes value, BatchView& out);

// Visits the records of a batch with sequence >= from_sequence, checking each (framing,
// version, checksum). Returns ok, or corrupt naming the record.
Status for_each_record(const BatchView& batch, std::uint64_t from_sequence,
                       const std::function<bool(const RecordView&)>& fn, bool* stopped);

// Visits the entries of a section in order. Returns ok, or corrupt if the framing is broken.
Status for_each_entry(const BatchView& batch, Section section,
                      const std::function<void(const Entry&)>& fn);

}  // namespace flashsaga::journal
