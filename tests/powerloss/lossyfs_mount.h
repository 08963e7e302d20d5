// LossyMount: one running lossyfs (tests/powerloss/lossyfs.h), started and controlled by a test.
//
// Requires: root, a usable /dev/fuse and fusermount3 (unavailable_reason() says which is missing;
//   tests GTEST_SKIP with it); an existing backing directory and an empty mount point.
// Guarantees: mount() returns once the file system answers, or false with the reason and the
//   daemon's log. Every wait is bounded. The destructor unmounts and reaps the daemon (SIGTERM;
//   if it does not exit in time: abort the FUSE connection, SIGKILL, lazy unmount).
//   cut() returns once the daemon has exited and the mount point is free again.
//
// Example:
//   std::unique_ptr<LossyMount> m;
//   if (!LossyMount::mount({.backing = b, .mountpoint = mnt}, m, &error)) FAIL() << error;
//   write_something(mnt / "f");
//   CutOutcome cut = m->cut(0.0, seed, &error);   // unsynced writes are gone
//   m.reset();
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

namespace flashsaga::lossyfs {

struct MountOptions {
  std::filesystem::path backing;
  std::filesystem::path mountpoint;
  int fsync_delay_ms = 0;
  std::filesystem::path log;  // the daemon's stdout and stderr (default: <mountpoint>.log)
  std::string exe;            // the lossyfs binary (default: LOSSYFS_EXE)
};

struct CutOutcome {
  bool ok = false;
  std::uint64_t pages_dropped = 0;
  std::uint64_t pages_kept = 0;  // in all
  std::uint64_t pages_aged = 0;  // of which kept for their age
  std::uint64_t files = 0;
  std::int64_t duration_ns = 0;  // the control write until the mount point is free
};

class LossyMount {
 public:
  // "" when lossyfs can run here, else why not (no lossyfs binary, not root, no fusermount3,
  // /dev/fuse unusable, a trial mount fails). The trial runs once per process.
  static std::string unavailable_reason(const std::string& exe = "");
  static bool mount(const MountOptions& options, std::unique_ptr<LossyMount>& out,
                    std::string* error);
  ~LossyMount();
  LossyMount(const LossyMount&) = delete;
  LossyMount& operator=(const LossyMount&) = delete;

  // The control file's `key value` lines (empty when the daemon does not answer).
  std::map<std::string, std::string> stats() const;
  std::uint64_t stat(const std::string& key) const;  // 0 if absent
  bool set_fsync_delay(int ms, std::string* error);
  // The power cut (keep a seeded share of the unsynced pages, and with age_ms > 0 every page
  // last written at least that long ago), then waits for the daemon's exit.
  CutOutcome cut(double keep_fraction, std::uint64_t seed, std::string* error,
                 std::int64_t age_ms = 0);
  // Unmounts without a cut (what was never synced is lost all the same); idempotent.
  void unmount();

  const std::filesystem::path& mountpoint() const noexcept { return options_.mountpoint; }
  pid_t pid() const noexcept { return pid_; }
  std::string log_text() const;

 private:
  explicit LossyMount(const MountOptions& options) : options_(options) {}
  bool wait_exit(std::int64_t timeout_ns);
  void force_unmount();

  MountOptions options_;
  pid_t pid_ = 0;
  dev_t dev_ = 0;  // the mount's device: its minor is the FUSE connection number
};

}  // namespace flashsaga::lossyfs
