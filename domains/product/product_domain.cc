#include "domains/product/product_domain.h"

#include <cstdio>

#include "domains/counters.h"
#include "engine/base/assert.h"
#include "engine/base/clock.h"
#include "ipc/segment.h"

namespace flashsaga::domains {
namespace {

using ipc::CommandResult;
using ipc::Domain;
using ipc::Message;
using ipc::MessageType;

constexpr std::int64_t reconcile_log_interval_ns = 5'000'000'000;

constexpr std::uint16_t f_name = product_field_name;
constexpr std::uint16_t f_price = product_field_price;
constexpr std::uint16_t f_stock = product_field_stock;
constexpr std::uint16_t f_max_per_user = product_field_max_per_user;
constexpr std::uint16_t f_window = product_field_window;

// Answers a command that changes nothing.
journal::Status refuse(Batch& b, const Message& in, CommandResult result, std::uint16_t field) {
  b.reply_command(in, Domain::product, result, field);
  return {};
}

bool valid_window(std::int64_t starts, std::int64_t ends) {
  return starts >= 0 && ends >= 0 && (starts == 0 || ends == 0 || starts < ends);
}

}  // namespace

journal::Status ProductDomain::recover(journal::Env& env, const journal::ReadTxn& txn) {
  t_products_ = env.table("products");
  t_steps_ = env.table("steps");
  t_counters_ = env.table("counters");
  journal::Status s = counter_get(txn, t_counters_, "next_product_id", next_product_id_);
  if (!s.ok()) return s;
  s = counter_get(txn, t_counters_, "last_order_seen", last_order_seen_);
  if (!s.ok()) return s;
  to_publish_.clear();
  to_set_available_.clear();
  reopen_intake_ = false;
  reconcile_ready_ = false;
  if (!deployment_) return {};
  // Whatever happened before (a fresh segment, or our own crash between a commit and its
  // add-back), the counters are recomputed before intake opens again.
  reconcile_wanted_ = true;
  reconcile_target_ = deployment_->control().reconcile_requested.load(std::memory_order_acquire);
  journal::Status inner;
  s = txn.scan(t_products_, {}, SIZE_MAX, [&](journal::Bytes, journal::Bytes value) {
    ProductRow row{};
    if (!journal::from_bytes(value, row)) {
      inner = journal::Status(journal::ErrorCode::corrupt, 0, "product row of another size");
      return false;
    }
    publish(row);
    return true;
  });
  return s.ok() ? inner : s;
}

void ProductDomain::publish(const ProductRow& row) {
  if (!deployment_ || row.id >= deployment_->geometry().products_max) return;
  ipc::StockSlot& slot = deployment_->stock(static_cast<std::uint32_t>(row.id));
  slot.price.store(row.price, std::memory_order_relaxed);
  slot.sale_starts_ns.store(row.sale_starts_ns, std::memory_order_relaxed);
  slot.sale_ends_ns.store(row.sale_ends_ns, std::memory_order_relaxed);
  slot.max_per_user.store(row.max_per_user, std::memory_order_relaxed);
  slot.total.store(row.total, std::memory_order_relaxed);
  slot.exists.store(1, std::memory_order_release);
}

bool ProductDomain::quiescent(std::string* waiting_for) {
  ipc::Deployment& d = *deployment_;
  for (std::uint32_t p = 0; p < d.geometry().ports; ++p) {
    ipc::PortSlot& port = d.port(p);
    const std::uint32_t pid = port.owner_pid.load(std::memory_order_acquire);
    const bool alive = pid != 0 && ipc::process_alive(pid, port.owner_start_ticks.load(std::memory_order_acquire));
    if (alive && port.inflight.load(std::memory_order_seq_cst) != 0) {
      *waiting_for = "port " + std::to_string(p) + " (pid " + std::to_string(pid) + ") has reservations in flight";
      return false;
    }
    if (d.ring(ipc::port_node(p), ipc::domain_node(Domain::order)).depth() != 0) {
      *waiting_for = "the order domain to drain port " + std::to_string(p) + "'s orders";
      return false;
    }
  }
  return true;
}

bool ProductDomain::before_batch() {
  to_publish_.clear();
  to_set_available_.clear();
  reopen_intake_ = false;
  if (!deployment_) return true;
  ipc::ControlBlock& c = deployment_->control();
  const std::uint64_t requested = c.reconcile_requested.load(std::memory_order_acquire);
  if (!reconcile_wanted_ && requested == c.reconcile_done.load(std::memory_order_acquire)) return true;
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
    std::fprintf(stderr, "flashsaga product: stock reconciliation waiting for %s; intake stays closed\n",
                 waiting_for.c_str());
  }
  return false;  // no input while reconciling: the recompute must see a still picture
}

