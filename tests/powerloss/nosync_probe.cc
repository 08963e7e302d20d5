// nosync_probe: a report, not a test. What a power loss does to a nosync deployment today.
//
//   nosync_probe [CUTS] [SEED]        (defaults 6 and 17; as root, with FUSE)
//
// Each cut runs on a fresh deployment (durability = "nosync") on lossyfs: build a world, load,
// cut at a random instant (alternately dropping every unsynced page, and keeping 90 % of them in
// random order), remount, try to restart. Printed per cut: whether every domain came back, the
// supervisor's distinct complaints (which journal failed to open, with LMDB's error), how many
// acknowledged orders survive, and what `flashsaga journal verify` and `flashsaga check` say.
// Issue 17 turns this into a test once nosync comes back (or refuses clearly) after a power loss.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/powerloss/power_rig.h"

namespace {

using flashsaga::testing::CliResult;
using flashsaga::testing::CutRecord;
using flashsaga::testing::PowerRig;
using flashsaga::testing::RigOptions;

constexpr std::size_t report_lines_max = 12;

// The distinct lines of `text` that contain `needle` (at most report_lines_max), pids and
// timestamps left as they are.
std::set<std::string> lines_with(const std::string& text, const std::string& needle) {
  std::set<std::string> out;
  std::istringstream in(text);
  std::string line;
  for (int i = 0; i < 1'000'000 && std::getline(in, line) && out.size() < report_lines_max; ++i)
    if (line.find(needle) != std::string::npos) out.insert(line);
  return out;
}

std::size_t count_lines_with(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  std::istringstream in(text);
  std::string line;
  for (int i = 0; i < 10'000'000 && std::getline(in, line); ++i)
    n += line.find(needle) != std::string::npos;
  return n;
}

// What the disk kept of each journal: the data file's size and how many of its 4 KiB pages hold
// anything but zeros (read from the backing directory, after the cut).
void print_journal_files(const std::filesystem::path& backing) {
  static const char* const domains[] = {"user", "point", "product", "coupon", "order", "payment"};
  for (const char* d : domains) {
    const std::filesystem::path file = backing / "data" / d / "data.mdb";
    std::ifstream in(file, std::ios::binary);
    std::vector<char> page(4096);
    std::uint64_t pages = 0, nonzero = 0;
    for (; pages < (1u << 24) && in.read(page.data(), static_cast<std::streamsize>(page.size()));
         ++pages)
      nonzero += std::any_of(page.begin(), page.end(), [](char c) { return c != 0; });
    std::printf("    %-8s data.mdb %6.1f MiB, %llu of %llu pages not zero\n", d,
                static_cast<double>(pages) * 4096 / (1 << 20),
                static_cast<unsigned long long>(nonzero), static_cast<unsigned long long>(pages));
  }
}

void print_head(const char* title, const CliResult& r) {
  std::printf("  %s: exit %d\n", title, r.status);
  std::istringstream in(r.output);
  std::string line;
  for (std::size_t i = 0; i < report_lines_max && std::getline(in, line); ++i)
    std::printf("    | %s\n", line.c_str());
}

void probe_one(int index, std::uint64_t seed) {
  RigOptions o;
  o.durability = "nosync";
  o.seed = seed;
  o.users = 50;
  o.cut_after_min_ms = 1000;  // issue 17 took orders for 1-3 s
  o.cut_after_max_ms = 3000;
  o.ready_timeout_ms = 10'000;
  PowerRig rig(o);
  std::string error;
  if (!rig.start(&error)) {
    std::printf("cut %d: the deployment did not start before any cut: %s\n", index, error.c_str());
    return;
  }
  const double keep = index % 2 == 0 ? 0.0 : 0.9;
  const CutRecord cut = rig.cut_under_load(seed * 7919 + static_cast<std::uint64_t>(index), keep);
  std::printf(
      "cut %d (seed %llu, keep %.1f): cut at %.0f ms, %zu orders acknowledged, %llu unsynced pages "
      "(dropped %llu, kept %llu)\n",
      index, static_cast<unsigned long long>(cut.seed), keep,
      static_cast<double>(cut.cut_ns - cut.load_start_ns) / 1e6, cut.acks.size(),
      static_cast<unsigned long long>(cut.unsynced_pages_at_cut),
      static_cast<unsigned long long>(cut.disk.pages_dropped),
      static_cast<unsigned long long>(cut.disk.pages_kept));
  const std::string log = rig.supervisor_log_since_start();
  if (cut.restarted) {
    const auto missing = rig.missing_orders(cut.acks);
    std::printf("  restarted in %.0f ms; %zu of %zu acknowledged orders survive\n",
                static_cast<double>(cut.recovery_ns) / 1e6, cut.acks.size() - missing.size(),
                cut.acks.size());
  } else {
    std::printf("  did NOT come back within %lld ms: %s\n",
                static_cast<long long>(o.ready_timeout_ms),
                cut.restart_error.substr(0, 300).c_str());
    std::printf("  supervisor alive: %s; log lines naming a journal:\n",
                rig.supervisor_alive() ? "yes" : "no");
    for (const std::string& l : lines_with(log, "journal")) std::printf("    | %s\n", l.c_str());
    rig.stop();
  }
  std::printf("  supervisor log: %zu domain restarts; the disk kept:\n",
              count_lines_with(log, "; restarting"));
  print_journal_files(rig.backing_dir());
  print_head("flashsaga journal verify", rig.journal_verify());
  print_head("flashsaga check", rig.flashsaga({"check"}));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (const std::string why = PowerRig::unavailable_reason(); !why.empty()) {
    std::printf("nosync_probe: cannot run here: %s\n", why.c_str());
    return 2;
  }
  const int cuts = argc > 1 ? std::atoi(argv[1]) : 6;
  const std::uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 17;
  std::printf("nosync_probe: %d cuts, seed %llu\n", cuts, static_cast<unsigned long long>(seed));
  for (int i = 0; i < cuts && i < 10'000; ++i) probe_one(i, seed + static_cast<std::uint64_t>(i));
  return 0;
}
