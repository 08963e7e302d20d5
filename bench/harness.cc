#include "bench/harness.h"

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "bench/report.h"
#include "bench/run.h"

namespace flashsaga::bench {
namespace {

constexpr std::uint64_t half_peak_attempts_min = 1'000;

}  // namespace

int run_bench(const BenchOptions& opt) {
  std::vector<std::string> durabilities;
  if (opt.durability == "both")
    durabilities = {"sync", "nosync"};
  else if (opt.durability == "all")
    durabilities = {"sync", "interval", "nosync"};
  else
    durabilities = {opt.durability};
  std::vector<std::unique_ptr<DurabilityResult>> results;
  bool ok = true;
  for (const std::string& d : durabilities) {
    auto r = std::make_unique<DurabilityResult>();
    ok = run_once(opt, RunPlan{d, d, opt.orders, opt.rate}, r->peak) && ok;
    if (opt.half_peak && r->peak.started) {
      r->has_half = true;
      r->half_rate = r->peak.completed_per_s() / 2;
      std::uint64_t orders = std::min<std::uint64_t>(
          opt.orders, std::max<std::uint64_t>(
                          half_peak_attempts_min,
                          static_cast<std::uint64_t>(r->half_rate * opt.half_peak_seconds)));
      if (opt.scenario == "flash-sale") orders = std::min<std::uint64_t>(orders, opt.stock);
      if (r->half_rate <= 0) {
        fmt::print(stderr, "bench: the {} run completed nothing; no half-peak run\n", d);
        r->has_half = false;
        ok = false;
      } else {
        ok = run_once(opt, RunPlan{d, d + " half-peak", orders, r->half_rate}, r->half) && ok;
      }
    }
    results.push_back(std::move(r));
  }

  return report(opt, results, ok);
}

}  // namespace flashsaga::bench
