// cluster_check: `flashsaga cluster-check cluster.toml` — the invariants across the cells of a
// cluster (docs/cells.md), over every cell's data directory, read-only.
//
// Requires: one data directory per cell, in cell order (cell c is data_dirs[c]); cells may run.
// Guarantees: nothing is written. Proves
//   - each cell's own invariants (run_check on its data dir; findings are prefixed by cell);
//   - catalog: every product is known at its home cell (id % cells) and every replica at
//     another cell carries the home's name, price, sale window and limit;
//   - stock: for every product, the units every non-home cell holds (sold + reserved + its
//     own available stock) plus the home's (total - nothing leased) add up to the home's total,
//     and no cell sells beyond what it holds (nothing oversold). Without escrow leases a
//     non-home cell holds no units of its own, so every such figure must be 0 there.
// A replica not yet present at a cell is counted (replication in flight), not a violation.
#pragma once

#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "tools/check/check.h"

namespace flashsaga::tools {

struct ClusterReport {
  std::vector<CheckReport> cells;       // index = cell
  std::vector<std::string> violations;  // cross-cell findings
  std::uint64_t products = 0;
  std::uint64_t replicas = 0;
  std::uint64_t replicas_missing = 0;  // in flight
  std::string error;                   // a cell could not be read
  bool clean() const noexcept;
};

ClusterReport run_cluster_check(const std::vector<std::filesystem::path>& data_dirs,
                                const CheckOptions& base);
void print_cluster_check(const ClusterReport& r, std::ostream& out);

}  // namespace flashsaga::tools
