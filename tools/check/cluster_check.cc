#include "tools/check/cluster_check.h"

#include <cstring>
#include <map>
#include <utility>

#include "domains/journal_open.h"

namespace flashsaga::tools {
namespace {

constexpr std::size_t products_scan_max = 1u << 20;

using LeaseKey = std::pair<std::uint64_t, std::uint32_t>;  // (product, peer cell)

struct CellRows {
  std::map<std::uint64_t, domains::ProductRow> products;
  std::map<LeaseKey, domains::LeaseRow> leases;  // product 0 rows (edge sequences) left out
};

bool read_cell(const std::filesystem::path& dir, CellRows& out, std::string* error) {
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
                   if (key.size() == 8 && journal::from_bytes(value, row))
                     out.products[row.id] = row;
                   return true;
                 });
  (void)txn.scan(env->table("leases"), {}, products_scan_max,
                 [&](journal::Bytes key, journal::Bytes value) {
                   domains::LeaseRow row{};
                   if (key.size() == 16 && journal::from_bytes(value, row) && row.product_id != 0)
                     out.leases[{row.product_id, row.peer}] = row;
                   return true;
                 });
  return true;
}

bool same_catalog(const domains::ProductRow& a, const domains::ProductRow& b) {
  return a.price == b.price && a.sale_starts_ns == b.sale_starts_ns &&
         a.sale_ends_ns == b.sale_ends_ns && a.max_per_user == b.max_per_user &&
         std::memcmp(&a.name, &b.name, sizeof a.name) == 0;
}

domains::LeaseRow lease_of(const CellRows& cell, std::uint64_t id, std::uint32_t peer) {
  auto it = cell.leases.find({id, peer});
  return it == cell.leases.end() ? domains::LeaseRow{} : it->second;
}

// The leases of product `id` between its home and cell c: both sides' cumulative figures
// must agree up to what is in flight, and c's total is exactly what its leases left it.
// `later` is a second read of every cell after `cells`: the figures only grow, so what a cell
// loaded (first read) can never exceed what its home granted (second read), and what the home
// credited (first read) never what the cell returned (second read), even while cells run.
// Returns what the home leased to c and has not had back.
std::int64_t check_leases(std::uint64_t id, std::uint32_t home, std::uint32_t c,
                          const std::vector<CellRows>& cells, const std::vector<CellRows>& later,
                          const domains::ProductRow* at_c, ClusterReport& r) {
  const auto where = [&] {
    return "product " + std::to_string(id) + " at cell " + std::to_string(c) + ": ";
  };
  const domains::LeaseRow h = lease_of(cells[home], id, c);
  const domains::LeaseRow n = lease_of(cells[c], id, home);
  const domains::LeaseRow h_later = lease_of(later[home], id, c);
  const domains::LeaseRow n_later = lease_of(later[c], id, home);
  if (h.granted > 0 || n.granted > 0) ++r.leases;
  if (n.granted > h_later.granted)
    r.violations.push_back(where() + "loaded " + std::to_string(n.granted) +
                           " leased units, its home granted " + std::to_string(h_later.granted));
  if (h.returned > n_later.returned)
    r.violations.push_back(where() + "its home credited " + std::to_string(h.returned) +
                           " returned units, it returned " + std::to_string(n_later.returned));
  if (n.returned > n.granted || h.returned > h.granted)
    r.violations.push_back(where() + "more units returned than granted");
  r.lease_units_in_flight += (h.granted - n.granted) + (n.returned - h.returned);
  const std::int64_t held = at_c == nullptr ? 0 : at_c->total;
  if (held != n.granted - n.returned)
    r.violations.push_back(where() + "holds " + std::to_string(held) +
                           " units, its leases leave it " + std::to_string(n.granted - n.returned));
  if (at_c != nullptr && at_c->sold + at_c->reserved > at_c->total)
    r.violations.push_back(where() + "oversold: " + std::to_string(at_c->sold + at_c->reserved) +
                           " sold or reserved of " + std::to_string(at_c->total));
  return h.granted - h.returned;
}

