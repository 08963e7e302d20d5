// Stock escrow leases between cluster cells: the product domain's half (the link moves the
// messages, engine/cells/link.cc). See product_domain.h and docs/cells.md.
#include <algorithm>

#include "domains/product/product_domain.h"

namespace flashsaga::domains {
namespace {

using ipc::CommandResult;
using ipc::Domain;
using ipc::Message;
using ipc::MessageType;

// How long a cell may sell a grant's units before it returns what is unsold (wall clock).
constexpr std::int64_t lease_ttl_ns = 2'000'000'000;
constexpr int take_attempts_max = 1000;

}  // namespace

// Takes up to `most` units from the product's available counter by CAS (the door's own
// primitive), so no port can reserve them afterwards. Returns how many it took.
std::int64_t ProductDomain::take_available(std::uint64_t product_id, std::int64_t most) noexcept {
  ipc::StockSlot& slot = deployment_->stock(static_cast<std::uint32_t>(product_id));
  std::int64_t seen = slot.available.load(std::memory_order_relaxed);
  for (int attempt = 0; attempt < take_attempts_max; ++attempt) {
    const std::int64_t take = std::min(most, seen);
    if (take <= 0) return 0;
    if (slot.available.compare_exchange_weak(seen, seen - take, std::memory_order_acq_rel,
                                             std::memory_order_relaxed))
      return take;
  }
  return 0;  // contended: the caller grants or returns nothing this time
}

void ProductDomain::lease_record(Batch& b, RecordType type, const ProductRow& row,
                                 std::uint32_t peer, std::int64_t units, std::uint64_t epoch) {
  Event ev{};
  ev.subject = row.id;
  ev.other = peer;
  ev.amount = units;
  ev.balance = row.total;
  ev.extra = static_cast<std::int64_t>(epoch);
  b.record(type, 0, ev);
}

// Appends a message to the lease edge to `to_cell` under the edge's next sequence (kept in the
// leases row (0, to_cell)); the link publishes lease_out rows above what the cell confirmed.
std::uint64_t ProductDomain::lease_send(Batch& b, std::uint32_t to_cell, const Message& message) {
  Message m = message;
  LeaseRow edge{};
  (void)leases_.get(b, Key2{0, to_cell}, edge);
  edge.peer = to_cell;
  ++edge.epoch;
  leases_.put(b, Key2{0, to_cell}, edge);
  m.header.sequence = edge.epoch;
  ipc::seal(m);
  lease_out_.put(b, Key2{to_cell, edge.epoch}, m);
  return edge.epoch;
}

// At the home: a cell asks for units. Granted only when the cell has loaded every earlier
// grant (granted_seen), so a repeated request grants nothing twice; the size shrinks with
// what the home still has (at most a 2*cells-th of it), so the end of a sale strands little.
void ProductDomain::lease_request(Batch& b, const Message& in) {
  const auto r = ipc::body_as<ipc::LeaseRequestBody>(in);
  const CellOptions& cell = options_.cell;
  if (deployment_ == nullptr || reconcile_wanted_)
    return b.reply_command(in, Domain::product, CommandResult::unavailable);
  if (!cell.owns(r.product_id) || r.from_cell >= cell.cells || r.from_cell == cell.cell ||
      r.home_cell != cell.cell)
    return b.reply_command(in, Domain::product, CommandResult::invalid_field);
  const ProductRow* found = products_.find(r.product_id);
  if (found == nullptr) return b.reply_command(in, Domain::product, CommandResult::not_found);
  LeaseRow lease{};
  if (!leases_.get(b, Key2{r.product_id, r.from_cell}, lease)) {
    lease.product_id = r.product_id;
    lease.peer = r.from_cell;
  }
  if (r.granted_seen != lease.granted)
    return b.reply_command(in, Domain::product, CommandResult::ok, 0, r.product_id);
  const std::int64_t available =
      deployment_->stock(static_cast<std::uint32_t>(r.product_id)).available.load();
  const std::int64_t size =
      std::min<std::int64_t>(r.want, std::max<std::int64_t>(1, available / (2 * cell.cells)));
  const std::int64_t take = take_available(r.product_id, size);
  if (take == 0) return b.reply_command(in, Domain::product, CommandResult::ok, 0, r.product_id);
  ProductRow row = *found;
  row.total -= take;
  row.updated_ns = b.now_ns();
  products_.put(b, row.id, row);
  publish(b, row);
  lease.granted += take;
  ++lease.epoch;
  lease.expires_ns = b.now_ns() + lease_ttl_ns;
  leases_.put(b, Key2{r.product_id, r.from_cell}, lease);
  lease_record(b, RecordType::lease_out, row, r.from_cell, take, lease.epoch);
  const ipc::LeaseGrantBody g{r.product_id,  cell.cell,   r.from_cell,     take,
                              lease.granted, lease.epoch, lease.expires_ns};
  (void)lease_send(
      b, r.from_cell,
      ipc::make_message(MessageType::lease_grant, Domain::product, Domain::product, g));
  b.reply_command(in, Domain::product, CommandResult::ok, 0, r.product_id, take);
}

// At another cell: the home's grant. Cumulative, so a duplicate adds nothing; the units reach
// the counter (an effect) only after the commit.
void ProductDomain::lease_grant(Batch& b, const Message& in) {
  const auto g = ipc::body_as<ipc::LeaseGrantBody>(in);
  const CellOptions& cell = options_.cell;
  if (cell.owns(g.product_id) || g.to_cell != cell.cell || g.home_cell >= cell.cells ||
      g.product_id % cell.cells != g.home_cell)
    return b.reply_command(in, Domain::product, CommandResult::invalid_field);
  const ProductRow* found = products_.find(g.product_id);
  if (found == nullptr) return b.reply_command(in, Domain::product, CommandResult::not_found);
  LeaseRow lease{};
  if (!leases_.get(b, Key2{g.product_id, g.home_cell}, lease)) {
    lease.product_id = g.product_id;
    lease.peer = g.home_cell;
  }
  if (g.granted_total <= lease.granted)
    return b.reply_command(in, Domain::product, CommandResult::ok, 0, g.product_id);
  const std::int64_t units = g.granted_total - lease.granted;
  ProductRow row = *found;
  row.total += units;
  row.updated_ns = b.now_ns();
  products_.put(b, row.id, row);
  publish(b, row);
  b.stock_add(static_cast<std::uint32_t>(row.id), units);
  lease.granted = g.granted_total;
  lease.epoch = g.epoch;
  lease.expires_ns = g.expires_ns;
  leases_.put(b, Key2{g.product_id, g.home_cell}, lease);
  lease_record(b, RecordType::lease_in, row, g.home_cell, units, g.epoch);
  b.reply_command(in, Domain::product, CommandResult::ok, 0, g.product_id, units);
}

void ProductDomain::lease_return(Batch& b, const Message& in) {
  const auto r = ipc::body_as<ipc::LeaseReturnBody>(in);
  if (options_.cell.owns(r.product_id)) return lease_credit(b, in);
  return lease_expire(b, in);
}

// At another cell, from its own link once the lease expired: every unsold unit leaves the
// counter (CAS) and the total, and goes back to the home.
void ProductDomain::lease_expire(Batch& b, const Message& in) {
  const auto r = ipc::body_as<ipc::LeaseReturnBody>(in);
  const CellOptions& cell = options_.cell;
  if (deployment_ == nullptr || reconcile_wanted_)
    return b.reply_command(in, Domain::product, CommandResult::unavailable);
  const std::uint32_t home = static_cast<std::uint32_t>(r.product_id % cell.cells);
  const ProductRow* found = products_.find(r.product_id);
  LeaseRow lease{};
  if (found == nullptr || !leases_.get(b, Key2{r.product_id, home}, lease))
    return b.reply_command(in, Domain::product, CommandResult::ok, 0, r.product_id);
  const std::int64_t take = take_available(r.product_id, found->total);
  if (take == 0) return b.reply_command(in, Domain::product, CommandResult::ok, 0, r.product_id);
  ProductRow row = *found;
  row.total -= take;
  row.updated_ns = b.now_ns();
  products_.put(b, row.id, row);
  publish(b, row);
  lease.returned += take;
  leases_.put(b, Key2{r.product_id, home}, lease);
  lease_record(b, RecordType::lease_out, row, home, take, lease.epoch);
  const ipc::LeaseReturnBody back{r.product_id, home, cell.cell, take, lease.returned, lease.epoch};
  (void)lease_send(
      b, home,
      ipc::make_message(MessageType::lease_return, Domain::product, Domain::product, back));
  b.reply_command(in, Domain::product, CommandResult::ok, 0, r.product_id, take);
}

// At the home: a cell sent unsold units back. Cumulative, so a duplicate adds nothing.
void ProductDomain::lease_credit(Batch& b, const Message& in) {
  const auto r = ipc::body_as<ipc::LeaseReturnBody>(in);
  const CellOptions& cell = options_.cell;
  if (r.from_cell >= cell.cells || r.from_cell == cell.cell || r.home_cell != cell.cell)
    return b.reply_command(in, Domain::product, CommandResult::invalid_field);
  const ProductRow* found = products_.find(r.product_id);
  LeaseRow lease{};
  if (found == nullptr || !leases_.get(b, Key2{r.product_id, r.from_cell}, lease))
    return b.reply_command(in, Domain::product, CommandResult::not_found);
  if (r.returned_total <= lease.returned)
    return b.reply_command(in, Domain::product, CommandResult::ok, 0, r.product_id);
  if (r.returned_total > lease.granted)
    return b.reply_command(in, Domain::product, CommandResult::invalid_field);
  const std::int64_t units = r.returned_total - lease.returned;
  ProductRow row = *found;
  row.total += units;
  row.updated_ns = b.now_ns();
  products_.put(b, row.id, row);
  publish(b, row);
  b.stock_add(static_cast<std::uint32_t>(row.id), units);
  lease.returned = r.returned_total;
  leases_.put(b, Key2{r.product_id, r.from_cell}, lease);
  lease_record(b, RecordType::lease_in, row, r.from_cell, units, r.epoch);
  b.reply_command(in, Domain::product, CommandResult::ok, 0, r.product_id, units);
}

}  // namespace flashsaga::domains
