#include "journal/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <utility>

#include "engine/base/assert.h"
#include "engine/base/clock.h"
#include "engine/base/crc32c.h"
#include "journal/batch.h"
#include "journal/internal/layout.h"

namespace flashsaga::journal {

// Meta values are stored in host byte order; the format is single-host, and pinning the order
// here means a port to a big-endian host fails to compile instead of misreading a journal.
static_assert(std::endian::native == std::endian::little, "meta values are little-endian");
static_assert(offsetof(RecordHeader, checksum) == 12, "the layout diagram in journal.h");
static_assert(offsetof(RecordHeader, order_id) == 16, "the layout diagram in journal.h");
static_assert(sizeof(RecordHeader) + record_payload_size_max_bytes <= 0xFFFFFFFFu,
              "payload_size is a u32");
static_assert(tables_max + internal::core_table_count <= 0x7FFF, "LMDB's maxdbs is an int");

std::string_view durability_name(Durability d) noexcept {
  switch (d) {
    case Durability::sync:
      return "sync";
    case Durability::nosync:
      return "nosync";
    case Durability::interval:
      return "interval";
  }
  return "unknown";
}

std::string_view error_code_name(ErrorCode c) noexcept {
  switch (c) {
    case ErrorCode::ok:
      return "ok";
    case ErrorCode::not_found:
      return "not_found";
    case ErrorCode::map_full:
      return "map_full";
    case ErrorCode::io:
      return "io";
    case ErrorCode::version_mismatch:
      return "version_mismatch";
    case ErrorCode::corrupt:
      return "corrupt";
    case ErrorCode::read_only:
      return "read_only";
    case ErrorCode::invalid_argument:
      return "invalid_argument";
    case ErrorCode::readers_full:
      return "readers_full";
    case ErrorCode::no_space:
      return "no_space";
  }
  return "unknown";
}

std::array<std::byte, 8> key_u64(std::uint64_t a) noexcept {
  const std::uint64_t big_endian = __builtin_bswap64(a);  // on the hot path of every append
  std::array<std::byte, 8> out;
  std::memcpy(out.data(), &big_endian, 8);
  return out;
}

std::array<std::byte, 16> key_u64_u64(std::uint64_t a, std::uint64_t b) noexcept {
  std::array<std::byte, 16> out{};
  const auto high = key_u64(a);
  const auto low = key_u64(b);
  std::memcpy(out.data(), high.data(), 8);
  std::memcpy(out.data() + 8, low.data(), 8);
  return out;
}

std::uint64_t u64_from_key(Bytes key, std::size_t offset) noexcept {
  FS_ASSERT(offset <= key.size());
  FS_ASSERT(key.size() - offset >= 8);
  std::uint64_t big_endian = 0;
  std::memcpy(&big_endian, key.data() + offset, 8);
  return __builtin_bswap64(big_endian);
}

namespace {

// The one place LMDB and errno codes become ErrorCodes, so every caller classifies alike.
ErrorCode code_of(int rc) noexcept {
  switch (rc) {
    case MDB_SUCCESS:
      return ErrorCode::ok;
    case MDB_MAP_FULL:
      return ErrorCode::map_full;
    case ENOSPC:
      return ErrorCode::no_space;
    case EACCES:
    case EROFS:
    case EPERM:
      return ErrorCode::read_only;
    case MDB_NOTFOUND:
    case ENOENT:
      return ErrorCode::not_found;
    case MDB_READERS_FULL:
      return ErrorCode::readers_full;
    case MDB_VERSION_MISMATCH:
    case MDB_INVALID:
      return ErrorCode::version_mismatch;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
      return ErrorCode::corrupt;
    case MDB_BAD_VALSIZE:
      return ErrorCode::invalid_argument;
    default:
      return ErrorCode::io;
  }
}

Status from_rc(int rc, std::string_view context) {
  std::string message(context);
  message += ": ";
  message += mdb_strerror(rc);  // covers errno values too
  return Status(code_of(rc), rc, std::move(message));
}

std::string in_quotes(std::string_view s) {
  std::string out = "\"";
  out += s;
  out += '"';
  return out;
}

std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08" PRIX32, v);
  return buf;
}

MDB_val val_of(Bytes b) noexcept {
  // LMDB's API is not const-correct; it never writes through a key or a non-reserved value.
  return MDB_val{b.size(), const_cast<std::byte*>(b.data())};
}

Bytes bytes_of(const MDB_val& v) noexcept {
  return Bytes(static_cast<const std::byte*>(v.mv_data), v.mv_size);
}

Bytes bytes_of(std::string_view s) noexcept {
  return as_bytes(s);
}

bool key_size_ok(Bytes key) noexcept {
  return !key.empty() && key.size() <= key_size_max_bytes;
}

// Creates `dir` and any missing parents with mode 0700: journals hold customers' orders.
int make_directories(const std::filesystem::path& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0) return 0;
  if (errno == EEXIST) return 0;
  if (errno != ENOENT) return errno;
  const auto parent = dir.parent_path();
  if (parent.empty() || parent == dir) return ENOENT;
  if (const int rc = make_directories(parent); rc != 0) return rc;
  if (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) return 0;
  return errno;
}

}  // namespace

namespace internal {

// Env's private machinery, kept out of journal.h.
struct EnvAccess {
  static std::string where(const Env& env) { return "journal " + env.options_.dir.string(); }

  static std::string table_name(const Env& env, TableId table) {
    if (table == env.journal_table_) return std::string(journal_table_name);
    if (table == env.meta_table_) return std::string(meta_table_name);
    for (const auto& [name, id] : env.tables_) {
      if (id == table) return name;
    }
    // Appended, not "#" + to_string(): GCC 12 at -O3 sees a false memcpy overlap
    // (-Wrestrict) in operator+(const char*, string&&).
    std::string unnamed(1, '#');
    unnamed.append(std::to_string(table));
    return unnamed;
  }

