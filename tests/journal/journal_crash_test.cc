// kill -9 of a journal writer at arbitrary points, then recovery checks.
//
// A child process opens the journal (after fork) and commits batches in a loop: each batch
// appends 1..batch_records_max records and writes a state row per batch plus a "last batch"
// row. It reports on a pipe when it starts a batch and when the batch has committed. The parent
// waits for a pseudo-random number of commits and the start of the next batch, spins a
// pseudo-random number of iterations (so the kill lands anywhere: inside appends, inside
// commit, inside fsync, or just after) and sends SIGKILL.
// A kill whose last report is a start hit a batch in flight; the test counts those. It then
// reopens the journal as the next writer would and proves: every committed batch is complete
// (all its records and its state rows), nothing of an uncommitted one is visible, sequences
// are contiguous from 1, and every checksum holds. Rounds alternate sync and nosync.
//
// FLASHSAGA_JOURNAL_CRASH_ROUNDS overrides the number of rounds (sanitizer builds use fewer);
// FLASHSAGA_JOURNAL_CRASH_SEED replays a failing seed, which the test prints.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>

#include "journal/journal.h"

namespace flashsaga::journal {
namespace {

namespace fs = std::filesystem;

constexpr std::uint32_t rounds_default = 50;
constexpr std::uint32_t batch_records_max = 64;
constexpr std::uint32_t payload_filler_bytes = 200;
constexpr std::uint64_t child_batch_count_max = 1'000'000;  // the child never ends by itself
constexpr std::uint32_t reports_before_kill_max = 6;
constexpr std::uint32_t kill_spin_iterations_max = 400'000;
constexpr std::uint16_t record_type_crash = 1;

// A record's payload: which batch it belongs to and where in it.
struct CrashRecord {
  std::uint64_t batch;
  std::uint32_t index;
  std::uint32_t count;
  std::byte filler[payload_filler_bytes];
};

// The state row of a committed batch, key = key_u64(batch).
struct BatchRow {
  std::uint64_t first_sequence;
  std::uint64_t count;
};

constexpr std::uint64_t last_batch_key = 0;  // state row: the last committed batch number

// What the child reports on the pipe: (batch << 1) | committed.
constexpr std::uint64_t report_started(std::uint64_t batch) {
  return batch << 1;
}
constexpr std::uint64_t report_committed(std::uint64_t batch) {
  return (batch << 1) | 1;
}

std::uint32_t records_in_batch(std::uint64_t batch) {
  return 1 + static_cast<std::uint32_t>((batch * 2654435761u) % batch_records_max);
}

std::byte filler_byte(std::uint64_t batch, std::uint32_t index, std::uint32_t i) {
  return static_cast<std::byte>((batch * 131 + index * 7 + i) & 0xFF);
}

Options crash_options(const fs::path& dir, Durability durability) {
  Options o;
  o.dir = dir;
  o.domain = "order";
  o.durability = durability;
  o.map_size_bytes = std::size_t{64} << 20;
  o.map_size_max_bytes = std::size_t{1} << 30;
  o.tables = {"state"};
  return o;
}

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

// The writer child. Exit codes name the step that failed; it normally dies by SIGKILL.
[[noreturn]] void writer_child(const Options& options, int report_fd) {
  std::unique_ptr<Env> env;
  if (!Env::open(options, env).ok()) ::_exit(10);
  const TableId state = env->table("state");
  std::uint64_t last = 0;
  {
    ReadTxn txn;
    if (!env->begin_read(txn).ok()) ::_exit(11);
    const Status s = txn.get_as(state, key_u64(last_batch_key), last);
    if (!s.ok() && s.code() != ErrorCode::not_found) ::_exit(12);
  }
  for (std::uint64_t batch = last + 1; batch <= last + child_batch_count_max; ++batch) {
    const std::uint64_t started = report_started(batch);
    if (!write_all(report_fd, &started, sizeof started)) ::_exit(18);
    WriteTxn txn;
    if (!env->begin_write(txn).ok()) ::_exit(13);
    const std::uint32_t count = records_in_batch(batch);
    BatchRow row{0, count};
    for (std::uint32_t i = 0; i < count; ++i) {
      CrashRecord r{batch, i, count, {}};
      for (std::uint32_t f = 0; f < payload_filler_bytes; ++f) {
        r.filler[f] = filler_byte(batch, i, f);
      }
      std::uint64_t seq = 0;
      if (!txn.append(record_type_crash, batch, as_bytes(r), &seq).ok()) ::_exit(14);
      if (i == 0) row.first_sequence = seq;
    }
    if (!txn.put_as(state, key_u64(batch), row).ok()) ::_exit(15);
    if (!txn.put_as(state, key_u64(last_batch_key), batch).ok()) ::_exit(16);
    if (!txn.commit().ok()) ::_exit(17);
    const std::uint64_t committed = report_committed(batch);
    if (!write_all(report_fd, &committed, sizeof committed)) ::_exit(18);
  }
  ::_exit(19);
}

// Reopens the journal and checks it batch by batch; returns the last committed batch.
std::uint64_t verify(const Options& options, std::uint64_t reported_max,
                     std::uint64_t previous_last) {
  std::unique_ptr<Env> env;
  const Status open_status = Env::open(options, env);
  EXPECT_TRUE(open_status.ok()) << open_status.message();
  if (!open_status.ok()) return previous_last;
  const TableId state = env->table("state");
  ReadTxn txn;
  EXPECT_TRUE(env->begin_read(txn).ok());

  std::uint64_t last = 0;
  const Status last_status = txn.get_as(state, key_u64(last_batch_key), last);
  EXPECT_TRUE(last_status.ok() || (last_status.code() == ErrorCode::not_found && reported_max == 0))
      << last_status.message();
  // Everything reported was committed; at most one more committed before its report.
  EXPECT_GE(last, reported_max);
  EXPECT_LE(last, reported_max + 1);
  EXPECT_GE(last, previous_last);

  std::uint64_t batch = 1;
  std::uint32_t index = 0;
  std::uint64_t expected_sequence = 1;
  BatchRow row{};
  bool row_ok = last >= 1 && txn.get_as(state, key_u64(1), row).ok();
  EXPECT_TRUE(last == 0 || row_ok) << "state row of batch 1 missing";
  const Status s = txn.records(1, SIZE_MAX, [&](const RecordView& r) {
    EXPECT_EQ(r.sequence, expected_sequence);
    CrashRecord rec{};
    EXPECT_TRUE(from_bytes(r.payload, rec)) << "payload size at sequence " << r.sequence;
    EXPECT_LE(batch, last) << "a record of uncommitted batch " << batch << " is visible";
    if (batch > last || !row_ok) return false;
    EXPECT_EQ(rec.batch, batch);
    EXPECT_EQ(rec.index, index);
    EXPECT_EQ(rec.count, records_in_batch(batch));
    EXPECT_EQ(r.header.order_id, batch);
    if (index == 0) {
      EXPECT_EQ(row.first_sequence, r.sequence);
    }
    for (std::uint32_t f = 0; f < payload_filler_bytes; ++f) {
      if (rec.filler[f] != filler_byte(batch, index, f)) {
        ADD_FAILURE() << "payload differs at sequence " << r.sequence;
        break;
      }
    }
    ++expected_sequence;
    if (++index == records_in_batch(batch)) {
      EXPECT_EQ(row.count, index);
      ++batch;
      index = 0;
      row_ok = batch > last || txn.get_as(state, key_u64(batch), row).ok();
      EXPECT_TRUE(row_ok) << "state row of batch " << batch << " missing";
    }
    return !::testing::Test::HasFailure();
  });
  EXPECT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(index, 0u) << "batch " << batch << " is only partly visible";
  EXPECT_EQ(batch, last + 1) << "committed batches missing from the journal";
  EXPECT_EQ(txn.last_sequence(), expected_sequence - 1);
  BatchRow extra{};
  EXPECT_EQ(txn.get_as(state, key_u64(last + 1), extra).code(), ErrorCode::not_found);
  return last;
}

std::uint32_t env_u32(const char* name, std::uint32_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return static_cast<std::uint32_t>(std::strtoul(v, nullptr, 10));
}

TEST(JournalCrash, KilledWriterLeavesOnlyWholeCommittedBatches) {
  char pattern[] = "/tmp/flashsaga_journal_crash.XXXXXX";
  ASSERT_NE(::mkdtemp(pattern), nullptr);
  const fs::path root = pattern;
  const fs::path dir = root / "order";
  const std::uint32_t rounds = env_u32("FLASHSAGA_JOURNAL_CRASH_ROUNDS", rounds_default);
  const std::uint32_t seed =
      env_u32("FLASHSAGA_JOURNAL_CRASH_SEED", static_cast<std::uint32_t>(std::random_device{}()));
  std::printf("journal crash test: %u rounds, seed %u (FLASHSAGA_JOURNAL_CRASH_SEED)\n", rounds,
              seed);
  std::mt19937 rng(seed);

  std::uint64_t last = 0;
  std::uint32_t in_flight_kills = 0;
  std::uint32_t unreported_commits = 0;
  for (std::uint32_t round = 0; round < rounds && !::testing::Test::HasFailure(); ++round) {
    SCOPED_TRACE("round " + std::to_string(round) + ", seed " + std::to_string(seed));
    const Durability durability = round % 2 == 0 ? Durability::nosync : Durability::sync;
    const Options options = crash_options(dir, durability);
    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(pipe_fds[0]);
      writer_child(options, pipe_fds[1]);
    }
    ::close(pipe_fds[1]);

    const std::uint32_t reports_wanted = 1 + rng() % reports_before_kill_max;
    std::uint64_t reported_max = last;
    std::uint64_t last_report = 0;
    std::uint32_t reports = 0;
    // Wait for the commits wanted, then for the next batch to start: the spin below then
    // runs while that batch is being written, even if the child was descheduled meanwhile.
    while (reports < reports_wanted || (last_report & 1) != 0) {
      const ssize_t n = ::read(pipe_fds[0], &last_report, sizeof last_report);
      if (n < 0 && errno == EINTR) continue;
      ASSERT_EQ(n, static_cast<ssize_t>(sizeof last_report)) << "the writer child died early";
      if ((last_report & 1) != 0) {
        reported_max = last_report >> 1;
        ++reports;
      }
    }
    const std::uint32_t spins = rng() % kill_spin_iterations_max;
    for (std::uint32_t i = 0; i < spins; ++i) {
      __asm__ __volatile__("" ::: "memory");  // a counted spin the compiler cannot drop
    }
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "child exited with " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    for (;;) {  // reports written before the kill that were not read yet
      const ssize_t n = ::read(pipe_fds[0], &last_report, sizeof last_report);
      if (n < 0 && errno == EINTR) continue;
      if (n != static_cast<ssize_t>(sizeof last_report)) break;
      if ((last_report & 1) != 0) reported_max = last_report >> 1;
    }
    ::close(pipe_fds[0]);
    if ((last_report & 1) == 0) ++in_flight_kills;

    const std::uint64_t now = verify(options, reported_max, last);
    if (now == reported_max + 1) ++unreported_commits;
    last = now;
  }
  std::printf(
      "journal crash test: %llu batches committed; %u of %u kills hit a batch in "
      "flight, %u of those after its commit\n",
      static_cast<unsigned long long>(last), in_flight_kills, rounds, unreported_commits);
  EXPECT_GT(last, 0u);
  EXPECT_GT(in_flight_kills, 0u) << "no kill landed inside a batch; the test proved little";
  std::error_code ec;
  fs::remove_all(root, ec);
}

}  // namespace
}  // namespace flashsaga::journal