bool ProductDomain::tick_due(std::int64_t) const noexcept { return reconcile_ready_; }

journal::Status ProductDomain::tick(Batch& b, std::size_t* work) {
  if (!reconcile_ready_) return {};
  ++*work;
  return reconcile(b);
}

journal::Status ProductDomain::reconcile(Batch& b) {
  // Units of orders the order domain journaled that we have not applied yet.
  std::vector<std::int64_t> unseen(static_cast<std::size_t>(next_product_id_) + 1, 0);
  const journal::ReadTxn* orders = b.peer(Domain::order);
  const journal::Env* order_env = b.peer_env(Domain::order);
  journal::Status s;
  if (orders && order_env) {
    journal::Status inner;
    s = orders->scan(order_env->table("orders"), journal::key_u64(last_order_seen_ + 1), SIZE_MAX,
                     [&](journal::Bytes, journal::Bytes value) {
                       OrderRow row{};
                       if (!journal::from_bytes(value, row)) {
                         inner = journal::Status(journal::ErrorCode::corrupt, 0, "order row of another size");
                         return false;
                       }
                       for (std::uint32_t i = 0; i < row.item_count; ++i)
                         if (row.items[i].product_id < unseen.size())
                           unseen[row.items[i].product_id] += row.items[i].quantity;
                       return true;
                     });
    if (!s.ok()) return s;
    if (!inner.ok()) return inner;
  }
  journal::Status inner;
  s = b.txn().scan(t_products_, {}, SIZE_MAX, [&](journal::Bytes, journal::Bytes value) {
    ProductRow row{};
    if (!journal::from_bytes(value, row)) {
      inner = journal::Status(journal::ErrorCode::corrupt, 0, "product row of another size");
      return false;
    }
    std::int64_t available = row.total - row.reserved - row.sold - unseen[row.id];
    if (available < 0) {
      std::fprintf(stderr, "flashsaga product: product %llu is oversold by %lld units; holding it at 0\n",
                   static_cast<unsigned long long>(row.id), static_cast<long long>(-available));
      available = 0;
    }
    const std::int64_t before = deployment_->stock(static_cast<std::uint32_t>(row.id)).available.load();
    if (before != available) {
      Event ev{};
      ev.subject = row.id;
      ev.amount = available;
      ev.balance = row.total;
      ev.extra = before;
      inner = b.record(RecordType::stock_reconciled, 0, ev);
      if (!inner.ok()) return false;
    }
    to_set_available_.push_back({static_cast<std::uint32_t>(row.id), available});
    return true;
  });
  if (!s.ok()) return s;
  if (!inner.ok()) return inner;
  reopen_intake_ = true;
  return {};
}

void ProductDomain::committed() {
  for (const ProductRow& row : to_publish_) publish(row);
  to_publish_.clear();
  if (!deployment_) return;
  for (const auto& [id, available] : to_set_available_)
    deployment_->stock(id).available.store(available, std::memory_order_release);
  to_set_available_.clear();
  if (reopen_intake_) {
    reopen_intake_ = false;
    reconcile_wanted_ = false;
    reconcile_ready_ = false;
    ++reconciliations_;
    ipc::ControlBlock& c = deployment_->control();
    c.reconcile_count.fetch_add(1, std::memory_order_relaxed);
    c.reconcile_done.store(reconcile_target_, std::memory_order_release);
    c.intake_open.store(1, std::memory_order_seq_cst);
  }
}

journal::Status ProductDomain::apply(Batch& b, const Message& in) {
  switch (static_cast<MessageType>(in.header.type)) {
    case MessageType::create_product: return create(b, in);
    case MessageType::update_product: return update(b, in);
    case MessageType::restock: return restock(b, in);
    case MessageType::order_placed: return order_placed(b, in);
    case MessageType::order_completed: return order_finished(b, in, true);
    case MessageType::order_cancelled: return order_finished(b, in, false);
    default: return {};
  }
}

