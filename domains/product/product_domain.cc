#include "domains/product/product_domain.h"

#include <cstdio>

#include "domains/steps.h"
#include "engine/base/assert.h"
#include "engine/base/clock.h"
#include "ipc/segment.h"

namespace flashsaga::domains {
namespace {

using ipc::CommandResult;
using ipc::Domain;
using ipc::Message;
using ipc::MessageType;

constexpr std::uint16_t tag_products = 0;
constexpr std::uint16_t tag_steps = 1;
constexpr std::uint16_t tag_leases = 2;
constexpr std::uint16_t tag_lease_out = 3;
constexpr std::int64_t reconcile_log_interval_ns = 5'000'000'000;

bool valid_window(std::int64_t starts, std::int64_t ends) {
  return starts >= 0 && ends >= 0 && (starts == 0 || ends == 0 || starts < ends);
}

void refuse(Batch& b, const Message& in, CommandResult result, std::uint16_t field) {
  b.reply_command(in, Domain::product, result, field);
}

}  // namespace

ProductDomain::ProductDomain(const ProductOptions& options, ipc::Deployment* deployment)
    : options_(options), deployment_(deployment), steps_(options.window) {
  products_.set_coalescing(true);  // a hot product changes with every order of a batch
}

journal::Status ProductDomain::load(const journal::Env& view, const journal::ReadTxn& txn) {
  products_.bind(tag_products, view.table("products"));
  steps_.bind(tag_steps, view.table("steps"));
  if (journal::Status s = products_.load(txn); !s.ok()) return s;
  if (journal::Status s = steps_.load(txn); !s.ok()) return s;
  leases_.bind(tag_leases, view.table("leases"));
  lease_out_.bind(tag_lease_out, view.table("lease_out"));
  if (journal::Status s = leases_.load(txn); !s.ok()) return s;
  if (journal::Status s = last_order_seen_.load(view, txn); !s.ok()) return s;
  reconcile_ready_ = false;
  if (deployment_ == nullptr) return {};
  // The rows are durable: publish them now, so ports know the catalog; the counters are
  // recomputed (reconciliation) before intake opens again, whatever happened before.
  products_.for_each([&](std::uint64_t id, const ProductRow& row) {
    if (id >= deployment_->geometry().products_max) return;
    ipc::StockSlot& slot = deployment_->stock(static_cast<std::uint32_t>(id));
    slot.price.store(row.price, std::memory_order_relaxed);
    slot.sale_starts_ns.store(row.sale_starts_ns, std::memory_order_relaxed);
    slot.sale_ends_ns.store(row.sale_ends_ns, std::memory_order_relaxed);
    slot.max_per_user.store(row.max_per_user, std::memory_order_relaxed);
    slot.total.store(row.total, std::memory_order_relaxed);
    slot.exists.store(1, std::memory_order_release);
  });
  reconcile_wanted_ = true;
  reconcile_target_ = deployment_->control().reconcile_requested.load(std::memory_order_acquire);
  return {};
}

void ProductDomain::publish(Batch& b, const ProductRow& row) {
  Effect e{};
  e.kind = Effect::Kind::product_publish;
  e.product_id = static_cast<std::uint32_t>(row.id);
  e.product = row;
  b.effect(e);
}

bool ProductDomain::quiescent(std::string* waiting_for) {
  ipc::Deployment& d = *deployment_;
  for (std::uint32_t p = 0; p < d.geometry().ports; ++p) {
    ipc::PortSlot& port = d.port(p);
    const std::uint32_t pid = port.owner_pid.load(std::memory_order_acquire);
    const bool alive =
        pid != 0 && ipc::process_alive(pid, port.owner_start_ticks.load(std::memory_order_acquire));
    if (alive && port.inflight.load(std::memory_order_seq_cst) != 0) {
      *waiting_for = "port " + std::to_string(p) + " (pid " + std::to_string(pid) +
                     ") has reservations in flight";
      return false;
    }
    // Depth counts what the order domain has not released, and it releases a port's slots
    // only after the batch that read them is journaled and in its view.
    if (d.ring(ipc::port_node(p), ipc::domain_node(Domain::order)).depth() != 0) {
      *waiting_for = "the order domain to drain port " + std::to_string(p) + "'s orders";
      return false;
    }
  }
  return true;
}

bool ProductDomain::before_batch() {
  if (deployment_ == nullptr) return true;
  ipc::ControlBlock& c = deployment_->control();
  const std::uint64_t requested = c.reconcile_requested.load(std::memory_order_acquire);
  if (!reconcile_wanted_ && requested == c.reconcile_done.load(std::memory_order_acquire))
    return true;
  const std::int64_t now = mono_now_ns();
  if (!reconcile_wanted_) {
    reconcile_wanted_ = true;
    reconcile_target_ = requested;
    reconcile_waiting_since_ns_ = now;
  }
  // Close the gate first (seq_cst), then look at every port's in-flight count (seq_cst):
  // the other half of the Dekker pattern in engine/stock.cc.
  c.intake_open.store(0, std::memory_order_seq_cst);
  std::string waiting_for;
  reconcile_ready_ = quiescent(&waiting_for);
  if (!reconcile_ready_ && now - reconcile_logged_ns_ > reconcile_log_interval_ns &&
      now - reconcile_waiting_since_ns_ > reconcile_log_interval_ns) {
    reconcile_logged_ns_ = now;
    std::fprintf(stderr,
                 "flashsaga product: stock reconciliation waiting for %s; intake stays closed\n",
                 waiting_for.c_str());
  }
  // While waiting, keep applying what the order domain sends (else a full order->product ring
  // could keep the order domain from draining the ports we wait for). The batch that
  // recomputes takes no input: it must see a still picture.
  return !reconcile_ready_;
}

std::size_t ProductDomain::tick(Batch& b) {
  if (!reconcile_ready_) return 0;
  reconcile(b);
  return 1;
}

void ProductDomain::reconcile(Batch& b) {
  // Units of orders the order domain journaled that no Reservations message counted yet.
  unseen_.assign(static_cast<std::size_t>(products_.max_id()) + 1, 0);
  const journal::ReadTxn* orders = b.peer(Domain::order);
  const journal::Env* order_view = b.peer_env(Domain::order);
  if (orders != nullptr && order_view != nullptr) {
    journal::Status s =
        orders->scan(order_view->table("orders"),
                     journal::as_bytes(journal::key_u64(last_order_seen_.value() + 1)), SIZE_MAX,
                     [&](journal::Bytes, journal::Bytes value) {
                       OrderRow row{};
                       if (!journal::from_bytes(value, row)) return false;
                       for (std::uint32_t i = 0; i < row.item_count; ++i)
                         if (row.items[i].product_id < unseen_.size())
                           unseen_[row.items[i].product_id] += row.items[i].quantity;
                       return true;
                     });
    if (!s.ok()) state_read_failed("order view", s);
  }
  products_.for_each([&](std::uint64_t id, const ProductRow& row) {
    std::int64_t available = row.total - row.reserved - row.sold - unseen_[id];
    if (available < 0) {
      std::fprintf(stderr,
                   "flashsaga product: product %llu is oversold by %lld units; holding it at 0\n",
                   static_cast<unsigned long long>(id), static_cast<long long>(-available));
      available = 0;
    }
    const std::int64_t before = deployment_->stock(static_cast<std::uint32_t>(id)).available.load();
    if (before != available) {
      Event ev{};
      ev.subject = id;
      ev.amount = available;
      ev.balance = row.total;
      ev.extra = before;
      b.record(RecordType::stock_reconciled, 0, ev);
    }
    publish(b, row);
    b.effect(Effect{Effect::Kind::stock_set, static_cast<std::uint32_t>(id), available, {}});
  });
  b.effect(Effect{Effect::Kind::intake_open, 0, static_cast<std::int64_t>(reconcile_target_), {}});
  reconcile_wanted_ = false;
  reconcile_ready_ = false;
  ++reconciliations_;
}

void ProductDomain::apply(Batch& b, const Message& in) {
  switch (static_cast<MessageType>(in.header.type)) {
    case MessageType::create_product:
      return create(b, in);
    case MessageType::replicate_product:
      return replicate(b, in);
    case MessageType::update_product:
      return update(b, in);
    case MessageType::restock:
      return restock(b, in);
    case MessageType::reservations:
      return reservations(b, in);
    case MessageType::order_completed:
      return order_finished(b, in, true);
    case MessageType::order_cancelled:
      return order_finished(b, in, false);
    case MessageType::lease_request:
      return lease_request(b, in);
    case MessageType::lease_grant:
      return lease_grant(b, in);
    case MessageType::lease_return:
      return lease_return(b, in);
    default:
      return;
  }
}

// The catalog row a create (or another cell's replica) makes now: both bodies name the
// fields alike.
template <class Body>
ProductRow catalog_row(std::uint64_t id, const Body& c, std::int64_t total, std::int64_t now_ns) {
  ProductRow row{};
  row.id = id;
  row.price = c.price;
  row.total = total;
  row.sale_starts_ns = c.sale_starts_ns;
  row.sale_ends_ns = c.sale_ends_ns;
  row.max_per_user = c.max_per_user;
  row.created_ns = now_ns;
  row.updated_ns = now_ns;
  row.name = c.name;
  return row;
}

void ProductDomain::create(Batch& b, const Message& in) {
  const auto c = ipc::body_as<ipc::CreateProductBody>(in);
  if (c.name.view().empty()) return refuse(b, in, CommandResult::invalid_field, product_field_name);
  if (c.price < 0 || c.price > money_max)
    return refuse(b, in, CommandResult::invalid_field, product_field_price);
  if (c.stock < 0 || c.stock > stock_max)
    return refuse(b, in, CommandResult::invalid_field, product_field_stock);
  if (c.max_per_user > quantity_max)
    return refuse(b, in, CommandResult::invalid_field, product_field_max_per_user);
  if (!valid_window(c.sale_starts_ns, c.sale_ends_ns))
    return refuse(b, in, CommandResult::invalid_field, product_field_window);
  const std::uint64_t limit =
      deployment_ ? deployment_->geometry().products_max : options_.products_max;
  const std::uint64_t id = options_.cell.own_id_from(products_.max_id() + 1);
  if (id >= limit) return refuse(b, in, CommandResult::unavailable, 0);
  add_product(b, catalog_row(id, c, c.stock, b.now_ns()));
  b.reply_command(in, Domain::product, CommandResult::ok, 0, id);
}

// Another cell's product (engine/cells): the catalog row under its home's id, with no stock of
// its own here (this cell sells only units leased to it). Applying it twice is a no-op, so a
// redelivered replica is answered ok again.
void ProductDomain::replicate(Batch& b, const Message& in) {
  const auto c = ipc::body_as<ipc::ReplicateProductBody>(in);
  const std::uint64_t limit =
      deployment_ ? deployment_->geometry().products_max : options_.products_max;
  if (c.product_id >= limit || options_.cell.owns(c.product_id) || c.name.view().empty() ||
      c.price < 0 || c.price > money_max || c.max_per_user > quantity_max ||
      !valid_window(c.sale_starts_ns, c.sale_ends_ns))
    return refuse(b, in, CommandResult::invalid_field, 0);
  if (products_.contains(c.product_id))
    return b.reply_command(in, Domain::product, CommandResult::ok, 0, c.product_id);
  add_product(b, catalog_row(c.product_id, c, 0, b.now_ns()));
  b.reply_command(in, Domain::product, CommandResult::ok, 0, c.product_id);
}

// A new catalog row: stored, journaled, announced, and its stock counter set. Nobody could
// reserve a product that did not exist, so setting its counter is safe.
void ProductDomain::add_product(Batch& b, const ProductRow& row) {
  products_.put(b, row.id, row);
  b.record(RecordType::product_created, 0, row);
  publish(b, row);
  b.effect(Effect{Effect::Kind::stock_set, static_cast<std::uint32_t>(row.id), row.total, {}});
}

void ProductDomain::update(Batch& b, const Message& in) {
  const auto u = ipc::body_as<ipc::UpdateProductBody>(in);
  const ProductRow* found = products_.find(u.product_id);
  if (found == nullptr) return refuse(b, in, CommandResult::not_found, 0);
  ProductRow row = *found;
  if (u.set_name) {
    if (u.name.view().empty())
      return refuse(b, in, CommandResult::invalid_field, product_field_name);
    row.name = u.name;
  }
  if (u.set_price) {
    if (u.price < 0 || u.price > money_max)
      return refuse(b, in, CommandResult::invalid_field, product_field_price);
    row.price = u.price;
  }
  if (u.set_max_per_user) {
    if (u.max_per_user > quantity_max)
      return refuse(b, in, CommandResult::invalid_field, product_field_max_per_user);
    row.max_per_user = u.max_per_user;
  }
  if (u.set_sale_starts) row.sale_starts_ns = u.sale_starts_ns;
  if (u.set_sale_ends) row.sale_ends_ns = u.sale_ends_ns;
  if (!valid_window(row.sale_starts_ns, row.sale_ends_ns))
    return refuse(b, in, CommandResult::invalid_field, product_field_window);
  row.updated_ns = b.now_ns();
  products_.put(b, row.id, row);
  b.record(RecordType::product_updated, 0, row);
  publish(b, row);
  b.reply_command(in, Domain::product, CommandResult::ok, 0, row.id);
}

void ProductDomain::restock(Batch& b, const Message& in) {
  const auto r = ipc::body_as<ipc::RestockBody>(in);
  const ProductRow* found = products_.find(r.product_id);
  if (found == nullptr) return refuse(b, in, CommandResult::not_found, 0);
  ProductRow row = *found;
  if (r.quantity < 1 || r.quantity > stock_max || row.total + r.quantity > stock_max)
    return refuse(b, in, CommandResult::invalid_field, product_field_stock);
  row.total += r.quantity;
  row.updated_ns = b.now_ns();
  products_.put(b, row.id, row);
  Event ev{};
  ev.subject = row.id;
  ev.amount = r.quantity;
  ev.balance = row.total;
  b.record(RecordType::product_restocked, 0, ev);
  publish(b, row);
  b.stock_add(static_cast<std::uint32_t>(row.id), r.quantity);
  b.reply_command(in, Domain::product, CommandResult::ok, 0, row.id);
}

void ProductDomain::reservations(Batch& b, const Message& in) {
  const auto r = ipc::body_as<ipc::ReservationsBody>(in);
  for (std::uint32_t i = 0; i < r.count; ++i) {
    const ipc::ReservedUnits& units = r.products[i];
    const ProductRow* found = products_.find(units.product_id);
    if (found == nullptr) continue;  // the order domain refuses orders of unknown products
    ProductRow row = *found;
    row.reserved += units.units;
    FS_ASSERT(row.reserved + row.sold <= row.total);  // the door never reserves more than there is
    products_.put(b, row.id, row);
    Event ev{};
    ev.subject = row.id;
    ev.other = r.last_order_id;
    ev.amount = units.units;
    ev.balance = row.total - row.reserved - row.sold;  // what the journal says is available
    b.record(RecordType::stock_reserved, 0, ev);
  }
  if (r.last_order_id > last_order_seen_.value()) last_order_seen_.set(b, r.last_order_id);
}

void ProductDomain::adjust(Batch& b, const ipc::LineItem& item, std::uint64_t order_id,
                           std::int64_t reserved_delta, std::int64_t sold_delta, RecordType type) {
  const ProductRow* found = products_.find(item.product_id);
  if (found == nullptr) return;  // the order domain refused such orders
  ProductRow row = *found;
  row.reserved += reserved_delta;
  row.sold += sold_delta;
  FS_ASSERT(row.reserved >= 0);
  FS_ASSERT(row.sold >= 0);
  products_.put(b, row.id, row);
  Event ev{};
  ev.subject = row.id;
  ev.amount = item.quantity;
  ev.balance = row.total - row.reserved - row.sold;
  ev.extra = item.unit_price;
  b.record(type, order_id, ev);
}

void ProductDomain::order_finished(Batch& b, const Message& in, bool completed) {
  const std::uint64_t order_id = in.header.order_id;
  const auto f = ipc::body_as<ipc::OrderFinishedBody>(in);
  ProductStep step{};
  const bool found = steps_.get(b, order_id, step);
  const auto state = found ? static_cast<StepState>(step.state) : StepState::reserved;
  if (completed) {
    if (state != StepState::reserved) return;  // a duplicate
    // The stock step's table (domains/steps.h), which the checker replays the journal through.
    FS_ASSERT(step_transition_allowed(OrderStep::stock, state, RecordType::stock_sold));
    for (std::uint32_t i = 0; i < f.item_count; ++i)
      adjust(b, f.items[i], order_id, -std::int64_t{f.items[i].quantity}, f.items[i].quantity,
             RecordType::stock_sold);
    step.state = static_cast<std::uint8_t>(StepState::sold);
  } else {
    if (state != StepState::reserved && state != StepState::sold) return;  // given back already
    FS_ASSERT(step_transition_allowed(OrderStep::stock, state, RecordType::stock_released));
    const bool sold = state == StepState::sold;
    for (std::uint32_t i = 0; i < f.item_count; ++i) {
      const std::int64_t q = f.items[i].quantity;
      adjust(b, f.items[i], order_id, sold ? 0 : -q, sold ? -q : 0, RecordType::stock_released);
      b.stock_add(f.items[i].product_id, q);
    }
    step.state = static_cast<std::uint8_t>(StepState::released);
  }
  step.user_id = f.user_id;
  step.item_count = f.item_count;
  step.items = f.items;
  steps_.put(b, order_id, step);
}

}  // namespace flashsaga::domains
