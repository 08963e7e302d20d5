#include "tools/check/check.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "domains/journal_open.h"
#include "engine/base/assert.h"
#include "engine/base/clock.h"

namespace flashsaga::tools {

using domains::CouponRow;
using domains::CouponState;
using domains::CouponStep;
using domains::Event;
using domains::OrderRow;
using domains::OrderStatus;
using domains::PaymentMethod;
using domains::PaymentRow;
using domains::PointAccount;
using domains::PointStep;
using domains::ProductRow;
using domains::ProductStep;
using domains::RecordType;
using domains::StepState;
using domains::TemplateRow;
using domains::UserRow;
using domains::Wallet;
using ipc::Domain;

// --- Opening -------------------------------------------------------------------------------

Domain parse_domain_name(std::string_view name) noexcept {
  for (Domain d : journal_domains)
    if (ipc::domain_name(d) == name) return d;
  return Domain::none;
}

std::string data_dir_problem(const std::filesystem::path& data_dir) {
  struct stat st {};
  if (::stat(data_dir.c_str(), &st) != 0)
    return fmt::format("no deployment at {}: the directory does not exist (check --data)", data_dir.string());
  if (!S_ISDIR(st.st_mode)) return fmt::format("{} is not a directory (check --data)", data_dir.string());
  return {};
}

bool record_carries_event(RecordType type) noexcept {
  switch (type) {
    case RecordType::user_created:
    case RecordType::user_updated:
    case RecordType::product_created:
    case RecordType::product_updated:
    case RecordType::coupon_template_created:
    case RecordType::coupon_issued:
    case RecordType::order_pending: return false;
    default: return record_type_known(static_cast<std::uint16_t>(type));
  }
}

std::size_t payload_size_for(RecordType type) noexcept {
  switch (type) {
    case RecordType::user_created:
    case RecordType::user_updated: return sizeof(UserRow);
    case RecordType::product_created:
    case RecordType::product_updated: return sizeof(ProductRow);
    case RecordType::coupon_template_created: return sizeof(TemplateRow);
    case RecordType::coupon_issued: return sizeof(CouponRow);
    case RecordType::order_pending: return sizeof(OrderRow);
    default: break;
  }
  return record_type_known(static_cast<std::uint16_t>(type)) ? sizeof(Event) : 0;
}

bool record_type_known(std::uint16_t type) noexcept {
  return domains::record_type_name(static_cast<RecordType>(type)) != "unknown";
}

bool payload_size_ok(RecordType type, std::size_t size) noexcept {
  const std::size_t want = payload_size_for(type);
  return want != 0 && want == size;
}

// --- Replaying one step ----------------------------------------------------------------------

namespace {

std::string_view state_name(StepState s) {
  return domains::step_state_name(s);
}

// Moves to `to`, starting a new phase, or continues the phase if already there.
void enter(StepReplay& s, StepState to) {
  if (s.state == to) {
    ++s.phase_records;
    return;
  }
  s.phase_from = s.state;
  s.state = to;
  s.phase_records = 1;
}

// A legal transition: moves and reports nothing wrong.
std::string moved(StepReplay& s, StepState to) {
  enter(s, to);
  return {};
}

std::string replay_product(StepReplay& s, RecordType type, const Event& e, std::uint32_t items) {
  const bool continuing = s.phase_records < items;
  switch (type) {
    case RecordType::stock_reserved:
      if (s.state == StepState::none) {
        ++s.forward;
        enter(s, StepState::reserved);
        return {};
      }
      if (s.state == StepState::reserved && continuing) return moved(s, StepState::reserved);
      if (s.state == StepState::cancelled_before_apply)
        return fmt::format("{} units of product {} reserved after the cancel came first (a late forward step)",
                           e.amount, e.subject);
      return fmt::format("{} units of product {} reserved again (step already {})", e.amount, e.subject,
                         state_name(s.state));
    case RecordType::stock_sold:
      if (s.state == StepState::reserved) return moved(s, StepState::sold);
      if (s.state == StepState::sold && continuing) return moved(s, StepState::sold);
      return fmt::format("{} units of product {} sold, but the step is {} (only reserved stock can be sold)", e.amount,
                         e.subject, state_name(s.state));
    case RecordType::stock_released:
      if (s.state == StepState::reserved || s.state == StepState::sold) {
        ++s.compensations;
        enter(s, StepState::released);
        return {};
      }
      if (s.state == StepState::released && continuing) return moved(s, StepState::released);
      if (s.state == StepState::released)
        return fmt::format("{} units of product {} released twice (double compensation)", e.amount, e.subject);
      ++s.compensations;
      enter(s, StepState::released);
      return fmt::format("{} units of product {} released, but nothing was reserved (step {}; empty compensation)",
                         e.amount, e.subject, state_name(s.phase_from));
    case RecordType::stock_cancelled_before_apply:
      if (s.state == StepState::none) return moved(s, StepState::cancelled_before_apply);
      return fmt::format("cancelled_before_apply recorded although the step is already {}", state_name(s.state));
    default: break;
  }
  return {};
}

std::string replay_coupon(StepReplay& s, RecordType type, const Event& e) {
  switch (type) {
    case RecordType::coupon_applied:
      if (s.state == StepState::none) {
        ++s.forward;
        s.amount = e.extra;
        enter(s, StepState::applied);
        return {};
      }
      if (s.state == StepState::cancelled_before_apply)
        return fmt::format("coupon {} applied after the cancel came first (a late forward step)", e.subject);
      return fmt::format("coupon {} applied again (step already {})", e.subject, state_name(s.state));
    case RecordType::coupon_rejected:
      if (s.state == StepState::none) return moved(s, StepState::rejected);
      return fmt::format("coupon {} rejected although the step is already {}", e.subject, state_name(s.state));
    case RecordType::coupon_used:
      if (s.state == StepState::applied && !s.used) {
        s.used = true;
        return {};
      }
      return fmt::format("coupon {} used, but the step is {}{}", e.subject, state_name(s.state),
                         s.used ? " and already used" : "");
    case RecordType::coupon_released:
      ++s.compensations;
      if (s.state == StepState::applied) return moved(s, StepState::released);
      if (s.state == StepState::released)
        return fmt::format("coupon {} released twice (double compensation)", e.subject);
      {
        const StepState before = s.state;
        enter(s, StepState::released);
        return fmt::format("coupon {} released, but it was never applied to the order (step {}; empty compensation)",
                           e.subject, state_name(before));
      }
    case RecordType::coupon_cancelled_before_apply:
      if (s.state == StepState::none) return moved(s, StepState::cancelled_before_apply);
      return fmt::format("cancelled_before_apply recorded although the step is already {}", state_name(s.state));
    default: break;
  }
  return {};
}

std::string replay_point(StepReplay& s, RecordType type, const Event& e) {
  switch (type) {
    case RecordType::points_deducted:
      if (s.state == StepState::none) {
        ++s.forward;
        s.amount = e.amount;
        enter(s, StepState::deducted);
        return {};
      }
      if (s.state == StepState::cancelled_before_apply)
        return fmt::format("{} points deducted after the cancel came first (a late forward step)", e.amount);
      return fmt::format("{} points deducted again (step already {})", e.amount, state_name(s.state));
    case RecordType::points_rejected:
      if (s.state == StepState::none) return moved(s, StepState::rejected);
      return fmt::format("deduction rejected although the step is already {}", state_name(s.state));
    case RecordType::points_refunded: {
      ++s.compensations;
      const StepState before = s.state;
      enter(s, StepState::refunded);
      if (before == StepState::deducted) {
        if (e.amount != s.amount)
          return fmt::format("refund of {} points does not match the deduction of {}", e.amount, s.amount);
        return {};
      }
      if (before == StepState::refunded) return fmt::format("{} points refunded twice (double refund)", e.amount);
      if (before == StepState::rejected)
        return fmt::format("refund of {} points for a deduction that was rejected (empty compensation)", e.amount);
      return fmt::format("refund of {} points for a deduction that never happened (step {}; empty compensation)",
                         e.amount, state_name(before));
    }
    case RecordType::points_cancelled_before_apply:
      if (s.state == StepState::none) return moved(s, StepState::cancelled_before_apply);
      return fmt::format("cancelled_before_apply recorded although the step is already {}", state_name(s.state));
    case RecordType::points_rewarded:
      if (s.reward_state != 0) return fmt::format("reward of {} points accrued twice", e.amount);
      s.reward_state = 1;
      s.reward = e.amount;
      if (s.state != StepState::none && s.state != StepState::deducted)
        return fmt::format("reward of {} points for an order whose point step is {}", e.amount, state_name(s.state));
      return {};
    case RecordType::points_reward_revoked:
      if (s.reward_state != 1) {
        s.reward_state = 2;
        return fmt::format("reward revoked ({} points) but none was accrued, or it was revoked already", e.amount);
      }
      s.reward_state = 2;
      if (e.amount > s.reward) return fmt::format("{} points revoked, more than the reward of {}", e.amount, s.reward);
      return {};
    default: break;
  }
  return {};
}

std::string replay_payment(StepReplay& s, RecordType type, const Event& e) {
  switch (type) {
    case RecordType::payment_pg_requested:
      if (s.state == StepState::none) return moved(s, StepState::pending);
      return fmt::format("PG charge requested although the step is already {}", state_name(s.state));
    case RecordType::payment_approved: {
      const StepState before = s.state;
      ++s.forward;
      s.amount = e.amount;
      enter(s, StepState::approved);
      if (before == StepState::none || before == StepState::pending) return {};
      if (s.forward > 1)
        return fmt::format("second charge of {} for the order (at most one charge per order)", e.amount);
      if (before == StepState::cancelled_before_apply)
        return fmt::format("charge of {} after the cancel came first (a late forward step)", e.amount);
      return fmt::format("charge of {} although the payment step is {}", e.amount, state_name(before));
    }
    case RecordType::payment_declined:
      if (s.state == StepState::none || s.state == StepState::pending)
        return moved(s, StepState::declined);
      return fmt::format("charge declined although the step is already {}", state_name(s.state));
    case RecordType::payment_voided:
      ++s.compensations;
      if (s.state == StepState::pending) return moved(s, StepState::voided);
      return fmt::format("void of a payment step that is {} (only a pending PG charge can be voided)",
                         state_name(s.state));
    case RecordType::payment_refunded: {
      ++s.compensations;
      const StepState before = s.state;
      enter(s, StepState::refunded);
      if (before == StepState::approved) {
        if (e.amount != s.amount)
          return fmt::format("refund of {} does not match the charge of {}", e.amount, s.amount);
        return {};
      }
      if (before == StepState::refunded) return fmt::format("refund of {} paid twice (double refund)", e.amount);
      return fmt::format("refund of {} without an approved charge (step {}; empty compensation)", e.amount,
                         state_name(before));
    }
    case RecordType::payment_cancelled_before_apply:
      if (s.state == StepState::none) return moved(s, StepState::cancelled_before_apply);
      return fmt::format("cancelled_before_apply recorded although the step is already {}", state_name(s.state));
    default: break;
  }
  return {};
}

}  // namespace

std::string replay_step(StepReplay& step, RecordType type, const Event& event, std::uint64_t sequence,
                        std::uint32_t items) {
  if (step.first_sequence == 0) step.first_sequence = sequence;
  step.last_sequence = sequence;
  switch (domains::record_domain(type)) {
    case Domain::product: return replay_product(step, type, event, std::max<std::uint32_t>(items, 1));
    case Domain::coupon: return replay_coupon(step, type, event);
    case Domain::point: return replay_point(step, type, event);
    case Domain::payment: return replay_payment(step, type, event);
    default: break;
  }
  return {};
}

bool step_needs_compensation(Domain domain, const StepReplay& s) noexcept {
  switch (domain) {
    case Domain::product: return s.state == StepState::reserved || s.state == StepState::sold;
    case Domain::coupon: return s.state == StepState::applied;
    case Domain::point: return s.state == StepState::deducted;
    case Domain::payment: return s.state == StepState::approved || s.state == StepState::pending;
    default: break;
  }
  return false;
}

// --- The check -------------------------------------------------------------------------------

namespace {

constexpr std::size_t idx(Domain d) {
  return static_cast<std::size_t>(d);
}

// The runtime's inbox row tells a cancel still in the order's outbox from a lost one.
using InboxPosition = domains::InboxEntry;

struct Finding {
  Violation v;
  std::string key;  // stable across snapshots: invariant, order, domain and kind
};

// What the order journal and row say about one order (compact: a deployment has millions).
struct OrderFacts {
  bool has_row = false;
  bool in_pending_table = false;
  std::uint8_t status = 0;    // row
  std::uint8_t j_status = 0;  // journal replay
  std::uint8_t reason = 0;
  std::uint8_t was_completed = 0;
  std::uint8_t j_was_completed = 0;
  std::uint8_t item_count = 0;
  std::uint8_t step_coupon = 0, step_points = 0, step_payment = 0;
  std::uint16_t placed_records = 0;
  std::uint64_t user_id = 0, coupon_id = 0;
  std::int64_t subtotal = 0, items_subtotal = 0, discount = 0, points_to_use = 0, points_used = 0, paid = 0;
  std::int64_t requested_amount = -1, completed_paid = -1;
  std::int64_t updated_ns = 0, deadline_ns = 0;
  std::uint64_t placed_seq = 0, last_seq = 0, requested_seq = 0, finished_seq = 0;
};

struct DomainStep {
  bool has_row = false;
  std::uint8_t row_state = 0;
  std::uint8_t row_flag = 0;    // coupon: used; point: reward_state; payment: method
  std::uint8_t item_count = 0;  // product
  std::int64_t row_amount = 0;  // coupon discount, point amount, payment amount
  std::uint64_t row_ref = 0;    // coupon id; payment user
  StepReplay replay;
};

struct Ledger {  // points or wallet, replayed from the journal
  std::int64_t balance = 0;
  std::array<std::int64_t, 5>
      sums{};  // point: accrued deducted refunded rewarded revoked; wallet: deposits charges refunds
  std::uint64_t last_seq = 0;
};

struct ProductFacts {
  bool has_row = false;
  ProductRow row{};
  std::uint32_t created_records = 0;
  std::int64_t j_total = 0, j_reserved = 0, j_sold = 0;
  std::int64_t step_reserved = 0, step_sold = 0;
  std::uint64_t last_seq = 0;
};

struct CouponFacts {
  bool has_row = false;
  CouponRow row{};
  std::uint32_t issued_records = 0;
  std::uint64_t template_id = 0, user_id = 0;
  std::uint8_t j_state = 0;  // CouponState per journal replay
  std::uint64_t j_holder = 0;
  std::uint64_t last_seq = 0;
  std::vector<std::uint64_t> applied_steps;  // orders whose coupon step row is applied
};

struct TemplateFacts {
  bool has_row = false;
  TemplateRow row{};
  std::uint32_t created_records = 0;
  std::int64_t coupons = 0, issued_records = 0;
  std::uint64_t last_seq = 0;
};

struct Model {
  std::unordered_map<std::uint64_t, OrderFacts> orders;
  std::array<std::unordered_map<std::uint64_t, DomainStep>, 7> steps;  // product, coupon, point, payment
  std::unordered_map<std::uint64_t, ProductFacts> products;
  std::unordered_map<std::uint64_t, CouponFacts> coupons;
  std::unordered_map<std::uint64_t, TemplateFacts> templates;
  std::unordered_map<std::uint64_t, Ledger> points, wallets;
  std::unordered_map<std::uint64_t, PointAccount> accounts;
  std::unordered_map<std::uint64_t, Wallet> wallet_rows;
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::uint32_t> coupons_per_holder;  // (template, user)
  std::unordered_set<std::uint64_t> outbox_inflight;                                    // order * 8 + domain
  std::array<std::unordered_map<std::uint64_t, std::uint64_t>, 7> inbox;                // per domain: edge -> last seq
};

class Pass {
 public:
  Pass(const CheckOptions& o, CheckReport& r, std::vector<Finding>& out, std::int64_t now)
      : opt_(o), report_(r), out_(out), now_(now) {}

