// sim_run: the simulator's long profile and its replay tool.
//
//   sim_run --seeds 100000 --from 1 [--steps 300] [--bug NAME] [--stop-after N]
//       runs seeds from..from+seeds-1, prints each failing seed with its trace tail and the
//       command that replays it, then seeds/s and the failure count; exit 1 if any failed.
//   sim_run --seed N [--trace] [--keep]
//   --no-check (or FLASHSAGA_SIM_CHECK=0) ends each seed without tools::run_check; --echo prints
//   each trace line to stderr as it happens (a seed that dies in an assertion still shows why).
//       replays one seed: --trace prints every step; --keep leaves its journals on disk for
//       `flashsaga check --data DIR` and `flashsaga trace ORDER --data DIR`.
//
// Requires: /dev/shm (or the system temp dir) for the per-seed journals.
// Guarantees: the same arguments give the same traces (each seed prints its trace hash with
//   --seed). Seeds/s is wall time over the whole loop, checker included.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

#include "tests/sim/simulator.h"

namespace {

int usage() {
  std::fprintf(
      stderr,
      "usage: sim_run [--seeds N] [--from S] [--seed N] [--steps K] [--trace] [--keep]\n"
      "               [--bug none|drop_cancel|double_release|skip_dedup] [--stop-after N]\n"
      "               [--no-check] [--echo]\n");
  return 2;
}

bool parse_u64(const char* s, std::uint64_t& out) {
  char* end = nullptr;
  out = std::strtoull(s, &end, 10);
  return end != s && *end == '\0';
}

}  // namespace

int main(int argc, char** argv) {
  using flashsaga::sim::SimOptions;
  std::uint64_t seeds = 1000, from = 1, single = 0, steps = 300, stop_after = 20;
  bool one = false;
  SimOptions options;
  const char* check = std::getenv("FLASHSAGA_SIM_CHECK");
  options.run_checker = check == nullptr || std::string_view(check) != "0";
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--seeds" && has_value) {
      if (!parse_u64(argv[++i], seeds)) return usage();
    } else if (a == "--from" && has_value) {
      if (!parse_u64(argv[++i], from)) return usage();
    } else if (a == "--seed" && has_value) {
      if (!parse_u64(argv[++i], single)) return usage();
      one = true;
    } else if (a == "--steps" && has_value) {
      if (!parse_u64(argv[++i], steps) || steps > 1'000'000) return usage();
    } else if (a == "--stop-after" && has_value) {
      if (!parse_u64(argv[++i], stop_after)) return usage();
    } else if (a == "--bug" && has_value) {
      if (!flashsaga::sim::parse_bug_mode(argv[++i], options.bug)) return usage();
    } else if (a == "--trace") {
      options.full_trace = true;
    } else if (a == "--keep") {
      options.keep_dir = true;
    } else if (a == "--echo") {
      options.echo = true;
    } else if (a == "--no-check") {
      options.run_checker = false;
    } else {
      return usage();
    }
  }
  options.steps = static_cast<std::uint32_t>(steps);
  if (one) {
    options.seed = single;
    const flashsaga::sim::SimResult r = flashsaga::sim::run_seed(options);
    flashsaga::sim::print_result(r, options, std::cout);
    return r.passed ? 0 : 1;
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::uint64_t failed = 0, fired = 0, ran = 0;
  flashsaga::sim::SimStats total;
  for (std::uint64_t s = from; s < from + seeds; ++s) {
    options.seed = s;
    const flashsaga::sim::SimResult r = flashsaga::sim::run_seed(options);
    ++ran;
    fired += r.bug_fired ? 1 : 0;
    total.accepted += r.stats.accepted;
    total.failed_commits += r.stats.failed_commits;
    total.lost_replies += r.stats.lost_replies;
    for (std::size_t p = 0; p < flashsaga::sim::crash_point_count; ++p)
      total.crash_points[p] += r.stats.crash_points[p];
    if (!r.passed) {
      ++failed;
      flashsaga::sim::print_result(r, options, std::cout);
      if (failed >= stop_after) break;
    }
    if (ran % 10000 == 0) {
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("... %llu seeds, %llu failed, %.0f seeds/s\n",
                  static_cast<unsigned long long>(ran), static_cast<unsigned long long>(failed),
                  static_cast<double>(ran) / secs);
      std::fflush(stdout);
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%llu seeds from %llu, %llu steps each: %llu failed%s in %.2f s, %.1f seeds/s\n",
              static_cast<unsigned long long>(ran), static_cast<unsigned long long>(from),
              static_cast<unsigned long long>(steps), static_cast<unsigned long long>(failed),
              options.bug == flashsaga::sim::BugMode::none
                  ? ""
                  : (" (bug " + std::string(flashsaga::sim::bug_mode_name(options.bug)) +
                     " fired in " + std::to_string(fired) + ")")
                        .c_str(),
              secs, static_cast<double>(ran) / secs);
  std::printf("orders accepted %llu, failed commits %llu, lost replies %llu, crashes:",
              static_cast<unsigned long long>(total.accepted),
              static_cast<unsigned long long>(total.failed_commits),
              static_cast<unsigned long long>(total.lost_replies));
  for (std::size_t p = 0; p < flashsaga::sim::crash_point_count; ++p)
    std::printf(
        " %s %llu",
        std::string(flashsaga::sim::crash_point_name(static_cast<flashsaga::sim::CrashPoint>(p)))
            .c_str(),
        static_cast<unsigned long long>(total.crash_points[p]));
  std::printf("\n");
  return failed == 0 ? 0 : 1;
}
