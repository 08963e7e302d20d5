// `flashsaga trace ORDER`: one order's timeline across the six journals.
//
// Finding the records fast on a big journal: the order row (from the order view) gives the
// time the order was placed, so each journal is entered by a binary search on time (records
// are appended in time order), and each domain's scan stops once its records have reproduced
// the step row that the same moment's view holds (after that, nothing about this order can
// follow). A domain without a step row for the order has no records about it and is not
// scanned at all — except the product domain, whose bulk count (a stock_reserved record with
// order id 0 whose last_order_id covers the order) comes before any step row exists. Only an
// order the order journal does not know (an orphan charge, say) costs a full scan.
#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "engine/base/clock.h"
#include "tools/check/check.h"
#include "tools/check/snapshot.h"
#include "tools/inspector/decode.h"
#include "tools/inspector/inspector.h"
#include "tools/inspector/reading.h"

namespace flashsaga::tools {

using domains::OrderRow;
using domains::OrderStatus;
using domains::RecordType;
using domains::StepState;
using ipc::Domain;

namespace {

constexpr std::int64_t placement_slack_ns = 1'000'000'000;  // records of the order start after this
constexpr std::array<Domain, 4> step_domains = {Domain::product, Domain::coupon, Domain::point,
                                                Domain::payment};
constexpr std::size_t idx(Domain d) {
  return static_cast<std::size_t>(d);
}

struct TraceRecord {
  Domain domain;
  std::uint64_t sequence;
  std::int64_t time_ns;
  std::string type;
  std::string details;
  std::string note;
  bool alarm = false;
};

// What a domain's step row says, so a scan knows when it has seen everything.
struct StepTarget {
  bool present = false;
  StepState state = StepState::none;
  bool used = false;              // coupon
  std::uint8_t reward_state = 0;  // point
  std::uint32_t items = 0;        // product
};

bool reached(Domain d, const StepTarget& t, const StepReplay& r) {
  if (!t.present || r.state != t.state) return false;
  switch (d) {
    case Domain::product:
      return r.phase_records >= std::max<std::uint32_t>(t.items, 1);
    case Domain::coupon:
      return r.used == t.used;
    case Domain::point:
      return r.reward_state == t.reward_state;
    default:
      return true;
  }
}

std::string_view step_title(Domain d) {
  switch (d) {
    case Domain::product:
      return "stock";
    case Domain::coupon:
      return "coupon";
    case Domain::point:
      return "points";
    case Domain::payment:
      return "payment";
    default:
      return "order";
  }
}

std::string state_text(std::uint8_t s) {
  return std::string(domains::step_state_name(static_cast<StepState>(s)));
}

// A row of another size is a row of another layout: say so rather than "corrupt".
template <typename Row>
journal::Status row_from(const journal::Status& s, const std::vector<std::byte>& bytes, Row& out) {
  if (!s.ok()) return s;
  if (bytes.size() != sizeof(Row))
    return journal::Status(
        journal::ErrorCode::corrupt, 0,
        fmt::format("the row has another size than this flashsaga's (row layout version {}); "
                    "written by another flashsaga version?",
                    domains::row_layout_version));
  std::memcpy(&out, bytes.data(), sizeof(Row));
  return {};
}

class Trace {
 public:
  Trace(const InspectContext& ctx, const TraceOptions& o, std::ostream& out, std::ostream& err)
      : ctx_(ctx), o_(o), out_(out), err_(err), id_(o.order_id), st_(ctx.style) {}
  int run();

 private:
  bool open();
  bool read_rows();
  journal::Status target_of(Domain d, StepTarget& t);
  bool scan(Domain d);
  bool take(Domain d, const journal::RecordView& r);
  bool bulk_count(const journal::RecordView& r);
  void replay(Domain d, const journal::RecordView& r, TraceRecord& t);
  void print_header();
  void print_timeline();
  void print_steps();
  std::string step_note(Domain d, std::vector<std::string>& alarms) const;
  bool fail(std::string_view what, const std::string& message) {
    err_ << fmt::format("flashsaga trace: {}{}\n", what, message);
    return false;
  }

