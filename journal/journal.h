// journal: the LMDB environment each domain writes, and every other process may read.
//
// Requires: a directory per domain under the deployment's data directory. One Env per process
//   per directory. LMDB rules apply and are restated here:
//   - A process has at most one live WriteTxn per Env, used by one thread (the domain's
//     business thread). Only the owning domain process ever opens a WriteTxn.
//   - ReadTxns may be used from any thread, one thread each; many may be live at once.
//   - Nothing crosses fork(): open the Env after forking.
//   - Views returned by get/scan/records point into the map and are valid only until the
//     transaction that produced them ends (commit, abort, or destruction).
//   - Every ReadTxn and WriteTxn ends before its Env is destroyed.
//   - A reader keeps its snapshot (and the pages it pins) as long as its ReadTxn lives: readers
//     in other processes take short snapshots, never one held forever, or the writer's file
//     grows without bound. When the writer grows the map, a reader process adopts the new
//     size in begin_read, which needs that process's other transactions to have ended.
// Guarantees: a WriteTxn is all or nothing. After commit() returns ok with Durability::sync,
//   the batch survives power loss; with Durability::nosync, it survives a process crash (the
//   OS writes it later). A batch whose commit did not return ok is not visible to anyone,
//   ever, whatever happened to the process.
//
// Tables: every environment has
//   - "journal": append-only batches, key = the sequence of the batch's first record (u64
//     big-endian, from 1), value = one batch: its records (RecordHeader + payload, each with a
//     CRC32C checked on every read) and two sections of entries (journal/batch.h);
//   - "meta": magic, layout version, domain name, creation time (checked on open);
//   - the named tables listed in Options::tables (domain state, inbox, outbox, ...).
//
// Errors: every function returns Status; the comment on each says which codes it can return.
// Status keeps the raw LMDB return code for diagnostics. Nothing here throws or aborts on an
// operating error (disk full, map full, missing directory, foreign version).
//
// Example:
//   journal::Options opt{.dir = data / "order", .domain = "order", .tables = {"orders"}};
//   std::unique_ptr<journal::Env> env;
//   if (auto s = journal::Env::open(opt, env); !s.ok()) die(s.message);
//   const journal::TableId orders = env->table("orders");
//   journal::WriteTxn txn;
//   env->begin_write(txn);
//   txn.put(orders, journal::key_u64(17), as_bytes(order));
//   txn.append(record_type::order_pending, 17, as_bytes(record));
//   if (auto s = txn.commit(); s.code() == journal::ErrorCode::map_full) env->grow();
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

struct MDB_env;
struct MDB_txn;

namespace flashsaga::journal {
class BatchBuilder;
struct BatchView;
namespace internal {
struct EnvAccess;  // journal.cc's helpers for opening and remapping
}  // namespace internal

inline constexpr std::uint32_t journal_magic = 0x524A5346u;  // "FSJR" little-endian
// 2: the journal table holds one value per batch (journal/batch.h), not one per record.
inline constexpr std::uint16_t journal_layout_version = 2;
inline constexpr std::size_t key_size_max_bytes = 511;  // LMDB's default key limit
inline constexpr std::size_t record_payload_size_max_bytes = 4096;
inline constexpr std::size_t tables_max = 30;  // besides journal and meta

// sync: every commit is flushed (fdatasync) before commit() returns: survives power loss.
// nosync: commits are never flushed (the OS writes them back later): survives process crashes.
// interval: like sync for this Env (its commits are flushed); the runtime commits to it only
//   every fsync_interval_ms and keeps the batches in between in a staging log (staging.h).
enum class Durability : std::uint8_t { sync = 0, nosync = 1, interval = 2 };
std::string_view durability_name(Durability d) noexcept;

// Stable numbers.
enum class ErrorCode : std::uint8_t {
  ok = 0,
  not_found = 1,         // key or environment absent
  map_full = 2,          // the map is full: grow() and retry the batch
  io = 3,                // an I/O error from the OS (see lmdb_rc / errno)
  version_mismatch = 4,  // the environment was written by another layout version or domain
  corrupt = 5,           // a record failed its checksum or framing check
  read_only = 6,         // the directory or environment cannot be written
  invalid_argument = 7,  // a caller error that is not worth an assert (e.g. key too long)
  readers_full = 8,      // too many live readers
  no_space = 9,          // the disk is full (ENOSPC)
};
std::string_view error_code_name(ErrorCode c) noexcept;

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, int lmdb_rc, std::string message)
      : code_(code), lmdb_rc_(lmdb_rc), message_(std::move(message)) {}
  bool ok() const noexcept { return code_ == ErrorCode::ok; }
  ErrorCode code() const noexcept { return code_; }
  int lmdb_rc() const noexcept { return lmdb_rc_; }  // raw LMDB/errno code, 0 if none
  const std::string& message() const noexcept { return message_; }

 private:
  ErrorCode code_ = ErrorCode::ok;
  int lmdb_rc_ = 0;
  std::string message_;
};