  // Starts a transaction counted in live_txns_. The count goes up under remap_mutex_ before
  // LMDB touches the map, so a remap (which holds the mutex and waits for zero) can never
  // pull the map from under a transaction that is starting.
  static int begin_counted(const Env& env, unsigned flags, MDB_txn** out) {
    for (std::uint32_t attempt = 0;; ++attempt) {
      MDB_txn* idle = nullptr;
      {
        std::lock_guard<std::mutex> lock(env.remap_mutex_);
        env.live_txns_.fetch_add(1, std::memory_order_relaxed);
        if ((flags & MDB_RDONLY) != 0 && env.idle_read_count_ > 0)
          idle = env.idle_reads_[--env.idle_read_count_];
      }
      if (idle != nullptr) {
        if (mdb_txn_renew(idle) == MDB_SUCCESS) {
          *out = idle;
          return MDB_SUCCESS;
        }
        mdb_txn_abort(idle);  // a fresh begin says why (MDB_MAP_RESIZED: adopt and retry)
      }
      const int rc = mdb_txn_begin(env.env_, nullptr, flags, out);
      if (rc == MDB_SUCCESS) return rc;
      env.live_txns_.fetch_sub(1, std::memory_order_release);
      if (rc != MDB_MAP_RESIZED) return rc;
      // The writer process grew the map past ours: adopt its size (LMDB's documented answer
      // to MDB_MAP_RESIZED) and retry. Bounded, since the writer may grow again meanwhile.
      if (attempt + 1 == remap_attempt_count_max) return rc;
      if (const int remap_rc = adopt_map_size(env); remap_rc != 0) return remap_rc;
    }
  }

  // mdb_env_set_mapsize(env, 0) re-reads the size the writer recorded. LMDB requires that no
  // transaction of this process is live, since it unmaps the old view.
  static int adopt_map_size(const Env& env) {
    std::lock_guard<std::mutex> lock(env.remap_mutex_);
    std::uint32_t yields = 0;
    while (env.live_txns_.load(std::memory_order_acquire) != 0) {
      if (yields == remap_wait_yield_count_max) return MDB_MAP_RESIZED;
      ++yields;
      std::this_thread::yield();
    }
    return mdb_env_set_mapsize(env.env_, 0);
  }

  static Status check_directory(const Options& o) {
    const std::string dir = o.dir.string();
    struct stat st {};
    if (::stat(o.dir.c_str(), &st) != 0) {
      const int e = errno;
      if (e != ENOENT) return from_rc(e, "journal directory " + dir + ": cannot stat");
      if (o.read_only) {
        return Status(ErrorCode::not_found, ENOENT,
                      "journal directory " + dir +
                          " does not exist (a reader never creates it; has its writer run?)");
      }
      if (!o.create) {
        return Status(ErrorCode::not_found, ENOENT,
                      "journal directory " + dir + " does not exist and create is false");
      }
      if (const int rc = make_directories(o.dir); rc != 0) {
        return from_rc(rc, "journal directory " + dir + ": cannot create");
      }
    } else if (!S_ISDIR(st.st_mode)) {
      return Status(ErrorCode::io, ENOTDIR, "journal directory " + dir + " is not a directory");
    }
    // A writer needs to create data.mdb and lock.mdb; checking here gives a clear message
    // instead of LMDB's bare EACCES.
    if (!o.read_only && ::access(o.dir.c_str(), W_OK) != 0) {
      const int e = errno;
      return Status(code_of(e), e,
                    "journal directory " + dir + " is not writable by this process (" +
                        std::strerror(e) + "); a writer needs to create files in it");
    }
    if (o.read_only || !o.create) {
      const auto data = o.dir / "data.mdb";
      if (::access(data.c_str(), F_OK) != 0) {
        return Status(ErrorCode::not_found, ENOENT,
                      "no journal environment in " + dir + " (" + data.string() + " is missing" +
                          (o.read_only ? "; has its writer run?)" : ")"));
      }
    }
    return {};
  }

  static Status open_tables(Env& env, MDB_txn* txn, unsigned flags) {
    const auto open_one = [&](std::string_view name, TableId& id) -> Status {
      const std::string n(name);
      const int rc = mdb_dbi_open(txn, n.c_str(), flags, &id);
      if (rc == MDB_NOTFOUND) {
        return Status(ErrorCode::not_found, rc,
                      where(env) + ": table " + in_quotes(name) + " does not exist (yet)");
      }
      if (rc != MDB_SUCCESS) return from_rc(rc, where(env) + ": open table " + in_quotes(name));
      return {};
    };
    if (Status s = open_one(journal_table_name, env.journal_table_); !s.ok()) return s;
    if (Status s = open_one(meta_table_name, env.meta_table_); !s.ok()) return s;
    for (const auto& name : env.options_.tables) {
      TableId id = 0;
      if (Status s = open_one(name, id); !s.ok()) return s;
      env.tables_.emplace_back(name, id);
    }
    return {};
  }

  // Reads one meta row; `present` is false if the row is absent.
  static Status meta_get(const Env& env, MDB_txn* txn, std::string_view key, Bytes& value,
                         bool& present) {
    MDB_val k = val_of(bytes_of(key));
    MDB_val v{};
    const int rc = mdb_get(txn, env.meta_table_, &k, &v);
    present = rc == MDB_SUCCESS;
    if (rc == MDB_NOTFOUND) return {};
    if (rc != MDB_SUCCESS) return from_rc(rc, where(env) + ": read meta " + in_quotes(key));
    value = bytes_of(v);
    return {};
  }

