// sim_test: the simulator's CI profile, its determinism, and proof that it catches bugs.
//
// CI profile: FLASHSAGA_SIM_SEEDS seeds (default 200) from FLASHSAGA_SIM_FROM (default 1),
// FLASHSAGA_SIM_STEPS steps each (default 300); FLASHSAGA_SIM_CHECK=0 ends the seeds without
// tools::run_check. ctest runs it twice in parallel (sim_test: seeds 1-100 plus the other
// cases; sim_test_seeds_b: seeds 201-300). A failing seed prints its failures, the tail of its
// trace and the sim_run command that replays it exactly. The profile must also have exercised
// what the simulator exists for: every crash point, the pipeline running ahead of the disk,
// failed commits, full rings and lost replies.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

#include "engine/runtime/batch_buffer.h"
#include "tests/sim/sim_transport.h"
#include "tests/sim/simulator.h"

namespace flashsaga::sim {
namespace {

std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

SimOptions default_options() {
  SimOptions o;
  o.run_checker = env_u64("FLASHSAGA_SIM_CHECK", 1) != 0;
  return o;
}

TEST(Sim, EdgeNumberingRoundTrips) {
  for (int e = 0; e < edge_count; ++e) EXPECT_EQ(edge_index(edge_from(e), edge_to(e)), e);
  EXPECT_EQ(edge_index({ipc::Domain::order, 0}, {ipc::Domain::product, 0}), 0);
  EXPECT_EQ(edge_index({ipc::Domain::payment, 0}, {ipc::Domain::order, 0}), 6);
  EXPECT_EQ(edge_index({ipc::Domain::port, 0}, {ipc::Domain::user, 0}), 7);
  EXPECT_EQ(edge_index({ipc::Domain::order, 0}, {ipc::Domain::port, 1}), 7 + 12 + 6 + 4);
  EXPECT_EQ(edge_index({ipc::Domain::user, 0}, {ipc::Domain::order, 0}), -1);
}

TEST(Sim, CiProfileSeedsPassEveryInvariant) {
  SimOptions o = default_options();
  o.steps = static_cast<std::uint32_t>(env_u64("FLASHSAGA_SIM_STEPS", 300));
  const std::uint64_t from = env_u64("FLASHSAGA_SIM_FROM", 1);
  const std::uint64_t seeds = env_u64("FLASHSAGA_SIM_SEEDS", 200);
  std::uint64_t failed = 0;
  SimStats total;
  for (std::uint64_t s = from; s < from + seeds && failed < 3; ++s) {
    o.seed = s;
    const SimResult r = run_seed(o);
    total.accepted += r.stats.accepted;
    total.crashes += r.stats.crashes;
    total.failed_commits += r.stats.failed_commits;
    total.ring_full += r.stats.ring_full;
    total.held_back += r.stats.held_back;
    total.lost_replies += r.stats.lost_replies;
    total.ahead_max = std::max(total.ahead_max, r.stats.ahead_max);
    for (std::size_t p = 0; p < crash_point_count; ++p)
      total.crash_points[p] += r.stats.crash_points[p];
    if (!r.passed) {
      ++failed;
      print_result(r, o, std::cerr);
      ADD_FAILURE() << "seed " << s << " failed (replay: sim_run --seed " << s << " --steps "
                    << o.steps << " --trace)";
    }
  }
  std::cout << seeds << " seeds: " << total.accepted << " orders accepted, " << total.crashes
            << " crashes (";
  for (std::size_t p = 0; p < crash_point_count; ++p)
    std::cout << (p == 0 ? "" : ", ") << crash_point_name(static_cast<CrashPoint>(p)) << " "
              << total.crash_points[p];
  std::cout << "), " << total.failed_commits << " failed commits, " << total.ring_full
            << " full rings at the door, " << total.held_back
            << " commits held back by a full ring, " << total.lost_replies
            << " lost replies, up to " << total.ahead_max << " batches ahead of the disk\n";
  EXPECT_GT(total.accepted, seeds);  // the runs really trade
  EXPECT_GT(total.crashes, seeds / 4);
  if (seeds < 200) return;  // a short profile need not hit every fault
  for (std::size_t p = 0; p < crash_point_count; ++p)
    EXPECT_GT(total.crash_points[p], 0u) << crash_point_name(static_cast<CrashPoint>(p));
  EXPECT_GT(total.failed_commits, 0u);
  EXPECT_GT(total.ring_full, 0u);
  EXPECT_GT(total.held_back, 0u);  // a full ring kept committed messages pending
  EXPECT_GT(total.lost_replies, 0u);
  EXPECT_GE(total.ahead_max, 2u);  // the business stage ran ahead of the committing stage
  EXPECT_LE(total.ahead_max, runtime::batch_buffers_max);
}

TEST(Sim, SameSeedGivesTheSameTrace) {
  for (std::uint64_t seed : {3ull, 77ull, 1234ull}) {
    SimOptions o = default_options();
    o.seed = seed;
    o.full_trace = true;
    const SimResult a = run_seed(o);
    const SimResult b = run_seed(o);
    EXPECT_EQ(a.trace_hash, b.trace_hash) << "seed " << seed;
    EXPECT_EQ(a.trace, b.trace) << "seed " << seed;
    EXPECT_GT(a.trace.size(), 300u);
    o.seed = seed + 1;
    EXPECT_NE(run_seed(o).trace_hash, a.trace_hash);
  }
}

// A deliberate bug must make some seeds fail; `how` names the kind of failure expected.
void expect_caught(BugMode bug, std::uint64_t seeds, const std::string& how,
                   bool every_fired_seed) {
  SimOptions o = default_options();
  o.bug = bug;
  std::uint64_t fired = 0, caught = 0, shown = 0;
  for (std::uint64_t s = 1; s <= seeds; ++s) {
    o.seed = s;
    const SimResult r = run_seed(o);
    if (!r.bug_fired) {
      EXPECT_TRUE(r.passed) << "seed " << s << ": the bug did not fire, yet the run failed";
      continue;
    }
    ++fired;
    bool found = false;
    for (const std::string& f : r.failures) found = found || f.rfind(how, 0) == 0 || how.empty();
    if (!r.passed && found) {
      ++caught;
      if (shown++ == 0) print_result(r, o, std::cout);
    } else if (every_fired_seed) {
      ADD_FAILURE() << "seed " << s << ": bug " << bug_mode_name(bug)
                    << " fired and was not caught as '" << how << "'";
    }
  }
  std::cout << bug_mode_name(bug) << ": fired in " << fired << " of " << seeds
            << " seeds, caught in " << caught << "\n";
  EXPECT_GE(fired, 5u);
  EXPECT_GE(caught, 1u);
}

TEST(Sim, CatchesALostCompensationThroughTheChecker) {
  // The checker names the lost compensation; without it, the drain's own facts see the units
  // the product domain still holds reserved.
  expect_caught(BugMode::drop_cancel, 60, default_options().run_checker ? "check: " : "product ",
                true);
}

TEST(Sim, CatchesADoubleAppliedStockGiveBack) {
  expect_caught(BugMode::double_release, 60, "product ", true);
}

TEST(Sim, CatchesARuntimeThatDoesNotDropDuplicates) {
  expect_caught(BugMode::skip_dedup, 80, "", false);
}

}  // namespace
}  // namespace flashsaga::sim