  bool read(const std::array<std::unique_ptr<journal::Env>, 7>& envs, std::array<journal::ReadTxn, 7>& txns);
  void evaluate();

 private:
  void add(int inv, std::uint64_t order, Domain d, std::uint64_t seq, std::string_view kind, std::string what) {
    Finding f;
    f.key = fmt::format("{}/{}/{}/{}", inv, order, ipc::domain_name(d), kind);
    f.v = Violation{inv, order, std::string(ipc::domain_name(d)), seq, std::move(what)};
    out_.push_back(std::move(f));
  }
  bool fail(std::string message) {
    if (report_.error.empty()) report_.error = std::move(message);
    return false;
  }
  template <typename Row>
  bool scan_rows(const journal::Env& env, const journal::ReadTxn& txn, Domain d, std::string_view table,
                 const std::function<void(std::uint64_t key, std::uint64_t key2, const Row&)>& fn);
  bool read_records(const journal::ReadTxn& txn, Domain d,
                    const std::function<void(const journal::RecordView&, const Event*)>& fn);

  bool read_user(const journal::Env& env, const journal::ReadTxn& txn);
  bool read_point(const journal::Env& env, const journal::ReadTxn& txn);
  bool read_product(const journal::Env& env, const journal::ReadTxn& txn);
  bool read_coupon(const journal::Env& env, const journal::ReadTxn& txn);
  bool read_payment(const journal::Env& env, const journal::ReadTxn& txn);
  bool read_order(const journal::Env& env, const journal::ReadTxn& txn);
  bool read_inbox(const journal::Env& env, const journal::ReadTxn& txn, Domain d);

  void step_record(Domain d, int inv, const journal::RecordView& r, const Event& e);
  bool in_flight(std::uint64_t order, const OrderFacts& f, Domain d) const;
  void evaluate_order(std::uint64_t id, const OrderFacts& f);
  void evaluate_products();
  void evaluate_coupons();
  void evaluate_points();
  void evaluate_payments();
  void evaluate_orphans();

