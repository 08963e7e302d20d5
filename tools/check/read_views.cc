// Reading the views' rows (through the overlay that brings each view to its journal's end)
// and the runtime's cursors into the Model.
#include <fmt/format.h>

#include <cstring>
#include <limits>

#include "tools/check/pass.h"

namespace flashsaga::tools {

using domains::CouponRow;
using domains::CouponStep;
using domains::OrderRow;
using domains::OrderStatus;
using domains::PaymentRow;
using domains::PointAccount;
using domains::PointStep;
using domains::ProductRow;
using domains::ProductStep;
using domains::StepState;
using domains::TemplateRow;
using domains::UserRow;
using domains::Wallet;
using ipc::Domain;

void Findings::add(int invariant, std::uint64_t order, Domain d, std::uint64_t sequence,
                   std::string_view kind, std::string what) {
  Finding f;
  f.key = fmt::format("{}/{}/{}/{}", invariant, order, ipc::domain_name(d), kind);
  f.v = Violation{invariant, order, std::string(ipc::domain_name(d)), sequence, std::move(what)};
  out_.push_back(std::move(f));
}

bool Pass::fail(std::string message) {
  if (report_.error.empty()) report_.error = std::move(message);
  return false;
}

bool Pass::scan_table(Domain d, std::string_view table, std::size_t row_size, const RowFn& fn) {
  bool bad = false;
  std::size_t bad_size = 0;
  journal::Status s =
      scan_view(snap(d), envs_[idx(d)], table, [&](journal::Bytes key, journal::Bytes value) {
        if (value.size() != row_size || (key.size() != 8 && key.size() != 16)) {
          bad = true;
          bad_size = value.size();
          return false;
        }
        fn(journal::u64_from_key(key), key.size() == 16 ? journal::u64_from_key(key, 8) : 0, value);
        return true;
      });
  if (!s.ok())
    return fail(fmt::format("{} view, table {}: {}", ipc::domain_name(d), table, s.message()));
  if (bad) {
    return fail(fmt::format(
        "{} view, table {}: a row of {} bytes where this flashsaga expects {} (row layout "
        "version {}); written by another flashsaga version?",
        ipc::domain_name(d), table, bad_size, row_size, domains::row_layout_version));
  }
  return true;
}

bool Pass::read_cursors(Domain d) {
  // Lenient: the cursors are the runtime's, not a contract; an entry of another layout only
  // means the outbox cannot vouch for messages on that edge (the grace period still does).
  const journal::Env& env = *envs_[idx(d)].journal;
  journal::Status s = snap(d).journal.scan(
      env.table(domains::cursors_table_name), {}, std::numeric_limits<std::size_t>::max(),
      [&](journal::Bytes key, journal::Bytes value) {
        domains::InboxEntry e{};
        domains::EdgeSkip skip{};
        if (key.size() != 16) return true;
        const std::uint64_t kind = journal::u64_from_key(key);
        if (kind == domains::cursor_kind_inbox && journal::from_bytes(value, e))
          m_.inbox[idx(d)][journal::u64_from_key(key, 8)] = e.last_sequence;
        else if (kind == domains::cursor_kind_edge_skip && journal::from_bytes(value, skip))
          m_.edge_skips.push_back(skip);
        return true;
      });
  if (!s.ok())
    return fail(fmt::format("{} journal, table cursors: {}", ipc::domain_name(d), s.message()));
  return true;
}

bool Pass::read_user_rows() {
  std::uint64_t users = 0;
  if (!scan_rows<UserRow>(Domain::user, "users",
                          [&](std::uint64_t, std::uint64_t, const UserRow&) { ++users; }))
    return false;
  report_.users = users;
  return true;
}

bool Pass::read_point_rows() {
  auto& steps = m_.steps[idx(Domain::point)];
  return scan_rows<PointAccount>(Domain::point, "accounts",
                                 [&](std::uint64_t user, std::uint64_t, const PointAccount& a) {
                                   m_.accounts[user] = a;
                                 }) &&
         scan_rows<PointStep>(Domain::point, "steps",
                              [&](std::uint64_t order, std::uint64_t, const PointStep& s) {
                                DomainStep& st = steps[order];
                                st.has_row = true;
                                st.row_state = s.state;
                                st.row_flag = s.reward_state;
                                st.row_amount = s.amount;
                                st.row_ref = s.user_id;
                              });
}

bool Pass::read_product_rows() {
  auto& steps = m_.steps[idx(Domain::product)];
  const bool rows = scan_rows<ProductRow>(
      Domain::product, "products", [&](std::uint64_t id, std::uint64_t, const ProductRow& p) {
        ProductFacts& f = m_.products[id];
        f.has_row = true;
        f.row = p;
      });
  // A product step row is written when the order ends: sold, or released.
  if (!rows ||
      !scan_rows<ProductStep>(
          Domain::product, "steps", [&](std::uint64_t order, std::uint64_t, const ProductStep& s) {
            DomainStep& st = steps[order];
            st.has_row = true;
            st.row_state = s.state;
            st.item_count = s.item_count;
            if (static_cast<StepState>(s.state) != StepState::sold) return;
            for (std::uint32_t i = 0; i < s.item_count && i < line_items_max; ++i)
              if (auto it = m_.products.find(s.items[i].product_id); it != m_.products.end())
                it->second.step_sold += s.items[i].quantity;
          }))
    return false;
  std::vector<std::byte> counter;
  const journal::Status s = get_view(
      snap(Domain::product), envs_[idx(Domain::product)], domains::view_counters_table_name,
      journal::as_bytes(std::string_view("last_order_seen")), counter);
  if (s.ok() && counter.size() == sizeof(std::uint64_t)) {
    m_.reservations.counter_present = true;
    std::memcpy(&m_.reservations.counter, counter.data(), sizeof(std::uint64_t));
  }
  return true;
}

bool Pass::read_coupon_rows() {
  auto& steps = m_.steps[idx(Domain::coupon)];
  if (!scan_rows<TemplateRow>(Domain::coupon, "templates",
                              [&](std::uint64_t id, std::uint64_t, const TemplateRow& t) {
                                TemplateFacts& f = m_.templates[id];
                                f.has_row = true;
                                f.row = t;
                              }))
    return false;
  if (!scan_rows<CouponRow>(Domain::coupon, "coupons",
                            [&](std::uint64_t id, std::uint64_t, const CouponRow& c) {
                              CouponFacts& f = m_.coupons[id];
                              f.has_row = true;
                              f.row = c;
                              m_.templates[c.template_id].coupons += 1;
                              m_.coupons_per_holder[{c.template_id, c.user_id}] += 1;
                            }))
    return false;
  if (!scan_rows<CouponStep>(Domain::coupon, "steps",
                             [&](std::uint64_t order, std::uint64_t, const CouponStep& s) {
                               DomainStep& st = steps[order];
                               st.has_row = true;
                               st.row_state = s.state;
                               st.row_flag = s.used;
                               st.row_amount = s.discount;
                               st.row_ref = s.coupon_id;
                               if (static_cast<StepState>(s.state) == StepState::applied)
                                 m_.coupons[s.coupon_id].applied_steps.push_back(order);
                             }))
    return false;
  // holders: (template, user) -> coupon must name a coupon of that template and user.
  return scan_rows<std::uint64_t>(
      Domain::coupon, "holders",
      [&](std::uint64_t tpl, std::uint64_t user, const std::uint64_t& c) {
        auto it = m_.coupons.find(c);
        if (it == m_.coupons.end() || it->second.row.template_id != tpl ||
            it->second.row.user_id != user)
          add(2, 0, Domain::coupon, 0, fmt::format("holder-{}-{}", tpl, user),
              fmt::format("holders says user {} holds coupon {} of template {}, but the coupon row "
                          "disagrees",
                          user, c, tpl));
      });
}

bool Pass::read_payment_rows() {
  auto& steps = m_.steps[idx(Domain::payment)];
  return scan_rows<Wallet>(Domain::payment, "wallets",
                           [&](std::uint64_t user, std::uint64_t, const Wallet& w) {
                             m_.wallet_rows[user] = w;
                           }) &&
         scan_rows<PaymentRow>(
             Domain::payment, "payments",
             [&](std::uint64_t order, std::uint64_t, const PaymentRow& p) {
               DomainStep& st = steps[order];
               st.has_row = true;
               st.row_state = p.state;
               st.row_flag = p.method;
               st.row_amount = p.amount;
               st.row_ref = p.user_id;
               if (p.order_id != order)
                 add(4, order, Domain::payment, 0, "row-key",
                     fmt::format("payments row under order {} names order {}", order, p.order_id));
             });
}

void Pass::order_row(std::uint64_t id, const OrderRow& o) {
  OrderFacts& f = m_.orders[id];
  f.has_row = true;
  f.status = o.status;
  f.reason = o.reason;
  f.was_completed = o.was_completed;
  f.item_count = o.item_count;
  f.user_id = o.user_id;
  f.coupon_id = o.coupon_id;
  f.subtotal = o.subtotal;
  f.discount = o.discount;
  f.points_to_use = o.points_to_use;
  f.points_used = o.points_used;
  f.paid = o.paid;
  f.updated_ns = o.updated_ns;
  f.deadline_ns = o.deadline_ns;
  f.items_subtotal = 0;
  const bool live = o.status == static_cast<std::uint8_t>(OrderStatus::pending) ||
                    o.status == static_cast<std::uint8_t>(OrderStatus::completed);
  for (std::uint32_t i = 0; i < o.item_count && i < line_items_max; ++i) {
    f.items_subtotal += o.items[i].unit_price * static_cast<std::int64_t>(o.items[i].quantity);
    if (live && (o.counted_items & (1u << i)) != 0)
      m_.live_expected[{o.user_id, o.items[i].product_id}] += o.items[i].quantity;
  }
  if (o.id != id)
    add(5, id, Domain::order, 0, "row-key",
        fmt::format("orders row under id {} names order {}", id, o.id));
}

bool Pass::read_order_rows() {
  return scan_rows<OrderRow>(
             Domain::order, "orders",
             [&](std::uint64_t id, std::uint64_t, const OrderRow& o) { order_row(id, o); }) &&
         read_order_sets();
}

// The pending set and the live units per (user, product).
bool Pass::read_order_sets() {
  bool pending_ok = true;
  journal::Status s = scan_view(snap(Domain::order), envs_[idx(Domain::order)], "pending",
                                [&](journal::Bytes key, journal::Bytes) {
                                  if (key.size() != 8) return pending_ok = false;
                                  m_.orders[journal::u64_from_key(key)].in_pending_table = true;
                                  return true;
                                });
  if (!s.ok() || !pending_ok)
    return fail(fmt::format("order view, table pending: unreadable ({})", s.message()));
  return scan_rows<std::int64_t>(
      Domain::order, "live",
      [&](std::uint64_t user, std::uint64_t product, const std::int64_t& units) {
        m_.live_rows[{user, product}] = units;
      });
}

}  // namespace flashsaga::tools
