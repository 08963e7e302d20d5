#include "tests/tools/fixture.h"

#include <gtest/gtest.h>
#include <lmdb.h>
#include <stdlib.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>

#include "domains/batch.h"
#include "domains/rows.h"
#include "tools/check/snapshot.h"
#include "engine/base/crc32c.h"

#ifndef FLASHSAGA_TOOLS_TEST_DIR
#define FLASHSAGA_TOOLS_TEST_DIR "."
#endif

namespace flashsaga::tools::testing {

using namespace domains;
using ipc::OrderReason;

namespace {

constexpr std::size_t idx(Domain d) {
  return static_cast<std::size_t>(d);
}
constexpr std::int64_t step_timeout_ns = 5'000'000'000;
constexpr std::int64_t reward_rate_bp = 100;

void must(const journal::Status& s, const char* what) {
  if (!s.ok()) ADD_FAILURE() << what << ": " << s.message();
}

Event event(std::uint64_t subject, std::uint64_t other, std::int64_t amount, std::int64_t balance,
            std::int64_t extra, std::uint8_t state, OrderReason reason = OrderReason::none) {
  Event e{};
  e.subject = subject;
  e.other = other;
  e.amount = amount;
  e.balance = balance;
  e.extra = extra;
  e.state = state;
  e.reason = static_cast<std::uint8_t>(reason);
  return e;
}

std::uint8_t u8(StepState s) {
  return static_cast<std::uint8_t>(s);
}
std::uint64_t t64(RecordType t) {
  return static_cast<std::uint64_t>(t);
}

}  // namespace

TempDir::TempDir() {
  std::string templ = (std::filesystem::temp_directory_path() / "flashsaga-tools-XXXXXX").string();
  const char* made = ::mkdtemp(templ.data());
  if (made == nullptr) ADD_FAILURE() << "mkdtemp failed";
  path_ = templ;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

Fixture::Fixture(std::filesystem::path data, journal::Durability durability,
                 std::size_t map_size_bytes)
    : data_(std::move(data)) {
  for (Domain d : {Domain::user, Domain::point, Domain::product, Domain::coupon, Domain::order,
                   Domain::payment}) {
    Store& st = stores_[idx(d)];
    for (const bool view : {false, true}) {
      journal::Options o;
      o.domain = std::string(ipc::domain_name(d));
      o.dir = data_ / o.domain / (view ? "view" : "journal");
      o.durability = durability;
      o.tables = view ? all_tables(d) : journal_tables();
      o.map_size_bytes = map_size_bytes;
      o.map_size_max_bytes = std::max(o.map_size_max_bytes, map_size_bytes);
      o.space_reserve_bytes = std::size_t{1} << 20;
      must(journal::Env::open(o, view ? st.view : st.journal), "open fixture environment");
    }
    st.next_sequence = st.journal->next_sequence();
    st.batches = st.journal->stats().journal_batches;
    st.created_ns = st.journal->stats().created_ns;
  }
}

Fixture::~Fixture() {
  commit();
}

std::uint64_t Fixture::records() const {
  std::uint64_t n = 0;
  for (const Store& st : stores_)
    if (st.journal) n += st.next_sequence - 1;
  return n;
}

Fixture::Store& Fixture::open(Domain d) {
  Store& st = stores_[idx(d)];
  if (!st.open) {
    must(st.journal->begin_write(st.journal_txn), "begin fixture journal write");
    must(st.view->begin_write(st.view_txn), "begin fixture view write");
    st.open = true;
  }
  return st;
}

journal::WriteTxn& Fixture::view_txn(Domain d) {
  return open(d).view_txn;
}
journal::TableId Fixture::table(Domain d, std::string_view name) {
  return open(d).view->table(name);
}

void Fixture::store_batch(Store& st) {
  if (!st.batch) return;
  must(st.journal_txn.append_batch(*st.batch), "fixture append batch");
  st.batch.reset();
  ++st.batches;
}

std::uint64_t Fixture::append(Domain d, RecordType type, std::uint64_t order_id,
                              journal::Bytes payload) {
  Store& st = open(d);
  store_batch(st);
  st.batch = std::make_unique<journal::BatchBuilder>();
  st.batch->begin(st.next_sequence, now_ns);  // one record: its time is exactly now_ns
  const std::uint64_t seq =
      st.batch->add_record(static_cast<std::uint16_t>(type), order_id, payload);
  st.next_sequence = seq + 1;
  return seq;
}

void Fixture::send(Domain from, std::uint16_t edge, const ipc::Message& m) {
  Store& st = open(from);
  if (!st.batch) append(from, RecordType::batch_note, 0, {});
  st.batch->add_entry(journal::Section::outbox, edge, {}, journal::as_bytes(m));
}

void Fixture::inbox(Domain consumer, std::uint64_t edge, std::uint64_t last_sequence) {
  Store& st = open(consumer);
  const InboxEntry e{0, last_sequence};
  must(st.journal_txn.put_as(st.journal->table(cursors_table_name),
                             journal::key_u64_u64(cursor_kind_inbox, edge), e),
       "fixture cursor");
}

void Fixture::view_position(Domain d, std::uint64_t last_sequence) {
  Store& st = open(d);
  const ViewPosition p{last_sequence, st.batches, st.created_ns, 0};
  must(st.view_txn.put_as(st.view->table(view_counters_table_name),
                          journal::as_bytes(view_position_key), p),
       "fixture view position");
  st.position_set = true;
}

void Fixture::lag_view(Domain d) {
  Store& st = open(d);
  store_batch(st);  // what is journaled so far is in the view
  view_position(d, st.next_sequence - 1);
  st.lagging = true;
}

void Fixture::state_entry(Store& st, Domain d, std::string_view table, journal::Bytes key,
                          journal::Bytes value, bool del) {
  if (!st.batch) append(d, RecordType::batch_note, 0, {});
  const std::optional<std::uint16_t> tag = tools::view_table_tag(d, table);
  ASSERT_TRUE(tag.has_value()) << table;
  const auto t = static_cast<std::uint16_t>(del ? (*tag | state_tag_delete_bit) : *tag);
  st.batch->add_entry(journal::Section::state, t, key, del ? journal::Bytes{} : value);
}

void Fixture::put_raw(Domain d, std::string_view table_name, journal::Bytes key,
                      journal::Bytes value) {
  Store& st = open(d);
  if (st.lagging) return state_entry(st, d, table_name, key, value, false);
  must(st.view_txn.put(table(d, table_name), key, value), "fixture put");
}

void Fixture::del_raw(Domain d, std::string_view table_name, journal::Bytes key) {
  Store& st = open(d);
  if (st.lagging) return state_entry(st, d, table_name, key, {}, true);
  const journal::Status s = st.view_txn.del(table(d, table_name), key);
  if (!s.ok() && s.code() != journal::ErrorCode::not_found) ADD_FAILURE() << s.message();
}

void Fixture::del(Domain d, std::string_view table_name, std::uint64_t key) {
  del_raw(d, table_name, journal::as_bytes(journal::key_u64(key)));
}

void Fixture::commit() {
  for (Store& st : stores_) {
    if (!st.open) continue;
    store_batch(st);
    // The view holds exactly its journal (unless the test moved its position in this txn).
    if (!st.position_set && !st.lagging) {
      const ViewPosition p{st.next_sequence - 1, st.batches, st.created_ns, 0};
      must(st.view_txn.put_as(st.view->table(view_counters_table_name),
                              journal::as_bytes(view_position_key), p),
           "fixture view position");
    }
    must(st.journal_txn.commit(), "fixture journal commit");
    must(st.view_txn.commit(), "fixture view commit");
    st.open = false;
    st.position_set = false;
  }
}

void Fixture::save_order(std::uint64_t id) {
  put(Domain::order, "orders", id, orders_[id]);
}
void Fixture::save_product(std::uint64_t id) {
  put(Domain::product, "products", id, products_[id]);
}
void Fixture::save_account(std::uint64_t user) {
  put(Domain::point, "accounts", user, accounts_[user]);
}
void Fixture::save_wallet(std::uint64_t user) {
  put(Domain::payment, "wallets", user, wallets_[user]);
}
void Fixture::save_coupon(std::uint64_t id) {
  put(Domain::coupon, "coupons", id, coupons_[id]);
}

std::int64_t Fixture::subtotal(const OrderRow& o) const {
  std::int64_t s = 0;
  for (std::uint32_t i = 0; i < o.item_count; ++i) s += o.items[i].unit_price * o.items[i].quantity;
  return s;
}

// --- Entities ----------------------------------------------------------------------------------

void Fixture::user(std::uint64_t id, std::string_view name) {
  UserRow u{};
  u.id = id;
  u.created_ns = now_ns;
  u.updated_ns = now_ns;
  u.name.assign(name);
  std::string email(name);
  std::transform(email.begin(), email.end(), email.begin(),
                 [](unsigned char c) { return c == ' ' ? '.' : std::tolower(c); });
  email += "@example.com";
  u.email.assign(email);
  put(Domain::user, "users", id, u);
  put_raw(Domain::user, "emails", journal::as_bytes(std::string_view(email)),
          journal::as_bytes(id));
  const std::uint64_t next = id + 1;
  put_raw(Domain::user, "counters", journal::as_bytes(std::string_view("next_user_id")),
          journal::as_bytes(next));
  record(Domain::user, RecordType::user_created, 0, u);
}

void Fixture::product(std::uint64_t id, std::int64_t price, std::int64_t stock,
                      std::string_view name) {
  ProductRow& p = products_[id];
  p = ProductRow{};
  p.id = id;
  p.price = price;
  p.total = stock;
  p.created_ns = now_ns;
  p.updated_ns = now_ns;
  p.name.assign(name.empty() ? std::string_view("Product") : name);
  save_product(id);
  put_raw(Domain::product, "counters", journal::as_bytes(std::string_view("next_product_id")),
          journal::as_bytes(id));
  record(Domain::product, RecordType::product_created, 0, p);
}

void Fixture::restock(std::uint64_t id, std::int64_t quantity) {
  ProductRow& p = products_[id];
  p.total += quantity;
  p.updated_ns = now_ns;
  save_product(id);
  record(Domain::product, RecordType::product_restocked, 0, event(id, 0, quantity, p.total, 0, 0));
}

void Fixture::deposit(std::uint64_t user, std::int64_t amount) {
  Wallet& w = wallets_[user];
  w.balance += amount;
  w.deposits += amount;
  save_wallet(user);
  const Event e = event(user, t64(RecordType::wallet_deposited), amount, w.balance, 0, 0);
  const std::uint64_t seq = record(Domain::payment, RecordType::wallet_deposited, 0, e);
  put2(Domain::payment, "history", user, seq, e);
}

void Fixture::accrue(std::uint64_t user, std::int64_t amount) {
  PointAccount& a = accounts_[user];
  a.balance += amount;
  a.accrued += amount;
  save_account(user);
  const Event e = event(user, t64(RecordType::points_accrued), amount, a.balance, 0, 0);
  const std::uint64_t seq = record(Domain::point, RecordType::points_accrued, 0, e);
  put2(Domain::point, "history", user, seq, e);
}

void Fixture::coupon_template(std::uint64_t id, std::int64_t value, std::int64_t quantity) {
  TemplateRow& t = templates_[id];
  t = TemplateRow{};
  t.id = id;
  t.value = value;
  t.quantity = quantity;
  t.created_ns = now_ns;
  t.kind = static_cast<std::uint8_t>(ipc::CouponKind::fixed);
  t.name.assign("Flash " + std::to_string(value) + " off");
  put(Domain::coupon, "templates", id, t);
  const std::uint64_t next = id + 1;
  put_raw(Domain::coupon, "counters", journal::as_bytes(std::string_view("next_template_id")),
          journal::as_bytes(next));
  record(Domain::coupon, RecordType::coupon_template_created, 0, t);
}

void Fixture::issue(std::uint64_t coupon, std::uint64_t template_id, std::uint64_t user) {
  CouponRow& c = coupons_[coupon];
  c = CouponRow{};
  c.id = coupon;
  c.template_id = template_id;
  c.user_id = user;
  c.issued_ns = now_ns;
  c.state = static_cast<std::uint8_t>(CouponState::available);
  TemplateRow& t = templates_[template_id];
  t.issued += 1;
  save_coupon(coupon);
  put2(Domain::coupon, "holders", template_id, user, coupon);
  put_raw(Domain::coupon, "by_user", journal::as_bytes(journal::key_u64_u64(user, coupon)),
          journal::Bytes{});
  put(Domain::coupon, "templates", template_id, t);
  const std::uint64_t next = coupon + 1;
  put_raw(Domain::coupon, "counters", journal::as_bytes(std::string_view("next_coupon_id")),
          journal::as_bytes(next));
  record(Domain::coupon, RecordType::coupon_issued, 0, c);
}

// --- Order domain --------------------------------------------------------------------------------

void Fixture::place(std::uint64_t order, std::uint64_t user, std::vector<Item> items,
                    std::uint64_t coupon, std::int64_t points) {
  OrderRow& o = orders_[order];
  o = OrderRow{};
  o.id = order;
  o.user_id = user;
  o.coupon_id = coupon;
  o.points_requested = points;
  o.item_count = static_cast<std::uint8_t>(items.size());
  for (std::size_t i = 0; i < items.size(); ++i)
    o.items[i] = ipc::LineItem{items[i].product, items[i].quantity, items[i].price};
  o.subtotal = subtotal(o);
  std::int64_t expected_discount = 0;
  if (auto it = coupons_.find(coupon); it != coupons_.end())
    expected_discount = std::min(templates_[it->second.template_id].value, o.subtotal);
  o.points_to_use = std::clamp<std::int64_t>(o.subtotal - expected_discount, 0, points);
  o.created_ns = now_ns;
  o.updated_ns = now_ns;
  o.deadline_ns = now_ns + step_timeout_ns;
  o.status = static_cast<std::uint8_t>(OrderStatus::pending);
  o.step_stock = u8(StepState::reserved);
  o.step_coupon = u8(coupon != 0 ? StepState::pending : StepState::skipped);
  o.step_points = u8(o.points_to_use > 0 ? StepState::pending : StepState::skipped);
  o.step_payment = u8(StepState::none);
  for (std::uint32_t i = 0; i < o.item_count; ++i)
    if (products_[o.items[i].product_id].max_per_user != 0)
      o.counted_items |= static_cast<std::uint8_t>(1u << i);
  put_raw(Domain::order, "counters", journal::as_bytes(std::string_view("next_order_id")),
          journal::as_bytes(order));
  save_order(order);
  put_raw(Domain::order, "pending", journal::as_bytes(journal::key_u64(order)), journal::Bytes{});
  change_live(o, +1);
  record(Domain::order, RecordType::order_pending, order, o);
}

// The units of limited products a user holds in live orders, as the order domain counts them.
void Fixture::change_live(const OrderRow& o, std::int64_t sign) {
  for (std::uint32_t i = 0; i < o.item_count; ++i) {
    if ((o.counted_items & (1u << i)) == 0) continue;
    std::int64_t& units = live_[{o.user_id, o.items[i].product_id}];
    units += sign * o.items[i].quantity;
    if (units != 0) {
      put2(Domain::order, "live", o.user_id, o.items[i].product_id, units);
      continue;
    }
    del_raw(Domain::order, "live",
            journal::as_bytes(journal::key_u64_u64(o.user_id, o.items[i].product_id)));
  }
}

void Fixture::reject_order(std::uint64_t user, std::uint64_t units, OrderReason reason) {
  record(Domain::order, RecordType::order_rejected, 0,
         event(user, 0, static_cast<std::int64_t>(units), 0, 0,
               static_cast<std::uint8_t>(OrderStatus::rejected), reason));
}

void Fixture::order_step(std::uint64_t order, OrderStep step, StepState state, std::int64_t amount,
                         OrderReason reason) {
  OrderRow& o = orders_[order];
  o.updated_ns = now_ns;
  switch (step) {
    case OrderStep::coupon:
      o.step_coupon = u8(state);
      if (state == StepState::applied) o.discount = amount;
      break;
    case OrderStep::points:
      o.step_points = u8(state);
      if (state == StepState::deducted) o.points_used = amount;
      break;
    case OrderStep::payment:
      o.step_payment = u8(state);
      break;
    case OrderStep::stock:
      o.step_stock = u8(state);
      break;
  }
  record(Domain::order, RecordType::order_step, order,
         event(o.user_id, static_cast<std::uint64_t>(step), amount, 0, 0, u8(state), reason));
  if (state != StepState::approved) save_order(order);
}

void Fixture::request_payment(std::uint64_t order) {
  OrderRow& o = orders_[order];
  o.paid = o.subtotal - o.discount - o.points_used;
  o.step_payment = u8(StepState::pending);
  o.updated_ns = now_ns;
  save_order(order);
  record(Domain::order, RecordType::order_payment_requested, order,
         event(o.user_id, 0, o.paid, o.points_used, o.discount, u8(StepState::pending)));
}

void Fixture::complete(std::uint64_t order) {
  OrderRow& o = orders_[order];
  o.status = static_cast<std::uint8_t>(OrderStatus::completed);
  o.step_stock = u8(StepState::sold);
  o.reward_points = o.paid * reward_rate_bp / 10'000;
  o.updated_ns = now_ns;
  save_order(order);
  del(Domain::order, "pending", order);
  record(Domain::order, RecordType::order_completed, order,
         event(o.user_id, 0, o.paid, 0, o.reward_points,
               static_cast<std::uint8_t>(OrderStatus::completed)));
}

void Fixture::cancel(std::uint64_t order, OrderReason reason) {
  OrderRow& o = orders_[order];
  const bool was_completed = o.status == static_cast<std::uint8_t>(OrderStatus::completed);
  if (!was_completed) del(Domain::order, "pending", order);
  o.status = static_cast<std::uint8_t>(OrderStatus::cancelled);
  o.reason = static_cast<std::uint8_t>(reason);
  o.was_completed = was_completed ? 1 : 0;
  o.step_stock = u8(StepState::released);
  o.updated_ns = now_ns;
  save_order(order);
  change_live(o, -1);
  record(Domain::order, RecordType::order_cancelled, order,
         event(o.user_id, 0, o.paid, 0, o.was_completed,
               static_cast<std::uint8_t>(OrderStatus::cancelled), reason));
}

// --- Product domain ------------------------------------------------------------------------------

void Fixture::stock_reserve(std::uint64_t order) {
  // One Reservations message: every placed order up to `order` not counted yet, per product.
  std::map<std::uint64_t, std::int64_t> units;
  for (auto it = orders_.upper_bound(counted_through_); it != orders_.end() && it->first <= order;
       ++it)
    for (std::uint32_t i = 0; i < it->second.item_count; ++i)
      units[it->second.items[i].product_id] += it->second.items[i].quantity;
  counted_through_ = std::max(counted_through_, order);
  for (const auto& [id, n] : units) {
    ProductRow& p = products_[id];
    p.reserved += n;
    save_product(id);
    record(Domain::product, RecordType::stock_reserved, 0,
           event(id, order, n, p.total - p.reserved - p.sold, 0, 0));
  }
  put_raw(Domain::product, "counters", journal::as_bytes(std::string_view("last_order_seen")),
          journal::as_bytes(counted_through_));
}

void Fixture::stock_sell(std::uint64_t order) {
  const OrderRow& o = orders_[order];
  ProductStep& s = product_steps_[order];
  s = ProductStep{};
  s.user_id = o.user_id;
  s.item_count = o.item_count;
  s.items = o.items;
  for (std::uint32_t i = 0; i < s.item_count; ++i) {
    ProductRow& p = products_[s.items[i].product_id];
    p.reserved -= s.items[i].quantity;
    p.sold += s.items[i].quantity;
    save_product(p.id);
    record(Domain::product, RecordType::stock_sold, order,
           event(p.id, 0, s.items[i].quantity, p.total - p.reserved - p.sold, s.items[i].unit_price,
                 0));
  }
  s.state = u8(StepState::sold);
  put(Domain::product, "steps", order, s);
}

void Fixture::stock_release(std::uint64_t order) {
  const OrderRow& o = orders_[order];
  ProductStep& s = product_steps_[order];
  const bool sold = s.state == u8(StepState::sold);
  s.user_id = o.user_id;
  s.item_count = o.item_count;
  s.items = o.items;
  for (std::uint32_t i = 0; i < s.item_count; ++i) {
    ProductRow& p = products_[s.items[i].product_id];
    (sold ? p.sold : p.reserved) -= s.items[i].quantity;
    save_product(p.id);
    record(Domain::product, RecordType::stock_released, order,
           event(p.id, 0, s.items[i].quantity, p.total - p.reserved - p.sold, s.items[i].unit_price,
                 0));
  }
  s.state = u8(StepState::released);
  put(Domain::product, "steps", order, s);
}

void Fixture::product_limit(std::uint64_t id, std::uint32_t max_per_user) {
  ProductRow& p = products_[id];
  p.max_per_user = max_per_user;
  p.updated_ns = now_ns;
  save_product(id);
  record(Domain::product, RecordType::product_updated, 0, p);
}

// --- Coupon domain -------------------------------------------------------------------------------

void Fixture::coupon_apply(std::uint64_t order) {
  const OrderRow& o = orders_[order];
  CouponRow& c = coupons_[o.coupon_id];
  const TemplateRow& t = templates_[c.template_id];
  CouponStep& s = coupon_steps_[order];
  s = CouponStep{};
  s.coupon_id = c.id;
  s.discount = std::min(t.value, o.subtotal);
  s.state = u8(StepState::applied);
  c.state = static_cast<std::uint8_t>(CouponState::held);
  c.order_id = order;
  save_coupon(c.id);
  put(Domain::coupon, "steps", order, s);
  record(Domain::coupon, RecordType::coupon_applied, order,
         event(c.id, c.template_id, 0, 0, s.discount, s.state));
}

void Fixture::coupon_reject(std::uint64_t order, OrderReason reason) {
  const OrderRow& o = orders_[order];
  CouponStep& s = coupon_steps_[order];
  s = CouponStep{};
  s.coupon_id = o.coupon_id;
  s.state = u8(StepState::rejected);
  s.reason = static_cast<std::uint8_t>(reason);
  put(Domain::coupon, "steps", order, s);
  const std::uint64_t tpl = coupons_.count(o.coupon_id) ? coupons_[o.coupon_id].template_id : 0;
  record(Domain::coupon, RecordType::coupon_rejected, order,
         event(o.coupon_id, tpl, 0, 0, 0, s.state, reason));
}

void Fixture::coupon_use(std::uint64_t order) {
  CouponStep& s = coupon_steps_[order];
  CouponRow& c = coupons_[s.coupon_id];
  c.state = static_cast<std::uint8_t>(CouponState::used);
  s.used = 1;
  save_coupon(c.id);
  put(Domain::coupon, "steps", order, s);
  record(Domain::coupon, RecordType::coupon_used, order,
         event(c.id, c.template_id, 0, 0, s.discount, u8(StepState::applied)));
}

void Fixture::coupon_release(std::uint64_t order, OrderReason reason) {
  CouponStep& s = coupon_steps_[order];
  CouponRow& c = coupons_[s.coupon_id];
  c.state = static_cast<std::uint8_t>(CouponState::available);
  c.order_id = 0;
  s.state = u8(StepState::released);
  save_coupon(c.id);
  put(Domain::coupon, "steps", order, s);
  record(Domain::coupon, RecordType::coupon_released, order,
         event(c.id, c.template_id, 0, 0, s.discount, s.state, reason));
}

// --- Point domain --------------------------------------------------------------------------------

void Fixture::points_deduct(std::uint64_t order) {
  const OrderRow& o = orders_[order];
  PointAccount& a = accounts_[o.user_id];
  PointStep& s = point_steps_[order];
  s = PointStep{};
  s.user_id = o.user_id;
  s.amount = o.points_to_use;
  s.state = u8(StepState::deducted);
  a.balance -= s.amount;
  a.deducted += s.amount;
  save_account(o.user_id);
  put(Domain::point, "steps", order, s);
  const Event e =
      event(o.user_id, t64(RecordType::points_deducted), s.amount, a.balance, 0, s.state);
  const std::uint64_t seq = record(Domain::point, RecordType::points_deducted, order, e);
  put2(Domain::point, "history", o.user_id, seq, e);
}

void Fixture::points_reject(std::uint64_t order) {
  const OrderRow& o = orders_[order];
  const PointAccount& a = accounts_[o.user_id];
  PointStep& s = point_steps_[order];
  s = PointStep{};
  s.user_id = o.user_id;
  s.state = u8(StepState::rejected);
  put(Domain::point, "steps", order, s);
  record(Domain::point, RecordType::points_rejected, order,
         event(o.user_id, t64(RecordType::points_rejected), 0, a.balance, o.points_to_use, s.state,
               OrderReason::insufficient_points));
}

void Fixture::points_refund(std::uint64_t order, OrderReason reason) {
  PointStep& s = point_steps_[order];
  PointAccount& a = accounts_[s.user_id];
  a.balance += s.amount;
  a.refunded += s.amount;
  s.state = u8(StepState::refunded);
  save_account(s.user_id);
  put(Domain::point, "steps", order, s);
  const Event e =
      event(s.user_id, t64(RecordType::points_refunded), s.amount, a.balance, 0, s.state, reason);
  const std::uint64_t seq = record(Domain::point, RecordType::points_refunded, order, e);
  put2(Domain::point, "history", s.user_id, seq, e);
}

void Fixture::points_reward(std::uint64_t order) {
  const OrderRow& o = orders_[order];
  PointStep& s = point_steps_[order];
  if (s.user_id == 0) s.user_id = o.user_id;
  PointAccount& a = accounts_[s.user_id];
  a.balance += o.reward_points;
  a.rewarded += o.reward_points;
  s.reward = o.reward_points;
  s.reward_state = 1;
  save_account(s.user_id);
  put(Domain::point, "steps", order, s);
  const Event e =
      event(s.user_id, t64(RecordType::points_rewarded), s.reward, a.balance, o.paid, s.state);
  const std::uint64_t seq = record(Domain::point, RecordType::points_rewarded, order, e);
  if (s.reward > 0) put2(Domain::point, "history", s.user_id, seq, e);
}

// --- Payment domain ------------------------------------------------------------------------------

void Fixture::charge(std::uint64_t order) {
  const OrderRow& o = orders_[order];
  Wallet& w = wallets_[o.user_id];
  w.balance -= o.paid;
  w.charges += o.paid;
  save_wallet(o.user_id);
  PaymentRow& p = payments_[order];
  p = PaymentRow{};
  p.order_id = order;
  p.user_id = o.user_id;
  p.amount = o.paid;
  p.updated_ns = now_ns;
  p.state = u8(StepState::approved);
  p.method = static_cast<std::uint8_t>(PaymentMethod::wallet);
  put(Domain::payment, "payments", order, p);
  const Event e =
      event(o.user_id, t64(RecordType::payment_approved), p.amount, w.balance, p.method, p.state);
  const std::uint64_t seq = record(Domain::payment, RecordType::payment_approved, order, e);
  put2(Domain::payment, "history", o.user_id, seq, e);
}

void Fixture::decline(std::uint64_t order, OrderReason reason) {
  const OrderRow& o = orders_[order];
  const Wallet& w = wallets_[o.user_id];
  PaymentRow& p = payments_[order];
  p = PaymentRow{};
  p.order_id = order;
  p.user_id = o.user_id;
  p.amount = o.paid;
  p.updated_ns = now_ns;
  p.state = u8(StepState::declined);
  p.method = static_cast<std::uint8_t>(PaymentMethod::wallet);
  p.reason = static_cast<std::uint8_t>(reason);
  put(Domain::payment, "payments", order, p);
  record(
      Domain::payment, RecordType::payment_declined, order,
      event(o.user_id, t64(RecordType::payment_declined), 0, w.balance, p.amount, p.state, reason));
}

void Fixture::refund(std::uint64_t order, OrderReason reason) {
  PaymentRow& p = payments_[order];
  Wallet& w = wallets_[p.user_id];
  w.balance += p.amount;
  w.refunds += p.amount;
  save_wallet(p.user_id);
  p.state = u8(StepState::refunded);
  p.updated_ns = now_ns;
  put(Domain::payment, "payments", order, p);
  const Event e = event(p.user_id, t64(RecordType::payment_refunded), p.amount, w.balance, p.method,
                        p.state, reason);
  const std::uint64_t seq = record(Domain::payment, RecordType::payment_refunded, order, e);
  put2(Domain::payment, "history", p.user_id, seq, e);
}

void Fixture::payment_cancelled_before_apply(std::uint64_t order, OrderReason reason) {
  PaymentRow& p = payments_[order];
  p = PaymentRow{};
  p.order_id = order;
  p.user_id = orders_[order].user_id;
  p.updated_ns = now_ns;
  p.state = u8(StepState::cancelled_before_apply);
  put(Domain::payment, "payments", order, p);
  record(
      Domain::payment, RecordType::payment_cancelled_before_apply, order,
      event(p.user_id, t64(RecordType::payment_cancelled_before_apply), 0, 0, 0, p.state, reason));
}

// --- Flows ---------------------------------------------------------------------------------------

void Fixture::happy(std::uint64_t order, std::uint64_t user, std::vector<Item> items,
                    std::uint64_t coupon, std::int64_t points) {
  place(order, user, std::move(items), coupon, points);
  const OrderRow& o = orders_[order];
  advance_us(400);
  stock_reserve(order);
  if (coupon != 0) coupon_apply(order);
  if (o.points_to_use > 0) points_deduct(order);
  advance_us(300);
  if (coupon != 0)
    order_step(order, OrderStep::coupon, StepState::applied, coupon_steps_[order].discount);
  if (o.points_to_use > 0)
    order_step(order, OrderStep::points, StepState::deducted, o.points_to_use);
  request_payment(order);
  advance_us(500);
  charge(order);
  advance_us(300);
  order_step(order, OrderStep::payment, StepState::approved, o.paid);
  complete(order);
  advance_us(400);
  stock_sell(order);
  if (coupon != 0) coupon_use(order);
  if (o.reward_points > 0) points_reward(order);
  advance_ms(1);
}

void Fixture::coupon_rejected(std::uint64_t order, std::uint64_t user, std::vector<Item> items,
                              std::uint64_t coupon, std::int64_t points) {
  place(order, user, std::move(items), coupon, points);
  const OrderRow& o = orders_[order];
  advance_us(400);
  stock_reserve(order);
  if (o.points_to_use > 0) points_deduct(order);
  coupon_reject(order, OrderReason::coupon_used);
  advance_us(300);
  if (o.points_to_use > 0)
    order_step(order, OrderStep::points, StepState::deducted, o.points_to_use);
  order_step(order, OrderStep::coupon, StepState::rejected, 0, OrderReason::coupon_used);
  cancel(order, OrderReason::coupon_used);
  advance_us(400);
  stock_release(order);
  if (o.points_to_use > 0) points_refund(order, OrderReason::coupon_used);
  payment_cancelled_before_apply(order,
                                 OrderReason::coupon_used);  // coupon: rejected, nothing to undo
  advance_ms(1);
}

void Fixture::insufficient_balance(std::uint64_t order, std::uint64_t user, std::vector<Item> items,
                                   std::uint64_t coupon, std::int64_t points) {
  place(order, user, std::move(items), coupon, points);
  const OrderRow& o = orders_[order];
  advance_us(400);
  stock_reserve(order);
  if (coupon != 0) coupon_apply(order);
  if (o.points_to_use > 0) points_deduct(order);
  advance_us(300);
  if (coupon != 0)
    order_step(order, OrderStep::coupon, StepState::applied, coupon_steps_[order].discount);
  if (o.points_to_use > 0)
    order_step(order, OrderStep::points, StepState::deducted, o.points_to_use);
  request_payment(order);
  advance_us(500);
  decline(order, OrderReason::insufficient_balance);
  advance_us(300);
  order_step(order, OrderStep::payment, StepState::declined, 0, OrderReason::insufficient_balance);
  cancel(order, OrderReason::insufficient_balance);
  advance_us(400);
  stock_release(order);
  if (coupon != 0) coupon_release(order, OrderReason::insufficient_balance);
  if (o.points_to_use > 0) points_refund(order, OrderReason::insufficient_balance);
  advance_ms(1);  // payment: declined, nothing to undo
}

void Fixture::refund_completed(std::uint64_t order, OrderReason reason) {
  cancel(order, reason);
  const OrderRow& o = orders_[order];
  advance_us(400);
  stock_release(order);
  if (o.coupon_id != 0) coupon_release(order, reason);
  PointStep& s = point_steps_[order];
  if (s.state == u8(StepState::deducted)) points_refund(order, reason);
  if (s.reward_state == 1) {
    PointAccount& a = accounts_[s.user_id];
    const std::int64_t revoked = std::min(s.reward, a.balance);
    a.balance -= revoked;
    a.revoked += revoked;
    s.reward_revoked = revoked;
    s.reward_state = 2;
    save_account(s.user_id);
    put(Domain::point, "steps", order, s);
    const Event e = event(s.user_id, t64(RecordType::points_reward_revoked), revoked, a.balance,
                          s.reward, s.state, reason);
    const std::uint64_t seq = record(Domain::point, RecordType::points_reward_revoked, order, e);
    if (revoked > 0) put2(Domain::point, "history", s.user_id, seq, e);
  }
  refund(order, reason);
  advance_ms(1);
}

// --- The sale every golden test reads ------------------------------------------------------------

void build_sale(Fixture& f) {
  f.user(1, "Ada");
  f.user(2, "Bo");
  f.user(3, "Cy");
  f.user(4, "Di");
  f.product(1, 500, 10, "Flash Tee");
  f.product(2, 1200, 5, "Hoodie");
  f.advance_ms(10);
  f.restock(1, 5);
  f.deposit(1, 5000);
  f.deposit(2, 3000);
  f.deposit(3, 100);
  f.deposit(4, 2000);
  f.accrue(1, 300);
  f.accrue(2, 200);
  f.accrue(3, 100);
  f.coupon_template(1, 100, 3);
  f.issue(1, 1, 1);
  f.issue(2, 1, 2);
  f.issue(3, 1, 3);
  f.commit();
  f.advance_ms(60'000);  // the sale opens a minute later
  f.happy(1, 1, {{1, 2, 500}}, 1, 50);
  f.coupon_rejected(2, 2, {{2, 1, 1200}}, 1);
  f.insufficient_balance(3, 3, {{1, 1, 500}, {2, 1, 1200}}, 3, 100);
  f.reject_order(9, 1, OrderReason::unknown_user);
  f.happy(4, 4, {{2, 1, 1200}});
  f.happy(5, 2, {{1, 1, 500}}, 0, 100);
  f.commit();
  f.advance_ms(2'000);
  f.refund_completed(5);
  f.advance_ms(500);
  f.place(6, 4, {{1, 1, 500}});
  f.advance_us(400);
  f.stock_reserve(6);
  f.commit();
}

// --- Helpers -------------------------------------------------------------------------------------

namespace {

// Rewrites the stored batch holding `sequence` after `edit` changed its bytes (raw LMDB: the
// journal API never rewrites a batch).
void edit_batch(
    const std::filesystem::path& data, Domain d, std::uint64_t sequence,
    const std::function<void(std::vector<std::byte>& value, std::uint64_t first)>& edit) {
  journal::Options o;
  o.domain = std::string(ipc::domain_name(d));
  o.dir = data / o.domain / "journal";
  o.durability = journal::Durability::nosync;
  o.tables = journal_tables();
  std::unique_ptr<journal::Env> env;
  must(journal::Env::open(o, env), "open for corruption");
  if (!env) return;
  MDB_txn* raw = nullptr;
  ASSERT_EQ(mdb_txn_begin(env->raw(), nullptr, 0, &raw), MDB_SUCCESS);
  MDB_dbi dbi = 0;
  ASSERT_EQ(mdb_dbi_open(raw, "journal", 0, &dbi), MDB_SUCCESS);
  MDB_cursor* cursor = nullptr;
  ASSERT_EQ(mdb_cursor_open(raw, dbi, &cursor), MDB_SUCCESS);
  auto key = journal::key_u64(sequence);
  MDB_val k{key.size(), key.data()};
  MDB_val v{};
  int rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);
  if (rc == MDB_NOTFOUND) rc = mdb_cursor_get(cursor, &k, &v, MDB_LAST);
  if (rc == MDB_SUCCESS && journal::u64_from_key(journal::Bytes(static_cast<std::byte*>(k.mv_data),
                                                                k.mv_size)) > sequence)
    rc = mdb_cursor_get(cursor, &k, &v, MDB_PREV);
  ASSERT_EQ(rc, MDB_SUCCESS);
  const std::uint64_t first =
      journal::u64_from_key(journal::Bytes(static_cast<std::byte*>(k.mv_data), k.mv_size));
  std::vector<std::byte> value(static_cast<std::byte*>(v.mv_data),
                               static_cast<std::byte*>(v.mv_data) + v.mv_size);
  auto stored = journal::key_u64(first);
  mdb_cursor_close(cursor);
  edit(value, first);
  MDB_val sk{stored.size(), stored.data()};
  MDB_val bad{value.size(), value.data()};
  ASSERT_EQ(mdb_put(raw, dbi, &sk, &bad, 0), MDB_SUCCESS);
  ASSERT_EQ(mdb_txn_commit(raw), MDB_SUCCESS);
}

}  // namespace

void corrupt_record(const std::filesystem::path& data, Domain d, std::uint64_t sequence,
                    std::size_t offset) {
  edit_batch(data, d, sequence, [&](std::vector<std::byte>& value, std::uint64_t first) {
    // Walk the records section to the record's start.
    std::size_t at = sizeof(journal::BatchHeader);
    for (std::uint64_t s = first; s < sequence; ++s) {
      journal::RecordHeader h;
      std::memcpy(&h, value.data() + at, sizeof h);
      at += sizeof h + h.payload_size;
    }
    ASSERT_LT(at + offset, value.size());
    value[at + offset] ^= std::byte{0x5A};
  });
}

void corrupt_outbox(const std::filesystem::path& data, Domain d, std::uint64_t first_sequence) {
  edit_batch(data, d, first_sequence, [&](std::vector<std::byte>& value, std::uint64_t) {
    journal::BatchHeader h;
    std::memcpy(&h, value.data(), sizeof h);
    ASSERT_GT(h.outbox_bytes, sizeof(journal::EntryHeader));
    value[sizeof h + h.records_bytes + h.state_bytes + sizeof(journal::EntryHeader)] ^=
        std::byte{0x5A};
  });
}

std::uint64_t tear_leaf_page(const std::filesystem::path& env_dir, const std::string& table) {
  // The table's last key, and whether it spans two leaves (so its last leaf is reached by
  // moving on from another one, which is where mdb_cursor_next asserts).
  std::vector<char> last_key;
  std::size_t page_size = 4096;
  MDB_env* env = nullptr;
  if (mdb_env_create(&env) != MDB_SUCCESS) return 0;
  mdb_env_set_maxdbs(env, 64);
  if (mdb_env_open(env, env_dir.c_str(), MDB_RDONLY, 0600) == MDB_SUCCESS) {
    MDB_stat env_stat{};
    mdb_env_stat(env, &env_stat);
    page_size = env_stat.ms_psize;
    MDB_txn* txn = nullptr;
    MDB_dbi dbi = 0;
    MDB_cursor* c = nullptr;
    MDB_stat st{};
    if (mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == MDB_SUCCESS &&
        mdb_dbi_open(txn, table.c_str(), 0, &dbi) == MDB_SUCCESS &&
        mdb_stat(txn, dbi, &st) == MDB_SUCCESS && st.ms_leaf_pages >= 2 &&
        mdb_cursor_open(txn, dbi, &c) == MDB_SUCCESS) {
      MDB_val k{}, v{};
      if (mdb_cursor_get(c, &k, &v, MDB_LAST) == MDB_SUCCESS)
        last_key.assign(static_cast<char*>(k.mv_data), static_cast<char*>(k.mv_data) + k.mv_size);
      mdb_cursor_close(c);
    }
    if (txn != nullptr) mdb_txn_abort(txn);
  }
  mdb_env_close(env);
  if (last_key.empty()) return 0;
  // Every leaf page holding that key (the live one, and older copies the B-tree left) gets a
  // branch page's flags: the page header is pgno (8 bytes), pad (2), flags (2); P_LEAF 0x02.
  std::fstream file(env_dir / "data.mdb", std::ios::in | std::ios::out | std::ios::binary);
  std::vector<char> page(page_size);
  std::uint64_t torn = 0;
  for (std::uint64_t pgno = 2; file.seekg(static_cast<std::streamoff>(pgno * page_size)) &&
                               file.read(page.data(), static_cast<std::streamsize>(page.size()));
       ++pgno) {
    std::uint16_t flags = 0;
    std::memcpy(&flags, page.data() + 10, sizeof flags);
    if ((flags & 0x02) == 0 ||
        std::search(page.begin(), page.end(), last_key.begin(), last_key.end()) == page.end())
      continue;
    const std::uint16_t branch = static_cast<std::uint16_t>((flags & ~0x02) | 0x01);
    file.seekp(static_cast<std::streamoff>(pgno * page_size + 10));
    file.write(reinterpret_cast<const char*>(&branch), sizeof branch);
    torn = pgno;
  }
  return torn;
}

std::string golden(const std::string& name, const std::string& actual) {
  const std::filesystem::path path =
      std::filesystem::path(FLASHSAGA_TOOLS_TEST_DIR) / "golden" / name;
  const char* update = std::getenv("FLASHSAGA_UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << actual;
    return actual;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "missing golden file " << path
                  << " (run with FLASHSAGA_UPDATE_GOLDEN=1 to create it)";
    return {};
  }
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace flashsaga::tools::testing