  const InspectContext& ctx_;
  const TraceOptions& o_;
  std::ostream& out_;
  std::ostream& err_;
  const std::uint64_t id_;
  const Style& st_;
  std::int64_t now_ = 0;
  std::array<DomainEnvs, 7> envs_;
  std::array<StepTarget, 7> target_{};
  OrderRow row_{};
  bool has_row_ = false;
  std::uint8_t order_status_ = 0;
  std::uint64_t counted_by_ = 0;  // the last_order_id of the bulk count that covers the order
  bool counted_group_done_ = false;
  std::vector<TraceRecord> timeline_;
  std::array<StepReplay, 7> replay_{};
  std::array<std::vector<std::string>, 7> path_;  // each step's states, in order
  TimeFormatter tf_;
  DecodedRecord dec_;
};

bool Trace::open() {
  for (Domain d : journal_domains) {
    if (!open_or_report(ctx_, d, envs_[idx(d)].journal, err_, "trace")) return false;
    if (!open_view_or_report(ctx_, d, envs_[idx(d)].view, err_, "trace")) return false;
  }
  return true;
}

journal::Status Trace::target_of(Domain d, StepTarget& t) {
  DomainSnapshot snap;
  if (journal::Status s = take_snapshot(d, envs_[idx(d)], snap); !s.ok()) return s;
  const auto key = journal::key_u64(id_);
  std::vector<std::byte> bytes;
  journal::Status s =
      get_view(snap, envs_[idx(d)], d == Domain::payment ? "payments" : "steps", key, bytes);
  if (d == Domain::product) {
    domains::ProductStep row{};
    s = row_from(s, bytes, row);
    t = {s.ok(), static_cast<StepState>(row.state), false, 0, row.item_count};
  } else if (d == Domain::coupon) {
    domains::CouponStep row{};
    s = row_from(s, bytes, row);
    t = {s.ok(), static_cast<StepState>(row.state), row.used == 1, 0, 0};
  } else if (d == Domain::point) {
    domains::PointStep row{};
    s = row_from(s, bytes, row);
    t = {s.ok(), static_cast<StepState>(row.state), false, row.reward_state, 0};
  } else {
    domains::PaymentRow row{};
    s = row_from(s, bytes, row);
    t = {s.ok(), static_cast<StepState>(row.state), false, 0, 0};
  }
  return s.code() == journal::ErrorCode::not_found ? journal::Status{} : s;
}

// The rows, each from its own view (the steps first, then the order: the same order of
// snapshots as check, so a step row never runs ahead of the order it belongs to).
bool Trace::read_rows() {
  for (Domain d : step_domains)
    if (journal::Status s = target_of(d, target_[idx(d)]); !s.ok())
      return fail(fmt::format("{} view: ", ipc::domain_name(d)), s.message());
  DomainSnapshot snap;
  journal::Status s = take_snapshot(Domain::order, envs_[idx(Domain::order)], snap);
  std::vector<std::byte> bytes;
  if (s.ok()) s = get_view(snap, envs_[idx(Domain::order)], "orders", journal::key_u64(id_), bytes);
  s = row_from(s, bytes, row_);
  if (!s.ok() && s.code() != journal::ErrorCode::not_found)
    return fail("order view: ", s.message());
  has_row_ = s.ok();
  return true;
}

// A stock_reserved record: the bulk count covering this order (the first whose last_order_id
// reaches it), for the order's products. True if it belongs in the timeline.
bool Trace::bulk_count(const journal::RecordView& r) {
  if (!has_row_ || r.header.order_id != 0 || !dec_.is_event || counted_group_done_) return false;
  const domains::Event& e = dec_.event;
  if (e.other < id_ || (counted_by_ != 0 && e.other != counted_by_)) return false;
  bool ours = false;
  for (std::uint32_t k = 0; k < row_.item_count && k < line_items_max; ++k)
    ours = ours || row_.items[k].product_id == e.subject;
  if (!ours) return false;
  if (counted_by_ == 0) {
    counted_by_ = e.other;
    replay_reserved(replay_[idx(Domain::product)]);
    path_[idx(Domain::product)].push_back("reserved");
  }
  return true;
}

void Trace::replay(Domain d, const journal::RecordView& r, TraceRecord& t) {
  StepReplay& rp = replay_[idx(d)];
  const StepState before = rp.state;
  const bool used_before = rp.used;
  const std::uint8_t reward_before = rp.reward_state;
  const std::string wrong = replay_step(rp, static_cast<RecordType>(r.header.type), dec_.event,
                                        r.sequence, target_[idx(d)].items);
  if (rp.state != before) path_[idx(d)].push_back(std::string(domains::step_state_name(rp.state)));
  if (rp.used && !used_before) path_[idx(d)].push_back("used");
  if (rp.reward_state != reward_before)
    path_[idx(d)].push_back(rp.reward_state == 1 ? "rewarded" : "reward revoked");
  if (wrong.empty()) return;
  t.alarm = true;
  t.note = wrong.find("empty compensation") != std::string::npos ? "!! EMPTY COMPENSATION: " + wrong
                                                                 : "!! " + wrong;
}

// One record of domain d's scan; returns false once nothing later can be about the order.
bool Trace::take(Domain d, const journal::RecordView& r) {
  const auto type = static_cast<RecordType>(r.header.type);
  const bool step_domain = d != Domain::order;
  decode_record(d, r, dec_);
  const bool counted = d == Domain::product && type == RecordType::stock_reserved && bulk_count(r);
  // The covering count's records are consecutive: anything else after them ends the group.
  if (d == Domain::product && counted_by_ != 0 && !counted) counted_group_done_ = true;
  if (r.header.order_id != id_ && !counted) {
    // A pending order's product scan ends with the bulk count that covers it.
    return !(d == Domain::product && !target_[idx(d)].present && counted_group_done_);
  }
  TraceRecord t{d, r.sequence, r.header.time_ns, std::string(dec_.type_name), {}, {}, false};
  fmt::memory_buffer b;
  append_fields_text(b, dec_, tf_);
  t.details = fmt::to_string(b);
  if (!dec_.decodable) {
    t.note = "!! undecodable record";
    t.alarm = true;
  } else if (step_domain && dec_.is_event && !counted) {
    replay(d, r, t);
  } else if (d == Domain::order) {
    if (type == RecordType::order_pending)
      order_status_ = static_cast<std::uint8_t>(OrderStatus::pending);
    if (type == RecordType::order_completed)
      order_status_ = static_cast<std::uint8_t>(OrderStatus::completed);
    if (type == RecordType::order_cancelled)
      order_status_ = static_cast<std::uint8_t>(OrderStatus::cancelled);
  }
  timeline_.push_back(std::move(t));
  // Stop once the records have reproduced this moment's row: nothing later is about us.
  if (!has_row_) return true;
  if (step_domain) return !reached(d, target_[idx(d)], replay_[idx(d)]);
  return !(row_.status != static_cast<std::uint8_t>(OrderStatus::pending) &&
           order_status_ == row_.status);
}

bool Trace::scan(Domain d) {
  const journal::Env& env = *envs_[idx(d)].journal;
  std::uint64_t from = 1;
  if (has_row_) {
    journal::ReadTxn txn;
    if (env.begin_read(txn).ok())
      from = first_sequence_at(txn, row_.created_ns - placement_slack_ns);
  }
  journal::Status s = scan_records(env, from, std::numeric_limits<std::uint64_t>::max(),
                                   [&](const journal::RecordView& r) { return take(d, r); });
  return s.ok() || fail(fmt::format("{} journal: ", ipc::domain_name(d)), s.message());
}

int Trace::run() {
  if (std::string p = data_dir_problem(ctx_.data_dir); !p.empty()) {
    fail("", p);
    return 2;
  }
  if (id_ == 0) {
    fail("", "order ids start at 1 (records with order id 0 are about no order)");
    return 2;
  }
  if (!open() || !read_rows()) return 2;
  now_ = o_.now_ns != 0 ? o_.now_ns : wall_now_ns();
  for (Domain d : journal_domains) {
    if (d == Domain::user) continue;  // user records are never about an order
    const bool needs_scan =
        d == Domain::order || d == Domain::product || target_[idx(d)].present || !has_row_;
    if (needs_scan && !scan(d)) return 2;
  }
  std::stable_sort(timeline_.begin(), timeline_.end(),
                   [](const TraceRecord& a, const TraceRecord& b) {
                     return std::tie(a.time_ns, a.domain, a.sequence) <
                            std::tie(b.time_ns, b.domain, b.sequence);
                   });
  if (!has_row_ && timeline_.empty()) {
    err_ << fmt::format(
        "flashsaga trace: no journal knows order {} (refused orders, such as sold out, are never "
        "stored)\n",
        id_);
    return 1;
  }
  print_header();
  print_timeline();
  print_steps();
  return 0;
}

// Header: the order as its row says.
void Trace::print_header() {
  if (!has_row_) {
    out_ << fmt::format(
        "{}order {}{}  {}!! the order journal has no row for this order{}; other journals name "
        "it:\n",
        st_.bold(), id_, st_.reset(), st_.red(), st_.reset());
    return;
  }
  const auto status = static_cast<OrderStatus>(row_.status);
  const std::string_view colour = status == OrderStatus::completed   ? st_.green()
                                  : status == OrderStatus::cancelled ? st_.yellow()
                                                                     : st_.cyan();
  std::string reason;
  if (row_.reason != 0)
    reason =
        fmt::format(" ({})", ipc::order_reason_name(static_cast<ipc::OrderReason>(row_.reason)));
  out_ << fmt::format("{}order {}{}  {}{}{}{}{}  user {}\n", st_.bold(), id_, st_.reset(), colour,
                      domains::order_status_name(status), reason,
                      row_.was_completed ? ", refunded after completion" : "", st_.reset(),
                      row_.user_id);
  std::string items;
  for (std::uint32_t k = 0; k < row_.item_count && k < line_items_max; ++k)
    items += fmt::format("{}product {} x{} @ {}", k == 0 ? "" : "; ", row_.items[k].product_id,
                         row_.items[k].quantity, row_.items[k].unit_price);
  out_ << fmt::format("  items     {}\n", items);
  out_ << fmt::format(
      "  money     subtotal {}  discount {}  points {} (asked {})  paid {}  reward {}\n",
      row_.subtotal, row_.discount, row_.points_used, row_.points_to_use, row_.paid,
      row_.reward_points);
  out_ << fmt::format("  coupon    {}\n", row_.coupon_id == 0 ? std::string("none")
                                                              : fmt::format("{}", row_.coupon_id));
  out_ << fmt::format("  placed    {}   last change {} ({})   deadline {}\n",
                      tf_.format(row_.created_ns), tf_.format(row_.updated_ns),
                      format_delta(row_.updated_ns - row_.created_ns),
                      tf_.format(row_.deadline_ns));
  out_ << fmt::format("  order's view of its steps: stock {}, coupon {}, points {}, payment {}\n",
                      state_text(row_.step_stock), state_text(row_.step_coupon),
                      state_text(row_.step_points), state_text(row_.step_payment));
}

void Trace::print_timeline() {
  out_ << '\n';
  const bool notes = std::any_of(timeline_.begin(), timeline_.end(),
                                 [](const TraceRecord& t) { return !t.note.empty(); });
  std::vector<std::string> head = {"TIME", "+DELTA", "DOMAIN", "SEQ", "RECORD", "DETAILS"};
  if (notes) head.emplace_back("NOTE");
  Table table(head, {false, true, false, true, false, false, false});
  std::int64_t prev = timeline_.empty() ? 0 : timeline_.front().time_ns;
  for (const TraceRecord& t : timeline_) {
    std::vector<std::string> cells = {tf_.format(t.time_ns),
                                      format_delta(t.time_ns - prev),
                                      std::string(ipc::domain_name(t.domain)),
                                      fmt::format("{}", t.sequence),
                                      t.type,
                                      t.details};
    if (notes)
      cells.push_back(t.note.empty() ? std::string()
                                     : fmt::format("{}{}{}", st_.red(), t.note, st_.reset()));
    table.add(std::move(cells));
    prev = t.time_ns;
  }
  table.print(out_, st_);
}

// What to say about one step beside its states; an alarm is also added to `alarms`.
std::string Trace::step_note(Domain d, std::vector<std::string>& alarms) const {
  const StepReplay& r = replay_[idx(d)];
  const bool cancelled =
      has_row_ && row_.status == static_cast<std::uint8_t>(OrderStatus::cancelled);
  const bool completed =
      has_row_ && row_.status == static_cast<std::uint8_t>(OrderStatus::completed);
  if (cancelled && step_needs_compensation(d, r)) {
    std::string m = fmt::format("!! MISSING COMPENSATION: order CANCELLED but {} is still {}",
                                step_title(d), domains::step_state_name(r.state));
    if (row_.updated_ns >= now_ - o_.inflight_grace_ns)
      m += fmt::format(" (cancelled {} ago: may still be in flight)",
                       format_delta(now_ - row_.updated_ns).substr(1));
    alarms.push_back(m);
    return m;
  }
  if (cancelled && d == Domain::point && row_.was_completed && r.reward_state == 1 &&
      r.reward > 0) {
    std::string m =
        fmt::format("!! MISSING COMPENSATION: reward of {} points not revoked", r.reward);
    alarms.push_back(m);
    return m;
  }
  if (completed && d == Domain::product && r.state == StepState::reserved)
    return "completed, sale not applied yet";
  if (has_row_ && d == Domain::product && r.state == StepState::none)
    return "units not counted by the product domain yet";
  if (r.state == StepState::rejected || r.state == StepState::declined)
    return "refused: nothing to undo";
  if (r.state == StepState::cancelled_before_apply)
    return "cancel came first: gate closed, nothing to undo";
  if (r.compensations == 1) return "compensated once";
  if (r.compensations > 1) return fmt::format("compensated {} times", r.compensations);
  return {};
}

// Each step: its states, and what is missing.
void Trace::print_steps() {
  out_ << '\n' << st_.bold() << "steps" << st_.reset() << '\n';
  std::vector<std::string> alarms;
  for (const TraceRecord& t : timeline_)
    if (t.alarm)
      alarms.push_back(
          fmt::format("{} seq {}: {}", ipc::domain_name(t.domain), t.sequence, t.note));
  std::array<std::string, 7> states;
  std::size_t states_width = 0;
  for (Domain d : step_domains) {
    for (const std::string& s : path_[idx(d)])
      states[idx(d)] += (states[idx(d)].empty() ? "" : " -> ") + s;
    if (states[idx(d)].empty()) states[idx(d)] = "(no records)";
    states_width = std::max(states_width, states[idx(d)].size());
  }
  for (Domain d : step_domains) {
    const std::string note = step_note(d, alarms);
    const bool bad = note.rfind("!!", 0) == 0;
    if (note.empty())
      out_ << fmt::format("  {:<8} {}\n", step_title(d), states[idx(d)]);
    else
      out_ << fmt::format("  {:<8} {:<{}}  {}{}{}\n", step_title(d), states[idx(d)], states_width,
                          bad ? st_.red() : st_.dim(), note, st_.reset());
  }
  if (alarms.empty()) {
    out_ << fmt::format("{}no empty or missing compensation{}\n", st_.green(), st_.reset());
    return;
  }
  out_ << fmt::format("{}{} problem{}:{}\n", st_.red(), alarms.size(),
                      alarms.size() == 1 ? "" : "s", st_.reset());
  for (const std::string& a : alarms) out_ << "  " << a << '\n';
}

}  // namespace

int trace_order(const InspectContext& ctx, const TraceOptions& options, std::ostream& out,
                std::ostream& err) {
  Trace trace(ctx, options, out, err);
  return trace.run();
}

}  // namespace flashsaga::tools
