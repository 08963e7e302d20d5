// staged_journal: the `interval` durability mode's path into a domain's journal.
//
// Under interval the committer never writes the LMDB journal itself. Each group of batches
// (and the cursors it moved) is appended to the *active* staging log (journal/staging.h: one
// pwrite, no fsync), which is all a process crash needs: the log is replayed at the next start.
// Once fsync_interval has passed, the active log is handed to a background syncer thread and
// the other log becomes active; the syncer moves the handed-over log's batches into the
// journal in one synced transaction and empties it. So:
//   - the committing thread never waits for a disk flush (only when the syncer is still busy
//     with the previous log does the active one simply grow past its interval);
//   - LMDB only ever sees synced commits, so it stays intact whatever the file system keeps
//     of unsynced pages at a power loss; the logs may be torn, and are read up to the first
//     frame that fails its CRC;
//   - a power loss loses at most what was staged since the syncer's last commit began: about
//     one interval plus the time that commit took;
//   - back-pressure: when the active log is 1.75 intervals old and the syncer is still on the
//     previous one (a disk slower than the interval), poll() waits for the syncer before it
//     stages anything more, so nothing is acknowledged while a sync is late and a power loss
//     takes at most what the two logs hold, 1.75 intervals of groups each.
//
//   committing thread                  syncer thread
//   append(group) -> logs[active]
//   interval passed, syncer idle:
//     active ^= 1, hand over ----------> commit_staged(journal, logs[other]); logs[other].reset()
//
// Requires: append()/poll() from one thread (the committing thread); nothing else in the
//   process writes the journal while a StagedJournal is open.
// Guarantees: batches reach the journal in sequence order, each exactly once (a replay skips
//   what the journal already has); stop() leaves both logs empty when it returns ok.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>

#include "journal/journal.h"
#include "journal/staging.h"

namespace flashsaga::runtime {

// Moves the log's batches (those past the journal's end) and cursors into the journal in one
// (synced) transaction; empties the log when all of it was taken. *complete (if given) says
// whether it was: false when the log starts past the journal's end (another log comes first).
journal::Status commit_staged(journal::Env& journal, journal::StagingLog& log,
                              bool* complete = nullptr);

class StagedJournal {
 public:
  using Logger = std::function<void(const std::string&)>;
  // Opens the two logs at `paths`, replays what a previous run left (oldest first) and starts
  // the syncer. A log that cannot continue the journal (a power loss took the batches before
  // it) is copied to <log>.unreachable, logged and emptied. Returns ok or the replay's error.
  static journal::Status open(journal::Env& journal, const std::filesystem::path& path_a,
                              const std::filesystem::path& path_b, std::int64_t interval_ns,
                              Logger log, std::unique_ptr<StagedJournal>& out);
  ~StagedJournal();
  StagedJournal(const StagedJournal&) = delete;
  StagedJournal& operator=(const StagedJournal&) = delete;

  // Stages one group (see StagingLog::append), then poll(). Returns ok, no_space or io.
  journal::Status append(std::span<const journal::BatchBuilder* const> batches,
                         journal::Bytes entries);
  // Hands the active log to the syncer if the interval, less what its sync should take (at
  // most 3/4 of the interval), has passed and the syncer is idle; waits for the syncer (at most
  // backpressure_wait_ns_max per call) when the active log is backpressure_age intervals old.
  void poll(std::int64_t now_ns);
  // Times poll() waited for a late syncer (for tests and the log).
  std::uint64_t stalls() const;
  // Test-only: called by the syncer before each commit (a slow disk, in tests).
  void set_before_sync_for_test(std::function<void()> fn) { before_sync_ = std::move(fn); }
  // Waits for the syncer, commits what is still staged and stops the syncer thread.
  journal::Status stop();
  // Synced commits the syncer made (for tests and the status line).
  std::uint64_t syncs() const;

 private:
  StagedJournal(journal::Env& journal, std::int64_t interval_ns, Logger log);
  void syncer_loop();
  std::int64_t expected_sync_ns(std::uint64_t bytes) const;  // poll()'s lead

  journal::Env& journal_;
  const std::int64_t interval_ns_;
  Logger log_;
  std::unique_ptr<journal::StagingLog> logs_[2];
  int active_ = 0;
  std::int64_t last_handover_ns_ = 0;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  int handed_ = -1;                    // the log the syncer works on, -1: idle (under mutex_)
  bool stopping_ = false;              // under mutex_
  std::uint64_t syncs_ = 0;            // under mutex_
  std::uint64_t stalls_ = 0;           // under mutex_
  std::condition_variable synced_;     // the syncer finished a log (handed_ back to -1)
  std::function<void()> before_sync_;  // test-only
  std::atomic<std::int64_t> last_sync_ns_{0};      // how long the syncer's last commit took
  std::atomic<std::uint64_t> last_sync_bytes_{0};  // and how many staged bytes it moved
  std::thread syncer_;
};

}  // namespace flashsaga::runtime