  const CheckOptions& opt_;
  CheckReport& report_;
  std::vector<Finding>& out_;
  std::int64_t now_;
  Model m_;
};

template <typename Row>
bool Pass::scan_rows(const journal::Env& env, const journal::ReadTxn& txn, Domain d, std::string_view table,
                     const std::function<void(std::uint64_t, std::uint64_t, const Row&)>& fn) {
  bool bad = false;
  std::size_t bad_size = 0;
  journal::Status s = txn.scan(
      env.table(table), {}, std::numeric_limits<std::size_t>::max(), [&](journal::Bytes key, journal::Bytes value) {
        Row row{};
        if (!journal::from_bytes(value, row) || (key.size() != 8 && key.size() != 16)) {
          bad = true;
          bad_size = value.size();
          return false;
        }
        fn(journal::u64_from_key(key), key.size() == 16 ? journal::u64_from_key(key, 8) : 0, row);
        return true;
      });
  if (!s.ok()) return fail(fmt::format("{} journal, table {}: {}", ipc::domain_name(d), table, s.message()));
  if (bad) {
    return fail(
        fmt::format("{} journal, table {}: a row of {} bytes where this flashsaga expects {} (row layout "
                    "version {}); written by another flashsaga version?",
                    ipc::domain_name(d), table, bad_size, sizeof(Row), domains::row_layout_version));
  }
  return true;
}

bool Pass::read_records(const journal::ReadTxn& txn, Domain d,
                        const std::function<void(const journal::RecordView&, const Event*)>& fn) {
  std::string problem;
  std::uint64_t count = 0;
  journal::Status s = txn.records(1, std::numeric_limits<std::size_t>::max(), [&](const journal::RecordView& r) {
    ++count;
    const auto type = static_cast<RecordType>(r.header.type);
    if (!record_type_known(r.header.type)) {
      problem = fmt::format(
          "{} journal: record {} has type {}, which this flashsaga does not know (written by a "
          "newer version?)",
          ipc::domain_name(d), r.sequence, r.header.type);
      return false;
    }
    if (!payload_size_ok(type, r.payload.size())) {
      problem = fmt::format(
          "{} journal: record {} ({}) has a {}-byte payload, expected {} (run `flashsaga journal "
          "verify`)",
          ipc::domain_name(d), r.sequence, domains::record_type_name(type), r.payload.size(), payload_size_for(type));
      return false;
    }
    const Domain owner = domains::record_domain(type);
    if (owner != d && owner != Domain::none) {
      problem = fmt::format("{} journal: record {} is a {} record, which only the {} domain writes",
                            ipc::domain_name(d), r.sequence, domains::record_type_name(type), ipc::domain_name(owner));
      return false;
    }
    if (record_carries_event(type)) {
      Event e;
      std::memcpy(&e, r.payload.data(), sizeof e);
      if (type == RecordType::message_invalid) {
        report_.invalid_messages.push_back({d, r.sequence, e.subject, static_cast<std::uint16_t>(e.other), e.reason});
      }
      fn(r, &e);
    } else {
      fn(r, nullptr);
    }
    return true;
  });
  report_.records[idx(d)] = count;
  if (!s.ok())
    return fail(fmt::format("{} journal: {} (run `flashsaga journal verify`)", ipc::domain_name(d), s.message()));
  if (!problem.empty()) return fail(problem);
  return true;
}

void Pass::step_record(Domain d, int inv, const journal::RecordView& r, const Event& e) {
  const std::uint64_t order = r.header.order_id;
  const auto type = static_cast<RecordType>(r.header.type);
  if (order == 0) {
    add(inv, 0, d, r.sequence, "no-order",
        fmt::format("{} record without an order id", domains::record_type_name(type)));
    return;
  }
  DomainStep& step = m_.steps[idx(d)][order];
  const std::uint32_t items = step.has_row && step.item_count > 0 ? step.item_count : line_items_max;
  std::string wrong = replay_step(step.replay, type, e, r.sequence, items);
  if (!wrong.empty())
    add(inv, order, d, r.sequence, fmt::format("seq-{}", domains::record_type_name(type)), std::move(wrong));
}

bool Pass::read_inbox(const journal::Env& env, const journal::ReadTxn& txn, Domain d) {
  // Lenient: the inbox is the runtime's, not a contract; an entry of another layout only
  // means the outbox cannot vouch for messages on that edge (the grace period still does).
  journal::Status s = txn.scan(env.table("inbox"), {}, std::numeric_limits<std::size_t>::max(),
                               [&](journal::Bytes key, journal::Bytes value) {
                                 InboxPosition p{};
                                 if (key.size() == 8 && journal::from_bytes(value, p))
                                   m_.inbox[idx(d)][journal::u64_from_key(key)] = p.last_sequence;
                                 return true;
                               });
  if (!s.ok()) return fail(fmt::format("{} journal, table inbox: {}", ipc::domain_name(d), s.message()));
  return true;
}

bool Pass::read_user(const journal::Env& env, const journal::ReadTxn& txn) {
  std::uint64_t users = 0;
  if (!scan_rows<UserRow>(env, txn, Domain::user, "users",
                          [&](std::uint64_t, std::uint64_t, const UserRow&) { ++users; }))
    return false;
  report_.users = users;
  return read_records(txn, Domain::user, [](const journal::RecordView&, const Event*) {});
}

bool Pass::read_point(const journal::Env& env, const journal::ReadTxn& txn) {
  auto& steps = m_.steps[idx(Domain::point)];
  if (!scan_rows<PointAccount>(
          env, txn, Domain::point, "accounts",
          [&](std::uint64_t user, std::uint64_t, const PointAccount& a) { m_.accounts[user] = a; }))
    return false;
  if (!scan_rows<PointStep>(env, txn, Domain::point, "steps",
                            [&](std::uint64_t order, std::uint64_t, const PointStep& s) {
                              DomainStep& st = steps[order];
                              st.has_row = true;
                              st.row_state = s.state;
                              st.row_flag = s.reward_state;
                              st.row_amount = s.amount;
                              st.row_ref = s.user_id;
                            }))
    return false;
  if (!read_inbox(env, txn, Domain::point)) return false;
  return read_records(txn, Domain::point, [&](const journal::RecordView& r, const Event* e) {
    if (e == nullptr) return;  // message_invalid has an Event too; nothing else here is a row
    const auto type = static_cast<RecordType>(r.header.type);
    if (type == RecordType::message_invalid) return;
    Ledger& l = m_.points[e->subject];
    l.last_seq = r.sequence;
    std::int64_t delta = 0;
    switch (type) {
      case RecordType::points_accrued:
        l.sums[0] += e->amount;
        delta = e->amount;
        break;
      case RecordType::points_deducted:
        l.sums[1] += e->amount;
        delta = -e->amount;
        break;
      case RecordType::points_refunded:
        l.sums[2] += e->amount;
        delta = e->amount;
        break;
      case RecordType::points_rewarded:
        l.sums[3] += e->amount;
        delta = e->amount;
        break;
      case RecordType::points_reward_revoked:
        l.sums[4] += e->amount;
        delta = -e->amount;
        break;
      default: break;
    }
    l.balance += delta;
    if (e->amount < 0)
      add(3, r.header.order_id, Domain::point, r.sequence, "negative-amount",
          fmt::format("{} moves a negative amount ({})", domains::record_type_name(type), e->amount));
    if (e->balance != l.balance)
      add(3, r.header.order_id, Domain::point, r.sequence, "running-balance",
          fmt::format("user {}: {} says the balance is {}, the journal adds up to {}", e->subject,
                      domains::record_type_name(type), e->balance, l.balance));
    if (l.balance < 0)
      add(3, r.header.order_id, Domain::point, r.sequence, "negative-balance",
          fmt::format("user {}: the point balance goes negative ({})", e->subject, l.balance));
    if (type != RecordType::points_accrued) step_record(Domain::point, 3, r, *e);
  });
}

bool Pass::read_product(const journal::Env& env, const journal::ReadTxn& txn) {
  auto& steps = m_.steps[idx(Domain::product)];
  if (!scan_rows<ProductRow>(env, txn, Domain::product, "products",
                             [&](std::uint64_t id, std::uint64_t, const ProductRow& p) {
                               ProductFacts& f = m_.products[id];
                               f.has_row = true;
                               f.row = p;
                             }))
    return false;
  if (!scan_rows<ProductStep>(env, txn, Domain::product, "steps",
                              [&](std::uint64_t order, std::uint64_t, const ProductStep& s) {
                                DomainStep& st = steps[order];
                                st.has_row = true;
                                st.row_state = s.state;
                                st.item_count = s.item_count;
                                const auto state = static_cast<StepState>(s.state);
                                for (std::uint32_t i = 0; i < s.item_count && i < line_items_max; ++i) {
                                  auto it = m_.products.find(s.items[i].product_id);
                                  if (it == m_.products.end())
                                    continue;  // the domain journals nothing for unknown products
                                  if (state == StepState::reserved) it->second.step_reserved += s.items[i].quantity;
                                  if (state == StepState::sold) it->second.step_sold += s.items[i].quantity;
                                }
                              }))
    return false;
  if (!read_inbox(env, txn, Domain::product)) return false;
  return read_records(txn, Domain::product, [&](const journal::RecordView& r, const Event* e) {
    const auto type = static_cast<RecordType>(r.header.type);
    if (type == RecordType::product_created || type == RecordType::product_updated) {
      ProductRow p;
      std::memcpy(&p, r.payload.data(), sizeof p);
      ProductFacts& f = m_.products[p.id];
      f.last_seq = r.sequence;
      if (type == RecordType::product_created) {
        if (++f.created_records > 1)
          add(1, 0, Domain::product, r.sequence, fmt::format("created-twice-{}", p.id),
              fmt::format("product {} created twice", p.id));
        f.j_total = p.total;
      } else if (p.total != f.j_total) {
        add(1, 0, Domain::product, r.sequence, fmt::format("update-total-{}", p.id),
            fmt::format("product {}: product_updated carries total {}, the journal says {}", p.id, p.total, f.j_total));
      }
      return;
    }
    if (e == nullptr || type == RecordType::message_invalid) return;
    if (type == RecordType::stock_cancelled_before_apply) return step_record(Domain::product, 1, r, *e);
    ProductFacts& f = m_.products[e->subject];
    f.last_seq = r.sequence;
    if (f.created_records == 0) {
      add(1, r.header.order_id, Domain::product, r.sequence, fmt::format("uncreated-{}", e->subject),
          fmt::format("{} for product {}, which was never created", domains::record_type_name(type), e->subject));
    }
    switch (type) {
      case RecordType::product_restocked:
        f.j_total += e->amount;
        if (e->amount <= 0)
          add(1, 0, Domain::product, r.sequence, fmt::format("restock-{}", e->subject),
              fmt::format("product {} restocked by {} units", e->subject, e->amount));
        if (e->balance != f.j_total)
          add(1, 0, Domain::product, r.sequence, fmt::format("restock-total-{}", e->subject),
              fmt::format("product {}: restock says total {}, the journal adds up to {}", e->subject, e->balance,
                          f.j_total));
        return;
      case RecordType::stock_reconciled:
        if (e->balance != f.j_total)
          add(1, 0, Domain::product, r.sequence, fmt::format("reconcile-total-{}", e->subject),
              fmt::format("product {}: reconciliation saw total {}, the journal adds up to {}", e->subject, e->balance,
                          f.j_total));
        return;
      case RecordType::stock_reserved:
      case RecordType::stock_sold:
      case RecordType::stock_released: {
        const std::uint64_t order = r.header.order_id;
        const StepReplay before = order != 0 ? m_.steps[idx(Domain::product)][order].replay : StepReplay{};
        step_record(Domain::product, 1, r, *e);
        if (type == RecordType::stock_reserved) {
          f.j_reserved += e->amount;
        } else if (type == RecordType::stock_sold) {
          f.j_reserved -= e->amount;
          f.j_sold += e->amount;
        } else {
          const StepState from = before.state == StepState::released ? before.phase_from : before.state;
          if (from == StepState::sold)
            f.j_sold -= e->amount;
          else if (from == StepState::reserved)
            f.j_reserved -= e->amount;
        }
        const std::int64_t available = f.j_total - f.j_reserved - f.j_sold;
        if (e->balance != available)
          add(1, order, Domain::product, r.sequence, fmt::format("available-{}", e->subject),
              fmt::format("product {}: {} says {} available, the journal adds up to {}", e->subject,
                          domains::record_type_name(type), e->balance, available));
        if (available < 0)
          add(1, order, Domain::product, r.sequence, fmt::format("oversold-{}", e->subject),
              fmt::format("product {} oversold: {} units reserved or sold of a total of {}", e->subject,
                          f.j_reserved + f.j_sold, f.j_total));
        return;
      }
      default: return;
    }
  });
}

bool Pass::read_coupon(const journal::Env& env, const journal::ReadTxn& txn) {
  auto& steps = m_.steps[idx(Domain::coupon)];
  if (!scan_rows<TemplateRow>(env, txn, Domain::coupon, "templates",
                              [&](std::uint64_t id, std::uint64_t, const TemplateRow& t) {
                                TemplateFacts& f = m_.templates[id];
                                f.has_row = true;
                                f.row = t;
                              }))
    return false;
  if (!scan_rows<CouponRow>(env, txn, Domain::coupon, "coupons",
                            [&](std::uint64_t id, std::uint64_t, const CouponRow& c) {
                              CouponFacts& f = m_.coupons[id];
                              f.has_row = true;
                              f.row = c;
                              m_.templates[c.template_id].coupons += 1;
                              m_.coupons_per_holder[{c.template_id, c.user_id}] += 1;
                            }))
    return false;
  if (!scan_rows<CouponStep>(env, txn, Domain::coupon, "steps",
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
  if (!scan_rows<std::uint64_t>(
          env, txn, Domain::coupon, "holders", [&](std::uint64_t tpl, std::uint64_t user, const std::uint64_t& c) {
            auto it = m_.coupons.find(c);
            if (it == m_.coupons.end() || it->second.row.template_id != tpl || it->second.row.user_id != user)
              add(2, 0, Domain::coupon, 0, fmt::format("holder-{}-{}", tpl, user),
                  fmt::format("holders says user {} holds coupon {} of template {}, but the coupon row disagrees", user,
                              c, tpl));
          }))
    return false;
  if (!read_inbox(env, txn, Domain::coupon)) return false;
  return read_records(txn, Domain::coupon, [&](const journal::RecordView& r, const Event* e) {
    const auto type = static_cast<RecordType>(r.header.type);
    if (type == RecordType::coupon_template_created) {
      TemplateRow t;
      std::memcpy(&t, r.payload.data(), sizeof t);
      TemplateFacts& f = m_.templates[t.id];
      f.last_seq = r.sequence;
      if (++f.created_records > 1)
        add(2, 0, Domain::coupon, r.sequence, fmt::format("template-twice-{}", t.id),
            fmt::format("coupon template {} created twice", t.id));
      return;
    }
    if (type == RecordType::coupon_issued) {
      CouponRow c;
      std::memcpy(&c, r.payload.data(), sizeof c);
      CouponFacts& f = m_.coupons[c.id];
      f.last_seq = r.sequence;
      f.template_id = c.template_id;
      f.user_id = c.user_id;
      f.j_state = static_cast<std::uint8_t>(CouponState::available);
      TemplateFacts& t = m_.templates[c.template_id];
      t.issued_records += 1;
      t.last_seq = r.sequence;
      if (++f.issued_records > 1)
        add(2, 0, Domain::coupon, r.sequence, fmt::format("issued-twice-{}", c.id),
            fmt::format("coupon {} issued twice", c.id));
      if (t.created_records == 0)
        add(2, 0, Domain::coupon, r.sequence, fmt::format("issued-uncreated-{}", c.id),
            fmt::format("coupon {} issued from template {}, which was never created", c.id, c.template_id));
      if (t.row.quantity > 0 && t.issued_records > t.row.quantity)
        add(2, 0, Domain::coupon, r.sequence, fmt::format("over-issued-{}", c.template_id),
            fmt::format("template {} issued {} coupons, more than its quantity {}", c.template_id, t.issued_records,
                        t.row.quantity));
      return;
    }
    if (e == nullptr || type == RecordType::message_invalid) return;
    const std::uint64_t order = r.header.order_id;
    step_record(Domain::coupon, 2, r, *e);
    if (type == RecordType::coupon_rejected || type == RecordType::coupon_cancelled_before_apply) return;
    auto it = m_.coupons.find(e->subject);
    if (it == m_.coupons.end() || it->second.issued_records == 0) {
      add(2, order, Domain::coupon, r.sequence, "unissued",
          fmt::format("{} for coupon {}, which was never issued", domains::record_type_name(type), e->subject));
      return;
    }
    CouponFacts& f = it->second;
    f.last_seq = r.sequence;
    const auto held = static_cast<std::uint8_t>(CouponState::held);
    const auto used = static_cast<std::uint8_t>(CouponState::used);
    const auto available = static_cast<std::uint8_t>(CouponState::available);
    if (type == RecordType::coupon_applied) {
      if (f.j_holder != 0 && f.j_holder != order)
        add(2, order, Domain::coupon, r.sequence, "double-hold",
            fmt::format("coupon {} applied to order {} while order {} holds it ({})", e->subject, order, f.j_holder,
                        f.j_state == used ? "used" : "held"));
      else if (f.j_state != available)
        add(2, order, Domain::coupon, r.sequence, "apply-unavailable",
            fmt::format("coupon {} applied although it is not available", e->subject));
      f.j_holder = order;
      f.j_state = held;
    } else if (type == RecordType::coupon_used) {
      if (f.j_holder != order || f.j_state != held)
        add(2, order, Domain::coupon, r.sequence, "use-unheld",
            fmt::format("coupon {} used by order {}, which does not hold it (holder {})", e->subject, order,
                        f.j_holder));
      f.j_holder = order;
      f.j_state = used;
    } else if (type == RecordType::coupon_released) {
      if (f.j_holder != order)
        add(2, order, Domain::coupon, r.sequence, "release-unheld",
            fmt::format("coupon {} released by order {}, which does not hold it (holder {})", e->subject, order,
                        f.j_holder));
      else {
        f.j_holder = 0;
        f.j_state = available;
      }
    }
  });
}

bool Pass::read_payment(const journal::Env& env, const journal::ReadTxn& txn) {
  auto& steps = m_.steps[idx(Domain::payment)];
  if (!scan_rows<Wallet>(env, txn, Domain::payment, "wallets",
                         [&](std::uint64_t user, std::uint64_t, const Wallet& w) { m_.wallet_rows[user] = w; }))
    return false;
  if (!scan_rows<PaymentRow>(env, txn, Domain::payment, "payments",
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
                             }))
    return false;
  if (!read_inbox(env, txn, Domain::payment)) return false;
  const auto wallet = static_cast<std::int64_t>(PaymentMethod::wallet);
  return read_records(txn, Domain::payment, [&](const journal::RecordView& r, const Event* e) {
    const auto type = static_cast<RecordType>(r.header.type);
    if (e == nullptr || type == RecordType::message_invalid) return;
    Ledger& l = m_.wallets[e->subject];
    bool moved = false;
    if (type == RecordType::wallet_deposited) {
      l.sums[0] += e->amount;
      l.balance += e->amount;
      moved = true;
    } else if (type == RecordType::payment_approved && e->extra == wallet && e->amount > 0) {
      l.sums[1] += e->amount;
      l.balance -= e->amount;
      moved = true;
    } else if (type == RecordType::payment_refunded && e->extra == wallet && e->amount > 0) {
      l.sums[2] += e->amount;
      l.balance += e->amount;
      moved = true;
    }
    if (type == RecordType::payment_approved) report_.money_charged += e->amount;
    if (type == RecordType::payment_refunded) report_.money_refunded += e->amount;
    if (moved) {
      l.last_seq = r.sequence;
      if (e->amount < 0)
        add(4, r.header.order_id, Domain::payment, r.sequence, "negative-amount",
            fmt::format("{} moves a negative amount ({})", domains::record_type_name(type), e->amount));
      if (e->balance != l.balance)
        add(4, r.header.order_id, Domain::payment, r.sequence, "running-balance",
            fmt::format("user {}: {} says the wallet holds {}, the journal adds up to {}", e->subject,
                        domains::record_type_name(type), e->balance, l.balance));
      if (l.balance < 0)
        add(4, r.header.order_id, Domain::payment, r.sequence, "negative-balance",
            fmt::format("user {}: the wallet goes negative ({})", e->subject, l.balance));
    }
    if (type != RecordType::wallet_deposited) step_record(Domain::payment, 4, r, *e);
  });
}

bool Pass::read_order(const journal::Env& env, const journal::ReadTxn& txn) {
  if (!scan_rows<OrderRow>(env, txn, Domain::order, "orders", [&](std::uint64_t id, std::uint64_t, const OrderRow& o) {
        OrderFacts& f = m_.orders[id];
        f.has_row = true;
        f.status = o.status;
        f.reason = o.reason;
        f.was_completed = o.was_completed;
        f.item_count = o.item_count;
        f.step_coupon = o.step_coupon;
        f.step_points = o.step_points;
        f.step_payment = o.step_payment;
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
        for (std::uint32_t i = 0; i < o.item_count && i < line_items_max; ++i)
          f.items_subtotal += o.items[i].unit_price * static_cast<std::int64_t>(o.items[i].quantity);
        if (o.id != id)
          add(5, id, Domain::order, 0, "row-key", fmt::format("orders row under id {} names order {}", id, o.id));
      }))
    return false;
  bool pending_ok = true;
  journal::Status s = txn.scan(env.table("pending"), {}, std::numeric_limits<std::size_t>::max(),
                               [&](journal::Bytes key, journal::Bytes) {
                                 if (key.size() != 8) return pending_ok = false;
                                 m_.orders[journal::u64_from_key(key)].in_pending_table = true;
                                 return true;
                               });
  if (!s.ok() || !pending_ok) return fail(fmt::format("order journal, table pending: unreadable ({})", s.message()));

  // Messages committed to the outbox but not yet applied by their consumer: in flight.
  std::string outbox_problem;
  s = txn.scan(env.table("outbox"), {}, std::numeric_limits<std::size_t>::max(),
               [&](journal::Bytes key, journal::Bytes value) {
                 ipc::Message msg;
                 if (key.size() != 16 || !journal::from_bytes(value, msg)) {
                   outbox_problem = "an outbox entry of another layout";
                   return false;
                 }
                 const std::uint64_t edge = journal::u64_from_key(key);
                 const std::uint64_t seq = journal::u64_from_key(key, 8);
                 const auto to = static_cast<Domain>(msg.header.destination);
                 if (idx(to) >= m_.inbox.size() || msg.header.order_id == 0) return true;
                 const auto& inbox = m_.inbox[idx(to)];
                 const auto it = inbox.find(edge);
                 const std::uint64_t applied = it == inbox.end() ? 0 : it->second;
                 if (seq > applied) m_.outbox_inflight.insert(msg.header.order_id * 8 + idx(to));
                 return true;
               });
  if (!s.ok() || !outbox_problem.empty())
    return fail(fmt::format("order journal, table outbox: {}", s.ok() ? outbox_problem : s.message()));

  return read_records(txn, Domain::order, [&](const journal::RecordView& r, const Event* e) {
    const auto type = static_cast<RecordType>(r.header.type);
    const std::uint64_t id = r.header.order_id;
    if (type == RecordType::message_invalid) return;
    if (type == RecordType::order_rejected) {
      ++report_.rejected;
      return;
    }
    if (id == 0) {
      add(5, 0, Domain::order, r.sequence, "no-order",
          fmt::format("{} record without an order id", domains::record_type_name(type)));
      return;
    }
    OrderFacts& f = m_.orders[id];
    f.last_seq = r.sequence;
    const auto pending = static_cast<std::uint8_t>(OrderStatus::pending);
    const auto completed = static_cast<std::uint8_t>(OrderStatus::completed);
    const auto cancelled = static_cast<std::uint8_t>(OrderStatus::cancelled);
    switch (type) {
      case RecordType::order_pending:
        if (++f.placed_records > 1)
          add(5, id, Domain::order, r.sequence, "placed-twice", fmt::format("order {} placed twice", id));
        f.placed_seq = r.sequence;
        f.j_status = pending;
        return;
      case RecordType::order_payment_requested:
        if (f.requested_amount >= 0)
          add(4, id, Domain::order, r.sequence, "requested-twice", "payment requested twice for the order");
        f.requested_amount = e->amount;
        f.requested_seq = r.sequence;
        return;
      case RecordType::order_completed:
        if (f.j_status != pending)
          add(5, id, Domain::order, r.sequence, "complete-from",
              fmt::format("order completed from status {}",
                          domains::order_status_name(static_cast<OrderStatus>(f.j_status))));
        f.j_status = completed;
        f.completed_paid = e->amount;
        f.finished_seq = r.sequence;
        return;
      case RecordType::order_cancelled:
        if (f.j_status != pending && f.j_status != completed)
          add(5, id, Domain::order, r.sequence, "cancel-from",
              fmt::format("order cancelled from status {}",
                          domains::order_status_name(static_cast<OrderStatus>(f.j_status))));
        if ((e->extra == 1) != (f.j_status == completed))
          add(5, id, Domain::order, r.sequence, "cancel-was-completed",
              fmt::format("order_cancelled says was_completed={}, but the order was {}", e->extra,
                          domains::order_status_name(static_cast<OrderStatus>(f.j_status))));
        f.j_was_completed = f.j_status == completed ? 1 : 0;
        f.j_status = cancelled;
        f.finished_seq = r.sequence;
        return;
      default: return;  // order_step: the order's view of each answer; the row keeps the last
    }
  });
}

bool Pass::read(const std::array<std::unique_ptr<journal::Env>, 7>& envs, std::array<journal::ReadTxn, 7>& txns) {
  // Order last: every effect in the other journals has its cause in the order snapshot.
  for (Domain d : journal_domains) {
    journal::Status s = envs[idx(d)]->begin_read(txns[idx(d)]);
    if (!s.ok()) return fail(fmt::format("{} journal: {}", ipc::domain_name(d), s.message()));
  }
  auto env = [&](Domain d) -> const journal::Env& { return *envs[idx(d)]; };
  auto txn = [&](Domain d) -> const journal::ReadTxn& { return txns[idx(d)]; };
  return read_user(env(Domain::user), txn(Domain::user)) && read_point(env(Domain::point), txn(Domain::point)) &&
         read_product(env(Domain::product), txn(Domain::product)) &&
         read_coupon(env(Domain::coupon), txn(Domain::coupon)) &&
         read_payment(env(Domain::payment), txn(Domain::payment)) && read_order(env(Domain::order), txn(Domain::order));
}

bool Pass::in_flight(std::uint64_t order, const OrderFacts& f, Domain d) const {
  if (opt_.require_terminal) return false;
  if (m_.outbox_inflight.count(order * 8 + idx(d)) != 0) return true;
  return f.updated_ns >= now_ - opt_.inflight_grace_ns;
}

std::string_view step_noun(Domain d) {
  switch (d) {
    case Domain::product: return "stock";
    case Domain::coupon: return "coupon";
    case Domain::point: return "points";
    case Domain::payment: return "payment";
    default: return "step";
  }
}

void Pass::evaluate_order(std::uint64_t id, const OrderFacts& f) {
  const auto status = static_cast<OrderStatus>(f.status);
  const auto status_name = domains::order_status_name(status);
  // The order journal and its row.
  if (f.placed_records == 0)
    add(5, id, Domain::order, f.last_seq, "no-pending-record", "order row without its order_pending record");
  if (f.j_status != f.status)
    add(5, id, Domain::order, f.last_seq, "row-vs-journal",
        fmt::format("order row says {}, its records say {}", status_name,
                    domains::order_status_name(static_cast<OrderStatus>(f.j_status))));
  if (f.in_pending_table != (status == OrderStatus::pending))
    add(5, id, Domain::order, f.last_seq, "pending-table",
        fmt::format("order is {} but {} the pending table", status_name, f.in_pending_table ? "in" : "not in"));
  if (status == OrderStatus::cancelled && f.was_completed != f.j_was_completed)
    add(5, id, Domain::order, f.finished_seq, "was-completed", "row and journal disagree on whether it had completed");

  const DomainStep* steps[7] = {};
  for (Domain d : {Domain::product, Domain::coupon, Domain::point, Domain::payment}) {
    auto it = m_.steps[idx(d)].find(id);
    steps[idx(d)] = it == m_.steps[idx(d)].end() ? nullptr : &it->second;
  }
  auto state_of = [&](Domain d) { return steps[idx(d)] ? steps[idx(d)]->replay.state : StepState::none; };
  auto seq_of = [&](Domain d) { return steps[idx(d)] ? steps[idx(d)]->replay.last_sequence : 0; };
  auto compensated = [&](Domain d) {
    return steps[idx(d)] && (steps[idx(d)]->replay.compensations > 0 ||
                             steps[idx(d)]->replay.state == StepState::cancelled_before_apply);
  };
  // A forward state the order is still waiting on: in flight while young or in the outbox.
  auto not_yet = [&](Domain d, std::string_view kind, std::string what) {
    if (in_flight(id, f, d)) {
      ++report_.inflight;
      return;
    }
    add(5, id, d, seq_of(d), kind, std::move(what));
  };

  if (status == OrderStatus::pending) {
    if (opt_.require_terminal)
      add(5, id, Domain::order, f.last_seq, "not-terminal", "order is still PENDING (--require-terminal)");
    else if (f.deadline_ns != 0 && f.deadline_ns < now_ - opt_.inflight_grace_ns)
      ++report_.overdue;
    for (Domain d : {Domain::product, Domain::coupon, Domain::point, Domain::payment})
      if (compensated(d))
        add(5, id, d, seq_of(d), "compensated-live",
            fmt::format("{} step compensated ({}) although the order is PENDING", step_noun(d),
                        state_name(state_of(d))));
    return;
  }

  if (status == OrderStatus::completed) {
    for (Domain d : {Domain::product, Domain::coupon, Domain::point, Domain::payment})
      if (compensated(d))
        add(5, id, d, seq_of(d), "compensated-completed",
            fmt::format("{} step compensated ({}) although the order is COMPLETED", step_noun(d),
                        state_name(state_of(d))));
    const StepState stock = state_of(Domain::product);
    if (stock != StepState::sold && stock != StepState::released && stock != StepState::cancelled_before_apply)
      not_yet(Domain::product, "completed-stock",
              fmt::format("order COMPLETED but its stock is {} (never sold)", state_name(stock)));
    const StepState pay = state_of(Domain::payment);
    if (pay != StepState::approved && pay != StepState::refunded)
      add(5, id, Domain::payment, seq_of(Domain::payment), "completed-unpaid",
          fmt::format("order COMPLETED but its payment is {} (never approved)", state_name(pay)));
    if (f.coupon_id != 0) {
      const DomainStep* c = steps[idx(Domain::coupon)];
      if (state_of(Domain::coupon) != StepState::applied && !compensated(Domain::coupon))
        add(5, id, Domain::coupon, seq_of(Domain::coupon), "completed-coupon",
            fmt::format("order COMPLETED with coupon {} but its coupon step is {}", f.coupon_id,
                        state_name(state_of(Domain::coupon))));
      else if (c && c->replay.state == StepState::applied && !c->replay.used)
        not_yet(Domain::coupon, "completed-coupon-unused",
                fmt::format("order COMPLETED but coupon {} is still held, not used", f.coupon_id));
    }
    if (f.points_to_use > 0 && state_of(Domain::point) != StepState::deducted && !compensated(Domain::point))
      add(5, id, Domain::point, seq_of(Domain::point), "completed-points",
          fmt::format("order COMPLETED using {} points but its point step is {}", f.points_to_use,
                      state_name(state_of(Domain::point))));
  }

  if (status == OrderStatus::cancelled) {
    for (Domain d : {Domain::product, Domain::coupon, Domain::point, Domain::payment}) {
      const DomainStep* s = steps[idx(d)];
      if (s == nullptr || !step_needs_compensation(d, s->replay)) continue;
      const bool paid = d == Domain::payment && s->replay.state == StepState::approved;
      not_yet(d, "missing-compensation",
              fmt::format("order CANCELLED but its {} step is still {}{}: compensation missing", step_noun(d),
                          state_name(s->replay.state), paid ? fmt::format(" ({} charged)", s->replay.amount) : ""));
    }
    const DomainStep* p = steps[idx(Domain::point)];
    if (f.was_completed == 1 && p != nullptr && p->replay.reward_state == 1 && p->replay.reward > 0)
      not_yet(Domain::point, "missing-revoke",
              fmt::format("refunded order's reward of {} points was never revoked", p->replay.reward));
  }

  // Invariant 6: what a completed order paid.
  if (status == OrderStatus::completed || (status == OrderStatus::cancelled && f.was_completed == 1)) {
    const std::int64_t expected = f.subtotal - f.discount - f.points_used;
    if (f.items_subtotal != f.subtotal)
      add(6, id, Domain::order, f.finished_seq, "subtotal",
          fmt::format("subtotal {} but its items add up to {}", f.subtotal, f.items_subtotal));
    if (f.paid != expected)
      add(6, id, Domain::order, f.finished_seq, "paid",
          fmt::format("paid {} but subtotal {} - discount {} - points {} = {}", f.paid, f.subtotal, f.discount,
                      f.points_used, expected));
    if (f.paid < 0) add(6, id, Domain::order, f.finished_seq, "negative-paid", fmt::format("paid {} < 0", f.paid));
    if (f.completed_paid >= 0 && f.completed_paid != f.paid)
      add(6, id, Domain::order, f.finished_seq, "completed-record",
          fmt::format("order_completed says paid {}, the row says {}", f.completed_paid, f.paid));
    if (f.requested_amount >= 0 && f.requested_amount != f.paid)
      add(6, id, Domain::order, f.requested_seq, "requested",
          fmt::format("payment requested {}, the order paid {}", f.requested_amount, f.paid));
    if (const DomainStep* pay = steps[idx(Domain::payment)]; pay != nullptr) {
      if (pay->has_row && pay->row_amount != f.paid)
        add(6, id, Domain::payment, pay->replay.last_sequence, "payment-row",
            fmt::format("payment row says {}, the order paid {}", pay->row_amount, f.paid));
      if (pay->replay.forward > 0 && pay->replay.amount != f.paid)
        add(6, id, Domain::payment, pay->replay.last_sequence, "payment-record",
            fmt::format("payment_approved charged {}, the order paid {}", pay->replay.amount, f.paid));
    }
    if (const DomainStep* c = steps[idx(Domain::coupon)];
        c != nullptr && c->replay.forward > 0 && c->replay.amount != f.discount)
      add(6, id, Domain::coupon, c->replay.last_sequence, "discount",
          fmt::format("coupon step gave a discount of {}, the order counted {}", c->replay.amount, f.discount));
    if (const DomainStep* p = steps[idx(Domain::point)];
        p != nullptr && p->replay.forward > 0 && p->replay.amount != f.points_used)
      add(6, id, Domain::point, p->replay.last_sequence, "points-used",
          fmt::format("point step deducted {}, the order counted {}", p->replay.amount, f.points_used));
  }
}

void Pass::evaluate_products() {
  for (auto& [id, p] : m_.products) {
    if (!p.has_row) {
      if (p.created_records > 0)
        add(1, 0, Domain::product, p.last_seq, fmt::format("no-row-{}", id),
            fmt::format("product {} has records but no row", id));
      continue;
    }
    ++report_.products;
    report_.units_total += p.row.total;
    report_.units_reserved += p.row.reserved;
    report_.units_sold += p.row.sold;
    const ProductRow& r = p.row;
    const auto kind = [&](std::string_view k) { return fmt::format("{}-{}", k, id); };
    if (p.created_records == 0)
      add(1, 0, Domain::product, 0, kind("no-created"), fmt::format("product {} has no product_created record", id));
    else if (r.total != p.j_total)
      add(1, 0, Domain::product, p.last_seq, kind("total"),
          fmt::format("product {}: row total {} but initial + restocks = {}", id, r.total, p.j_total));
    if (r.reserved != p.step_reserved || r.reserved != p.j_reserved)
      add(1, 0, Domain::product, p.last_seq, kind("reserved"),
          fmt::format("product {}: row reserved {}, reserved steps hold {}, the journal adds up to {}", id, r.reserved,
                      p.step_reserved, p.j_reserved));
    if (r.sold != p.step_sold || r.sold != p.j_sold)
      add(1, 0, Domain::product, p.last_seq, kind("sold"),
          fmt::format("product {}: row sold {}, sold steps hold {}, the journal adds up to {}", id, r.sold, p.step_sold,
                      p.j_sold));
    if (r.reserved < 0 || r.sold < 0)
      add(1, 0, Domain::product, p.last_seq, kind("negative"),
          fmt::format("product {}: negative counters (reserved {}, sold {})", id, r.reserved, r.sold));
    if (r.total - r.reserved - r.sold < 0)
      add(1, 0, Domain::product, p.last_seq, kind("oversold"),
          fmt::format("product {} oversold by {} units: total {} < reserved {} + sold {}", id,
                      r.reserved + r.sold - r.total, r.total, r.reserved, r.sold));
  }
  for (auto& [order, s] : m_.steps[idx(Domain::product)]) {
    if (!s.has_row) {
      add(1, order, Domain::product, s.replay.last_sequence, "no-step-row", "stock records but no step row");
      continue;
    }
    if (static_cast<StepState>(s.row_state) != s.replay.state && s.replay.last_sequence != 0)
      add(1, order, Domain::product, s.replay.last_sequence, "step-row",
          fmt::format("step row says {}, its records say {}", state_name(static_cast<StepState>(s.row_state)),
                      state_name(s.replay.state)));
  }
}

void Pass::evaluate_coupons() {
  const auto live = [&](std::uint64_t order) {
    auto it = m_.orders.find(order);
    return it != m_.orders.end() && it->second.has_row &&
           it->second.status != static_cast<std::uint8_t>(OrderStatus::cancelled);
  };
  for (auto& [id, t] : m_.templates) {
    if (!t.has_row) {
      add(2, 0, Domain::coupon, t.last_seq, fmt::format("no-template-{}", id),
          fmt::format("coupons or records name template {}, which has no row", id));
      continue;
    }
    ++report_.templates;
    const auto kind = [&](std::string_view k) { return fmt::format("{}-{}", k, id); };
    if (t.created_records == 0)
      add(2, 0, Domain::coupon, 0, kind("no-created"),
          fmt::format("template {} has no coupon_template_created record", id));
    if (t.row.issued != t.coupons || t.row.issued != t.issued_records)
      add(2, 0, Domain::coupon, t.last_seq, kind("issued"),
          fmt::format("template {}: issued {}, but {} coupon rows and {} coupon_issued records", id, t.row.issued,
                      t.coupons, t.issued_records));
    if (t.row.quantity > 0 && t.row.issued > t.row.quantity)
      add(2, 0, Domain::coupon, t.last_seq, kind("quantity"),
          fmt::format("template {}: {} issued, more than its quantity {}", id, t.row.issued, t.row.quantity));
  }
  for (auto& [key, n] : m_.coupons_per_holder)
    if (n > 1)
      add(2, 0, Domain::coupon, 0, fmt::format("per-user-{}-{}", key.first, key.second),
          fmt::format("user {} holds {} coupons of template {} (at most one)", key.second, n, key.first));
  const auto available = static_cast<std::uint8_t>(CouponState::available);
  const auto held = static_cast<std::uint8_t>(CouponState::held);
  const auto used = static_cast<std::uint8_t>(CouponState::used);
  for (auto& [id, c] : m_.coupons) {
    if (!c.has_row) {
      if (c.issued_records > 0)
        add(2, 0, Domain::coupon, c.last_seq, fmt::format("no-row-{}", id),
            fmt::format("coupon {} was issued but has no row", id));
      continue;  // records naming a coupon that never existed are reported where they are read
    }
    ++report_.coupons;
    const CouponRow& r = c.row;
    const auto kind = [&](std::string_view k) { return fmt::format("{}-{}", k, id); };
    if (c.issued_records == 0)
      add(2, 0, Domain::coupon, 0, kind("no-issued"), fmt::format("coupon {} has no coupon_issued record", id));
    else if (r.state != c.j_state || r.order_id != c.j_holder)
      add(2, r.order_id, Domain::coupon, c.last_seq, kind("row-vs-journal"),
          fmt::format("coupon {} row is {} (order {}), its records say {} (order {})", id,
                      domains::coupon_state_name(static_cast<CouponState>(r.state)), r.order_id,
                      domains::coupon_state_name(static_cast<CouponState>(c.j_state)), c.j_holder));
    std::vector<std::uint64_t> live_holders;
    for (std::uint64_t o : c.applied_steps)
      if (live(o)) live_holders.push_back(o);
    if (live_holders.size() > 1) {
      std::string list;
      for (std::uint64_t o : live_holders) list += (list.empty() ? "" : ", ") + std::to_string(o);
      add(2, live_holders.back(), Domain::coupon, c.last_seq, kind("two-live"),
          fmt::format("coupon {} is held by {} live orders at once ({})", id, live_holders.size(), list));
    }
    if (r.state == available && r.order_id != 0)
      add(2, r.order_id, Domain::coupon, c.last_seq, kind("available-holder"),
          fmt::format("coupon {} is available but names order {}", id, r.order_id));
    if (r.state == available) {
      for (std::uint64_t o : c.applied_steps)
        add(2, o, Domain::coupon, c.last_seq, kind("available-applied"),
            fmt::format("coupon {} is available, but order {}'s coupon step still holds it", id, o));
    }
    if (r.state == held || r.state == used) {
      auto it = m_.steps[idx(Domain::coupon)].find(r.order_id);
      const bool ok = it != m_.steps[idx(Domain::coupon)].end() && it->second.has_row &&
                      static_cast<StepState>(it->second.row_state) == StepState::applied && it->second.row_ref == id &&
                      (it->second.row_flag == 1) == (r.state == used);
      if (!ok)
        add(2, r.order_id, Domain::coupon, c.last_seq, kind("holder-step"),
            fmt::format("coupon {} is {} by order {}, but that order's coupon step does not say so", id,
                        domains::coupon_state_name(static_cast<CouponState>(r.state)), r.order_id));
    }
  }
  for (auto& [order, s] : m_.steps[idx(Domain::coupon)]) {
    if (!s.has_row) {
      add(2, order, Domain::coupon, s.replay.last_sequence, "no-step-row", "coupon records but no step row");
      continue;
    }
    if (static_cast<StepState>(s.row_state) != s.replay.state || (s.row_flag == 1) != s.replay.used)
      add(2, order, Domain::coupon, s.replay.last_sequence, "step-row",
          fmt::format("step row says {}{}, its records say {}{}", state_name(static_cast<StepState>(s.row_state)),
                      s.row_flag ? " (used)" : "", state_name(s.replay.state), s.replay.used ? " (used)" : ""));
  }
}

void Pass::evaluate_points() {
  for (auto& [user, a] : m_.accounts) {
    ++report_.point_accounts;
    const Ledger* l = nullptr;
    if (auto it = m_.points.find(user); it != m_.points.end()) l = &it->second;
    const std::uint64_t seq = l ? l->last_seq : 0;
    const auto kind = [&](std::string_view k) { return fmt::format("{}-{}", k, user); };
    const std::int64_t identity = a.accrued - a.deducted + a.refunded + a.rewarded - a.revoked;
    if (a.balance != identity)
      add(3, 0, Domain::point, seq, kind("identity"),
          fmt::format("user {}: balance {} but accrued {} - deducted {} + refunded {} + rewarded {} - revoked {} = {}",
                      user, a.balance, a.accrued, a.deducted, a.refunded, a.rewarded, a.revoked, identity));
    if (a.balance < 0)
      add(3, 0, Domain::point, seq, kind("negative"), fmt::format("user {}: balance {} < 0", user, a.balance));
    if (a.refunded > a.deducted)
      add(3, 0, Domain::point, seq, kind("refunded-gt-deducted"),
          fmt::format("user {}: refunded {} more than deducted {}", user, a.refunded, a.deducted));
    const std::array<std::int64_t, 5> row = {a.accrued, a.deducted, a.refunded, a.rewarded, a.revoked};
    const std::array<std::int64_t, 5> j = l ? l->sums : std::array<std::int64_t, 5>{};
    const std::int64_t j_balance = l ? l->balance : 0;
    if (row != j || a.balance != j_balance)
      add(3, 0, Domain::point, seq, kind("row-vs-journal"),
          fmt::format("user {}: account row (balance {}: {}/{}/{}/{}/{}) differs from the journal (balance {}: "
                      "{}/{}/{}/{}/{}) as accrued/deducted/refunded/rewarded/revoked",
                      user, a.balance, a.accrued, a.deducted, a.refunded, a.rewarded, a.revoked, j_balance, j[0], j[1],
                      j[2], j[3], j[4]));
  }
  for (auto& [user, l] : m_.points) {
    const bool moved = l.sums != std::array<std::int64_t, 5>{};
    if (moved && m_.accounts.count(user) == 0)
      add(3, 0, Domain::point, l.last_seq, fmt::format("no-account-{}", user),
          fmt::format("user {}: the journal moves points ({}) but there is no account row", user, l.balance));
  }
  for (auto& [order, s] : m_.steps[idx(Domain::point)]) {
    if (!s.has_row) {
      add(3, order, Domain::point, s.replay.last_sequence, "no-step-row", "point records but no step row");
      continue;
    }
    const auto row_state = static_cast<StepState>(s.row_state);
    if (row_state != s.replay.state || s.row_flag != s.replay.reward_state ||
        (s.replay.forward > 0 && s.row_amount != s.replay.amount))
      add(3, order, Domain::point, s.replay.last_sequence, "step-row",
          fmt::format("step row says {} {} points (reward state {}), its records say {} {} (reward state {})",
                      state_name(row_state), s.row_amount, s.row_flag, state_name(s.replay.state), s.replay.amount,
                      s.replay.reward_state));
  }
}

void Pass::evaluate_payments() {
  for (auto& [user, w] : m_.wallet_rows) {
    ++report_.wallets;
    const Ledger* l = nullptr;
    if (auto it = m_.wallets.find(user); it != m_.wallets.end()) l = &it->second;
    const std::uint64_t seq = l ? l->last_seq : 0;
    const auto kind = [&](std::string_view k) { return fmt::format("{}-{}", k, user); };
    const std::int64_t identity = w.deposits - w.charges + w.refunds;
    if (w.balance != identity)
      add(4, 0, Domain::payment, seq, kind("identity"),
          fmt::format("user {}: wallet balance {} but deposits {} - charges {} + refunds {} = {}", user, w.balance,
                      w.deposits, w.charges, w.refunds, identity));
    if (w.balance < 0)
      add(4, 0, Domain::payment, seq, kind("negative"), fmt::format("user {}: wallet {} < 0", user, w.balance));
    if (w.refunds > w.charges)
      add(4, 0, Domain::payment, seq, kind("refunds-gt-charges"),
          fmt::format("user {}: refunds {} exceed charges {}", user, w.refunds, w.charges));
    const std::int64_t jd = l ? l->sums[0] : 0, jc = l ? l->sums[1] : 0, jr = l ? l->sums[2] : 0;
    const std::int64_t jb = l ? l->balance : 0;
    if (w.deposits != jd || w.charges != jc || w.refunds != jr || w.balance != jb)
      add(4, 0, Domain::payment, seq, kind("row-vs-journal"),
          fmt::format("user {}: wallet row (balance {}, deposits {}, charges {}, refunds {}) differs from the journal "
                      "(balance {}, deposits {}, charges {}, refunds {})",
                      user, w.balance, w.deposits, w.charges, w.refunds, jb, jd, jc, jr));
  }
  for (auto& [user, l] : m_.wallets) {
    const bool moved = l.sums != std::array<std::int64_t, 5>{};
    if (moved && m_.wallet_rows.count(user) == 0)
      add(4, 0, Domain::payment, l.last_seq, fmt::format("no-wallet-{}", user),
          fmt::format("user {}: the journal moves money ({}) but there is no wallet row", user, l.balance));
  }
  for (auto& [order, s] : m_.steps[idx(Domain::payment)]) {
    if (!s.has_row) {
      add(4, order, Domain::payment, s.replay.last_sequence, "no-step-row", "payment records but no payments row");
      continue;
    }
    const auto row_state = static_cast<StepState>(s.row_state);
    if (row_state != s.replay.state || (s.replay.forward > 0 && s.row_amount != s.replay.amount))
      add(4, order, Domain::payment, s.replay.last_sequence, "step-row",
          fmt::format("payments row says {} {}, its records say {} {}", state_name(row_state), s.row_amount,
                      state_name(s.replay.state), s.replay.amount));
    if (s.replay.forward > 0) {
      auto it = m_.orders.find(order);
      if (it == m_.orders.end() || !it->second.has_row) continue;  // reported as an orphan below
      if (it->second.requested_amount < 0)
        add(4, order, Domain::payment, s.replay.first_sequence, "unrequested-charge",
            fmt::format("charge of {} that the order never requested", s.replay.amount));
      else if (it->second.requested_amount != s.replay.amount)
        add(4, order, Domain::payment, s.replay.first_sequence, "charge-amount",
            fmt::format("charged {}, the order requested {}", s.replay.amount, it->second.requested_amount));
    }
  }
}

void Pass::evaluate_orphans() {
  const std::array<std::pair<Domain, int>, 4> domains = {
      {{Domain::product, 1}, {Domain::coupon, 2}, {Domain::point, 3}, {Domain::payment, 4}}};
  for (const auto& [d, inv] : domains) {
    for (auto& [order, s] : m_.steps[idx(d)]) {
      auto it = m_.orders.find(order);
      if (it != m_.orders.end() && it->second.has_row) continue;
      const StepReplay& r = s.replay;
      std::string what;
      if (d == Domain::payment && r.forward > 0)
        what = fmt::format("a charge of {} for order {}, which the order journal does not have", r.amount, order);
      else
        what =
            fmt::format("{} step ({}) for order {}, which the order journal does not have", step_noun(d),
                        state_name(r.state != StepState::none ? r.state : static_cast<StepState>(s.row_state)), order);
      add(inv, order, d, r.first_sequence, "orphan", std::move(what));
    }
  }
  for (auto& [id, f] : m_.orders)
    if (!f.has_row && f.placed_records > 0)
      add(5, id, Domain::order, f.last_seq, "no-row", "order records but no order row");
}

void Pass::evaluate() {
  for (auto& [id, f] : m_.orders) {
    if (!f.has_row) continue;
    ++report_.orders;
    switch (static_cast<OrderStatus>(f.status)) {
      case OrderStatus::pending: ++report_.pending; break;
      case OrderStatus::completed: ++report_.completed; break;
      case OrderStatus::cancelled:
        ++report_.cancelled;
        if (f.was_completed) ++report_.refunded_orders;
        break;
      default:
        add(5, id, Domain::order, f.last_seq, "status", fmt::format("order row with status {}", f.status));
        continue;
    }
    evaluate_order(id, f);
  }
  evaluate_products();
  evaluate_coupons();
  evaluate_points();
  evaluate_payments();
  evaluate_orphans();
}

void reset_counts(CheckReport& r) {
  const std::string data = r.data_dir;
  const std::uint32_t passes = r.passes;
  r = CheckReport{};
  r.data_dir = data;
  r.passes = passes;
}

}  // namespace

CheckReport run_check(const CheckOptions& options) {
  const std::int64_t t0 = mono_now_ns();
  CheckReport report;
  report.data_dir = options.data_dir.string();
  if (std::string p = data_dir_problem(options.data_dir); !p.empty()) {
    report.error = p;
    return report;
  }
  std::array<std::unique_ptr<journal::Env>, 7> envs;
  for (Domain d : journal_domains) {
    journal::Status s = domains::open_journal_read_only(options.data_dir, d, envs[idx(d)]);
    if (!s.ok()) {
      report.error = s.message();
      return report;
    }
  }
  const std::int64_t now = options.now_ns != 0 ? options.now_ns : wall_now_ns();
  // Findings seen in every pass so far, by key. While the deployment moves, a finding must
  // survive fresh snapshots to be reported: a real violation stays, a race between two
  // journals' snapshots does not.
  std::map<std::string, Violation> kept;
  for (std::uint32_t pass = 0;; ++pass) {
    std::array<journal::ReadTxn, 7> txns;
    std::vector<Finding> found;
    reset_counts(report);
    report.passes = pass + 1;
    Pass p(options, report, found, now);
    if (!p.read(envs, txns)) return report;
    p.evaluate();
    std::array<std::uint64_t, 7> seen{};
    for (Domain d : journal_domains) seen[idx(d)] = txns[idx(d)].last_sequence();
    txns = {};
    std::map<std::string, Violation> now_found;
    for (Finding& f : found) now_found.emplace(f.key, std::move(f.v));
    if (pass == 0) {
      kept = std::move(now_found);
    } else {
      std::map<std::string, Violation> both;
      for (auto& [k, v] : now_found)
        if (kept.count(k) != 0) both.emplace(k, std::move(v));
      kept = std::move(both);
    }
    if (kept.empty() || pass + 1 >= options.recheck_count_max) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100 * (pass + 1)));
    bool moved = false;
    for (Domain d : journal_domains) {
      journal::ReadTxn t;
      if (envs[idx(d)]->begin_read(t).ok() && t.last_sequence() != seen[idx(d)]) moved = true;
    }
    if (!moved) break;  // a still deployment: the findings are final
  }
  for (auto& [k, v] : kept) report.violations.push_back(std::move(v));
  std::sort(report.violations.begin(), report.violations.end(), [](const Violation& a, const Violation& b) {
    return std::tie(a.invariant, a.order_id, a.domain, a.journal_sequence) <
           std::tie(b.invariant, b.order_id, b.domain, b.journal_sequence);
  });
  report.elapsed_ns = mono_now_ns() - t0;
  return report;
}

