// run_check: passes over the deployment until the findings are stable.
#include "tools/check/check.h"

#include <algorithm>
#include <cstring>
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

// The lost-order ranges the supervisor marked in the order journal after a power loss.
std::vector<LostRange> read_lost_ranges(const std::array<DomainEnvs, 7>& envs) {
  std::vector<LostRange> out;
  const journal::Env* env = envs[idx(ipc::Domain::order)].journal.get();
  if (env == nullptr) return out;
  journal::ReadTxn txn;
  if (!env->begin_read(txn).ok()) return out;
  const auto from = journal::key_u64_u64(domains::cursor_kind_lost_orders, 0);
  (void)txn.scan(
      env->table(domains::cursors_table_name), from, lost_ranges_max,
      [&](journal::Bytes k, journal::Bytes v) {
        if (k.size() != 16 || journal::u64_from_key(k) != domains::cursor_kind_lost_orders)
          return false;
        domains::LostOrders mark{};
        if (v.size() == sizeof mark) std::memcpy(&mark, v.data(), sizeof mark);
        out.push_back({mark.first, mark.last});
        return true;
      });
  return out;
}

bool in_lost_range(const std::vector<LostRange>& ranges, std::uint64_t order) {
  return std::any_of(ranges.begin(), ranges.end(),
                     [&](const LostRange& r) { return order >= r.first && order <= r.last; });
}

// Findings about orders the order journal lost in a power loss (or the bulk stock count that
// still counts them) are not violations of the engine: they are left for an operator.
void separate_lost_orders(const std::array<DomainEnvs, 7>& envs, CheckReport& report) {
  report.lost_ranges = read_lost_ranges(envs);
  if (report.lost_ranges.empty()) return;
  std::uint64_t first_lost = UINT64_MAX;
  for (const LostRange& r : report.lost_ranges) first_lost = std::min(first_lost, r.first);
  // The bulk stock counts still count the lost orders' units (order id 0 findings).
  const bool bulk_counts_lost = report.reservations_through >= first_lost;
  std::vector<Violation> kept;
  for (Violation& v : report.violations) {
    const bool bulk =
        v.invariant == 1 && v.order_id == 0 && bulk_counts_lost &&
        (v.what.find("but the order journal placed only up to") != std::string::npos ||
         v.what.find("whose order_pending records hold") != std::string::npos);
    const bool about_lost =
        v.invariant <= 5 && (bulk || in_lost_range(report.lost_ranges, v.order_id));
    (about_lost ? report.lost : kept).push_back(std::move(v));
  }
  report.violations = std::move(kept);
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
  separate_lost_orders(envs, report);
  report.elapsed_ns = mono_now_ns() - t0;
  return report;
}

}  // namespace flashsaga::tools
