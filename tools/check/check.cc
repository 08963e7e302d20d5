// run_check: passes over the deployment until the findings are stable.
#include "tools/check/check.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>
#include <tuple>

#include "engine/base/clock.h"
#include "tools/check/pass.h"

namespace flashsaga::tools {
namespace {

void reset_counts(CheckReport& r) {
  const std::string data = r.data_dir;
  const std::uint32_t passes = r.passes;
  r = CheckReport{};
  r.data_dir = data;
  r.passes = passes;
}

// Keeps the findings seen in every pass so far: while the deployment moves, a finding must
// survive fresh snapshots to be reported (a real violation stays, a race between two
// journals' snapshots does not).
void keep_persistent(std::map<std::string, Violation>& kept, std::vector<Finding>& found,
                     bool first) {
  std::map<std::string, Violation> now;
  for (Finding& f : found) now.emplace(f.key, std::move(f.v));
  if (first) {
    kept = std::move(now);
    return;
  }
  std::map<std::string, Violation> both;
  for (auto& [k, v] : now)
    if (kept.count(k) != 0) both.emplace(k, std::move(v));
  kept = std::move(both);
}

Positions positions_of(const std::array<DomainSnapshot, 7>& snaps) {
  Positions p{};
  for (ipc::Domain d : journal_domains)
    p[idx(d)] = {snaps[idx(d)].journal_end, snaps[idx(d)].position.last_sequence};
  return p;
}

}  // namespace

CheckReport run_check(const CheckOptions& options) {
  const std::int64_t t0 = mono_now_ns();
  CheckReport report;
  report.data_dir = options.data_dir.string();
  if (std::string p = data_dir_problem(options.data_dir); !p.empty()) {
    report.error = p;
    return report;
  }
  std::array<DomainEnvs, 7> envs;
  if (std::string e = open_deployment(options.data_dir, envs); !e.empty()) {
    report.error = e;
    return report;
  }
  const std::int64_t now = options.now_ns != 0 ? options.now_ns : wall_now_ns();
  std::map<std::string, Violation> kept;
  for (std::uint32_t pass = 0;; ++pass) {
    Positions seen{};
    {
      std::array<DomainSnapshot, 7> snaps;
      std::vector<Finding> found;
      reset_counts(report);
      report.passes = pass + 1;
      Pass p(options, report, found, now, envs, snaps);
      if (!p.read()) return report;
      p.evaluate();
      seen = positions_of(snaps);
      keep_persistent(kept, found, pass == 0);
    }  // the snapshots end here: nothing is pinned while we wait
    if (kept.empty() || pass + 1 >= options.recheck_count_max) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100 * (pass + 1)));
    if (positions_now(envs) == seen) break;  // a still deployment: the findings are final
  }
  for (auto& [k, v] : kept) report.violations.push_back(std::move(v));
  std::sort(report.violations.begin(), report.violations.end(),
            [](const Violation& a, const Violation& b) {
              return std::tie(a.invariant, a.order_id, a.domain, a.journal_sequence) <
                     std::tie(b.invariant, b.order_id, b.domain, b.journal_sequence);
            });
  report.elapsed_ns = mono_now_ns() - t0;
  return report;
}

}  // namespace flashsaga::tools