namespace {
std::string_view invariant_name(int inv) {
  switch (inv) {
    case 1: return "stock";
    case 2: return "coupon";
    case 3: return "points";
    case 4: return "wallet";
    case 5: return "terminal";
    case 6: return "money";
    default: return "?";
  }
}
}  // namespace

void print_check(const CheckReport& r, std::ostream& out) {
  if (!r.error.empty()) {
    out << "flashsaga check: " << r.error << '\n';
    return;
  }
  out << fmt::format("flashsaga check {}\n", r.data_dir);
  out << fmt::format("  journals   user {}, point {}, product {}, coupon {}, payment {}, order {} records\n",
                     r.records[idx(Domain::user)], r.records[idx(Domain::point)], r.records[idx(Domain::product)],
                     r.records[idx(Domain::coupon)], r.records[idx(Domain::payment)], r.records[idx(Domain::order)]);
  out << fmt::format(
      "  orders     {} ({} completed, {} cancelled of which {} refunded, {} pending); {} rejected at the door\n",
      r.orders, r.completed, r.cancelled, r.refunded_orders, r.pending, r.rejected);
  out << fmt::format("  stock      {} products: {} units, {} reserved, {} sold\n", r.products, r.units_total,
                     r.units_reserved, r.units_sold);
  out << fmt::format("  accounts   {} users, {} point accounts, {} wallets, {} coupons of {} templates\n", r.users,
                     r.point_accounts, r.wallets, r.coupons, r.templates);
  out << fmt::format("  money      {} charged, {} refunded\n", r.money_charged, r.money_refunded);
  if (r.inflight != 0 || r.overdue != 0)
    out << fmt::format(
        "  in flight  {} steps still being completed or compensated; {} pending orders past their deadline\n",
        r.inflight, r.overdue);
  if (!r.invalid_messages.empty()) {
    out << fmt::format("  set aside  {} invalid message{} (never applied):\n", r.invalid_messages.size(),
                       r.invalid_messages.size() == 1 ? "" : "s");
    constexpr std::size_t invalid_print_max = 20;
    for (std::size_t i = 0; i < r.invalid_messages.size() && i < invalid_print_max; ++i) {
      const InvalidMessage& m = r.invalid_messages[i];
      const std::string domain(ipc::domain_name(m.domain));
      out << fmt::format("    {} journal seq {}: from edge {}, type {}: {}  (see: flashsaga journal show {} --from {} --to {})\n",
                         domain, m.journal_sequence, m.edge, m.type,
                         ipc::message_error_name(static_cast<ipc::MessageError>(m.error)), domain, m.journal_sequence,
                         m.journal_sequence);
    }
    if (r.invalid_messages.size() > invalid_print_max)
      out << fmt::format("    ... and {} more\n", r.invalid_messages.size() - invalid_print_max);
  }
  std::array<std::size_t, 7> per{};
  for (const Violation& v : r.violations)
    if (v.invariant >= 1 && v.invariant <= 6) ++per[static_cast<std::size_t>(v.invariant)];
  for (int inv = 1; inv <= 6; ++inv) {
    const std::size_t n = per[static_cast<std::size_t>(inv)];
    out << fmt::format("  invariant {} {:<9} {}\n", inv, invariant_name(inv),
                       n == 0 ? std::string("ok") : fmt::format("{} violation{}", n, n == 1 ? "" : "s"));
  }
  std::size_t printed = 0;
  for (const Violation& v : r.violations) {
    if (printed++ == violations_print_max) {
      out << fmt::format("... and {} more violations\n", r.violations.size() - violations_print_max);
      break;
    }
    out << fmt::format("VIOLATION invariant {} ({}) order {} {} journal seq {}: {}\n", v.invariant,
                       invariant_name(v.invariant), v.order_id, v.domain, v.journal_sequence, v.what);
    if (v.order_id != 0)
      out << fmt::format("  see: flashsaga trace {}\n", v.order_id);
    else if (v.journal_sequence != 0)
      out << fmt::format("  see: flashsaga journal show {} --from {} --to {}\n", v.domain, v.journal_sequence,
                         v.journal_sequence);
  }
  out << fmt::format("{}: {} violation{} ({} snapshot{}, {:.1f} ms)\n", r.violations.empty() ? "OK" : "FAILED",
                     r.violations.size(), r.violations.size() == 1 ? "" : "s", r.passes, r.passes == 1 ? "" : "s",
                     static_cast<double>(r.elapsed_ns) / 1e6);
}

}  // namespace flashsaga::tools
