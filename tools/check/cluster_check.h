// cluster_check: `flashsaga cluster-check cluster.toml` — the invariants across the cells of a
// cluster (docs/cells.md), over every cell's data directory, read-only.
//
// Requires: one data directory per cell, in cell order (cell c is data_dirs[c]); cells may run.
// Guarantees: nothing is written. Proves
//   - each cell's own invariants (run_check on its data dir; findings are prefixed by cell);
//   - catalog: every product is known at its home cell (id % cells) and every replica at
//     another cell carries the home's name, price, sale window and limit;
//   - stock: for every product, the sum over cells of (sold + reserved + leased but unsold)
//     plus the home's unleased units plus the lease units in flight is the product's total
//     (the home's own plus what it leased out), and that total is no more than the stock the
//     home's journal created and restocked; no cell sells beyond what it holds;
//   - leases: between the home and each cell, the cell never loaded more than the home
//     granted, the home never credited more than the cell returned, and the cell's total is
//     exactly what its leases leave it. The difference is in flight (a grant not loaded yet, a
//     return not credited yet): after a quiet stop it must be 0 (every lease reconciled).
// A replica not yet present at a cell is counted (replication in flight), not a violation.
// Cells may run: the views are read one after another, then all again, and each side of a
// lease is compared with the other side's later read (the figures only grow), so a grant or a
// return moving between two reads is never taken for a violation.
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
  std::uint64_t leases = 0;            // (product, cell) pairs with any lease
  std::int64_t lease_units_in_flight = 0;
  std::int64_t units_total = 0;  // over every product
  std::int64_t units_sold = 0;   // over every product and cell
  std::string error;             // a cell could not be read
  bool clean() const noexcept;
};

ClusterReport run_cluster_check(const std::vector<std::filesystem::path>& data_dirs,
                                const CheckOptions& base);
void print_cluster_check(const ClusterReport& r, std::ostream& out);

}  // namespace flashsaga::tools
