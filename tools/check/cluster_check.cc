#include "tools/check/cluster_check.h"

#include <cstring>
#include <map>

#include "domains/journal_open.h"

namespace flashsaga::tools {
namespace {

constexpr std::size_t products_scan_max = 1u << 20;

bool read_products(const std::filesystem::path& dir,
                   std::map<std::uint64_t, domains::ProductRow>& out, std::string* error) {
  std::unique_ptr<journal::Env> env;
  if (!domains::open_view_read_only(dir, ipc::Domain::product, env).ok()) {
    *error = "cannot open the product view of " + dir.string();
    return false;
  }
  journal::ReadTxn txn;
  if (!env->begin_read(txn).ok()) {
    *error = "cannot read the product view of " + dir.string();
    return false;
  }
  (void)txn.scan(env->table("products"), {}, products_scan_max,
                 [&](journal::Bytes key, journal::Bytes value) {
                   domains::ProductRow row{};
                   if (key.size() == 8 && journal::from_bytes(value, row)) out[row.id] = row;
                   return true;
                 });
  return true;
}

bool same_catalog(const domains::ProductRow& a, const domains::ProductRow& b) {
  return a.price == b.price && a.sale_starts_ns == b.sale_starts_ns &&
         a.sale_ends_ns == b.sale_ends_ns && a.max_per_user == b.max_per_user &&
         std::memcmp(&a.name, &b.name, sizeof a.name) == 0;
}

void check_product(std::uint64_t id,
                   const std::vector<std::map<std::uint64_t, domains::ProductRow>>& cells,
                   ClusterReport& r) {
  const std::size_t n = cells.size();
  const std::size_t home = id % n;
  auto at_home = cells[home].find(id);
  if (at_home == cells[home].end()) {
    r.violations.push_back("product " + std::to_string(id) +
                           " is known at a cell but not at its home cell " + std::to_string(home));
    return;
  }
  ++r.products;
  const domains::ProductRow& h = at_home->second;
  std::int64_t held_elsewhere = 0;
  for (std::size_t c = 0; c < n; ++c) {
    if (c == home) continue;
    auto it = cells[c].find(id);
    if (it == cells[c].end()) {
      ++r.replicas_missing;
      continue;
    }
    ++r.replicas;
    const domains::ProductRow& p = it->second;
    if (!same_catalog(h, p))
      r.violations.push_back("product " + std::to_string(id) + " at cell " + std::to_string(c) +
                             " differs from its home's catalog row");
    held_elsewhere += p.total + p.sold + p.reserved;
    if (p.sold + p.reserved > p.total)
      r.violations.push_back("product " + std::to_string(id) + " oversold at cell " +
                             std::to_string(c) + ": " + std::to_string(p.sold + p.reserved) +
                             " sold or reserved of " + std::to_string(p.total));
  }
  // No leases yet: every unit is the home's, so nothing may be held anywhere else.
  if (held_elsewhere != 0)
    r.violations.push_back("product " + std::to_string(id) + ": cells other than its home hold " +
                           std::to_string(held_elsewhere) + " units, but no lease granted any");
  if (h.sold + h.reserved > h.total)
    r.violations.push_back("product " + std::to_string(id) + " oversold at its home: " +
                           std::to_string(h.sold + h.reserved) + " of " + std::to_string(h.total));
}

}  // namespace

bool ClusterReport::clean() const noexcept {
  if (!error.empty() || !violations.empty()) return false;
  for (const CheckReport& c : cells)
    if (!c.error.empty() || !c.violations.empty()) return false;
  return true;
}

ClusterReport run_cluster_check(const std::vector<std::filesystem::path>& data_dirs,
                                const CheckOptions& base) {
  ClusterReport r;
  std::vector<std::map<std::uint64_t, domains::ProductRow>> products(data_dirs.size());
  for (std::size_t c = 0; c < data_dirs.size(); ++c) {
    CheckOptions o = base;
    o.data_dir = data_dirs[c];
    r.cells.push_back(run_check(o));
    if (!r.cells.back().error.empty()) continue;
    std::string error;
    if (!read_products(data_dirs[c], products[c], &error) && r.error.empty()) r.error = error;
  }
  if (!r.error.empty() || data_dirs.empty()) return r;
  std::map<std::uint64_t, bool> ids;
  for (const auto& cell : products)
    for (const auto& [id, row] : cell) ids[id] = true;
  for (const auto& [id, _] : ids) check_product(id, products, r);
  return r;
}

void print_cluster_check(const ClusterReport& r, std::ostream& out) {
  for (std::size_t c = 0; c < r.cells.size(); ++c) {
    out << "== cell " << c << "\n";
    print_check(r.cells[c], out);
  }
  out << "== across " << r.cells.size() << " cells: " << r.products << " products, " << r.replicas
      << " replicas, " << r.replicas_missing << " replicas still in flight\n";
  if (!r.error.empty()) out << "error: " << r.error << "\n";
  for (const std::string& v : r.violations) out << "violation (cluster): " << v << "\n";
  out << (r.clean() ? "cluster: every invariant holds\n" : "cluster: VIOLATIONS\n");
}

}  // namespace flashsaga::tools
