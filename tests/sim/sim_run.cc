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

using flashsaga::sim::SimOptions;
using flashsaga::sim::SimResult;
using flashsaga::sim::SimStats;

struct Args {
  std::uint64_t seeds = 1000, from = 1, single = 0, steps = 300, stop_after = 20;
  bool one = false;
  SimOptions options;
};

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

bool parse(int argc, char** argv, Args& a) {
  const char* check = std::getenv("FLASHSAGA_SIM_CHECK");
  a.options.run_checker = check == nullptr || std::string_view(check) != "0";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--seeds" && has_value) {
      if (!parse_u64(argv[++i], a.seeds)) return false;
    } else if (arg == "--from" && has_value) {
      if (!parse_u64(argv[++i], a.from)) return false;
    } else if (arg == "--seed" && has_value) {
      if (!parse_u64(argv[++i], a.single)) return false;
      a.one = true;
    } else if (arg == "--steps" && has_value) {
      if (!parse_u64(argv[++i], a.steps) || a.steps > 1'000'000) return false;
    } else if (arg == "--stop-after" && has_value) {
      if (!parse_u64(argv[++i], a.stop_after)) return false;
    } else if (arg == "--bug" && has_value) {
      if (!flashsaga::sim::parse_bug_mode(argv[++i], a.options.bug)) return false;
    } else if (arg == "--trace") {
      a.options.full_trace = true;
    } else if (arg == "--keep") {
      a.options.keep_dir = true;
    } else if (arg == "--echo") {
      a.options.echo = true;
    } else if (arg == "--no-check") {
      a.options.run_checker = false;
    } else {
      return false;
    }
  }
  a.options.steps = static_cast<std::uint32_t>(a.steps);
  return true;
}

void add(SimStats& total, const SimStats& s) {
  total.accepted += s.accepted;
  total.failed_commits += s.failed_commits;
  total.lost_replies += s.lost_replies;
  for (std::size_t p = 0; p < flashsaga::sim::crash_point_count; ++p)
    total.crash_points[p] += s.crash_points[p];
}

void print_totals(const SimStats& total) {
  std::printf("orders accepted %llu, failed commits %llu, lost replies %llu, crashes:",
              static_cast<unsigned long long>(total.accepted),
              static_cast<unsigned long long>(total.failed_commits),
              static_cast<unsigned long long>(total.lost_replies));
  for (std::size_t p = 0; p < flashsaga::sim::crash_point_count; ++p) {
    const auto point = static_cast<flashsaga::sim::CrashPoint>(p);
    std::printf(" %s %llu", std::string(flashsaga::sim::crash_point_name(point)).c_str(),
                static_cast<unsigned long long>(total.crash_points[p]));
  }
  std::printf("\n");
}

// The long profile: seeds from..from+seeds-1. Returns the process's exit code.
int run_profile(Args& a) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  std::uint64_t failed = 0, fired = 0, ran = 0;
  SimStats total;
  for (std::uint64_t s = a.from; s < a.from + a.seeds; ++s) {
    a.options.seed = s;
    const SimResult r = flashsaga::sim::run_seed(a.options);
    ++ran;
    fired += r.bug_fired ? 1 : 0;
    add(total, r.stats);
    if (!r.passed) {
      ++failed;
      flashsaga::sim::print_result(r, a.options, std::cout);
      if (failed >= a.stop_after) break;
    }
    if (ran % 10000 == 0) {
      std::printf("... %llu seeds, %llu failed, %.0f seeds/s\n",
                  static_cast<unsigned long long>(ran), static_cast<unsigned long long>(failed),
                  static_cast<double>(ran) / seconds());
      std::fflush(stdout);
    }
  }
  const double secs = seconds();
  const std::string bug = a.options.bug == flashsaga::sim::BugMode::none
                              ? ""
                              : " (bug " + std::string(bug_mode_name(a.options.bug)) +
                                    " fired in " + std::to_string(fired) + ")";
  std::printf("%llu seeds from %llu, %llu steps each: %llu failed%s in %.2f s, %.1f seeds/s\n",
              static_cast<unsigned long long>(ran), static_cast<unsigned long long>(a.from),
              static_cast<unsigned long long>(a.steps), static_cast<unsigned long long>(failed),
              bug.c_str(), secs, static_cast<double>(ran) / secs);
  print_totals(total);
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (!parse(argc, argv, a)) return usage();
  if (!a.one) return run_profile(a);
  a.options.seed = a.single;
  const SimResult r = flashsaga::sim::run_seed(a.options);
  flashsaga::sim::print_result(r, a.options, std::cout);
  return r.passed ? 0 : 1;
}