  template <typename T>
  static Status meta_get_as(const Env& env, MDB_txn* txn, std::string_view key, T& out,
                            bool& present) {
    Bytes v;
    if (Status s = meta_get(env, txn, key, v, present); !s.ok() || !present) return s;
    if (!from_bytes(v, out)) {
      return Status(ErrorCode::version_mismatch, 0,
                    where(env) + ": meta " + in_quotes(key) + " has " + std::to_string(v.size()) +
                        " bytes, expected " + std::to_string(sizeof(T)) +
                        " (written by another layout?)");
    }
    return {};
  }

  static Status meta_put(Env& env, MDB_txn* txn, std::string_view key, Bytes value) {
    MDB_val k = val_of(bytes_of(key));
    MDB_val v = val_of(value);
    const int rc = mdb_put(txn, env.meta_table_, &k, &v, 0);
    if (rc != MDB_SUCCESS) return from_rc(rc, where(env) + ": write meta " + in_quotes(key));
    return {};
  }

  // Checks magic, then layout version, then domain: the order in which a foreign file is
  // most usefully described. `fresh` is set when a writer finds no meta at all.
  static Status check_meta(const Env& env, MDB_txn* txn, bool& fresh) {
    std::uint32_t magic = 0;
    bool present = false;
    if (Status s = meta_get_as(env, txn, meta_key_magic, magic, present); !s.ok()) return s;
    if (!present) {
      fresh = true;
      return {};
    }
    fresh = false;
    if (magic != journal_magic) {
      return Status(ErrorCode::version_mismatch, 0,
                    where(env) + " is not a flashsaga journal: magic expected " +
                        hex32(journal_magic) + ", found " + hex32(magic));
    }
    std::uint16_t version = 0;
    if (Status s = meta_get_as(env, txn, meta_key_layout_version, version, present); !s.ok()) {
      return s;
    }
    if (!present || version != journal_layout_version) {
      return Status(ErrorCode::version_mismatch, 0,
                    where(env) + ": layout version mismatch: expected " +
                        std::to_string(journal_layout_version) + ", found " +
                        (present ? std::to_string(version) : std::string("none")));
    }
    Bytes domain;
    if (Status s = meta_get(env, txn, meta_key_domain, domain, present); !s.ok()) return s;
    const std::string_view found(reinterpret_cast<const char*>(domain.data()), domain.size());
    if (!present || found != env.options_.domain) {
      return Status(ErrorCode::version_mismatch, 0,
                    where(env) + ": domain mismatch: expected " + in_quotes(env.options_.domain) +
                        ", found " + (present ? in_quotes(found) : std::string("none")));
    }
    return {};
  }

  // The last journal sequence (0 if empty), and the time_ns of its record.
  static Status last_journal_sequence(const Env& env, MDB_txn* txn, std::uint64_t& out,
                                      std::int64_t* time_ns = nullptr) {
    out = 0;
    MDB_cursor* cursor = nullptr;
    int rc = mdb_cursor_open(txn, env.journal_table_, &cursor);
    if (rc != MDB_SUCCESS) return from_rc(rc, where(env) + ": open journal cursor");
    MDB_val k{};
    MDB_val v{};
    rc = mdb_cursor_get(cursor, &k, &v, MDB_LAST);
    mdb_cursor_close(cursor);
    if (rc == MDB_NOTFOUND) return {};
    if (rc != MDB_SUCCESS) return from_rc(rc, where(env) + ": read the last journal batch");
    BatchView batch;
    if (Status s = decode_batch(bytes_of(k), bytes_of(v), batch); !s.ok()) return s;
    out = batch.next_sequence() - 1;
    if (time_ns == nullptr) return {};
    bool stopped = false;
    return for_each_record(
        batch, out,
        [&](const RecordView& r) {
          *time_ns = r.header.time_ns;
          return true;
        },
        &stopped);
  }

  static Status open_writer(Env& env) {
    WriteTxn txn;
    if (Status s = env.begin_write(txn); !s.ok()) return s;
    if (Status s = open_tables(env, txn.raw(), MDB_CREATE); !s.ok()) return s;
    bool fresh = false;
    if (Status s = check_meta(env, txn.raw(), fresh); !s.ok()) return s;
    std::uint64_t last = 0;
    std::int64_t last_time_ns = 0;
    if (Status s = last_journal_sequence(env, txn.raw(), last, &last_time_ns); !s.ok()) {
      return s;
    }
    if (fresh) {
      // No meta but records means something else wrote here; refuse rather than adopt it.
      if (last != 0) {
        return Status(ErrorCode::version_mismatch, 0,
                      where(env) + " has journal records but no meta (not written by flashsaga)");
      }
      const std::int64_t created_ns = wall_now_ns();
      const auto domain = as_bytes(std::string_view(env.options_.domain));
      if (Status s = meta_put(env, txn.raw(), meta_key_magic, as_bytes(journal_magic)); !s.ok()) {
        return s;
      }
      if (Status s =
              meta_put(env, txn.raw(), meta_key_layout_version, as_bytes(journal_layout_version));
          !s.ok()) {
        return s;
      }
      if (Status s = meta_put(env, txn.raw(), meta_key_domain, domain); !s.ok()) return s;
      if (Status s = meta_put(env, txn.raw(), meta_key_created_ns, as_bytes(created_ns)); !s.ok()) {
        return s;
      }
    }
    // The durability row says how the last writer ran, for the inspector and stats().
    const auto durability = static_cast<std::uint8_t>(env.options_.durability);
    if (Status s = meta_put(env, txn.raw(), meta_key_durability, as_bytes(durability)); !s.ok()) {
      return s;
    }
    env.next_sequence_ = last + 1;
    if (Status s = txn.commit(); !s.ok()) return s;
    env.last_time_ns_ = last_time_ns;
    return {};
  }

