#include "engine/client.h"

#include <future>
#include <thread>

#include "domains/journal_open.h"
#include "domains/rows.h"
#include "engine/base/clock.h"

namespace flashsaga::engine {
namespace {

using ipc::Domain;
using ipc::MessageType;

constexpr std::int64_t poll_interval_ns = 1'000'000;

CommandOutcome outcome_of(const PortReply& r) {
  CommandOutcome o;
  o.timed_out = r.timed_out;
  if (r.timed_out) return o;
  const auto b = ipc::body_as<ipc::CommandReplyBody>(r.message);
  o.result = static_cast<ipc::CommandResult>(b.result);
  o.field = b.field;
  o.id = b.entity_id;
  o.value = b.value;
  return o;
}

}  // namespace

bool Client::connect(const Config& config, std::unique_ptr<Client>& out, std::string* error,
                     const PortOptions& port_options) {
  std::unique_ptr<Client> c(new Client());
  c->config_ = config;
  if (!ipc::Deployment::attach(config.data_dir, config.geometry, c->deployment_, error))
    return false;
  if (!Port::open(*c->deployment_, port_options, c->port_, error)) return false;
  c->port_->start();
  out = std::move(c);
  return true;
}

Client::~Client() {
  if (port_) port_->stop();
}

CommandOutcome Client::run(Domain to, const ipc::Message& command) {
  auto done = std::make_shared<std::promise<CommandOutcome>>();
  std::future<CommandOutcome> result = done->get_future();
  if (!port_->submit(to, command, [done](const PortReply& r) { done->set_value(outcome_of(r)); })) {
    CommandOutcome busy;
    busy.result = ipc::CommandResult::unavailable;
    return busy;
  }
  return result.get();
}

CommandOutcome Client::create_user(std::string_view name, std::string_view email) {
  ipc::CreateUserBody b{};
  if (!b.name.assign(name) || !b.email.assign(email))
    return {false, ipc::CommandResult::invalid_field, 0, 0, 0};
  return run(Domain::user,
             ipc::make_message(MessageType::create_user, Domain::port, Domain::user, b));
}

CommandOutcome Client::block_user(std::uint64_t user_id, bool blocked) {
  ipc::UpdateUserBody b{};
  b.user_id = user_id;
  b.set_blocked = 1;
  b.blocked = blocked ? 1 : 0;
  return run(Domain::user,
             ipc::make_message(MessageType::update_user, Domain::port, Domain::user, b));
}

CommandOutcome Client::accrue_points(std::uint64_t user_id, std::int64_t amount,
                                     std::string_view reason) {
  ipc::AccruePointsBody b{};
  b.user_id = user_id;
  b.amount = amount;
  if (!b.reason.assign(reason)) return {false, ipc::CommandResult::invalid_field, 0, 0, 0};
  return run(Domain::point,
             ipc::make_message(MessageType::accrue_points, Domain::port, Domain::point, b));
}

CommandOutcome Client::deposit(std::uint64_t user_id, std::int64_t amount) {
  return run(Domain::payment, ipc::make_message(MessageType::deposit, Domain::port, Domain::payment,
                                                ipc::DepositBody{user_id, amount}));
}

CommandOutcome Client::create_product(std::string_view name, std::int64_t price, std::int64_t stock,
                                      std::uint32_t max_per_user, std::int64_t sale_starts_ns,
                                      std::int64_t sale_ends_ns) {
  ipc::CreateProductBody b{};
  b.price = price;
  b.stock = stock;
  b.max_per_user = max_per_user;
  b.sale_starts_ns = sale_starts_ns;
  b.sale_ends_ns = sale_ends_ns;
  if (!b.name.assign(name)) return {false, ipc::CommandResult::invalid_field, 0, 0, 0};
  return run(Domain::product,
             ipc::make_message(MessageType::create_product, Domain::port, Domain::product, b));
}

CommandOutcome Client::restock(std::uint64_t product_id, std::int64_t quantity) {
  return run(Domain::product, ipc::make_message(MessageType::restock, Domain::port, Domain::product,
                                                ipc::RestockBody{product_id, quantity}));
}

CommandOutcome Client::create_coupon_template(ipc::CouponKind kind, std::int64_t value,
                                              std::int64_t quantity, std::int64_t min_order_amount,
                                              std::int64_t max_discount, std::int64_t expires_at_ns,
                                              std::string_view name) {
  ipc::CreateCouponTemplateBody b{};
  b.kind = static_cast<std::uint8_t>(kind);
  b.value = value;
  b.quantity = quantity;
  b.min_order_amount = min_order_amount;
  b.max_discount = max_discount;
  b.expires_at_ns = expires_at_ns;
  if (!b.name.assign(name)) return {false, ipc::CommandResult::invalid_field, 0, 0, 0};
  return run(Domain::coupon, ipc::make_message(MessageType::create_coupon_template, Domain::port,
                                               Domain::coupon, b));
}

CommandOutcome Client::issue_coupon(std::uint64_t template_id, std::uint64_t user_id) {
  return run(Domain::coupon,
             ipc::make_message(MessageType::issue_coupon, Domain::port, Domain::coupon,
                               ipc::IssueCouponBody{template_id, user_id}));
}

PlaceOutcome Client::place_order(std::uint64_t user_id, std::initializer_list<Item> items,
                                 std::uint64_t coupon_id, std::int64_t points,
                                 std::uint64_t idempotency_key) {
  PlaceRequest req;
  req.user_id = user_id;
  req.coupon_id = coupon_id;
  req.points = points;
  req.idempotency_key = idempotency_key;
  for (const Item& it : items) {
    if (req.item_count == line_items_max) break;
    req.items[req.item_count++] = ipc::LineItem{it.product_id, it.quantity, 0};
  }
  return place_order(req);
}

PlaceOutcome Client::place_order(const PlaceRequest& request) {
  auto done = std::make_shared<std::promise<PortReply>>();
  std::future<PortReply> reply = done->get_future();
  const PlaceNow now =
      port_->place_order(request, [done](const PortReply& r) { done->set_value(r); });
  PlaceOutcome o;
  o.now = now.status;
  o.failed_item = now.failed_item;
  if (now.status != PlaceStatus::submitted) return o;
  const PortReply r = reply.get();
  o.timed_out = r.timed_out;
  if (r.timed_out) return o;
  const auto b = ipc::body_as<ipc::PlaceOrderReplyBody>(r.message);
  o.result = static_cast<ipc::PlaceResult>(b.result);
  o.reason = static_cast<ipc::OrderReason>(b.reason);
  o.order_id = r.message.header.order_id;
  return o;
}

PlaceOutcome Client::cancel_order(std::uint64_t order_id, ipc::OrderReason reason) {
  ipc::CancelOrderBody b{};
  b.reason = static_cast<std::uint8_t>(reason);
  ipc::Message m = ipc::make_message(MessageType::cancel_order, Domain::port, Domain::order, b);
  m.header.order_id = order_id;
  auto done = std::make_shared<std::promise<PortReply>>();
  std::future<PortReply> reply = done->get_future();
  PlaceOutcome o;
  if (!port_->submit(Domain::order, m, [done](const PortReply& r) { done->set_value(r); })) {
    o.now = PlaceStatus::overloaded;
    return o;
  }
  const PortReply r = reply.get();
  o.timed_out = r.timed_out;
  if (r.timed_out) return o;
  const auto rb = ipc::body_as<ipc::PlaceOrderReplyBody>(r.message);
  o.result = static_cast<ipc::PlaceResult>(rb.result);
  o.reason = static_cast<ipc::OrderReason>(rb.reason);
  o.order_id = r.message.header.order_id;
  return o;
}

journal::Env* Client::env(Domain domain) {
  std::lock_guard<std::mutex> lock(envs_mutex_);
  auto& slot = envs_[static_cast<std::size_t>(domain)];
  if (!slot) {
    if (!domains::open_view_read_only(config_.data_dir, domain, slot).ok()) slot.reset();
  }
  return slot.get();
}

bool Client::read_bytes(Domain domain, std::string_view table, journal::Bytes key, void* out,
                        std::size_t size) {
  journal::Env* e = env(domain);
  if (!e) return false;
  journal::ReadTxn txn;
  if (!e->begin_read(txn).ok()) return false;
  journal::Bytes value;
  if (!txn.get(e->table(table), key, value).ok() || value.size() != size) return false;
  std::memcpy(out, value.data(), size);
  return true;
}

std::optional<domains::OrderRow> Client::order(std::uint64_t order_id) {
  domains::OrderRow row{};
  if (!read(Domain::order, "orders", journal::key_u64(order_id), row)) return std::nullopt;
  return row;
}

bool Client::wait_terminal(std::uint64_t order_id, std::int64_t timeout_ms,
                           domains::OrderRow* out) {
  const std::int64_t deadline = mono_now_ns() + timeout_ms * 1'000'000;
  while (true) {
    auto row = order(order_id);
    if (row && (row->status == static_cast<std::uint8_t>(domains::OrderStatus::completed) ||
                row->status == static_cast<std::uint8_t>(domains::OrderStatus::cancelled))) {
      if (out) *out = *row;
      return true;
    }
    if (mono_now_ns() > deadline) {
      if (out && row) *out = *row;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::nanoseconds(poll_interval_ns));
  }
}

std::optional<domains::Wallet> Client::wallet(std::uint64_t user_id) {
  domains::Wallet w{};
  if (!read(Domain::payment, "wallets", journal::key_u64(user_id), w)) return std::nullopt;
  return w;
}

std::optional<domains::PointAccount> Client::points(std::uint64_t user_id) {
  domains::PointAccount a{};
  if (!read(Domain::point, "accounts", journal::key_u64(user_id), a)) return std::nullopt;
  return a;
}

std::optional<domains::ProductRow> Client::product(std::uint64_t product_id) {
  domains::ProductRow p{};
  if (!read(Domain::product, "products", journal::key_u64(product_id), p)) return std::nullopt;
  return p;
}

std::optional<domains::CouponRow> Client::coupon(std::uint64_t coupon_id) {
  domains::CouponRow c{};
  if (!read(Domain::coupon, "coupons", journal::key_u64(coupon_id), c)) return std::nullopt;
  return c;
}

std::optional<domains::PaymentRow> Client::payment(std::uint64_t order_id) {
  domains::PaymentRow p{};
  if (!read(Domain::payment, "payments", journal::key_u64(order_id), p)) return std::nullopt;
  return p;
}

domains::StepState Client::step(Domain domain, std::uint64_t order_id) {
  const auto key = journal::key_u64(order_id);
  switch (domain) {
    case Domain::product: {
      domains::ProductStep s{};
      return read(domain, "steps", key, s) ? static_cast<domains::StepState>(s.state)
                                           : domains::StepState::none;
    }
    case Domain::coupon: {
      domains::CouponStep s{};
      return read(domain, "steps", key, s) ? static_cast<domains::StepState>(s.state)
                                           : domains::StepState::none;
    }
    case Domain::point: {
      domains::PointStep s{};
      return read(domain, "steps", key, s) ? static_cast<domains::StepState>(s.state)
                                           : domains::StepState::none;
    }
    case Domain::payment: {
      domains::PaymentRow s{};
      return read(domain, "payments", key, s) ? static_cast<domains::StepState>(s.state)
                                              : domains::StepState::none;
    }
    default:
      return domains::StepState::none;
  }
}

std::int64_t Client::available(std::uint32_t product_id) {
  return deployment_->stock(product_id).available.load(std::memory_order_acquire);
}

}  // namespace flashsaga::engine