using TableId = unsigned int;  // an MDB_dbi
using Bytes = std::span<const std::byte>;

// Keys: fixed-width big-endian integers, so LMDB's byte order is numeric order.
std::array<std::byte, 8> key_u64(std::uint64_t a) noexcept;
std::array<std::byte, 16> key_u64_u64(std::uint64_t a, std::uint64_t b) noexcept;
std::uint64_t u64_from_key(Bytes key, std::size_t offset = 0) noexcept;

template <typename T>
Bytes as_bytes(const T& value) noexcept {
  static_assert(std::is_trivially_copyable_v<T>);
  return Bytes(reinterpret_cast<const std::byte*>(&value), sizeof(T));
}
inline Bytes as_bytes(std::string_view s) noexcept {
  return Bytes(reinterpret_cast<const std::byte*>(s.data()), s.size());
}
// Copies a stored value into T; false if the sizes differ (a layout mismatch).
template <typename T>
bool from_bytes(Bytes value, T& out) noexcept {
  static_assert(std::is_trivially_copyable_v<T>);
  if (value.size() != sizeof(T)) return false;
  std::memcpy(&out, value.data(), sizeof(T));
  return true;
}

// Header stored in front of every journal record's payload.
//
//    0       4   6   8       12      16              24              32
//    +-------+---+---+-------+-------+---------------+---------------+
//    | magic |ver|typ| size  | crc32c|   order_id    |    time_ns    |  then `size` payload bytes
//    +-------+---+---+-------+-------+---------------+---------------+
//
// The CRC32C covers the header with checksum = 0, then the payload.
//
// time_ns is the wall clock read once per batch (in begin_write), plus one per record after
// the first, and never less than the previous record's time_ns + 1: unique and strictly
// increasing along a journal even if the wall clock steps back, like TigerBeetle's batch
// timestamps. One clock read per batch instead of per record keeps append near raw LMDB speed.
struct RecordHeader {
  std::uint32_t magic;         //  0 journal_magic
  std::uint16_t version;       //  4 journal_layout_version
  std::uint16_t type;          //  6 domain-defined record type (stable numbers, from 1)
  std::uint32_t payload_size;  //  8 bytes after the header
  std::uint32_t checksum;      // 12
  std::uint64_t order_id;      // 16 0 if the record is not about an order
  std::int64_t time_ns;        // 24 wall clock when appended
};
static_assert(sizeof(RecordHeader) == 32);
static_assert(std::has_unique_object_representations_v<RecordHeader>);

// CRC32C of a record: its header with checksum = 0, then its payload.
std::uint32_t record_checksum(RecordHeader header, std::span<const std::byte> payload) noexcept;

struct RecordView {
  std::uint64_t sequence;
  RecordHeader header;
  Bytes payload;  // valid until the transaction ends
};

struct Options {
  std::filesystem::path dir;  // created 0700 if missing and create == true
  std::string domain;         // stored on create; must match on open
  Durability durability = Durability::sync;
  std::size_t map_size_bytes = std::size_t{256} << 20;     // initial map size
  std::size_t map_size_max_bytes = std::size_t{64} << 30;  // grow() stops here
  // Writers keep this much disk allocated (posix_fallocate) beyond the last page in use, and
  // begin_write refuses with no_space when it cannot be: nosync writers store pages through
  // the map (MDB_WRITEMAP), where a page the file system cannot back is a SIGBUS, not an
  // error; sync writers use pwrite, whose short write LMDB reports as EIO, not as a full disk. Must be at least twice what one write transaction adds (a domain's batch: a few
  // MiB at most).
  std::size_t space_reserve_bytes = std::size_t{16} << 20;
  bool read_only = false;  // readers (gateway, inspector, check)
  // nosync writers only: store pages through the map (MDB_WRITEMAP) instead of pwrite. For
  // tables updated at random keys (views); a journal, which only appends, is better without.
  bool write_map = false;
  bool create = true;               // writers: create the directory and environment
  std::vector<std::string> tables;  // named tables besides journal and meta
};

struct EnvStats {
  std::size_t map_size_bytes = 0;
  std::size_t used_bytes = 0;  // last page number in use * page size
  std::uint32_t readers_used = 0;
  std::uint32_t readers_max = 0;
  std::uint64_t journal_records = 0;  // records in the journal (sequences 1..last_sequence)
  std::uint64_t journal_batches = 0;  // values in the journal table
  std::uint64_t last_sequence = 0;    // 0 if empty
  std::int64_t created_ns = 0;
  Durability durability = Durability::sync;  // as recorded by the writer
};