  static Status open_reader(Env& env) {
    ReadTxn txn;
    if (Status s = env.begin_read(txn); !s.ok()) return s;
    if (Status s = open_tables(env, txn.raw(), 0); !s.ok()) return s;
    bool fresh = false;
    if (Status s = check_meta(env, txn.raw(), fresh); !s.ok()) return s;
    if (fresh) {
      return Status(ErrorCode::not_found, MDB_NOTFOUND,
                    where(env) + " has no meta yet (its writer has not finished creating it)");
    }
    // Table handles opened in a read txn become the environment's only when it commits.
    const int rc = mdb_txn_commit(txn.txn_);
    txn.txn_ = nullptr;
    env.live_txns_.fetch_sub(1, std::memory_order_release);
    if (rc != MDB_SUCCESS) return from_rc(rc, where(env) + ": open tables");
    return {};
  }
};

}  // namespace internal

using internal::EnvAccess;

Status Env::open(const Options& options, std::unique_ptr<Env>& out) {
  out.reset();
  FS_ASSERT(!options.domain.empty());
  FS_ASSERT(options.domain.size() <= internal::domain_size_max_bytes);
  FS_ASSERT(options.tables.size() <= tables_max);
  FS_ASSERT(options.map_size_bytes > 0);
  FS_ASSERT(options.map_size_bytes <= options.map_size_max_bytes);
  for (std::size_t i = 0; i < options.tables.size(); ++i) {
    const std::string& name = options.tables[i];
    FS_ASSERT(!name.empty());
    FS_ASSERT(name != internal::journal_table_name);
    FS_ASSERT(name != internal::meta_table_name);
    FS_ASSERT(std::find(options.tables.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                        options.tables.end(), name) == options.tables.end());
  }

  if (Status s = EnvAccess::check_directory(options); !s.ok()) return s;

  std::unique_ptr<Env> env(new Env());
  env->options_ = options;
  const std::string where = EnvAccess::where(*env);
  int rc = mdb_env_create(&env->env_);
  if (rc != MDB_SUCCESS) {
    env->env_ = nullptr;
    return from_rc(rc, where + ": create environment handle");
  }
  rc = mdb_env_set_maxdbs(env->env_, tables_max + internal::core_table_count);
  if (rc != MDB_SUCCESS) return from_rc(rc, where + ": set maxdbs");
  // MDB_NOTLS ties reader slots to transactions, not threads, so a ReadTxn may move between
  // threads and a thread may hold several. The map size is left unset: LMDB then adopts the
  // size recorded in the file, so a map grown before a restart stays grown.
  unsigned flags = MDB_NOTLS;
  if (options.read_only) flags |= MDB_RDONLY;
  if (!options.read_only && options.durability == Durability::nosync) flags |= MDB_NOSYNC;
    // Writers with Options::write_map update the map in place (MDB_WRITEMAP) instead of copying
    // every dirty page out with pwrite at commit: right for a table of rows updated at random
    // keys (a view), where the copies were a third of a domain's CPU. A journal appends whole
    // pages in order, so pwrite costs it one copy and no page faults; and a sync writer never
    // uses the map, since msync write-protects every page it flushes and the next batch then
    // takes a fault per page it touches again. A commit that did not finish is invisible either
    // way: the meta page is written last.
    // Not under ThreadSanitizer: LMDB reuses a page in place only once no reader snapshot can
    // see it, an MVCC guarantee kept in its reader table that TSan cannot see, so every reuse
    // would be reported as a race. Without WRITEMAP the same writes go through pwrite.
#if !defined(__SANITIZE_THREAD__)
  if (!options.read_only && options.write_map && options.durability == Durability::nosync)
    flags |= MDB_WRITEMAP | MDB_MAPASYNC;
#endif
  rc = mdb_env_open(env->env_, options.dir.c_str(), flags, 0600);
  if (rc != MDB_SUCCESS) return from_rc(rc, where + ": open environment");

  // Processes killed while reading leave their slots taken; free them before they add up.
  int dead = 0;
  rc = mdb_reader_check(env->env_, &dead);
  if (rc != MDB_SUCCESS) return from_rc(rc, where + ": clear stale readers");

  MDB_stat env_stat{};
  if (mdb_env_stat(env->env_, &env_stat) == MDB_SUCCESS) env->page_size_ = env_stat.ms_psize;
  if (!options.read_only) {
    MDB_envinfo info{};
    mdb_env_info(env->env_, &info);
    if (info.me_mapsize < options.map_size_bytes) {
      rc = mdb_env_set_mapsize(env->env_, options.map_size_bytes);
      if (rc != MDB_SUCCESS) return from_rc(rc, where + ": set map size");
    }
  }

  Status s = options.read_only ? EnvAccess::open_reader(*env) : EnvAccess::open_writer(*env);
  if (!s.ok()) return s;
  out = std::move(env);
  return {};
}

Env::~Env() {
  FS_ASSERT(live_txns_.load(std::memory_order_acquire) == 0);  // txns end before their Env
  for (std::size_t i = 0; i < idle_read_count_; ++i) mdb_txn_abort(idle_reads_[i]);
  if (env_ != nullptr) mdb_env_close(env_);
}

