// PowerRig: a deployment whose data directory lives on lossyfs, loaded through the client
// library, whose power is cut at a random instant and which is then started again from what
// survived. The caller asserts on what came back.
//
// One cut (cut_under_load):
//   1. a closed-loop (or paced) load of orders through the client library; every order answered
//      accepted (or duplicate) is recorded with its monotonic acknowledgement time;
//   2. at a random instant, drawn from the cut's seed, every process of the deployment is
//      SIGKILLed at once (the cut time is taken just before); replies already in the rings may
//      still be consumed and count as acknowledged (they were published after their commit);
//   3. the client is dropped, lossyfs drops every unsynced write (or keeps a seeded share of
//      the unsynced pages), unmounts and exits; the shared-memory segment is removed (RAM);
//   4. a fresh lossyfs is mounted on the same backing directory and `flashsaga run` is started
//      again; restarted tells whether every domain became ready with intake open in time.
// Everything is seeded: the rig's seed builds the world, each cut has its own seed (printed by
// the tests; FLASHSAGA_SEED replays). Durability and any config knob are parameters, so the same
// rig serves sync, nosync and an interval mode: deployment_keys adds lines to [deployment]
// (e.g. "fsync_interval_ms = 1000\n"); extra_toml is appended, and a section it names (say
// "[journal]") replaces the rig's own defaults for that section.
//
// Requires: LossyMount::unavailable_reason() is empty (callers GTEST_SKIP otherwise); the
//   flashsaga binary (FLASHSAGA_EXE). Not thread-safe: one caller thread.
// Guarantees: every wait is bounded; the destructor stops the deployment, unmounts and removes
//   the temporary directory (kept with FLASHSAGA_KEEP_TEST_DATA=1). Nothing is left running.
//
// Example:
//   PowerRig rig(RigOptions{.durability = "sync", .seed = 7});
//   ASSERT_TRUE(rig.start(&error)) << error;
//   CutRecord cut = rig.cut_under_load(seed_of_cut);
//   ASSERT_TRUE(cut.restarted) << cut.restart_error;
//   EXPECT_TRUE(rig.missing_orders(cut.acks).empty());
//   EXPECT_EQ(rig.check_when_settled().status, 0);
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine/client.h"
#include "tests/powerloss/lossyfs_mount.h"

namespace flashsaga::testing {

struct RigOptions {
  // The deployment.
  std::string durability = "sync";
  std::string deployment_keys;  // more lines for [deployment]
  std::string extra_toml;       // appended; a section it names replaces the rig's own
  // The disk. The world is built without the fsync delay; it applies from then on (and to
  // every remount).
  int fsync_delay_ms = 0;
  double keep_fraction = 0;  // share of the unsynced pages a cut keeps (written in random order)
  std::int64_t keep_aged_ms = 0;  // > 0: a cut also keeps pages lossyfs got at least this long ago
  // The world, built once at start().
  std::uint64_t seed = 1;
  std::size_t users = 100;
  std::size_t products = 8;  // product 1 is scarce (sells out); the rest never do
  // The load and the cut instant.
  std::uint32_t window = 64;  // orders in flight at most
  double rate = 0;            // orders/s; 0: closed loop, as fast as acknowledged
  std::int64_t cut_after_min_ms = 200;
  std::int64_t cut_after_max_ms = 1200;
  std::int64_t request_timeout_ms = 3000;  // a reply later than this is not an acknowledgement
  std::uint32_t port_queue_capacity = 0;   // the client's submission queue; 0: the library's
  std::int64_t ready_timeout_ms = 30'000;  // start / restart until every domain is ready
};

// An acknowledged order; at_ns and every other time here: steady_clock (CLOCK_MONOTONIC) ns.
struct Ack {
  std::uint64_t order_id = 0;
  std::int64_t at_ns = 0;
};

struct LoadCounts {
  std::uint64_t attempts = 0;
  std::uint64_t acknowledged = 0;
  std::uint64_t refused = 0;      // answered, not accepted (rejected, limit, ...)
  std::uint64_t sold_out = 0;     // answered at once by the port
  std::uint64_t unavailable = 0;  // intake paused
  std::uint64_t overloaded = 0;   // the port's queue was full
  std::uint64_t timed_out = 0;    // no reply (in flight at the cut, or later than the timeout)
};

// A load without a cut (load_for): every request answered or timed out at the end.
struct LoadRecord {
  std::int64_t load_start_ns = 0;
  std::int64_t load_end_ns = 0;  // the last submission
  std::int64_t settled_ns = 0;   // the last reply (or timeout)
  std::vector<Ack> acks;
  LoadCounts load;
  std::uint32_t left_in_flight = 0;  // still unanswered when the wait ran out (should be 0)
};

struct CutRecord {
  int index = 0;
  std::uint64_t seed = 0;
  std::int64_t load_start_ns = 0;
  std::int64_t cut_ns = 0;  // just before the SIGKILLs
  std::vector<Ack> acks;    // acknowledged in this cut's load
  LoadCounts load;
  lossyfs::CutOutcome disk;  // pages dropped / kept
  double keep_fraction = 0;
  std::uint64_t unsynced_pages_at_cut = 0;
  std::uint64_t unsynced_pages_at_ready = 0;  // on the remounted disk once the restart is ready
  bool restarted = false;
  std::string restart_error;     // why not (the supervisor's log tail has more)
  std::int64_t recovery_ns = 0;  // remount + `flashsaga run` until ready
  std::int64_t total_ns = 0;     // the whole cut: load, cut, restart
};

struct CliResult {
  int status = -1;     // exit status; -1: did not run or was killed
  std::string output;  // stdout and stderr
  int attempts = 1;    // check_when_settled: how many runs it took
};

class PowerRig {
 public:
  static std::string unavailable_reason();  // "" when lossyfs can run here
  explicit PowerRig(RigOptions options);
  ~PowerRig();
  PowerRig(const PowerRig&) = delete;
  PowerRig& operator=(const PowerRig&) = delete;

