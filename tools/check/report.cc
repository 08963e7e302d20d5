// print_check: the summary, the invariants one line each, then the violations.
#include <fmt/format.h>

#include "tools/check/check.h"
#include "tools/check/model.h"

namespace flashsaga::tools {
namespace {

using ipc::Domain;

std::string_view invariant_name(int inv) {
  switch (inv) {
    case 1:
      return "stock";
    case 2:
      return "coupon";
    case 3:
      return "points";
    case 4:
      return "wallet";
    case 5:
      return "terminal";
    case 6:
      return "money";
    case 7:
      return "view";
    default:
      return "?";
  }
}

void print_summary(const CheckReport& r, std::ostream& out) {
  out << fmt::format("flashsaga check {}\n", r.data_dir);
  out << fmt::format(
      "  journals   user {}, point {}, product {}, coupon {}, payment {}, order {} records\n",
      r.records[idx(Domain::user)], r.records[idx(Domain::point)], r.records[idx(Domain::product)],
      r.records[idx(Domain::coupon)], r.records[idx(Domain::payment)],
      r.records[idx(Domain::order)]);
  out << fmt::format(
      "  orders     {} ({} completed, {} cancelled of which {} refunded, {} pending); {} rejected "
      "at the door\n",
      r.orders, r.completed, r.cancelled, r.refunded_orders, r.pending, r.rejected);
  out << fmt::format("  stock      {} products: {} units, {} reserved, {} sold\n", r.products,
                     r.units_total, r.units_reserved, r.units_sold);
  out << fmt::format(
      "  accounts   {} users, {} point accounts, {} wallets, {} coupons of {} templates\n", r.users,
      r.point_accounts, r.wallets, r.coupons, r.templates);
  out << fmt::format("  money      {} charged, {} refunded\n", r.money_charged, r.money_refunded);
  if (r.views_behind != 0)
    out << fmt::format(
        "  views      {} view{} still applying {} journal (read as of the journal's end)\n",
        r.views_behind, r.views_behind == 1 ? "" : "s", r.views_behind == 1 ? "its" : "their");
  if (r.undone_after_power_loss != 0)
    out << fmt::format(
        "  power loss {} charge{} whose request the order journal lost, refunded by the order's "
        "cancel\n",
        r.undone_after_power_loss, r.undone_after_power_loss == 1 ? "" : "s");
  if (r.inflight != 0 || r.overdue != 0)
    out << fmt::format(
        "  in flight  {} steps still being completed or compensated; {} pending orders past their "
        "deadline\n",
        r.inflight, r.overdue);
}

void print_invalid_messages(const CheckReport& r, std::ostream& out) {
  if (r.invalid_messages.empty()) return;
  out << fmt::format("  set aside  {} invalid message{} (never applied):\n",
                     r.invalid_messages.size(), r.invalid_messages.size() == 1 ? "" : "s");
  constexpr std::size_t invalid_print_max = 20;
  for (std::size_t i = 0; i < r.invalid_messages.size() && i < invalid_print_max; ++i) {
    const InvalidMessage& m = r.invalid_messages[i];
    const std::string domain(ipc::domain_name(m.domain));
    out << fmt::format(
        "    {} journal seq {}: from edge {}, type {}: {}  (see: flashsaga journal show {} --from "
        "{} --to {})\n",
        domain, m.journal_sequence, m.edge, m.type,
        ipc::message_error_name(static_cast<ipc::MessageError>(m.error)), domain,
        m.journal_sequence, m.journal_sequence);
  }
  if (r.invalid_messages.size() > invalid_print_max)
    out << fmt::format("    ... and {} more\n", r.invalid_messages.size() - invalid_print_max);
}

void print_violations(const CheckReport& r, std::ostream& out) {
  std::array<std::size_t, invariants_count + 1> per{};
  for (const Violation& v : r.violations)
    if (v.invariant >= 1 && v.invariant <= invariants_count)
      ++per[static_cast<std::size_t>(v.invariant)];
  for (int inv = 1; inv <= invariants_count; ++inv) {
    const std::size_t n = per[static_cast<std::size_t>(inv)];
    out << fmt::format(
        "  invariant {} {:<9} {}\n", inv, invariant_name(inv),
        n == 0 ? std::string("ok") : fmt::format("{} violation{}", n, n == 1 ? "" : "s"));
  }
  std::size_t printed = 0;
  for (const Violation& v : r.violations) {
    if (printed++ == violations_print_max) {
      out << fmt::format("... and {} more violations\n",
                         r.violations.size() - violations_print_max);
      break;
    }
    out << fmt::format("VIOLATION invariant {} ({}) order {} {} journal seq {}: {}\n", v.invariant,
                       invariant_name(v.invariant), v.order_id, v.domain, v.journal_sequence,
                       v.what);
    if (v.order_id != 0)
      out << fmt::format("  see: flashsaga trace {}\n", v.order_id);
    else if (v.journal_sequence != 0)
      out << fmt::format("  see: flashsaga journal show {} --from {} --to {}\n", v.domain,
                         v.journal_sequence, v.journal_sequence);
  }
}

// What the order journal lost and the steps other domains still hold for those orders.
void print_lost(const CheckReport& r, std::ostream& out) {
  if (r.lost_ranges.empty()) return;
  for (const LostRange& range : r.lost_ranges)
    out << fmt::format(
        "  lost       orders {}..{}: the order journal lost them in a power loss; new "
        "orders are numbered above them\n",
        range.first, range.last);
  std::size_t printed = 0;
  for (const Violation& v : r.lost) {
    if (printed++ == violations_print_max) {
      out << fmt::format("... and {} more lost-order steps\n",
                         r.lost.size() - violations_print_max);
      break;
    }
    out << fmt::format("LOST order {} {} journal seq {}: {}\n", v.order_id, v.domain,
                       v.journal_sequence, v.what);
  }
  if (!r.lost.empty())
    out << "  settle each LOST step by hand (refund the charge or points, give the coupon or the "
           "units back): docs/durability.md, \"After a power loss under interval\"\n";
}

}  // namespace

void print_check(const CheckReport& r, std::ostream& out) {
  if (!r.error.empty()) {
    out << "flashsaga check: " << r.error << '\n';
    return;
  }
  print_summary(r, out);
  print_invalid_messages(r, out);
  print_violations(r, out);
  print_lost(r, out);
  out << fmt::format(
      "{}: {} violation{}{} ({} snapshot{}, {:.1f} ms)\n",
      !r.violations.empty() ? "FAILED"
      : r.lost.empty()      ? "OK"
                            : "LOST ORDERS",
      r.violations.size(), r.violations.size() == 1 ? "" : "s",
      r.lost.empty() ? "" : fmt::format(", {} step(s) of lost orders to settle", r.lost.size()),
      r.passes, r.passes == 1 ? "" : "s", static_cast<double>(r.elapsed_ns) / 1e6);
}

}  // namespace flashsaga::tools