class ReadTxn;
class WriteTxn;

class Env {
 public:
  // Opens or creates the environment, checks meta (magic, version, domain), opens every
  // listed table, and clears stale reader slots of dead processes (mdb_reader_check).
  // Returns: ok; not_found (missing directory and !create, or a table missing for a reader);
  //   read_only (directory not writable); version_mismatch (message names both versions, or
  //   both domains); io; no_space.
  static Status open(const Options& options, std::unique_ptr<Env>& out);
  ~Env();
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;

  // Returns: ok; read_only (opened read-only); map_full; no_space (the disk cannot hold
  // Options::space_reserve_bytes more); io. Asserts no other write txn is live.
  Status begin_write(WriteTxn& txn);
  // Returns: ok; readers_full; io. A txn that is already live is released first (so one
  // ReadTxn can be refreshed in a loop); it must not be this Env's live WriteTxn.
  Status begin_read(ReadTxn& txn) const;

  // The handle of a table listed in Options::tables (asserts it was listed).
  TableId table(std::string_view name) const;

  // Doubles the map size, up to map_size_max_bytes. Must be called with no live transaction
  // in this process (asserted). The size is recorded in the file by the next commit, so it
  // survives a restart, and readers in other processes adopt it in their next begin_read.
  // Returns: ok; map_full (already at the maximum); io.
  Status grow();

  // Flushes to disk now (useful for nosync environments at clean shutdown). Returns ok or io.
  Status sync();

  EnvStats stats() const;
  // Writer only: the sequence the next record gets, and the time_ns of the last record
  // committed (0 if none): where a BatchBuilder for this journal begins.
  std::uint64_t next_sequence() const noexcept { return next_sequence_; }
  std::int64_t last_time_ns() const noexcept { return last_time_ns_; }
  Durability durability() const noexcept { return options_.durability; }
  const Options& options() const noexcept { return options_; }
  MDB_env* raw() const noexcept { return env_; }

 private:
  Env() = default;
  friend class ReadTxn;
  friend class WriteTxn;
  friend struct internal::EnvAccess;
  Options options_;
  MDB_env* env_ = nullptr;
  TableId journal_table_ = 0;
  TableId meta_table_ = 0;
  std::vector<std::pair<std::string, TableId>> tables_;
  std::uint64_t next_sequence_ = 1;         // writer only: next journal sequence
  std::unique_ptr<BatchBuilder> appended_;  // writer only: records of append() in the live txn
  std::int64_t last_time_ns_ = 0;           // writer only: time_ns of the last committed record
  bool write_live_ = false;
  // Writers: file bytes known to be allocated on disk (see Options::space_reserve_bytes), and
  // the page size.
  std::size_t space_reserved_bytes_ = 0;
  std::size_t page_size_ = 4096;
  Status reserve_space();
  // Transactions of this process that are live or starting. Remapping (grow, or adopting a
  // size grown by another process) happens only under remap_mutex_ with this at zero, and a
  // transaction starts only after counting itself under the same mutex.
  mutable std::mutex remap_mutex_;
  mutable std::atomic<std::uint32_t> live_txns_{0};
  // Read handles their ReadTxn ended, kept reset (mdb_txn_reset) under remap_mutex_: the next
  // begin_read renews one (mdb_txn_renew) instead of allocating and zeroing a handle and
  // taking a reader slot under the lock file's mutex again. Aborted with the Env.
  static constexpr std::size_t idle_reads_max = 8;
  mutable std::array<MDB_txn*, idle_reads_max> idle_reads_{};
  mutable std::size_t idle_read_count_ = 0;
  void park_read(MDB_txn* txn) const noexcept;  // a reset handle: pooled, or aborted if full
};

// A read-only snapshot. Move-only; aborted (released) by its destructor.
class ReadTxn {
 public:
  ReadTxn() = default;
  ReadTxn(ReadTxn&& other) noexcept;
  ReadTxn& operator=(ReadTxn&& other) noexcept;
  ~ReadTxn();

  // Returns: ok (value set, valid until the txn ends); not_found; invalid_argument.
  Status get(TableId table, Bytes key, Bytes& value) const;
  // Convenience: get + from_bytes. Returns corrupt if the stored size differs from sizeof(T).
  template <typename T>
  Status get_as(TableId table, Bytes key, T& out) const {
    Bytes v;
    Status s = get(table, key, v);
    if (!s.ok()) return s;
    if (!from_bytes(v, out)) return Status(ErrorCode::corrupt, 0, "stored value has another size");
    return {};
  }