journal::Status ProductDomain::create(Batch& b, const Message& in) {
  const auto c = ipc::body_as<ipc::CreateProductBody>(in);
  if (c.name.view().empty()) return refuse(b, in, CommandResult::invalid_field, f_name);
  if (c.price < 0 || c.price > money_max) return refuse(b, in, CommandResult::invalid_field, f_price);
  if (c.stock < 0 || c.stock > stock_max) return refuse(b, in, CommandResult::invalid_field, f_stock);
  if (c.max_per_user > quantity_max)
    return refuse(b, in, CommandResult::invalid_field, f_max_per_user);
  if (!valid_window(c.sale_starts_ns, c.sale_ends_ns))
    return refuse(b, in, CommandResult::invalid_field, f_window);
  const std::uint64_t limit = deployment_ ? deployment_->geometry().products_max : options_.products_max;
  if (next_product_id_ + 1 >= limit) return refuse(b, in, CommandResult::unavailable, 0);
  ProductRow row{};
  row.id = next_product_id_ + 1;
  row.price = c.price;
  row.total = c.stock;
  row.sale_starts_ns = c.sale_starts_ns;
  row.sale_ends_ns = c.sale_ends_ns;
  row.max_per_user = c.max_per_user;
  row.created_ns = b.now_ns();
  row.updated_ns = b.now_ns();
  row.name = c.name;
  journal::Status s = b.txn().put_as(t_products_, journal::key_u64(row.id), row);
  if (!s.ok()) return s;
  if (!(s = counter_put(b.txn(), t_counters_, "next_product_id", row.id)).ok()) return s;
  if (!(s = b.record(RecordType::product_created, 0, row)).ok()) return s;
  next_product_id_ = row.id;
  to_publish_.push_back(row);
  // Nobody could reserve a product that did not exist: setting its counter is safe.
  to_set_available_.push_back({static_cast<std::uint32_t>(row.id), row.total});
  b.reply_command(in, Domain::product, CommandResult::ok, 0, row.id);
  return {};
}

journal::Status ProductDomain::update(Batch& b, const Message& in) {
  const auto u = ipc::body_as<ipc::UpdateProductBody>(in);
  ProductRow row{};
  journal::Status s = b.txn().get_as(t_products_, journal::key_u64(u.product_id), row);
  if (s.code() == journal::ErrorCode::not_found) return refuse(b, in, CommandResult::not_found, 0);
  if (!s.ok()) return s;
  if (u.set_name) {
    if (u.name.view().empty()) return refuse(b, in, CommandResult::invalid_field, f_name);
    row.name = u.name;
  }
  if (u.set_price) {
    if (u.price < 0 || u.price > money_max) return refuse(b, in, CommandResult::invalid_field, f_price);
    row.price = u.price;
  }
  if (u.set_max_per_user) {
    if (u.max_per_user > quantity_max)
      return refuse(b, in, CommandResult::invalid_field, f_max_per_user);
    row.max_per_user = u.max_per_user;
  }
  if (u.set_sale_starts) row.sale_starts_ns = u.sale_starts_ns;
  if (u.set_sale_ends) row.sale_ends_ns = u.sale_ends_ns;
  if (!valid_window(row.sale_starts_ns, row.sale_ends_ns))
    return refuse(b, in, CommandResult::invalid_field, f_window);
  row.updated_ns = b.now_ns();
  if (!(s = b.txn().put_as(t_products_, journal::key_u64(row.id), row)).ok()) return s;
  if (!(s = b.record(RecordType::product_updated, 0, row)).ok()) return s;
  to_publish_.push_back(row);
  b.reply_command(in, Domain::product, CommandResult::ok, 0, row.id);
  return {};
}

journal::Status ProductDomain::restock(Batch& b, const Message& in) {
  const auto r = ipc::body_as<ipc::RestockBody>(in);
  ProductRow row{};
  journal::Status s = b.txn().get_as(t_products_, journal::key_u64(r.product_id), row);
  if (s.code() == journal::ErrorCode::not_found) return refuse(b, in, CommandResult::not_found, 0);
  if (!s.ok()) return s;
  if (r.quantity < 1 || r.quantity > stock_max || row.total + r.quantity > stock_max)
    return refuse(b, in, CommandResult::invalid_field, f_stock);
  row.total += r.quantity;
  row.updated_ns = b.now_ns();
  if (!(s = b.txn().put_as(t_products_, journal::key_u64(row.id), row)).ok()) return s;
  Event ev{};
  ev.subject = row.id;
  ev.amount = r.quantity;
  ev.balance = row.total;
  if (!(s = b.record(RecordType::product_restocked, 0, ev)).ok()) return s;
  to_publish_.push_back(row);
  b.stock_delta(static_cast<std::uint32_t>(row.id), r.quantity);
  b.reply_command(in, Domain::product, CommandResult::ok, 0, row.id);
  return {};
}