// The handle is reset before it stops counting as live, so a remap never overlaps a snapshot;
// it joins the pool after, so release never waits on a remap that waits for it.
void Env::park_read(MDB_txn* txn) const noexcept {
  mdb_txn_reset(txn);
  live_txns_.fetch_sub(1, std::memory_order_release);
  {
    std::lock_guard<std::mutex> lock(remap_mutex_);
    if (idle_read_count_ < idle_reads_max) {
      idle_reads_[idle_read_count_++] = txn;
      return;
    }
  }
  mdb_txn_abort(txn);
}

Status Env::begin_write(WriteTxn& txn) {
  if (options_.read_only) {
    return Status(ErrorCode::read_only, EACCES,
                  EnvAccess::where(*this) + " was opened read-only; it cannot begin a write");
  }
  FS_ASSERT(!write_live_);  // one write transaction per Env
  FS_ASSERT(!txn.live());
  if (Status s = reserve_space(); !s.ok()) return s;
  MDB_txn* raw_txn = nullptr;
  const int rc = EnvAccess::begin_counted(*this, 0, &raw_txn);
  if (rc != MDB_SUCCESS) return from_rc(rc, EnvAccess::where(*this) + ": begin write");
  write_live_ = true;
  txn.write_ = true;
  txn.txn_ = raw_txn;
  txn.env_ = this;
  txn.writer_ = this;
  txn.first_sequence_ = next_sequence_;
  txn.next_time_ns_ = std::max(wall_now_ns(), last_time_ns_ + 1);
  txn.last_time_ns_ = last_time_ns_;
  return {};
}

Status Env::begin_read(ReadTxn& txn) const {
  if (txn.live()) {
    FS_ASSERT(!txn.write_);  // a WriteTxn ends by commit or abort
    txn.release();
  }
  MDB_txn* raw_txn = nullptr;
  const int rc = EnvAccess::begin_counted(*this, MDB_RDONLY, &raw_txn);
  if (rc == MDB_MAP_RESIZED) {
    return Status(ErrorCode::io, rc,
                  EnvAccess::where(*this) +
                      ": the writer grew the map and other transactions of this process still "
                      "hold the old one; end them and retry");
  }
  if (rc != MDB_SUCCESS) return from_rc(rc, EnvAccess::where(*this) + ": begin read");
  txn.txn_ = raw_txn;
  txn.env_ = this;
  return {};
}

TableId Env::table(std::string_view name) const {
  const auto it = std::find_if(tables_.begin(), tables_.end(),
                               [&](const auto& entry) { return entry.first == name; });
  FS_ASSERT(it != tables_.end());  // only tables listed in Options::tables have handles
  return it->second;
}

Status Env::reserve_space() {
  MDB_envinfo info{};
  mdb_env_info(env_, &info);
  const std::size_t used = (static_cast<std::size_t>(info.me_last_pgno) + 1) * page_size_;
  const std::size_t reserve = options_.space_reserve_bytes;
  // Refill when less than half the reserve is left, so the fallocate is rare (once per
  // reserve/2 bytes of growth); never beyond the map, which LMDB cannot write past anyway.
  if (space_reserved_bytes_ >= std::min(info.me_mapsize, used + reserve / 2)) return {};
  const std::size_t want = std::min(info.me_mapsize, used + reserve);
  if (want <= space_reserved_bytes_) return {};
  int fd = -1;
  if (mdb_env_get_fd(env_, &fd) != MDB_SUCCESS)
    return Status(ErrorCode::io, EBADF, EnvAccess::where(*this) + ": no file");
  const int rc = ::posix_fallocate(fd, static_cast<off_t>(space_reserved_bytes_),
                                   static_cast<off_t>(want - space_reserved_bytes_));
  if (rc != 0) {
    return Status(rc == ENOSPC ? ErrorCode::no_space : ErrorCode::io, rc,
                  EnvAccess::where(*this) + ": cannot reserve disk space for the journal (" +
                      std::to_string(want - space_reserved_bytes_) + " bytes beyond " +
                      std::to_string(space_reserved_bytes_) + "): " + std::strerror(rc));
  }
  space_reserved_bytes_ = want;
  return {};
}

Status Env::grow() {
  FS_ASSERT(!options_.read_only);  // readers follow the writer's size, they never set it
  std::lock_guard<std::mutex> lock(remap_mutex_);
  FS_ASSERT(live_txns_.load(std::memory_order_acquire) == 0);  // remapping needs no live txn
  MDB_envinfo info{};
  mdb_env_info(env_, &info);
  const std::size_t current = info.me_mapsize;
  if (current >= options_.map_size_max_bytes) {
    return Status(ErrorCode::map_full, MDB_MAP_FULL,
                  EnvAccess::where(*this) + ": map is at its maximum of " +
                      std::to_string(options_.map_size_max_bytes) + " bytes");
  }
  const std::size_t next =
      current > options_.map_size_max_bytes / 2 ? options_.map_size_max_bytes : current * 2;
  const int rc = mdb_env_set_mapsize(env_, next);
  if (rc != MDB_SUCCESS) {
    return from_rc(rc, EnvAccess::where(*this) + ": grow map to " + std::to_string(next));
  }
  return {};
}

Status Env::sync() {
  const int rc = mdb_env_sync(env_, 1);
  if (rc != MDB_SUCCESS) return from_rc(rc, EnvAccess::where(*this) + ": sync");
  return {};
}