  // The entry with the highest key. Returns: ok; not_found (the table is empty); io.
  Status last(TableId table, Bytes& key, Bytes& value) const;

  // Visits entries with key >= from (all if from is empty), in key order, at most `limit`,
  // stopping early when fn returns false. Returns ok or io.
  Status scan(TableId table, Bytes from, std::size_t limit,
              const std::function<bool(Bytes key, Bytes value)>& fn) const;

  // Visits stored batches from the one holding from_sequence, at most `limit`, in order,
  // stopping early when fn returns false. Each batch's framing and section checksum is checked
  // (decode_batch), and consecutive batches must continue each other's sequences. Returns: ok;
  // corrupt; io.
  Status batches(std::uint64_t from_sequence, std::size_t limit,
                 const std::function<bool(const BatchView&)>& fn) const;

  // Visits journal records with sequence >= from_sequence, at most `limit`, in order,
  // stopping early when fn returns false. Each record's framing and checksum is verified
  // before fn sees it. Returns: ok; corrupt (message names the sequence; fn is not called for
  // that record or any after it); io.
  Status records(std::uint64_t from_sequence, std::size_t limit,
                 const std::function<bool(const RecordView&)>& fn) const;

  // The highest journal sequence in this snapshot (0 if empty).
  std::uint64_t last_sequence() const;

  bool live() const noexcept { return txn_ != nullptr; }
  MDB_txn* raw() const noexcept { return txn_; }

 protected:
  friend class Env;
  friend struct internal::EnvAccess;
  void release() noexcept;  // ends a read snapshot (abort) and uncounts it
  MDB_txn* txn_ = nullptr;
  const Env* env_ = nullptr;
  bool write_ = false;  // set in a WriteTxn: it ends by commit or abort, never by release
};

// The one write transaction of a domain's batch. Move-only; aborted by its destructor unless
// committed. After any error from put/del/append the transaction is unusable: abort it (the
// destructor does) and retry the batch, after grow() if the code was map_full.
class WriteTxn : public ReadTxn {
 public:
  WriteTxn() = default;
  WriteTxn(WriteTxn&& other) noexcept;
  WriteTxn& operator=(WriteTxn&& other) noexcept;
  ~WriteTxn();

  // Returns: ok; map_full; invalid_argument (key empty or too long); io.
  Status put(TableId table, Bytes key, Bytes value);
  template <typename T>
  Status put_as(TableId table, Bytes key, const T& value) {
    return put(table, key, as_bytes(value));
  }
  // Puts a value of `size` bytes that the caller writes into *out (valid until the next
  // operation of this txn; LMDB's MDB_RESERVE). Returns as put().
  Status put_reserved(TableId table, Bytes key, std::size_t size, std::byte** out);
  // Returns: ok; not_found (nothing to delete); io.
  Status del(TableId table, Bytes key);
  // Deletes every entry of a table (it stays open). Returns: ok; io.
  Status clear(TableId table);

  // Appends one journal record with the next sequence. The records appended in one txn are
  // stored as one batch at commit. The sequence is written to *sequence_out if given.
  // Returns: ok; invalid_argument (payload too large). Asserts type != 0 (record types are
  // stable numbers from 1).
  Status append(std::uint16_t type, std::uint64_t order_id, Bytes payload,
                std::uint64_t* sequence_out = nullptr);

  // Stores a batch built elsewhere (one MDB_APPEND put). Its first sequence must be this
  // journal's next sequence (Env::next_sequence() plus the batches appended earlier in this
  // txn); several may go in one txn (group commit). Not mixed with append() in one txn.
  // Returns: ok; map_full; invalid_argument (out of sequence, or empty); io.
  Status append_batch(const BatchBuilder& batch);
  // Stores a batch that was stored before (its checked bytes, e.g. from a staging log) as the
  // next value: first_sequence must be the journal's next sequence. Returns as append_batch.
  Status append_stored(std::uint64_t first_sequence, std::uint32_t record_count, Bytes stored);

  // Commits the batch (fsync first under Durability::sync). The txn is finished either way.
  // Returns: ok; map_full; no_space; io.
  Status commit();
  void abort() noexcept;

 private:
  friend class Env;
  Status put_batch(const BatchBuilder& batch);
  Env* writer_ = nullptr;
  std::uint64_t first_sequence_ = 0;  // to roll next_sequence_ back on abort
  std::int64_t next_time_ns_ = 0;     // time_ns of the next record appended in this txn
  std::int64_t last_time_ns_ = 0;     // time_ns of the last record stored in this txn
};

}  // namespace flashsaga::journal
