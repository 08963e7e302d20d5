// The interval mode's path into the journal: the staging log's framing (torn tails, flipped
// bits), commit_staged's replay (what the journal has is skipped, a gap stops it), and the
// two-log StagedJournal (background syncer, replay of both logs oldest first, stop()).
#include "engine/runtime/staged_journal.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "domains/rows.h"
#include "tests/engine/temp_dir.h"
#include "engine/base/clock.h"
#include "journal/batch.h"
#include "journal/staging.h"

namespace flashsaga::runtime {
namespace {

namespace fs = std::filesystem;
using journal::BatchBuilder;
using journal::StagingLog;

class TempDir : public testing::TempDir {
 public:
  TempDir() : testing::TempDir("flashsaga_staged_test") {}
};

std::unique_ptr<journal::Env> open_journal(const fs::path& dir) {
  journal::Options o;
  o.dir = dir / "journal";
  o.domain = "order";
  o.map_size_bytes = std::size_t{8} << 20;
  o.space_reserve_bytes = std::size_t{1} << 20;
  o.tables = {std::string(domains::cursors_table_name)};
  std::unique_ptr<journal::Env> env;
  EXPECT_TRUE(journal::Env::open(o, env).ok());
  return env;
}

// A batch of `records` records starting at `first`, each naming order `first + i`.
BatchBuilder batch(std::uint64_t first, int records) {
  BatchBuilder b;
  b.begin(first, static_cast<std::int64_t>(first) * 1000);
  for (int i = 0; i < records; ++i) {
    const std::uint64_t v = first + static_cast<std::uint64_t>(i);
    b.add_record(7, v, journal::as_bytes(v));
  }
  return b;
}

// A cursors row (the entries a group stages beside its batches).
BatchBuilder cursor(std::uint64_t edge, std::uint64_t value) {
  BatchBuilder e;
  e.begin(1, 0);
  const auto key = journal::key_u64_u64(domains::cursor_kind_inbox, edge);
  e.add_entry(journal::Section::state, 0, key, journal::as_bytes(value));
  return e;
}

journal::Status stage(StagingLog& log, std::uint64_t first, int records,
                      std::uint64_t cursor_value) {
  const BatchBuilder b = batch(first, records);
  const BatchBuilder c = cursor(1, cursor_value);
  const journal::BatchBuilder* list[] = {&b};
  return log.append(list, c.view().state);
}

std::uint64_t records_in(journal::Env& env) {
  return env.stats().journal_records;
}

std::uint64_t cursor_in(journal::Env& env) {
  journal::ReadTxn txn;
  EXPECT_TRUE(env.begin_read(txn).ok());
  std::uint64_t v = 0;
  const auto key = journal::key_u64_u64(domains::cursor_kind_inbox, 1);
  const journal::Status s = txn.get_as(env.table(domains::cursors_table_name), key, v);
  EXPECT_TRUE(s.ok() || s.code() == journal::ErrorCode::not_found) << s.message();
  return s.ok() ? v : 0;
}

TEST(StagingLog, FramesReadBackInOrderAndATornTailIsIgnored) {
  TempDir dir;
  std::unique_ptr<StagingLog> log;
  ASSERT_TRUE(StagingLog::open(dir.path() / "s.log", log).ok());
  ASSERT_TRUE(stage(*log, 1, 3, 10).ok());
  ASSERT_TRUE(stage(*log, 4, 2, 11).ok());
  const std::uint64_t whole = log->size_bytes();
  ASSERT_TRUE(stage(*log, 6, 5, 12).ok());
  // Tear the last group: cut the file in the middle of its batch frame.
  ASSERT_EQ(::truncate((dir.path() / "s.log").c_str(), static_cast<off_t>(whole + 30)), 0);
  log.reset();
  ASSERT_TRUE(StagingLog::open(dir.path() / "s.log", log).ok());
  std::vector<std::uint64_t> firsts;
  ASSERT_TRUE(log->read([&](const journal::Frame& f) { firsts.push_back(f.first_sequence); }).ok());
  // Two groups of (batch, entries); the torn third is not read.
  EXPECT_EQ(firsts, (std::vector<std::uint64_t>{1, 4, 4, 6}));
}

TEST(StagingLog, AFlippedBitEndsTheLogThere) {
  TempDir dir;
  std::unique_ptr<StagingLog> log;
  ASSERT_TRUE(StagingLog::open(dir.path() / "s.log", log).ok());
  ASSERT_TRUE(stage(*log, 1, 3, 10).ok());
  const std::uint64_t first_group = log->size_bytes();
  ASSERT_TRUE(stage(*log, 4, 2, 11).ok());
  const int fd = ::open((dir.path() / "s.log").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  char byte = 0;
  ASSERT_EQ(::pread(fd, &byte, 1, static_cast<off_t>(first_group + 40)), 1);
  byte ^= 0x10;
  ASSERT_EQ(::pwrite(fd, &byte, 1, static_cast<off_t>(first_group + 40)), 1);
  ::close(fd);
  int frames = 0;
  ASSERT_TRUE(log->read([&](const journal::Frame&) { ++frames; }).ok());
  EXPECT_EQ(frames, 2);  // the first group only
}

TEST(CommitStaged, MovesBatchesAndCursorsIntoTheJournalAndEmptiesTheLog) {
  TempDir dir;
  auto env = open_journal(dir.path());
  std::unique_ptr<StagingLog> log;
  ASSERT_TRUE(StagingLog::open(dir.path() / "s.log", log).ok());
  ASSERT_TRUE(stage(*log, 1, 3, 10).ok());
  ASSERT_TRUE(stage(*log, 4, 2, 11).ok());
  bool complete = false;
  ASSERT_TRUE(commit_staged(*env, *log, &complete).ok());
  EXPECT_TRUE(complete);
  EXPECT_EQ(records_in(*env), 5u);
  EXPECT_EQ(cursor_in(*env), 11u);
  EXPECT_EQ(log->size_bytes(), 0u);
}

TEST(CommitStaged, SkipsWhatTheJournalHasAndStopsAtAGap) {
  TempDir dir;
  auto env = open_journal(dir.path());
  std::unique_ptr<StagingLog> log;
  ASSERT_TRUE(StagingLog::open(dir.path() / "s.log", log).ok());
  ASSERT_TRUE(stage(*log, 1, 3, 10).ok());
  ASSERT_TRUE(commit_staged(*env, *log).ok());
  // A crash between the journal commit and the log's reset: the same frames again, then more.
  ASSERT_TRUE(stage(*log, 1, 3, 10).ok());
  ASSERT_TRUE(stage(*log, 4, 1, 12).ok());
  ASSERT_TRUE(commit_staged(*env, *log).ok());
  EXPECT_EQ(records_in(*env), 4u);
  EXPECT_EQ(cursor_in(*env), 12u);
  // A log that starts past the journal's end is not taken, and not emptied.
  ASSERT_TRUE(stage(*log, 9, 2, 20).ok());
  bool complete = true;
  ASSERT_TRUE(commit_staged(*env, *log, &complete).ok());
  EXPECT_FALSE(complete);
  EXPECT_EQ(records_in(*env), 4u);
  EXPECT_EQ(cursor_in(*env), 12u);
  EXPECT_NE(log->size_bytes(), 0u);
}

TEST(StagedJournal, TheSyncerMovesStagedBatchesWithinTheInterval) {
  TempDir dir;
  auto env = open_journal(dir.path());
  std::unique_ptr<StagedJournal> staged;
  std::vector<std::string> lines;
  ASSERT_TRUE(StagedJournal::open(
                  *env, dir.path() / "a.log", dir.path() / "b.log", 1'000'000,
                  [&](const std::string& l) { lines.push_back(l); }, staged)
                  .ok());
  std::uint64_t next = 1;
  constexpr int groups = 50;
  for (int g = 0; g < groups; ++g) {
    const BatchBuilder b = batch(next, 2);
    const BatchBuilder c = cursor(1, next);
    const journal::BatchBuilder* list[] = {&b};
    ASSERT_TRUE(staged->append(list, c.view().state).ok());
    next += 2;
  }
  // Idle: poll until the syncer has taken everything and counted its sync (bounded; the count
  // moves after the records are in the journal).
  constexpr int polls_max = 2000;
  for (int i = 0; i < polls_max && (records_in(*env) < next - 1 || staged->syncs() == 0); ++i) {
    staged->poll(INT64_MAX / 2);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(records_in(*env), next - 1);
  EXPECT_GE(staged->syncs(), 1u);
  ASSERT_TRUE(staged->stop().ok());
  EXPECT_EQ(cursor_in(*env), next - 2);
  // The only thing it may say at a 1 ms interval: a sync took longer than that.
  for (const std::string& l : lines)
    EXPECT_NE(l.find("a journal sync took"), std::string::npos) << l;
}

TEST(StagedJournal, OpenReplaysBothLogsOldestFirstWhicheverNameItHas) {
  TempDir dir;
  {
    auto env = open_journal(dir.path());
    std::unique_ptr<StagingLog> a, b;
    ASSERT_TRUE(StagingLog::open(dir.path() / "a.log", a).ok());
    ASSERT_TRUE(StagingLog::open(dir.path() / "b.log", b).ok());
    // b was handed to the syncer (older), a is the active one (newer).
    ASSERT_TRUE(stage(*b, 1, 3, 10).ok());
    ASSERT_TRUE(stage(*a, 4, 2, 11).ok());
  }
  auto env = open_journal(dir.path());
  std::unique_ptr<StagedJournal> staged;
  ASSERT_TRUE(StagedJournal::open(
                  *env, dir.path() / "a.log", dir.path() / "b.log", 1'000'000'000,
                  [](const std::string&) {}, staged)
                  .ok());
  EXPECT_EQ(records_in(*env), 5u);
  EXPECT_EQ(cursor_in(*env), 11u);
  EXPECT_EQ(fs::file_size(dir.path() / "a.log"), 0u);
  EXPECT_EQ(fs::file_size(dir.path() / "b.log"), 0u);
  ASSERT_TRUE(staged->stop().ok());
}

TEST(StagedJournal, ASyncSlowerThanTheIntervalHoldsStagingBackUntilItEnds) {
  TempDir dir;
  auto env = open_journal(dir.path());
  std::unique_ptr<StagedJournal> staged;
  constexpr std::int64_t interval_ns = 1'000'000'000;
  ASSERT_TRUE(StagedJournal::open(
                  *env, dir.path() / "a.log", dir.path() / "b.log", interval_ns,
                  [](const std::string&) {}, staged)
                  .ok());
  // The disk: each sync waits until the test opens the gate (a sync as slow as the test wants).
  std::mutex gate_mutex;
  std::condition_variable gate_cv;
  bool gate_open = false;
  staged->set_before_sync_for_test([&] {
    std::unique_lock lock(gate_mutex);
    gate_cv.wait(lock, [&] { return gate_open; });
  });
  const auto stage_one = [&](std::uint64_t seq) {
    const BatchBuilder b = batch(seq, 1);
    const BatchBuilder c = cursor(1, seq);
    const journal::BatchBuilder* list[] = {&b};
    return staged->append(list, c.view().state);
  };
  // poll() is driven with explicit times, so nothing here waits on the wall clock.
  const std::int64_t t0 = mono_now_ns() + 2 * interval_ns;
  ASSERT_TRUE(stage_one(1).ok());
  staged->poll(t0);  // the first log goes to the syncer, which now waits at the gate
  ASSERT_TRUE(stage_one(2).ok());
  staged->poll(t0 + interval_ns);  // the next is due, the syncer busy, 1 interval old: no wait
  EXPECT_EQ(staged->stalls(), 0u);
  std::atomic<bool> returned{false};
  std::thread late([&] {
    staged->poll(t0 + interval_ns * 9 / 5);  // 1.8 intervals old: waits for the syncer
    returned = true;
  });
  constexpr int checks_max = 10'000;  // bounded wait for the poll to start waiting
  for (int i = 0; i < checks_max && staged->stalls() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  EXPECT_EQ(staged->stalls(), 1u) << "poll() did not hold staging back for the late sync";
  EXPECT_FALSE(returned.load());  // the sync cannot have ended: the gate is shut
  {
    std::lock_guard lock(gate_mutex);
    gate_open = true;
  }
  gate_cv.notify_all();
  late.join();
  EXPECT_TRUE(returned.load());
  ASSERT_TRUE(staged->stop().ok());
  EXPECT_EQ(records_in(*env), 2u);  // nothing lost on the way
}

TEST(StagedJournal, StopCommitsWhatIsStillStaged) {
  TempDir dir;
  auto env = open_journal(dir.path());
  std::unique_ptr<StagedJournal> staged;
  ASSERT_TRUE(StagedJournal::open(
                  *env, dir.path() / "a.log", dir.path() / "b.log", 60'000'000'000,
                  [](const std::string&) {}, staged)
                  .ok());
  const BatchBuilder b = batch(1, 4);
  const journal::BatchBuilder* list[] = {&b};
  ASSERT_TRUE(staged->append(list, {}).ok());
  EXPECT_EQ(records_in(*env), 0u);  // the interval (a minute) has not passed
  ASSERT_TRUE(staged->stop().ok());
  EXPECT_EQ(records_in(*env), 4u);
}

}  // namespace
}  // namespace flashsaga::runtime
