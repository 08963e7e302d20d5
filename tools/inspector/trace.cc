// `flashsaga trace ORDER`: one order's timeline across the six journals.
//
// Finding the records fast on a big journal: the order row gives the time the order was
// placed, so each journal is entered by a binary search on time (records are appended in time
// order), and each domain's scan stops once its records have reproduced the step row that the
// same snapshot holds (after that, nothing about this order can follow). A domain without a
// step row for the order has no records about it and is not scanned at all. Only an order the
// order journal does not know (an orphan charge, say) costs a full scan.
#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "engine/base/clock.h"
#include "tools/check/check.h"
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
    case Domain::product: return r.phase_records >= std::max<std::uint32_t>(t.items, 1);
    case Domain::coupon: return r.used == t.used;
    case Domain::point: return r.reward_state == t.reward_state;
    default: return true;
  }
}

std::string_view step_title(Domain d) {
  switch (d) {
    case Domain::product: return "stock";
    case Domain::coupon: return "coupon";
    case Domain::point: return "points";
    case Domain::payment: return "payment";
    default: return "order";
  }
}

// A row of another size is a row of another layout: say so rather than "corrupt".
std::string row_problem(const journal::Status& s, std::string_view what) {
  if (s.code() != journal::ErrorCode::corrupt) return s.message();
  return fmt::format(
      "the {} row has another size than this flashsaga's (row layout version {}); written by "
      "another flashsaga version?",
      what, domains::row_layout_version);
}

std::string state_text(std::uint8_t s) {
  return std::string(domains::step_state_name(static_cast<StepState>(s)));
}

}  // namespace