journal::Status ProductDomain::adjust(Batch& b, const ipc::LineItem& item, std::uint64_t order_id,
                                      std::int64_t reserved_delta, std::int64_t sold_delta, RecordType type) {
  ProductRow row{};
  journal::Status s = b.txn().get_as(t_products_, journal::key_u64(item.product_id), row);
  if (s.code() == journal::ErrorCode::not_found) return {};  // the order domain refused such orders
  if (!s.ok()) return s;
  row.reserved += reserved_delta;
  row.sold += sold_delta;
  FS_ASSERT(row.reserved >= 0);
  FS_ASSERT(row.sold >= 0);
  if (!(s = b.txn().put_as(t_products_, journal::key_u64(row.id), row)).ok()) return s;
  Event ev{};
  ev.subject = row.id;
  ev.amount = item.quantity;
  ev.balance = row.total - row.reserved - row.sold;  // what the journal says is available
  ev.extra = item.unit_price;
  return b.record(type, order_id, ev);
}

journal::Status ProductDomain::order_placed(Batch& b, const Message& in) {
  const std::uint64_t order_id = in.header.order_id;
  ProductStep step{};
  journal::Status s = b.txn().get_as(t_steps_, journal::key_u64(order_id), step);
  if (s.ok()) return {};  // duplicate, or the cancel came first: nothing to do
  if (s.code() != journal::ErrorCode::not_found) return s;
  const auto p = ipc::body_as<ipc::OrderPlacedBody>(in);
  step.user_id = p.user_id;
  step.state = static_cast<std::uint8_t>(StepState::reserved);
  step.item_count = p.item_count;
  step.items = p.items;
  for (std::uint32_t i = 0; i < p.item_count; ++i)
    if (!(s = adjust(b, p.items[i], order_id, p.items[i].quantity, 0, RecordType::stock_reserved)).ok()) return s;
  if (!(s = b.txn().put_as(t_steps_, journal::key_u64(order_id), step)).ok()) return s;
  if (order_id > last_order_seen_) {
    last_order_seen_ = order_id;
    if (!(s = counter_put(b.txn(), t_counters_, "last_order_seen", last_order_seen_)).ok()) return s;
  }
  return {};
}

journal::Status ProductDomain::order_finished(Batch& b, const Message& in, bool completed) {
  const std::uint64_t order_id = in.header.order_id;
  const auto f = ipc::body_as<ipc::OrderFinishedBody>(in);
  ProductStep step{};
  journal::Status s = b.txn().get_as(t_steps_, journal::key_u64(order_id), step);
  if (s.code() == journal::ErrorCode::not_found) {
    if (completed) return {};
    step.user_id = f.user_id;
    step.state = static_cast<std::uint8_t>(StepState::cancelled_before_apply);
    Event ev{};
    ev.state = step.state;
    if (!(s = b.record(RecordType::stock_cancelled_before_apply, order_id, ev)).ok()) return s;
    return b.txn().put_as(t_steps_, journal::key_u64(order_id), step);
  }
  if (!s.ok()) return s;
  const auto state = static_cast<StepState>(step.state);
  if (completed) {
    if (state != StepState::reserved) return {};  // duplicate
    for (std::uint32_t i = 0; i < step.item_count; ++i) {
      const std::int64_t q = step.items[i].quantity;
      if (!(s = adjust(b, step.items[i], order_id, -q, q, RecordType::stock_sold)).ok()) return s;
    }
    step.state = static_cast<std::uint8_t>(StepState::sold);
  } else {
    if (state != StepState::reserved && state != StepState::sold) return {};  // nothing held
    const bool sold = state == StepState::sold;
    for (std::uint32_t i = 0; i < step.item_count; ++i) {
      const std::int64_t q = step.items[i].quantity;
      if (!(s = adjust(b, step.items[i], order_id, sold ? 0 : -q, sold ? -q : 0, RecordType::stock_released)).ok())
        return s;
      b.stock_delta(step.items[i].product_id, q);
    }
    step.state = static_cast<std::uint8_t>(StepState::released);
  }
  return b.txn().put_as(t_steps_, journal::key_u64(order_id), step);
}

}  // namespace flashsaga::domains
