#include "journal/batch.h"
#include "journal/journal.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <lmdb.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "journal/internal/layout.h"

namespace flashsaga::journal {
namespace {

namespace fs = std::filesystem;

// A fresh directory under /tmp, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/flashsaga_journal_test.XXXXXX";
    const char* made = ::mkdtemp(pattern);
    if (made != nullptr) path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    // Tests take permissions away; give them back so the removal can see everything.
    for (auto it = fs::recursive_directory_iterator(path_, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      ::chmod(it->path().c_str(), 0700);
    }
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// One row of the "orders" table in these tests.
struct Order {
  std::uint64_t id;
  std::uint64_t amount;
};

bool write_all(int fd, const void* data, std::size_t size) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

bool read_all(int fd, void* data, std::size_t size) {
  auto* p = static_cast<char*>(data);
  while (size > 0) {
    const ssize_t n = ::read(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

int wait_exit_code(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

std::vector<std::byte> payload_of(std::uint64_t n, std::size_t size) {
  std::vector<std::byte> out(size);
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<std::byte>((n * 31 + i) & 0xFF);
  if (size >= 8) std::memcpy(out.data(), &n, 8);
  return out;
}

class JournalTest : public ::testing::Test {
 protected:
  Options options(std::string domain = "order") const {
    Options o;
    o.dir = tmp_.path() / domain;
    o.domain = std::move(domain);
    o.durability = Durability::nosync;
    o.map_size_bytes = std::size_t{16} << 20;
    o.map_size_max_bytes = std::size_t{64} << 20;
    o.tables = {"orders", "inbox"};
    return o;
  }

  static std::unique_ptr<Env> open_ok(const Options& o) {
    std::unique_ptr<Env> env;
    const Status s = Env::open(o, env);
    EXPECT_TRUE(s.ok()) << s.message();
    return env;
  }

  // Appends `count` records (payload = its order id) in one committed batch.
  static void append_batch(Env& env, std::uint64_t first_order, std::size_t count) {
    WriteTxn txn;
    ASSERT_TRUE(env.begin_write(txn).ok());
    for (std::size_t i = 0; i < count; ++i) {
      const std::uint64_t order = first_order + i;
      ASSERT_TRUE(txn.append(1, order, as_bytes(order)).ok());
    }
    ASSERT_TRUE(txn.commit().ok());
  }

  static std::vector<RecordView> all_records(const ReadTxn& txn, Status* status = nullptr) {
    std::vector<RecordView> out;
    const Status s = txn.records(0, SIZE_MAX, [&](const RecordView& r) {
      out.push_back(r);
      return true;
    });
    if (status != nullptr) *status = s;
    return out;
  }

  TempDir tmp_;
};

// --- Keys ---------------------------------------------------------------------------------

TEST(JournalKeys, KeyBytesSortInNumericOrder) {
  const std::vector<std::uint64_t> values = {
      0, 1, 255, 256, 65535, 65536, 1ull << 32, (1ull << 40) + 7, 1ull << 63, UINT64_MAX};
  for (std::size_t i = 0; i + 1 < values.size(); ++i) {
    const auto a = key_u64(values[i]);
    const auto b = key_u64(values[i + 1]);
    EXPECT_LT(std::memcmp(a.data(), b.data(), 8), 0) << values[i] << " vs " << values[i + 1];
    EXPECT_EQ(u64_from_key(Bytes(a)), values[i]);
  }
  const auto k = key_u64_u64(7, 9);
  EXPECT_EQ(u64_from_key(Bytes(k), 0), 7u);
  EXPECT_EQ(u64_from_key(Bytes(k), 8), 9u);
  const auto lo = key_u64_u64(7, UINT64_MAX);
  const auto hi = key_u64_u64(8, 0);
  EXPECT_LT(std::memcmp(lo.data(), hi.data(), 16), 0);
}

TEST(JournalNames, CodesAndModesHaveStableNames) {
  EXPECT_EQ(error_code_name(ErrorCode::map_full), "map_full");
  EXPECT_EQ(error_code_name(ErrorCode::no_space), "no_space");
  EXPECT_EQ(static_cast<int>(ErrorCode::no_space), 9);
  EXPECT_EQ(durability_name(Durability::sync), "sync");
  EXPECT_EQ(durability_name(Durability::nosync), "nosync");
}

TEST_F(JournalTest, TablesScanInNumericKeyOrder) {
  auto env = open_ok(options());
  ASSERT_NE(env, nullptr);
  const TableId orders = env->table("orders");
  const std::vector<std::uint64_t> ids = {1ull << 40, 3, 256, 255, 70000, 1, 1ull << 32};
  {
    WriteTxn txn;
    ASSERT_TRUE(env->begin_write(txn).ok());
    for (const auto id : ids) ASSERT_TRUE(txn.put_as(orders, key_u64(id), Order{id, 0}).ok());
    ASSERT_TRUE(txn.commit().ok());
  }
  std::vector<std::uint64_t> seen;
  ReadTxn txn;
  ASSERT_TRUE(env->begin_read(txn).ok());
  ASSERT_TRUE(txn.scan(orders, {}, SIZE_MAX,
                       [&](Bytes key, Bytes) {
                         seen.push_back(u64_from_key(key));
                         return true;
                       })
                  .ok());
  auto sorted = ids;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(seen, sorted);
}

// --- Round trips --------------------------------------------------------------------------

TEST_F(JournalTest, PutGetDelScanRoundTripOnNamedTables) {
  auto env = open_ok(options());
  ASSERT_NE(env, nullptr);
  const TableId orders = env->table("orders");
  const TableId inbox = env->table("inbox");
  {
    WriteTxn txn;
    ASSERT_TRUE(env->begin_write(txn).ok());
    for (std::uint64_t id = 1; id <= 10; ++id) {
      ASSERT_TRUE(txn.put_as(orders, key_u64(id), Order{id, id * 100}).ok());
    }
    ASSERT_TRUE(txn.put(inbox, key_u64(5), as_bytes(std::string_view("inbox-5"))).ok());
    // A write txn reads its own writes.
    Order o{};
    ASSERT_TRUE(txn.get_as(orders, key_u64(3), o).ok());
    EXPECT_EQ(o.amount, 300u);
    ASSERT_TRUE(txn.commit().ok());
  }
  {
    ReadTxn txn;
    ASSERT_TRUE(env->begin_read(txn).ok());
    Order o{};
    ASSERT_TRUE(txn.get_as(orders, key_u64(7), o).ok());
    EXPECT_EQ(o.id, 7u);
    EXPECT_EQ(o.amount, 700u);
    Bytes v;
    ASSERT_TRUE(txn.get(inbox, key_u64(5), v).ok());
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(v.data()), v.size()), "inbox-5");
    EXPECT_EQ(txn.get(inbox, key_u64(6), v).code(), ErrorCode::not_found);
    // Another size than stored is a layout mismatch, reported, not copied.
    std::uint32_t wrong = 0;
    EXPECT_EQ(txn.get_as(orders, key_u64(7), wrong).code(), ErrorCode::corrupt);

    std::vector<std::uint64_t> seen;
    ASSERT_TRUE(txn.scan(orders, key_u64(4), 3,
                         [&](Bytes key, Bytes value) {
                           Order row{};
                           EXPECT_TRUE(from_bytes(value, row));
                           EXPECT_EQ(row.id, u64_from_key(key));
                           seen.push_back(row.id);
                           return true;
                         })
                    .ok());
    EXPECT_EQ(seen, (std::vector<std::uint64_t>{4, 5, 6}));
    seen.clear();
    ASSERT_TRUE(txn.scan(orders, {}, SIZE_MAX,
                         [&](Bytes key, Bytes) {
                           seen.push_back(u64_from_key(key));
                           return seen.size() < 2;  // stop early
                         })
                    .ok());
    EXPECT_EQ(seen, (std::vector<std::uint64_t>{1, 2}));
  }
  {
    WriteTxn txn;
    ASSERT_TRUE(env->begin_write(txn).ok());
    EXPECT_TRUE(txn.del(orders, key_u64(5)).ok());
    EXPECT_EQ(txn.del(orders, key_u64(5)).code(), ErrorCode::not_found);
    ASSERT_TRUE(txn.commit().ok());
  }
  ReadTxn txn;
  ASSERT_TRUE(env->begin_read(txn).ok());
  Bytes v;
  EXPECT_EQ(txn.get(orders, key_u64(5), v).code(), ErrorCode::not_found);
  EXPECT_TRUE(txn.get(orders, key_u64(6), v).ok());
}

TEST_F(JournalTest, AppendNumbersRecordsFromOneAndReadsThemBackVerified) {
  auto env = open_ok(options());
  ASSERT_NE(env, nullptr);
  {
    WriteTxn txn;
    ASSERT_TRUE(env->begin_write(txn).ok());
    for (std::uint64_t i = 1; i <= 5; ++i) {
      const auto payload = payload_of(i, 10 * i);
      std::uint64_t seq = 0;
      ASSERT_TRUE(txn.append(static_cast<std::uint16_t>(i), 100 + i, payload, &seq).ok());
      EXPECT_EQ(seq, i);
    }
    ASSERT_TRUE(txn.append(9, 0, Bytes{}).ok());  // an empty payload is a record too
    EXPECT_EQ(txn.last_sequence(), 6u);
    ASSERT_TRUE(txn.commit().ok());
  }
  ReadTxn txn;
  ASSERT_TRUE(env->begin_read(txn).ok());
  EXPECT_EQ(txn.last_sequence(), 6u);
  Status s;
  const auto records = all_records(txn, &s);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(records.size(), 6u);
  for (std::uint64_t i = 1; i <= 5; ++i) {
    const RecordView& r = records[i - 1];
    EXPECT_EQ(r.sequence, i);
    EXPECT_EQ(r.header.magic, journal_magic);
    EXPECT_EQ(r.header.version, journal_layout_version);
    EXPECT_EQ(r.header.type, i);
    EXPECT_EQ(r.header.order_id, 100 + i);
    EXPECT_GT(r.header.time_ns, 0);
    const auto expected = payload_of(i, 10 * i);
    ASSERT_EQ(r.payload.size(), expected.size());
    EXPECT_TRUE(std::equal(r.payload.begin(), r.payload.end(), expected.begin()));
  }
  EXPECT_TRUE(records[5].payload.empty());

  std::vector<std::uint64_t> seqs;
  ASSERT_TRUE(txn.records(3, 2,
                          [&](const RecordView& r) {
                            seqs.push_back(r.sequence);
                            return true;
                          })
                  .ok());
  EXPECT_EQ(seqs, (std::vector<std::uint64_t>{3, 4}));
  seqs.clear();
  ASSERT_TRUE(txn.records(2, SIZE_MAX,
                          [&](const RecordView& r) {
                            seqs.push_back(r.sequence);
                            return r.sequence < 3;
                          })
                  .ok());
  EXPECT_EQ(seqs, (std::vector<std::uint64_t>{2, 3}));
  seqs.clear();
  ASSERT_TRUE(txn.records(7, SIZE_MAX,
                          [&](const RecordView& r) {
                            seqs.push_back(r.sequence);
                            return true;
                          })
                  .ok());
  EXPECT_TRUE(seqs.empty());
}

TEST_F(JournalTest, ReopenContinuesSequencesAndKeepsState) {
  {
    auto env = open_ok(options());
    ASSERT_NE(env, nullptr);
    append_batch(*env, 1, 3);
    WriteTxn txn;
    ASSERT_TRUE(env->begin_write(txn).ok());
    ASSERT_TRUE(txn.put_as(env->table("orders"), key_u64(1), Order{1, 5}).ok());
    ASSERT_TRUE(txn.commit().ok());
  }
  auto env = open_ok(options());
  ASSERT_NE(env, nullptr);
  WriteTxn txn;
  ASSERT_TRUE(env->begin_write(txn).ok());
  std::uint64_t seq = 0;
  ASSERT_TRUE(txn.append(1, 4, as_bytes(std::uint64_t{4}), &seq).ok());
  EXPECT_EQ(seq, 4u);
  Order o{};
  ASSERT_TRUE(txn.get_as(env->table("orders"), key_u64(1), o).ok());
  EXPECT_EQ(o.amount, 5u);
  ASSERT_TRUE(txn.commit().ok());
  const EnvStats st = env->stats();
  EXPECT_EQ(st.last_sequence, 4u);
  EXPECT_EQ(st.journal_records, 4u);
  EXPECT_GT(st.created_ns, 0);
  EXPECT_GT(st.used_bytes, 0u);
  EXPECT_GT(st.readers_max, 0u);
  EXPECT_EQ(st.map_size_bytes, options().map_size_bytes);
}

TEST_F(JournalTest, RecordTimesAreWallClockAndStrictlyIncreasingAcrossBatchesAndReopen) {
  const std::int64_t before_ns = [] {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  }();
  {
    auto env = open_ok(options());
    ASSERT_NE(env, nullptr);
    append_batch(*env, 1, 50);
    {
      WriteTxn aborted;  // an aborted batch does not move time either
      ASSERT_TRUE(env->begin_write(aborted).ok());
      ASSERT_TRUE(aborted.append(1, 0, as_bytes(0)).ok());
    }
    append_batch(*env, 51, 50);
  }
  auto env = open_ok(options());
  ASSERT_NE(env, nullptr);
  append_batch(*env, 101, 50);
  ReadTxn txn;
  ASSERT_TRUE(env->begin_read(txn).ok());
  const auto records = all_records(txn);
  ASSERT_EQ(records.size(), 150u);
  EXPECT_GE(records.front().header.time_ns, before_ns);
  for (std::size_t i = 1; i < records.size(); ++i) {
    EXPECT_GT(records[i].header.time_ns, records[i - 1].header.time_ns) << "at " << i;
  }
  // Within a batch, one clock read plus one per record.
  EXPECT_EQ(records[49].header.time_ns - records[0].header.time_ns, 49);
}

TEST_F(JournalTest, AbortedBatchGivesItsSequencesBack) {
  auto env = open_ok(options());
  ASSERT_NE(env, nullptr);
  append_batch(*env, 1, 2);
  {
    WriteTxn txn;
    ASSERT_TRUE(env->begin_write(txn).ok());
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(txn.append(1, 9, as_bytes(9)).ok());
    txn.abort();
    EXPECT_FALSE(txn.live());
  }
  {
    WriteTxn txn;  // ended by its destructor this time
    ASSERT_TRUE(env->begin_write(txn).ok());
    ASSERT_TRUE(txn.append(1, 9, as_bytes(9)).ok());
  }
  {
    WriteTxn first;
    ASSERT_TRUE(env->begin_write(first).ok());
    WriteTxn moved(std::move(first));  // the batch follows the object it moved to
    EXPECT_FALSE(first.live());
    std::uint64_t seq = 0;
    ASSERT_TRUE(moved.append(1, 3, as_bytes(3), &seq).ok());
    EXPECT_EQ(seq, 3u);
    WriteTxn assigned;
    assigned = std::move(moved);
    ASSERT_TRUE(assigned.commit().ok());
  }
  ReadTxn txn;
  ASSERT_TRUE(env->begin_read(txn).ok());
  const auto records = all_records(txn);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[2].sequence, 3u);
  EXPECT_EQ(records[2].header.order_id, 3u);
}

TEST_F(JournalTest, ReadersSeeOnlyCommittedBatches) {
  auto env = open_ok(options());
  ASSERT_NE(env, nullptr);
  ReadTxn before;
  ASSERT_TRUE(env->begin_read(before).ok());
  WriteTxn txn;
  ASSERT_TRUE(env->begin_write(txn).ok());
  ASSERT_TRUE(txn.append(1, 1, as_bytes(1)).ok());
  ASSERT_TRUE(txn.put_as(env->table("orders"), key_u64(1), Order{1, 1}).ok());
  {
    ReadTxn during;
    ASSERT_TRUE(env->begin_read(during).ok());
    EXPECT_EQ(during.last_sequence(), 0u);
    Bytes v;
    EXPECT_EQ(during.get(env->table("orders"), key_u64(1), v).code(), ErrorCode::not_found);
  }
  ASSERT_TRUE(txn.commit().ok());
  EXPECT_EQ(before.last_sequence(), 0u);  // a snapshot never changes
  ReadTxn after;
  ASSERT_TRUE(env->begin_read(after).ok());
  EXPECT_EQ(after.last_sequence(), 1u);
  ASSERT_TRUE(env->begin_read(before).ok());  // refreshing a live snapshot
  EXPECT_EQ(before.last_sequence(), 1u);
}

TEST_F(JournalTest, RejectsBadArgumentsWithoutBreakingTheBatch) {
  auto env = open_ok(options());
  ASSERT_NE(env, nullptr);
  const TableId orders = env->table("orders");
  WriteTxn txn;
  ASSERT_TRUE(env->begin_write(txn).ok());
  EXPECT_EQ(txn.put(orders, Bytes{}, as_bytes(1)).code(), ErrorCode::invalid_argument);
  const std::vector<std::byte> long_key(key_size_max_bytes + 1);
  EXPECT_EQ(txn.put(orders, long_key, as_bytes(1)).code(), ErrorCode::invalid_argument);
  const std::vector<std::byte> big(record_payload_size_max_bytes + 1);
  EXPECT_EQ(txn.append(1, 0, big).code(), ErrorCode::invalid_argument);
  const std::vector<std::byte> largest(record_payload_size_max_bytes);
  std::uint64_t seq = 0;
  ASSERT_TRUE(txn.append(1, 0, largest, &seq).ok());
  EXPECT_EQ(seq, 1u);
  Bytes v;
  EXPECT_EQ(txn.get(orders, long_key, v).code(), ErrorCode::invalid_argument);
  ASSERT_TRUE(txn.commit().ok());
}

// MDB_NOTLS: a snapshot may be opened on one thread and read on another, and readers on
// several threads run beside the writer.
TEST_F(JournalTest, ReadTxnsWorkAcrossThreadsBesideTheWriter) {
  auto env = open_ok(options());
  ASSERT_NE(env, nullptr);
  append_batch(*env, 1, 4);
  {
    ReadTxn txn;
    ASSERT_TRUE(env->begin_read(txn).ok());
    std::uint64_t seen = 0;
    std::thread other([&] { seen = txn.last_sequence(); });
    other.join();
    EXPECT_EQ(seen, 4u);
  }
  constexpr int batches = 100;
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      ReadTxn txn;
      std::uint64_t last_seen = 0;
      while (!done.load(std::memory_order_acquire)) {
        if (!env->begin_read(txn).ok()) {
          failures.fetch_add(1);
          break;
        }
        Status s;
        const auto records = all_records(txn, &s);
        const std::uint64_t last = txn.last_sequence();
        if (!s.ok() || records.size() != last || last < last_seen) failures.fetch_add(1);
        last_seen = last;
      }
    });
  }
  for (int b = 0; b < batches; ++b) append_batch(*env, 100 + b * 3, 3);
  done.store(true, std::memory_order_release);
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(env->stats().last_sequence, 4u + 3u * batches);
}

// --- Map full and growth ------------------------------------------------------------------

// One batch of 1200 records of 1000 bytes plus a state row each: about 1.6 MiB of pages.
Status write_big_batch(Env& env, std::uint64_t batch, std::uint64_t* first_seq = nullptr) {
  WriteTxn txn;
  if (Status s = env.begin_write(txn); !s.ok()) return s;
  const auto payload = payload_of(batch, 1000);
  for (std::uint64_t i = 0; i < 1200; ++i) {
    std::uint64_t seq = 0;
    if (Status s = txn.append(2, batch, payload, &seq); !s.ok()) return s;
    if (i == 0 && first_seq != nullptr) *first_seq = seq;
    if (Status s = txn.put_as(env.table("orders"), key_u64_u64(batch, i), Order{batch, i});
        !s.ok()) {
      return s;
    }
  }
  return txn.commit();
}

TEST_F(JournalTest, MapFullFailsTheWholeBatchAndGrowLetsTheRetrySucceed) {
  Options o = options();
  o.map_size_bytes = std::size_t{1} << 20;
  o.map_size_max_bytes = std::size_t{4} << 20;
  auto env = open_ok(o);
  ASSERT_NE(env, nullptr);
  append_batch(*env, 1, 1);

  const Status failed = write_big_batch(*env, 7);
  ASSERT_EQ(failed.code(), ErrorCode::map_full) << failed.message();
  EXPECT_EQ(failed.lmdb_rc(), MDB_MAP_FULL);
  {
    ReadTxn txn;
    ASSERT_TRUE(env->begin_read(txn).ok());
    EXPECT_EQ(txn.last_sequence(), 1u);
    Bytes v;
    EXPECT_EQ(txn.get(env->table("orders"), key_u64_u64(7, 0), v).code(), ErrorCode::not_found);
  }

  int grows = 0;
  Status s = failed;
  std::uint64_t first_seq = 0;
  while (s.code() == ErrorCode::map_full && grows < 2) {
    ASSERT_TRUE(env->grow().ok());
    ++grows;
    s = write_big_batch(*env, 7, &first_seq);
  }
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(first_seq, 2u);  // the failed attempt gave its sequences back
  ReadTxn txn;
  ASSERT_TRUE(env->begin_read(txn).ok());
  Status rs;
  const auto records = all_records(txn, &rs);
  ASSERT_TRUE(rs.ok()) << rs.message();
  EXPECT_EQ(records.size(), 1201u);
  EXPECT_EQ(txn.last_sequence(), 1201u);
}

// A full disk under a journal whose map is far bigger than the disk: writes through the map
// would SIGBUS on a page the file system cannot back. The writer must instead refuse a batch
// with no_space, keep every committed batch, and go on once space returns.
TEST_F(JournalTest, AFullDiskIsNoSpaceNeverACrashAndWritesResumeWhenSpaceReturns) {
  const fs::path disk = tmp_.path() / "disk";
  fs::create_directories(disk);
  if (::mount("tmpfs", disk.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=6m,mode=0700") != 0)
    GTEST_SKIP() << "cannot mount a tmpfs (needs root): " << std::strerror(errno);
  struct Unmount {
    fs::path where;
    ~Unmount() { ::umount2(where.c_str(), MNT_DETACH); }
  } unmount{disk};
  // 2 MiB of the 6 belong to a file we can delete later: "space returns".
  const fs::path filler = disk / "filler";
  {
    const int fd = ::open(filler.c_str(), O_CREAT | O_WRONLY, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::posix_fallocate(fd, 0, 2 << 20), 0);
    ::close(fd);
  }
  Options o = options();
  o.dir = disk / "order";
  o.map_size_bytes = std::size_t{64} << 20;  // a sparse map ten times the disk
  o.map_size_max_bytes = std::size_t{64} << 20;
  o.space_reserve_bytes = std::size_t{1} << 20;
  auto env = open_ok(o);
  ASSERT_NE(env, nullptr);

  std::uint64_t committed = 0;
  Status failed;
  for (std::uint64_t batch = 1; batch <= 1'000; ++batch) {
    WriteTxn txn;
    failed = env->begin_write(txn);
    for (std::uint64_t i = 0; failed.ok() && i < 64; ++i)
      failed = txn.append(2, batch, payload_of(batch * 64 + i, 1000));
    if (failed.ok()) failed = txn.commit();
    if (!failed.ok()) break;
    ++committed;
  }
  ASSERT_FALSE(failed.ok()) << "the disk never filled up";
  EXPECT_EQ(failed.code(), ErrorCode::no_space) << failed.message();
  EXPECT_GT(committed, 10u);
  const auto check_committed = [&](std::uint64_t batches) {
    ReadTxn txn;
    ASSERT_TRUE(env->begin_read(txn).ok());
    Status rs;
    const auto records = all_records(txn, &rs);
    ASSERT_TRUE(rs.ok()) << rs.message();
    ASSERT_EQ(records.size(), batches * 64);
    for (std::size_t k = 0; k < records.size(); ++k) {
      const std::uint64_t batch = 1 + k / 64, n = batch * 64 + k % 64;
      ASSERT_EQ(records[k].header.order_id, batch);
      ASSERT_EQ(std::vector<std::byte>(records[k].payload.begin(), records[k].payload.end()),
                payload_of(n, 1000));
    }
  };
  check_committed(committed);
  // Asking again while full is the same clean answer.
  {
    WriteTxn txn;
    Status again = env->begin_write(txn);
    if (again.ok()) {
      for (std::uint64_t i = 0; again.ok() && i < 64; ++i)
        again = txn.append(2, committed + 1, payload_of((committed + 1) * 64 + i, 1000));
      if (again.ok()) again = txn.commit();
    }
    EXPECT_EQ(again.code(), ErrorCode::no_space) << again.message();
  }
  // Space returns: the next batch commits, numbered right after the last committed one.
  fs::remove(filler);
  {
    WriteTxn txn;
    ASSERT_TRUE(env->begin_write(txn).ok());
    for (std::uint64_t i = 0; i < 64; ++i)
      ASSERT_TRUE(txn.append(2, committed + 1, payload_of((committed + 1) * 64 + i, 1000)).ok());
    ASSERT_TRUE(txn.commit().ok());
  }
  check_committed(committed + 1);
}

TEST_F(JournalTest, GrowStopsAtTheMaximumAndTheEnvStaysReadable) {
  Options o = options();
  o.map_size_bytes = std::size_t{1} << 20;
  o.map_size_max_bytes = std::size_t{4} << 20;
  auto env = open_ok(o);
  ASSERT_NE(env, nullptr);
  std::uint64_t committed = 0;
  Status grow_status;
  for (std::uint64_t batch = 1; batch <= 16; ++batch) {
    Status s = write_big_batch(*env, batch);
    while (s.code() == ErrorCode::map_full) {
      grow_status = env->grow();
      if (!grow_status.ok()) break;
      s = write_big_batch(*env, batch);
    }
    if (!grow_status.ok()) break;
    ASSERT_TRUE(s.ok()) << s.message();
    committed += 1200;
  }
  ASSERT_EQ(grow_status.code(), ErrorCode::map_full) << grow_status.message();
  EXPECT_GT(committed, 0u);
  EXPECT_EQ(env->stats().map_size_bytes, o.map_size_max_bytes);
  EXPECT_EQ(env->grow().code(), ErrorCode::map_full);

  ReadTxn txn;
  ASSERT_TRUE(env->begin_read(txn).ok());
  Status rs;
  const auto records = all_records(txn, &rs);
  ASSERT_TRUE(rs.ok()) << rs.message();
  EXPECT_EQ(records.size(), committed);
  Order row{};
  EXPECT_TRUE(txn.get_as(env->table("orders"), key_u64_u64(1, 5), row).ok());
}

TEST_F(JournalTest, AGrownMapStaysGrownAfterReopen) {
  Options o = options();
  o.map_size_bytes = std::size_t{1} << 20;
  o.map_size_max_bytes = std::size_t{8} << 20;
  {
    auto env = open_ok(o);
    ASSERT_NE(env, nullptr);
    ASSERT_TRUE(env->grow().ok());
    append_batch(*env, 1, 1);  // the size is recorded with the next commit
    EXPECT_EQ(env->stats().map_size_bytes, std::size_t{2} << 20);
  }
  auto env = open_ok(o);
  ASSERT_NE(env, nullptr);
  EXPECT_EQ(env->stats().map_size_bytes, std::size_t{2} << 20);
}

// --- Foreign environments -----------------------------------------------------------------

TEST_F(JournalTest, OpeningAnotherDomainsJournalIsVersionMismatchNamingBoth) {
  Options o = options("order");
  { ASSERT_NE(open_ok(o), nullptr); }
  o.domain = "coupon";  // same directory, other domain
  std::unique_ptr<Env> env;
  const Status s = Env::open(o, env);
  EXPECT_EQ(s.code(), ErrorCode::version_mismatch);
  EXPECT_NE(s.message().find("\"order\""), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("\"coupon\""), std::string::npos) << s.message();
  EXPECT_EQ(env, nullptr);
  o.read_only = true;
  EXPECT_EQ(Env::open(o, env).code(), ErrorCode::version_mismatch);
}

TEST_F(JournalTest, AnotherLayoutVersionIsVersionMismatchNamingBoth) {
  const Options o = options();
  {
    auto env = open_ok(o);
    ASSERT_NE(env, nullptr);
    MDB_txn* txn = nullptr;
    ASSERT_EQ(mdb_txn_begin(env->raw(), nullptr, 0, &txn), MDB_SUCCESS);
    MDB_dbi meta = 0;
    ASSERT_EQ(mdb_dbi_open(txn, "meta", 0, &meta), MDB_SUCCESS);
    const std::uint16_t other_version = journal_layout_version + 1;
    MDB_val k{internal::meta_key_layout_version.size(),
              const_cast<char*>(internal::meta_key_layout_version.data())};
    MDB_val v{sizeof other_version, const_cast<std::uint16_t*>(&other_version)};
    ASSERT_EQ(mdb_put(txn, meta, &k, &v, 0), MDB_SUCCESS);
    ASSERT_EQ(mdb_txn_commit(txn), MDB_SUCCESS);
  }
  for (const bool read_only : {false, true}) {
    Options open_as = o;
    open_as.read_only = read_only;
    std::unique_ptr<Env> env;
    const Status s = Env::open(open_as, env);
    EXPECT_EQ(s.code(), ErrorCode::version_mismatch);
    const std::string ours = "expected " + std::to_string(journal_layout_version);
    const std::string theirs = "found " + std::to_string(journal_layout_version + 1);
    EXPECT_NE(s.message().find(ours), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(theirs), std::string::npos) << s.message();
  }
}

TEST_F(JournalTest, AFileThatIsNotLmdbIsVersionMismatch) {
  const Options o = options();
  ASSERT_EQ(::mkdir(o.dir.c_str(), 0700), 0);
  const int fd = ::open((o.dir / "data.mdb").c_str(), O_CREAT | O_WRONLY, 0600);
  ASSERT_GE(fd, 0);
  const std::vector<char> junk(16384, 'x');
  ASSERT_TRUE(write_all(fd, junk.data(), junk.size()));
  ::close(fd);
  std::unique_ptr<Env> env;
  const Status s = Env::open(o, env);
  EXPECT_EQ(s.code(), ErrorCode::version_mismatch) << s.message();
  EXPECT_NE(s.lmdb_rc(), 0);
}

// --- Corruption ---------------------------------------------------------------------------

struct Corruption {
  const char* name;
  std::function<void(std::vector<std::byte>&)> apply;
};

TEST_F(JournalTest, CorruptRecordIsReportedWithItsSequence) {
  // Each record below is alone in its batch (one commit each); its header starts after the
  // batch's 32-byte header.
  constexpr std::size_t h = sizeof(BatchHeader);
  const std::vector<Corruption> corruptions = {
      {"payload byte flipped", [](auto& v) { v[h + 40] ^= std::byte{1}; }},
      {"checksum changed", [](auto& v) { v[h + 12] ^= std::byte{0x80}; }},
      {"magic changed", [](auto& v) { v[h + 0] = std::byte{'X'}; }},
      {"version changed", [](auto& v) { v[h + 4] = std::byte{7}; }},
      {"payload size wrong", [](auto& v) { v[h + 8] = std::byte{3}; }},
      {"batch magic changed", [](auto& v) { v[0] = std::byte{'X'}; }},
      {"truncated below the header", [](auto& v) { v.resize(10); }},
      {"truncated payload", [](auto& v) { v.resize(v.size() - 1); }},
  };
  for (const auto& c : corruptions) {
    SCOPED_TRACE(c.name);
    TempDir dir;
    Options o = options();
    o.dir = dir.path() / "order";
    auto env = open_ok(o);
    ASSERT_NE(env, nullptr);
    for (std::uint64_t i = 1; i <= 3; ++i) {
      WriteTxn txn;
      ASSERT_TRUE(env->begin_write(txn).ok());
      ASSERT_TRUE(txn.append(1, i, payload_of(i, 64)).ok());
      ASSERT_TRUE(txn.commit().ok());
    }
    MDB_txn* raw = nullptr;
    ASSERT_EQ(mdb_txn_begin(env->raw(), nullptr, 0, &raw), MDB_SUCCESS);
    MDB_dbi journal = 0;
    ASSERT_EQ(mdb_dbi_open(raw, "journal", 0, &journal), MDB_SUCCESS);
    auto key = key_u64(2);
    MDB_val k{key.size(), key.data()};
    MDB_val v{};
    ASSERT_EQ(mdb_get(raw, journal, &k, &v), MDB_SUCCESS);
    std::vector<std::byte> value(static_cast<std::byte*>(v.mv_data),
                                 static_cast<std::byte*>(v.mv_data) + v.mv_size);
    c.apply(value);
    MDB_val bad{value.size(), value.data()};
    ASSERT_EQ(mdb_put(raw, journal, &k, &bad, 0), MDB_SUCCESS);
    ASSERT_EQ(mdb_txn_commit(raw), MDB_SUCCESS);

    ReadTxn txn;
    ASSERT_TRUE(env->begin_read(txn).ok());
    std::vector<std::uint64_t> seen;
    const Status s = txn.records(1, SIZE_MAX, [&](const RecordView& r) {
      seen.push_back(r.sequence);
      return true;
    });
    EXPECT_EQ(s.code(), ErrorCode::corrupt);
    EXPECT_NE(s.message().find("sequence 2"), std::string::npos) << s.message();
    EXPECT_EQ(seen, std::vector<std::uint64_t>{1});  // nothing at or after the bad record
  }
}

TEST_F(JournalTest, AMissingRecordIsReportedAsAGap) {
  auto env = open_ok(options());
  ASSERT_NE(env, nullptr);
  for (std::uint64_t i = 1; i <= 3; ++i) append_batch(*env, i, 1);  // batches 1, 2 and 3
  MDB_txn* raw = nullptr;
  ASSERT_EQ(mdb_txn_begin(env->raw(), nullptr, 0, &raw), MDB_SUCCESS);
  MDB_dbi journal = 0;
  ASSERT_EQ(mdb_dbi_open(raw, "journal", 0, &journal), MDB_SUCCESS);
  auto key = key_u64(2);
  MDB_val k{key.size(), key.data()};
  ASSERT_EQ(mdb_del(raw, journal, &k, nullptr), MDB_SUCCESS);
  ASSERT_EQ(mdb_txn_commit(raw), MDB_SUCCESS);
  ReadTxn txn;
  ASSERT_TRUE(env->begin_read(txn).ok());
  Status s;
  const auto records = all_records(txn, &s);
  EXPECT_EQ(s.code(), ErrorCode::corrupt);
  EXPECT_NE(s.message().find("sequence 3"), std::string::npos) << s.message();
  EXPECT_EQ(records.size(), 1u);
}

// --- Directories and permissions ----------------------------------------------------------

TEST_F(JournalTest, CreatesPrivateDirectoryAndFiles) {
  Options o = options();
  o.dir = tmp_.path() / "deployment" / "data" / "order";  // parents are created too
  auto env = open_ok(o);
  ASSERT_NE(env, nullptr);
  struct stat st {};
  ASSERT_EQ(::stat(o.dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((o.dir / "data.mdb").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((o.dir / "lock.mdb").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(JournalTest, MissingDirectoryWithoutCreateIsNotFound) {
  Options o = options();
  o.create = false;
  std::unique_ptr<Env> env;
  Status s = Env::open(o, env);
  EXPECT_EQ(s.code(), ErrorCode::not_found);
  EXPECT_NE(s.message().find(o.dir.string()), std::string::npos) << s.message();
  EXPECT_FALSE(fs::exists(o.dir));

  o.create = true;
  o.read_only = true;  // readers never create
  s = Env::open(o, env);
  EXPECT_EQ(s.code(), ErrorCode::not_found);
  EXPECT_NE(s.message().find("does not exist"), std::string::npos) << s.message();
  EXPECT_FALSE(fs::exists(o.dir));

  ASSERT_EQ(::mkdir(o.dir.c_str(), 0700), 0);  // a directory without an environment
  s = Env::open(o, env);
  EXPECT_EQ(s.code(), ErrorCode::not_found);
  EXPECT_NE(s.message().find("data.mdb"), std::string::npos) << s.message();
}

TEST_F(JournalTest, ReaderWithATableTheWriterNeverMadeIsNotFound) {
  { ASSERT_NE(open_ok(options()), nullptr); }
  Options o = options();
  o.read_only = true;
  o.tables.push_back("payments");
  std::unique_ptr<Env> env;
  const Status s = Env::open(o, env);
  EXPECT_EQ(s.code(), ErrorCode::not_found);
  EXPECT_NE(s.message().find("payments"), std::string::npos) << s.message();
}

TEST_F(JournalTest, ReadOnlyEnvReadsButRefusesWrites) {
  {
    auto env = open_ok(options());
    ASSERT_NE(env, nullptr);
    append_batch(*env, 1, 2);
  }
  Options o = options();
  o.read_only = true;
  auto env = open_ok(o);
  ASSERT_NE(env, nullptr);
  WriteTxn wtxn;
  EXPECT_EQ(env->begin_write(wtxn).code(), ErrorCode::read_only);
  ReadTxn txn;
  ASSERT_TRUE(env->begin_read(txn).ok());
  EXPECT_EQ(txn.last_sequence(), 2u);
  EXPECT_EQ(all_records(txn).size(), 2u);
}

// Runs `check` in a child process as user nobody; returns its exit code, or -1 if the
// privilege drop is not possible here.
int run_as_nobody(const std::function<int()>& check) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(77);
    ::_exit(check());
  }
  const int code = wait_exit_code(pid);
  return code == 77 ? -1 : code;
}

TEST_F(JournalTest, UnwritableDirectoryIsReadOnlyForAWriter) {
  const Options o = options();
  ASSERT_EQ(::mkdir(o.dir.c_str(), 0500), 0);
  ASSERT_EQ(::chmod(o.dir.c_str(), 0500), 0);
  const auto check = [&]() -> int {
    std::unique_ptr<Env> env;
    const Status s = Env::open(o, env);
    if (s.code() != ErrorCode::read_only) return 1;
    if (s.message().find("not writable") == std::string::npos) return 2;
    if (env != nullptr) return 3;
    return 0;
  };
  if (::access(o.dir.c_str(), W_OK) != 0) {
    EXPECT_EQ(check(), 0);
    return;
  }
  // Root writes anyway; the check runs as an unprivileged user who owns the directory.
  ASSERT_EQ(::geteuid(), 0u);
  ASSERT_EQ(::chmod(tmp_.path().c_str(), 0711), 0);
  ASSERT_EQ(::chown(o.dir.c_str(), 65534, 65534), 0);
  const int code = run_as_nobody(check);
  if (code < 0) GTEST_SKIP() << "running as root and cannot drop privileges";
  EXPECT_EQ(code, 0);
}

// --- Durability ---------------------------------------------------------------------------

TEST_F(JournalTest, BothDurabilityModesCommitAndReportTheirMode) {
  for (const Durability d : {Durability::sync, Durability::nosync, Durability::sync}) {
    SCOPED_TRACE(std::string(durability_name(d)));
    Options o = options();
    o.durability = d;
    auto env = open_ok(o);
    ASSERT_NE(env, nullptr);
    EXPECT_EQ(env->durability(), d);
    EXPECT_EQ(env->stats().durability, d);
    append_batch(*env, 1, 3);
    EXPECT_TRUE(env->sync().ok());
    Options reader = o;
    reader.read_only = true;
    reader.durability = Durability::nosync;  // a reader reports the writer's mode
    env.reset();
    auto renv = open_ok(reader);
    ASSERT_NE(renv, nullptr);
    EXPECT_EQ(renv->stats().durability, d);
  }
  auto env = open_ok(options());
  ASSERT_NE(env, nullptr);
  EXPECT_EQ(env->stats().last_sequence, 9u);
}

// --- Other processes ----------------------------------------------------------------------

struct ReaderCommand {
  std::uint64_t sequence;
  std::uint8_t phase;  // 0: appended, not committed; 1: committed; 2: done
};

// The reader process: opens its own Env after fork and checks each step it is told about.
int reader_process(const Options& writer_options, int in_fd, int out_fd) {
  char ready = 0;
  if (!read_all(in_fd, &ready, 1)) return 10;
  Options o = writer_options;
  o.read_only = true;
  std::unique_ptr<Env> env;
  if (!Env::open(o, env).ok()) return 11;
  const std::size_t initial_map = env->stats().map_size_bytes;
  for (;;) {
    ReaderCommand cmd{};
    if (!read_all(in_fd, &cmd, sizeof cmd)) return 12;
    std::uint8_t ok = 1;
    if (cmd.phase == 2) {
      ok = env->stats().map_size_bytes > initial_map ? 1 : 0;  // it followed the growth
      if (!write_all(out_fd, &ok, 1)) return 13;
      return 0;
    }
    ReadTxn txn;  // a fresh, short snapshot per step, as readers must
    if (!env->begin_read(txn).ok()) return 14;
    const std::uint64_t visible = cmd.phase == 0 ? cmd.sequence - 1 : cmd.sequence;
    if (txn.last_sequence() != visible) ok = 0;
    if (cmd.phase == 1) {
      std::size_t seen = 0;
      const Status s = txn.records(cmd.sequence, 1, [&](const RecordView& r) {
        ++seen;
        std::uint64_t first = 0;
        std::memcpy(&first, r.payload.data(), 8);
        return r.header.order_id == cmd.sequence && first == cmd.sequence;
      });
      if (!s.ok() || seen != 1) ok = 0;
    }
    if (!write_all(out_fd, &ok, 1)) return 15;
  }
}

TEST_F(JournalTest, AReaderProcessSeesCommitsOnlyAfterTheyCommitAndFollowsMapGrowth) {
  Options o = options();
  o.map_size_bytes = std::size_t{1} << 20;  // small, so the writer grows it under the reader
  o.map_size_max_bytes = std::size_t{64} << 20;
  int to_child[2];
  int to_parent[2];
  ASSERT_EQ(::pipe(to_child), 0);
  ASSERT_EQ(::pipe(to_parent), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(to_child[1]);
    ::close(to_parent[0]);
    ::_exit(reader_process(o, to_child[0], to_parent[1]));
  }
  ::close(to_child[0]);
  ::close(to_parent[1]);
  {
    auto env = open_ok(o);  // opened after the fork: nothing crosses it
    ASSERT_NE(env, nullptr);
    const char ready = 'r';
    ASSERT_TRUE(write_all(to_child[1], &ready, 1));
    constexpr std::uint64_t records = 400;  // 4 KiB each: about 3 MiB, two grows
    for (std::uint64_t i = 1; i <= records; ++i) {
      const auto payload = payload_of(i, 4000);
      for (int attempt = 0;; ++attempt) {
        ASSERT_LT(attempt, 8);
        WriteTxn txn;
        ASSERT_TRUE(env->begin_write(txn).ok());
        Status s = txn.append(1, i, payload);
        if (s.ok()) {
          const ReaderCommand before{i, 0};
          ASSERT_TRUE(write_all(to_child[1], &before, sizeof before));
          std::uint8_t ok = 0;
          ASSERT_TRUE(read_all(to_parent[0], &ok, 1));
          ASSERT_EQ(ok, 1) << "reader saw record " << i << " before its commit";
          s = txn.commit();
        }
        if (s.ok()) break;
        ASSERT_EQ(s.code(), ErrorCode::map_full) << s.message();
        txn.abort();
        ASSERT_TRUE(env->grow().ok());
      }
      const ReaderCommand after{i, 1};
      ASSERT_TRUE(write_all(to_child[1], &after, sizeof after));
      std::uint8_t ok = 0;
      ASSERT_TRUE(read_all(to_parent[0], &ok, 1));
      ASSERT_EQ(ok, 1) << "reader missed committed record " << i;
    }
    EXPECT_GT(env->stats().map_size_bytes, o.map_size_bytes);
    const ReaderCommand done{0, 2};
    ASSERT_TRUE(write_all(to_child[1], &done, sizeof done));
    std::uint8_t grew = 0;
    ASSERT_TRUE(read_all(to_parent[0], &grew, 1));
    EXPECT_EQ(grew, 1) << "the reader never adopted the grown map";
  }
  ::close(to_child[1]);
  ::close(to_parent[0]);
  EXPECT_EQ(wait_exit_code(pid), 0);
}

// Counts live reader slots as LMDB lists them (one line per slot after a header line).
int live_reader_slots(MDB_env* env) {
  int lines = 0;
  mdb_reader_list(
      env,
      [](const char* msg, void* ctx) -> int {
        const std::string_view line(msg);
        if (line.find("pid") == std::string_view::npos &&
            line.find("no active") == std::string_view::npos) {
          ++*static_cast<int*>(ctx);
        }
        return 0;
      },
      &lines);
  return lines;
}

// Ended snapshots leave their handles reset in the Env's pool; a renewed one must see every
// commit made meanwhile, and reusing them must not take a reader slot per snapshot.
TEST_F(JournalTest, RenewedSnapshotsSeeNewCommitsAndReuseTheirReaderSlots) {
  auto env = open_ok(options());
  ASSERT_NE(env, nullptr);
  constexpr std::uint64_t rounds = 200;
  for (std::uint64_t i = 1; i <= rounds; ++i) {
    WriteTxn txn;
    ASSERT_TRUE(env->begin_write(txn).ok());
    ASSERT_TRUE(txn.append(1, i, as_bytes(i)).ok());
    ASSERT_TRUE(txn.commit().ok());
    ReadTxn a, b;  // two at once: the pool hands out two handles
    ASSERT_TRUE(env->begin_read(a).ok());
    ASSERT_TRUE(env->begin_read(b).ok());
    EXPECT_EQ(a.last_sequence(), i) << "a renewed snapshot missed commit " << i;
    EXPECT_EQ(b.last_sequence(), i);
  }
  EXPECT_LE(live_reader_slots(env->raw()), 2) << "every snapshot took a reader slot of its own";
}

TEST_F(JournalTest, StaleReaderSlotsOfKilledProcessesAreClearedOnOpen) {
  const Options o = options();
  Options reader = o;
  reader.read_only = true;
  int go_reader[2];
  int reader_holds[2];
  int go_checker[2];
  ASSERT_EQ(::pipe(go_reader), 0);
  ASSERT_EQ(::pipe(reader_holds), 0);
  ASSERT_EQ(::pipe(go_checker), 0);
  // Both children are forked before this process opens anything.
  const pid_t victim = ::fork();
  ASSERT_GE(victim, 0);
  if (victim == 0) {
    char c = 0;
    if (!read_all(go_reader[0], &c, 1)) ::_exit(10);
    std::unique_ptr<Env> env;
    if (!Env::open(reader, env).ok()) ::_exit(11);
    ReadTxn txn;
    if (!env->begin_read(txn).ok()) ::_exit(12);
    if (!write_all(reader_holds[1], &c, 1)) ::_exit(13);
    for (;;) ::pause();  // holds the snapshot until killed
  }
  const pid_t checker = ::fork();
  ASSERT_GE(checker, 0);
  if (checker == 0) {
    char c = 0;
    if (!read_all(go_checker[0], &c, 1)) ::_exit(20);
    std::unique_ptr<Env> env;
    if (!Env::open(reader, env).ok()) ::_exit(21);
    ::_exit(live_reader_slots(env->raw()));  // 0 if open cleared the dead one
  }
  auto env = open_ok(o);
  ASSERT_NE(env, nullptr);
  char c = 'g';
  ASSERT_TRUE(write_all(go_reader[1], &c, 1));
  ASSERT_TRUE(read_all(reader_holds[0], &c, 1));
  EXPECT_EQ(live_reader_slots(env->raw()), 1);
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  EXPECT_EQ(wait_exit_code(victim), 128 + SIGKILL);
  EXPECT_EQ(live_reader_slots(env->raw()), 1);  // dead, but still holding its slot
  ASSERT_TRUE(write_all(go_checker[1], &c, 1));
  EXPECT_EQ(wait_exit_code(checker), 0);
  EXPECT_EQ(live_reader_slots(env->raw()), 0);
  for (int fd : {go_reader[0], go_reader[1], reader_holds[0], reader_holds[1], go_checker[0],
                 go_checker[1]}) {
    ::close(fd);
  }
}

// --- Programmer errors --------------------------------------------------------------------

TEST_F(JournalTest, TwoLiveWriteTxnsAreABug) {
  auto env = open_ok(options());
  ASSERT_NE(env, nullptr);
  WriteTxn first;
  ASSERT_TRUE(env->begin_write(first).ok());
  EXPECT_DEATH(
      {
        WriteTxn second;
        (void)env->begin_write(second);
      },
      "write_live_");
  first.abort();
}

TEST_F(JournalTest, RefreshingAWriteTxnAsASnapshotIsABug) {
  auto env = open_ok(options());
  ASSERT_NE(env, nullptr);
  WriteTxn txn;
  ASSERT_TRUE(env->begin_write(txn).ok());
  EXPECT_DEATH((void)env->begin_read(txn), "!txn.write_");
  EXPECT_DEATH({ ReadTxn sliced(std::move(txn)); }, "!other.write_");
  txn.abort();
}

TEST_F(JournalTest, AnUnlistedTableIsABug) {
  auto env = open_ok(options());
  ASSERT_NE(env, nullptr);
  EXPECT_DEATH((void)env->table("payments"), "it != tables_.end()");
}

}  // namespace
}  // namespace flashsaga::journal