EnvStats Env::stats() const {
  EnvStats out;
  MDB_envinfo info{};
  mdb_env_info(env_, &info);
  MDB_stat env_stat{};
  mdb_env_stat(env_, &env_stat);
  out.map_size_bytes = info.me_mapsize;
  out.used_bytes = (info.me_last_pgno + 1) * env_stat.ms_psize;
  out.readers_used = info.me_numreaders;  // slots taken since the lock file was made
  out.readers_max = info.me_maxreaders;
  out.durability = options_.durability;

  ReadTxn txn;
  if (!begin_read(txn).ok()) return out;
  MDB_stat journal_stat{};
  if (mdb_stat(txn.raw(), journal_table_, &journal_stat) == MDB_SUCCESS) {
    out.journal_batches = journal_stat.ms_entries;
  }
  out.last_sequence = txn.last_sequence();
  out.journal_records = out.last_sequence;  // records are never deleted
  bool present = false;
  std::int64_t created_ns = 0;
  if (EnvAccess::meta_get_as(*this, txn.raw(), internal::meta_key_created_ns, created_ns, present)
          .ok() &&
      present) {
    out.created_ns = created_ns;
  }
  std::uint8_t durability = 0;
  if (EnvAccess::meta_get_as(*this, txn.raw(), internal::meta_key_durability, durability, present)
          .ok() &&
      present && durability <= static_cast<std::uint8_t>(Durability::interval)) {
    out.durability = static_cast<Durability>(durability);
  }
  return out;
}

// --- ReadTxn ------------------------------------------------------------------------------

// A WriteTxn moved into a plain ReadTxn would lose its writer bookkeeping; refuse it.
ReadTxn::ReadTxn(ReadTxn&& other) noexcept
    : txn_(std::exchange(other.txn_, nullptr)), env_(std::exchange(other.env_, nullptr)) {
  FS_ASSERT(!other.write_);
}

ReadTxn& ReadTxn::operator=(ReadTxn&& other) noexcept {
  FS_ASSERT(!write_);
  FS_ASSERT(!other.write_);
  if (this != &other) {
    release();
    txn_ = std::exchange(other.txn_, nullptr);
    env_ = std::exchange(other.env_, nullptr);
  }
  return *this;
}

ReadTxn::~ReadTxn() {
  release();
}

void ReadTxn::release() noexcept {
  if (txn_ == nullptr) return;
  if (!write_) {
    env_->park_read(std::exchange(txn_, nullptr));
    return;
  }
  mdb_txn_abort(txn_);
  txn_ = nullptr;
  env_->live_txns_.fetch_sub(1, std::memory_order_release);
}

Status ReadTxn::get(TableId table, Bytes key, Bytes& value) const {
  FS_ASSERT(live());
  if (!key_size_ok(key)) {
    return Status(ErrorCode::invalid_argument, 0,
                  "get: key of " + std::to_string(key.size()) + " bytes (1.." +
                      std::to_string(key_size_max_bytes) + ")");
  }
  MDB_val k = val_of(key);
  MDB_val v{};
  const int rc = mdb_get(txn_, table, &k, &v);
  // Misses are routine (dedup checks), so their message stays short enough not to allocate.
  if (rc == MDB_NOTFOUND) return Status(ErrorCode::not_found, rc, "key not found");
  if (rc != MDB_SUCCESS) {
    return from_rc(rc, "get from table " + in_quotes(EnvAccess::table_name(*env_, table)));
  }
  value = bytes_of(v);
  return {};
}

Status ReadTxn::last(TableId table, Bytes& key, Bytes& value) const {
  FS_ASSERT(live());
  MDB_cursor* cursor = nullptr;
  int rc = mdb_cursor_open(txn_, table, &cursor);
  if (rc != MDB_SUCCESS)
    return from_rc(rc, "last of table " + in_quotes(EnvAccess::table_name(*env_, table)));
  MDB_val k{};
  MDB_val v{};
  rc = mdb_cursor_get(cursor, &k, &v, MDB_LAST);
  mdb_cursor_close(cursor);
  if (rc == MDB_NOTFOUND) return Status(ErrorCode::not_found, rc, "empty table");
  if (rc != MDB_SUCCESS)
    return from_rc(rc, "last of table " + in_quotes(EnvAccess::table_name(*env_, table)));
  key = bytes_of(k);
  value = bytes_of(v);
  return {};
}

Status ReadTxn::scan(TableId table, Bytes from, std::size_t limit,
                     const std::function<bool(Bytes key, Bytes value)>& fn) const {
  FS_ASSERT(live());
  if (from.size() > key_size_max_bytes) {
    return Status(ErrorCode::invalid_argument, 0, "scan: start key is too long");
  }
  MDB_cursor* cursor = nullptr;
  int rc = mdb_cursor_open(txn_, table, &cursor);
  if (rc != MDB_SUCCESS) {
    return from_rc(rc, "scan table " + in_quotes(EnvAccess::table_name(*env_, table)));
  }
  MDB_val k = val_of(from);
  MDB_val v{};
  rc = from.empty() ? mdb_cursor_get(cursor, &k, &v, MDB_FIRST)
                    : mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);
  for (std::size_t visited = 0; visited < limit && rc == MDB_SUCCESS; ++visited) {
    if (!fn(bytes_of(k), bytes_of(v))) break;
    rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
  }
  mdb_cursor_close(cursor);
  if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) {
    return from_rc(rc, "scan table " + in_quotes(EnvAccess::table_name(*env_, table)));
  }
  return {};
}