int trace_order(const InspectContext& ctx, const TraceOptions& o, std::ostream& out, std::ostream& err) {
  if (std::string p = data_dir_problem(ctx.data_dir); !p.empty()) {
    err << "flashsaga trace: " << p << '\n';
    return 2;
  }
  const std::uint64_t id = o.order_id;
  if (id == 0) {
    err << "flashsaga trace: order ids start at 1 (records with order id 0 are about no order)\n";
    return 2;
  }
  std::array<std::unique_ptr<journal::Env>, 7> envs;
  for (Domain d : journal_domains)
    if (!open_or_report(ctx, d, envs[idx(d)], err, "trace")) return 2;
  const Style& st = ctx.style;
  const std::int64_t now = o.now_ns != 0 ? o.now_ns : wall_now_ns();

  // The rows, each from its own journal (the steps first, then the order: the same order of
  // snapshots as check, so a step row never runs ahead of the order it belongs to).
  std::array<StepTarget, 7> target{};
  for (Domain d : {Domain::product, Domain::coupon, Domain::point, Domain::payment}) {
    journal::ReadTxn txn;
    if (journal::Status s = envs[idx(d)]->begin_read(txn); !s.ok()) {
      err << "flashsaga trace: " << s.message() << '\n';
      return 2;
    }
    const journal::Env& env = *envs[idx(d)];
    const auto key = journal::key_u64(id);
    StepTarget& t = target[idx(d)];
    journal::Status s;
    if (d == Domain::product) {
      domains::ProductStep row{};
      s = txn.get_as(env.table("steps"), key, row);
      t = {s.ok(), static_cast<StepState>(row.state), false, 0, row.item_count};
    } else if (d == Domain::coupon) {
      domains::CouponStep row{};
      s = txn.get_as(env.table("steps"), key, row);
      t = {s.ok(), static_cast<StepState>(row.state), row.used == 1, 0, 0};
    } else if (d == Domain::point) {
      domains::PointStep row{};
      s = txn.get_as(env.table("steps"), key, row);
      t = {s.ok(), static_cast<StepState>(row.state), false, row.reward_state, 0};
    } else {
      domains::PaymentRow row{};
      s = txn.get_as(env.table("payments"), key, row);
      t = {s.ok(), static_cast<StepState>(row.state), false, 0, 0};
    }
    if (!s.ok() && s.code() != journal::ErrorCode::not_found) {
      err << fmt::format("flashsaga trace: {} journal: {}\n", ipc::domain_name(d), row_problem(s, "step"));
      return 2;
    }
  }
  OrderRow row{};
  bool has_row = false;
  {
    journal::ReadTxn txn;
    if (journal::Status s = envs[idx(Domain::order)]->begin_read(txn); !s.ok()) {
      err << "flashsaga trace: " << s.message() << '\n';
      return 2;
    }
    journal::Status s = txn.get_as(envs[idx(Domain::order)]->table("orders"), journal::key_u64(id), row);
    if (!s.ok() && s.code() != journal::ErrorCode::not_found) {
      err << "flashsaga trace: order journal: " << row_problem(s, "order") << '\n';
      return 2;
    }
    has_row = s.ok();
  }

  // The records.
  std::vector<TraceRecord> timeline;
  std::array<StepReplay, 7> replay{};
  std::array<std::vector<std::string>, 7> path;  // each step's states, in order
  TimeFormatter tf;
  DecodedRecord dec;
  std::uint8_t order_status = 0;
  for (Domain d : journal_domains) {
    if (d == Domain::user) continue;  // user records are never about an order
    const bool step_domain = d != Domain::order;
    if (has_row && step_domain && !target[idx(d)].present) continue;
    const journal::Env& env = *envs[idx(d)];
    std::uint64_t from = 1;
    if (has_row) {
      journal::ReadTxn txn;
      if (env.begin_read(txn).ok()) from = first_sequence_at(txn, row.created_ns - placement_slack_ns);
    }
    journal::Status s =
        scan_records(env, from, std::numeric_limits<std::uint64_t>::max(), [&](const journal::RecordView& r) {
          if (r.header.order_id != id) return true;
          decode_record(d, r, dec);
          TraceRecord t{d, r.sequence, r.header.time_ns, std::string(dec.type_name), {}, {}, false};
          fmt::memory_buffer b;
          append_fields_text(b, dec, tf);
          t.details = fmt::to_string(b);
          const auto type = static_cast<RecordType>(r.header.type);
          if (!dec.decodable) {
            t.note = "!! undecodable record";
            t.alarm = true;
          } else if (step_domain && dec.is_event) {
            StepReplay& rp = replay[idx(d)];
            const StepState before = rp.state;
            const bool used_before = rp.used;
            const std::uint8_t reward_before = rp.reward_state;
            std::string wrong = replay_step(rp, type, dec.event, r.sequence, target[idx(d)].items);
            if (rp.state != before) path[idx(d)].push_back(std::string(domains::step_state_name(rp.state)));
            if (rp.used && !used_before) path[idx(d)].push_back("used");
            if (rp.reward_state != reward_before)
              path[idx(d)].push_back(rp.reward_state == 1 ? "rewarded" : "reward revoked");
            if (!wrong.empty()) {
              t.alarm = true;
              t.note = wrong.find("empty compensation") != std::string::npos ? "!! EMPTY COMPENSATION: " + wrong
                                                                             : "!! " + wrong;
            }
          } else if (d == Domain::order) {
            if (type == RecordType::order_pending) order_status = static_cast<std::uint8_t>(OrderStatus::pending);
            if (type == RecordType::order_completed) order_status = static_cast<std::uint8_t>(OrderStatus::completed);
            if (type == RecordType::order_cancelled) order_status = static_cast<std::uint8_t>(OrderStatus::cancelled);
          }
          timeline.push_back(std::move(t));
          // Stop once the records have reproduced this snapshot's row: nothing later is about us.
          if (!has_row) return true;
          if (step_domain) return !reached(d, target[idx(d)], replay[idx(d)]);
          return !(row.status != static_cast<std::uint8_t>(OrderStatus::pending) && order_status == row.status);
        });
    if (!s.ok()) {
      err << fmt::format("flashsaga trace: {} journal: {}\n", ipc::domain_name(d), s.message());
      return 2;
    }
  }
  std::stable_sort(timeline.begin(), timeline.end(), [](const TraceRecord& a, const TraceRecord& b) {
    return std::tie(a.time_ns, a.domain, a.sequence) < std::tie(b.time_ns, b.domain, b.sequence);
  });

  if (!has_row && timeline.empty()) {
    err << fmt::format(
        "flashsaga trace: no journal knows order {} (refused orders, such as sold out, are never "
        "stored)\n",
        id);
    return 1;
  }

  // Header: the order as its row says.
  if (has_row) {
    const auto status = static_cast<OrderStatus>(row.status);
    const std::string_view colour = status == OrderStatus::completed   ? st.green()
                                    : status == OrderStatus::cancelled ? st.yellow()
                                                                       : st.cyan();
    std::string reason;
    if (row.reason != 0)
      reason = fmt::format(" ({})", ipc::order_reason_name(static_cast<ipc::OrderReason>(row.reason)));
    out << fmt::format("{}order {}{}  {}{}{}{}{}  user {}\n", st.bold(), id, st.reset(), colour,
                       domains::order_status_name(status), reason,
                       row.was_completed ? ", refunded after completion" : "", st.reset(), row.user_id);
    std::string items;
    for (std::uint32_t k = 0; k < row.item_count && k < line_items_max; ++k)
      items += fmt::format("{}product {} x{} @ {}", k == 0 ? "" : "; ", row.items[k].product_id, row.items[k].quantity,
                           row.items[k].unit_price);
    out << fmt::format("  items     {}\n", items);
    out << fmt::format("  money     subtotal {}  discount {}  points {} (asked {})  paid {}  reward {}\n", row.subtotal,
                       row.discount, row.points_used, row.points_to_use, row.paid, row.reward_points);
    out << fmt::format("  coupon    {}\n", row.coupon_id == 0 ? std::string("none") : fmt::format("{}", row.coupon_id));
    out << fmt::format("  placed    {}   last change {} ({})   deadline {}\n", tf.format(row.created_ns),
                       tf.format(row.updated_ns), format_delta(row.updated_ns - row.created_ns),
                       tf.format(row.deadline_ns));
    out << fmt::format("  order's view of its steps: stock {}, coupon {}, points {}, payment {}\n",
                       state_text(row.step_stock), state_text(row.step_coupon), state_text(row.step_points),
                       state_text(row.step_payment));
  } else {
    out << fmt::format("{}order {}{}  {}!! the order journal has no row for this order{}; other journals name it:\n",
                       st.bold(), id, st.reset(), st.red(), st.reset());
  }

  // The timeline.
  out << '\n';
  const bool notes =
      std::any_of(timeline.begin(), timeline.end(), [](const TraceRecord& t) { return !t.note.empty(); });
  std::vector<std::string> head = {"TIME", "+DELTA", "DOMAIN", "SEQ", "RECORD", "DETAILS"};
  if (notes) head.emplace_back("NOTE");
  Table table(head, {false, true, false, true, false, false, false});
  std::int64_t prev = timeline.empty() ? 0 : timeline.front().time_ns;
  for (const TraceRecord& t : timeline) {
    std::vector<std::string> cells = {tf.format(t.time_ns),
                                      format_delta(t.time_ns - prev),
                                      std::string(ipc::domain_name(t.domain)),
                                      fmt::format("{}", t.sequence),
                                      t.type,
                                      t.details};
    if (notes) cells.push_back(t.note.empty() ? std::string() : fmt::format("{}{}{}", st.red(), t.note, st.reset()));
    table.add(std::move(cells));
    prev = t.time_ns;
  }
  table.print(out, st);

  // Each step: its states, and what is missing.
  out << '\n' << st.bold() << "steps" << st.reset() << '\n';
  std::vector<std::string> alarms;
  for (const TraceRecord& t : timeline)
    if (t.alarm) alarms.push_back(fmt::format("{} seq {}: {}", ipc::domain_name(t.domain), t.sequence, t.note));
  const bool cancelled = has_row && row.status == static_cast<std::uint8_t>(OrderStatus::cancelled);
  const bool completed = has_row && row.status == static_cast<std::uint8_t>(OrderStatus::completed);
  const bool recent = has_row && row.updated_ns >= now - o.inflight_grace_ns;
  std::array<std::string, 7> states;
  std::size_t states_width = 0;
  for (Domain d : {Domain::product, Domain::coupon, Domain::point, Domain::payment}) {
    for (const std::string& s : path[idx(d)]) states[idx(d)] += (states[idx(d)].empty() ? "" : " -> ") + s;
    if (states[idx(d)].empty()) states[idx(d)] = "(no records)";
    states_width = std::max(states_width, states[idx(d)].size());
  }
  for (Domain d : {Domain::product, Domain::coupon, Domain::point, Domain::payment}) {
    const StepReplay& r = replay[idx(d)];
    std::string note;
    if (r.compensations == 1)
      note = "compensated once";
    else if (r.compensations > 1)
      note = fmt::format("compensated {} times", r.compensations);
    if (cancelled && step_needs_compensation(d, r)) {
      std::string m = fmt::format("!! MISSING COMPENSATION: order CANCELLED but {} is still {}", step_title(d),
                                  domains::step_state_name(r.state));
      if (recent)
        m += fmt::format(" (cancelled {} ago: may still be in flight)", format_delta(now - row.updated_ns).substr(1));
      note = m;
      alarms.push_back(m);
    } else if (cancelled && d == Domain::point && row.was_completed && r.reward_state == 1 && r.reward > 0) {
      note = fmt::format("!! MISSING COMPENSATION: reward of {} points not revoked", r.reward);
      alarms.push_back(note);
    } else if (completed && d == Domain::product && r.state == StepState::reserved) {
      note = "completed, sale not applied yet";
    } else if (r.state == StepState::rejected || r.state == StepState::declined) {
      note = "refused: nothing to undo";
    } else if (r.state == StepState::cancelled_before_apply) {
      note = "cancel came first: gate closed, nothing to undo";
    }
    const bool bad = note.rfind("!!", 0) == 0;
    if (note.empty())
      out << fmt::format("  {:<8} {}\n", step_title(d), states[idx(d)]);
    else
      out << fmt::format("  {:<8} {:<{}}  {}{}{}\n", step_title(d), states[idx(d)], states_width,
                         bad ? st.red() : st.dim(), note, st.reset());
  }
  if (alarms.empty()) {
    out << fmt::format("{}no empty or missing compensation{}\n", st.green(), st.reset());
  } else {
    out << fmt::format("{}{} problem{}:{}\n", st.red(), alarms.size(), alarms.size() == 1 ? "" : "s", st.reset());
    for (const std::string& a : alarms) out << "  " << a << '\n';
  }
  return 0;
}

}  // namespace flashsaga::tools