// Sum over cells of (sold + reserved + leased but unsold) + the home's unleased units (the
// home's row total holds its own sold, reserved and unleased) + units in flight = the total.
void check_product(std::uint64_t id, const std::vector<CellRows>& cells,
                   const std::vector<CellRows>& later, ClusterReport& r) {
  const auto n = static_cast<std::uint32_t>(cells.size());
  const std::uint32_t home = static_cast<std::uint32_t>(id % n);
  auto at_home = cells[home].products.find(id);
  if (at_home == cells[home].products.end()) {
    r.violations.push_back("product " + std::to_string(id) +
                           " is known at a cell but not at its home cell " + std::to_string(home));
    return;
  }
  ++r.products;
  const domains::ProductRow& h = at_home->second;
  const std::int64_t in_flight_before = r.lease_units_in_flight;
  std::int64_t leased_out = 0;
  std::int64_t held = h.total;
  for (std::uint32_t c = 0; c < n; ++c) {
    if (c == home) continue;
    auto it = cells[c].products.find(id);
    const domains::ProductRow* p = it == cells[c].products.end() ? nullptr : &it->second;
    if (p == nullptr)
      ++r.replicas_missing;
    else
      ++r.replicas;
    if (p != nullptr && !same_catalog(h, *p))
      r.violations.push_back("product " + std::to_string(id) + " at cell " + std::to_string(c) +
                             " differs from its home's catalog row");
    leased_out += check_leases(id, home, c, cells, later, p, r);
    held += p == nullptr ? 0 : p->total;
  }
  const std::int64_t total = h.total + leased_out;  // what the home owns: its own plus leased out
  if (held + (r.lease_units_in_flight - in_flight_before) != total)
    r.violations.push_back("product " + std::to_string(id) + ": cells hold " +
                           std::to_string(held) + " units and " +
                           std::to_string(r.lease_units_in_flight - in_flight_before) +
                           " are in flight, of a total of " + std::to_string(total));
  r.units_total += total;
  r.units_sold += h.sold;
  for (std::uint32_t c = 0; c < n; ++c) {
    auto it = cells[c].products.find(id);
    if (c != home && it != cells[c].products.end()) r.units_sold += it->second.sold;
  }
  if (h.sold + h.reserved > h.total)
    r.violations.push_back("product " + std::to_string(id) + " oversold at its home: " +
                           std::to_string(h.sold + h.reserved) + " of " + std::to_string(h.total));
  // The total above is the home's own figures: it needs a witness of its own, the stock the
  // home's journal created and restocked (read after the views, and stock only grows).
  const auto& stock = r.cells[home].product_stock;
  if (auto it = stock.find(id); it != stock.end() && total > it->second)
    r.violations.push_back("product " + std::to_string(id) + ": its home owns " +
                           std::to_string(total) + " units (" + std::to_string(h.total) +
                           " its own, " + std::to_string(leased_out) +
                           " leased out), more than the " + std::to_string(it->second) +
                           " its journal created and restocked");
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
  // The views first, twice (see cluster_check.h), then each cell's own check: its journal's
  // created and restocked stock is then read after the views' totals, and only grows.
  std::vector<CellRows> products(data_dirs.size());
  for (std::size_t c = 0; c < data_dirs.size(); ++c) {
    std::string error;
    if (!read_cell(data_dirs[c], products[c], &error) && r.error.empty()) r.error = error;
  }
  std::vector<CellRows> later(data_dirs.size());
  for (std::size_t c = 0; c < data_dirs.size() && r.error.empty(); ++c)
    if (!read_cell(data_dirs[c], later[c], &r.error)) break;
  for (std::size_t c = 0; c < data_dirs.size(); ++c) {
    CheckOptions o = base;
    o.data_dir = data_dirs[c];
    r.cells.push_back(run_check(o));
  }
  if (!r.error.empty() || data_dirs.empty()) return r;
  std::map<std::uint64_t, bool> ids;
  for (const auto& cell : products)
    for (const auto& [id, row] : cell.products) ids[id] = true;
  for (const auto& [id, _] : ids) check_product(id, products, later, r);
  return r;
}

void print_cluster_check(const ClusterReport& r, std::ostream& out) {
  for (std::size_t c = 0; c < r.cells.size(); ++c) {
    out << "== cell " << c << "\n";
    print_check(r.cells[c], out);
  }
  out << "== across " << r.cells.size() << " cells: " << r.products << " products, " << r.replicas
      << " replicas, " << r.replicas_missing << " replicas still in flight\n";
  out << "leases: " << r.leases << " lease edges, " << r.lease_units_in_flight
      << " units in flight; " << r.units_sold << " of " << r.units_total
      << " units sold across cells\n";
  if (!r.error.empty()) out << "error: " << r.error << "\n";
  for (const std::string& v : r.violations) out << "violation (cluster): " << v << "\n";
  out << (r.clean() ? "cluster: every invariant holds\n" : "cluster: VIOLATIONS\n");
}

}  // namespace flashsaga::tools