Status ReadTxn::batches(std::uint64_t from_sequence, std::size_t limit,
                        const std::function<bool(const BatchView&)>& fn) const {
  FS_ASSERT(live());
  MDB_cursor* cursor = nullptr;
  int rc = mdb_cursor_open(txn_, env_->journal_table_, &cursor);
  if (rc != MDB_SUCCESS) return from_rc(rc, "read journal batches");
  // The batch holding from_sequence is the last one whose key is <= it.
  auto from = key_u64(from_sequence);
  MDB_val k{from.size(), from.data()};
  MDB_val v{};
  rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);
  if (rc == MDB_NOTFOUND) {
    rc = mdb_cursor_get(cursor, &k, &v, MDB_LAST);
  } else if (rc == MDB_SUCCESS && u64_from_key(bytes_of(k)) > from_sequence) {
    rc = mdb_cursor_get(cursor, &k, &v, MDB_PREV);
    if (rc == MDB_NOTFOUND) rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST);
  }
  std::uint64_t expected = 0;
  Status status;
  for (std::size_t visited = 0; visited < limit && rc == MDB_SUCCESS; ++visited) {
    BatchView batch;
    status = decode_batch(bytes_of(k), bytes_of(v), batch);
    if (status.ok() && expected != 0 && batch.first_sequence != expected) {
      status = Status(ErrorCode::corrupt, 0,
                      "journal record at sequence " + std::to_string(batch.first_sequence) +
                          " is corrupt: sequence gap, expected " + std::to_string(expected) +
                          " after the previous record");
    }
    if (!status.ok()) break;
    if (batch.next_sequence() > from_sequence && !fn(batch)) break;
    expected = batch.next_sequence();
    rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
  }
  mdb_cursor_close(cursor);
  if (!status.ok()) return status;
  if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) return from_rc(rc, "read journal batches");
  return {};
}

Status ReadTxn::records(std::uint64_t from_sequence, std::size_t limit,
                        const std::function<bool(const RecordView&)>& fn) const {
  std::size_t visited = 0;
  Status inner;
  Status s = batches(from_sequence, SIZE_MAX, [&](const BatchView& batch) {
    bool stopped = false;
    inner = for_each_record(
        batch, from_sequence,
        [&](const RecordView& r) {
          if (visited == limit) return false;
          ++visited;
          return fn(r);
        },
        &stopped);
    return inner.ok() && !stopped && visited < limit;
  });
  return s.ok() ? inner : s;
}

std::uint64_t ReadTxn::last_sequence() const {
  FS_ASSERT(live());
  // A write txn counts what it appended and has not stored yet.
  if (write_ && env_->appended_ && env_->appended_->record_count() != 0) {
    return env_->appended_->next_sequence() - 1;
  }
  std::uint64_t last = 0;
  if (!EnvAccess::last_journal_sequence(*env_, txn_, last).ok()) return 0;
  return last;
}

// --- WriteTxn -----------------------------------------------------------------------------

WriteTxn::WriteTxn(WriteTxn&& other) noexcept
    : writer_(std::exchange(other.writer_, nullptr)),
      first_sequence_(std::exchange(other.first_sequence_, 0)),
      next_time_ns_(std::exchange(other.next_time_ns_, 0)),
      last_time_ns_(std::exchange(other.last_time_ns_, 0)) {
  txn_ = std::exchange(other.txn_, nullptr);
  env_ = std::exchange(other.env_, nullptr);
  write_ = std::exchange(other.write_, false);
}

WriteTxn& WriteTxn::operator=(WriteTxn&& other) noexcept {
  if (this != &other) {
    abort();
    txn_ = std::exchange(other.txn_, nullptr);
    env_ = std::exchange(other.env_, nullptr);
    write_ = std::exchange(other.write_, false);
    writer_ = std::exchange(other.writer_, nullptr);
    first_sequence_ = std::exchange(other.first_sequence_, 0);
    next_time_ns_ = std::exchange(other.next_time_ns_, 0);
    last_time_ns_ = std::exchange(other.last_time_ns_, 0);
  }
  return *this;
}

WriteTxn::~WriteTxn() {
  abort();
}

Status WriteTxn::put(TableId table, Bytes key, Bytes value) {
  FS_ASSERT(live());
  if (!key_size_ok(key)) {
    return Status(ErrorCode::invalid_argument, 0,
                  "put: key of " + std::to_string(key.size()) + " bytes (1.." +
                      std::to_string(key_size_max_bytes) + ")");
  }
  MDB_val k = val_of(key);
  MDB_val v = val_of(value);
  const int rc = mdb_put(txn_, table, &k, &v, 0);
  if (rc != MDB_SUCCESS) {
    return from_rc(rc, "put into table " + in_quotes(EnvAccess::table_name(*writer_, table)));
  }
  return {};
}

Status WriteTxn::put_reserved(TableId table, Bytes key, std::size_t size, std::byte** out) {
  FS_ASSERT(live());
  if (!key_size_ok(key)) {
    return Status(ErrorCode::invalid_argument, 0,
                  "put: key of " + std::to_string(key.size()) + " bytes");
  }
  MDB_val k = val_of(key);
  MDB_val v{size, nullptr};
  const int rc = mdb_put(txn_, table, &k, &v, MDB_RESERVE);
  if (rc != MDB_SUCCESS) {
    return from_rc(rc, "put into table " + in_quotes(EnvAccess::table_name(*writer_, table)));
  }
  *out = static_cast<std::byte*>(v.mv_data);
  return {};
}

Status WriteTxn::del(TableId table, Bytes key) {
  FS_ASSERT(live());
  if (!key_size_ok(key)) {
    return Status(ErrorCode::invalid_argument, 0,
                  "del: key of " + std::to_string(key.size()) + " bytes");
  }
  MDB_val k = val_of(key);
  const int rc = mdb_del(txn_, table, &k, nullptr);
  if (rc == MDB_NOTFOUND) return Status(ErrorCode::not_found, rc, "key not found");
  if (rc != MDB_SUCCESS) {
    return from_rc(rc, "del from table " + in_quotes(EnvAccess::table_name(*writer_, table)));
  }
  return {};
}

