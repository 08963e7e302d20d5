// The bench report: one table (a column per run), JSON, a timeline CSV and gnuplot PNGs.
// Internal to bench/.
#pragma once

#include <memory>
#include <vector>

#include "bench/run.h"

namespace flashsaga::bench {

// One closed-loop run, and (with --half-peak) the open-loop run at half its peak.
struct DurabilityResult {
  RunFigures peak;
  bool has_half = false;
  RunFigures half;
  double half_rate = 0;
  bool met() const { return has_half && half.clean && half.facts.latency.count() > 0; }
};

// Prints the table and the half-peak verdicts, writes --json, --csv and --plot. Returns the exit
// code of `flashsaga bench`: 0 if every run ran and its check was clean.
int report(const BenchOptions& opt, const std::vector<std::unique_ptr<DurabilityResult>>& results,
           bool ran);

}  // namespace flashsaga::bench