  // Mounts lossyfs, starts the deployment and builds the world (users with wallets and points,
  // products, coupons). False with the reason.
  bool start(std::string* error);
  // Load, cut at a random instant drawn from cut_seed, remount, restart (see the top).
  // keep_fraction < 0: options().keep_fraction. Needs a running deployment (restart_error
  // says so otherwise).
  CutRecord cut_under_load(std::uint64_t cut_seed, double keep_fraction = -1);

  // The same load for duration_ms, no cut; then waits (bounded) until every request is answered.
  LoadRecord load_for(std::int64_t duration_ms, std::uint64_t seed);

  // After a restart: acknowledged orders the order journal does not have.
  std::vector<std::uint64_t> missing_orders(const std::vector<Ack>& acks);
  // Acknowledged orders that did not end (COMPLETED / CANCELLED) within timeout_ms in all.
  std::vector<std::uint64_t> not_terminal(const std::vector<Ack>& acks, std::int64_t timeout_ms);
  // `flashsaga check --require-terminal`, retried (bounded) until it exits 0; the last result.
  CliResult check_when_settled(int attempts = 50);
  CliResult journal_verify();
  CliResult flashsaga(const std::vector<std::string>& args);  // any subcommand, --data added

  engine::Client* client() { return client_.get(); }  // null while the deployment is down
  const RigOptions& options() const { return options_; }
  const std::filesystem::path& data_dir() const { return data_dir_; }
  const std::filesystem::path& backing_dir() const { return backing_; }
  lossyfs::LossyMount* mount() { return mount_.get(); }
  // The supervisor's (and its children's) output since the last (re)start.
  std::string supervisor_log_since_start() const;
  bool supervisor_alive();
  // The exit code of the last supervisor that exited by itself (-1: none, or killed).
  int supervisor_exit_code() const { return supervisor_exit_; }
  // Starts `flashsaga run` again on the mounted disk (after the supervisor exited), waits until
  // ready. False with the reason.
  bool restart_deployment(std::string* error) {
    client_.reset();
    return start_deployment(error);
  }
  void stop();  // graceful (SIGTERM, bounded), then SIGKILL whatever is left

 private:
  bool mount_disk(std::string* error, int fsync_delay_ms);
  bool start_deployment(std::string* error);
  bool build_world(std::string* error);
  void kill_everything();
  void write_config();
  struct World;
  struct Load;
  std::thread start_load(std::shared_ptr<Load> load, std::uint64_t seed, std::int64_t start_ns);

  RigOptions options_;
  std::filesystem::path dir_, backing_, mnt_, data_dir_, config_path_, log_path_;
  std::uintmax_t log_offset_ = 0;
  std::unique_ptr<lossyfs::LossyMount> mount_;
  std::unique_ptr<engine::Client> client_;
  std::unique_ptr<World> world_;
  engine::Config config_;
  pid_t supervisor_ = 0;
  int supervisor_exit_ = -1;
  int cuts_ = 0;
};

}  // namespace flashsaga::testing