Status WriteTxn::clear(TableId table) {
  FS_ASSERT(live());
  const int rc = mdb_drop(txn_, table, 0);
  if (rc != MDB_SUCCESS)
    return from_rc(rc, "clear table " + in_quotes(EnvAccess::table_name(*writer_, table)));
  return {};
}

Status WriteTxn::append(std::uint16_t type, std::uint64_t order_id, Bytes payload,
                        std::uint64_t* sequence_out) {
  FS_ASSERT(live());
  FS_ASSERT(type != 0);  // record types are stable numbers from 1
  if (payload.size() > record_payload_size_max_bytes) {
    return Status(ErrorCode::invalid_argument, 0,
                  "append: payload of " + std::to_string(payload.size()) + " bytes (max " +
                      std::to_string(record_payload_size_max_bytes) + ")");
  }
  if (!writer_->appended_) writer_->appended_ = std::make_unique<BatchBuilder>();
  BatchBuilder& batch = *writer_->appended_;
  if (batch.record_count() == 0) batch.begin(writer_->next_sequence_, next_time_ns_);
  const std::uint64_t sequence = batch.add_record(type, order_id, payload);
  if (sequence_out != nullptr) *sequence_out = sequence;
  return {};
}

Status WriteTxn::append_batch(const BatchBuilder& batch) {
  FS_ASSERT(live());
  FS_ASSERT(!writer_->appended_ || writer_->appended_->record_count() == 0);  // not mixed
  if (batch.record_count() == 0) {
    return Status(ErrorCode::invalid_argument, 0,
                  "append_batch: a batch holds at least one record");
  }
  if (batch.first_sequence() != writer_->next_sequence_) {
    return Status(ErrorCode::invalid_argument, 0,
                  EnvAccess::where(*writer_) + ": append_batch: batch starts at sequence " +
                      std::to_string(batch.first_sequence()) + ", the journal is at " +
                      std::to_string(writer_->next_sequence_));
  }
  return put_batch(batch);
}

Status WriteTxn::append_stored(std::uint64_t first_sequence, std::uint32_t record_count,
                               Bytes stored) {
  FS_ASSERT(live());
  if (record_count == 0 || first_sequence != writer_->next_sequence_) {
    return Status(ErrorCode::invalid_argument, 0,
                  EnvAccess::where(*writer_) + ": append_stored: batch at sequence " +
                      std::to_string(first_sequence) + ", the journal is at " +
                      std::to_string(writer_->next_sequence_));
  }
  auto key = key_u64(first_sequence);
  MDB_val k{key.size(), key.data()};
  MDB_val v{stored.size(), nullptr};
  const int rc = mdb_put(txn_, writer_->journal_table_, &k, &v, MDB_APPEND | MDB_RESERVE);
  if (rc != MDB_SUCCESS)
    return from_rc(rc, "append stored batch at sequence " + std::to_string(first_sequence));
  std::memcpy(v.mv_data, stored.data(), stored.size());
  writer_->next_sequence_ = first_sequence + record_count;
  return {};
}

Status WriteTxn::put_batch(const BatchBuilder& batch) {
  auto key = key_u64(batch.first_sequence());
  MDB_val k{key.size(), key.data()};
  MDB_val v{batch.stored_bytes(), nullptr};
  // MDB_APPEND skips the search and fills pages completely (keys only grow); MDB_RESERVE
  // lets the batch be written straight into its pages instead of being copied twice.
  const int rc = mdb_put(txn_, writer_->journal_table_, &k, &v, MDB_APPEND | MDB_RESERVE);
  if (rc == MDB_KEYEXIST) {
    return Status(ErrorCode::io, rc,
                  EnvAccess::where(*writer_) + ": append: sequence " +
                      std::to_string(batch.first_sequence()) +
                      " is not past the last journal key; has another process written it?");
  }
  if (rc != MDB_SUCCESS)
    return from_rc(rc, "append batch at sequence " + std::to_string(batch.first_sequence()));
  batch.write_to(static_cast<std::byte*>(v.mv_data));
  writer_->next_sequence_ = batch.next_sequence();
  next_time_ns_ = std::max(next_time_ns_, batch.last_time_ns() + 1);
  last_time_ns_ = batch.last_time_ns();
  return {};
}

Status WriteTxn::commit() {
  FS_ASSERT(live());
  Env* const writer = writer_;
  if (writer->appended_ && writer->appended_->record_count() != 0) {
    Status s = put_batch(*writer->appended_);
    writer->appended_->clear();
    if (!s.ok()) {
      abort();
      return s;
    }
  }
  // LMDB frees the txn whether or not the commit succeeds, so our side ends here either way.
  const int rc = mdb_txn_commit(txn_);
  txn_ = nullptr;
  writer->write_live_ = false;
  write_ = false;
  writer->live_txns_.fetch_sub(1, std::memory_order_release);
  if (rc != MDB_SUCCESS) {
    writer->next_sequence_ = first_sequence_;
    return from_rc(rc, EnvAccess::where(*writer) + ": commit");
  }
  if (writer->next_sequence_ != first_sequence_) writer->last_time_ns_ = last_time_ns_;
  return {};
}

void WriteTxn::abort() noexcept {
  if (txn_ == nullptr) return;
  mdb_txn_abort(txn_);
  txn_ = nullptr;
  // The sequences handed out in this txn were never written: give them out again.
  writer_->next_sequence_ = first_sequence_;
  if (writer_->appended_) writer_->appended_->clear();
  writer_->write_live_ = false;
  write_ = false;
  writer_->live_txns_.fetch_sub(1, std::memory_order_release);
}

}  // namespace flashsaga::journal
