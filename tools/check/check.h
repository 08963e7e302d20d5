// check: proves the deployment's invariants from its six domains' journals and views.
//
// Requires: a data directory laid out by the domains: <data>/<domain>/journal (the journal and
//   the runtime's cursors) and <data>/<domain>/view (the read model, all_tables(domain)). The
//   deployment may be running: every environment is opened read-only; each domain's view and
//   journal are read in one pair of snapshots (LMDB MVCC), and the view is brought up to the
//   journal's end with the state entries it has not applied yet (tools/check/snapshot.h), so
//   rows and records describe the same moment. The order domain is read last, so every effect
//   another domain journaled has its cause in the order snapshot. Each environment is probed
//   first in a child process (tools/check/probe.h): one torn by a power loss is reported as
//   corrupt, with its domain and path, instead of aborting the checker inside LMDB.
// Guarantees: nothing is written. Each invariant is proven twice where the data allows it:
//   from the rows (the state the domains serve) AND by replaying the journal records (what they
//   did) through the step tables (domains/steps.h), and the two must agree. A finding names the
//   invariant, the order (0 if none), the domain and the journal position of the record that
//   shows it.
//   Cross-domain findings that a live deployment can show for a moment (an answer the order
//   journal has seen but whose effect lies after the other domain's snapshot) are re-checked
//   with fresh snapshots when the journals or views moved meanwhile; only findings that persist
//   are reported. A step not yet completed or compensated by its domain is "in flight"
//   (counted, not a violation) while the order journal's outbox holds a message for that domain
//   above the consumer's inbox position (its cursors), or the order changed less than
//   `inflight_grace_ns` ago, unless require_terminal is set.
//
// Invariant numbers:
//   1 stock  2 coupon  3 points  4 wallet  5 terminal (saga gates)  6 money
//   7 view (each domain's read model holds its journal: never ahead of it, from that journal,
//     and with require_terminal exactly up to its end)
//
// Example:
//   tools::CheckReport r = tools::run_check({.data_dir = "data"});
//   tools::print_check(r, std::cout);
//   return !r.error.empty() ? 2 : r.violations.empty() ? 0 : 1;
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "domains/rows.h"
#include "ipc/message.h"
#include "journal/journal.h"

namespace flashsaga::tools {

// --- Opening a deployment's journals (shared with the inspector) ---------------------------

// The six domains in the order their journals are listed (and read by check: order last).
inline constexpr std::array<ipc::Domain, 6> journal_domains = {
    ipc::Domain::user,   ipc::Domain::point,   ipc::Domain::product,
    ipc::Domain::coupon, ipc::Domain::payment, ipc::Domain::order};

// "user" -> Domain::user; Domain::none for anything else.
ipc::Domain parse_domain_name(std::string_view name) noexcept;

// Opening one of them read-only: domains::open_journal_read_only and open_view_read_only
// (domains/journal_open.h); an environment that may be torn: probe_environment
// (tools/check/probe.h) first.

// A one-line description of why `data_dir` is not a readable deployment ("" if it is a
// directory). Checked before opening anything, so a typo in --data gives one clear line.
std::string data_dir_problem(const std::filesystem::path& data_dir);

// Whether a payload of `size` bytes is what a record of `type` carries (false for a type this
// binary does not know: a journal written by a newer binary). A batch_note carries nothing.
bool payload_size_ok(domains::RecordType type, std::size_t size) noexcept;
std::size_t payload_size_for(domains::RecordType type) noexcept;  // 0 if unknown
bool record_type_known(std::uint16_t type) noexcept;
// Whether a known record type carries an Event (an effect) rather than a row (an entity).
// Not decidable from the size: a CouponRow and an Event are both 48 bytes.
bool record_carries_event(domains::RecordType type) noexcept;

// --- Replaying one saga step -----------------------------------------------------------------

// The journaled state of one order's step in one domain, replayed record by record through the
// step's transition table (domains/steps.h). Shared by check (invariants) and trace (markers),
// so both judge a history the same way.
struct StepReplay {
  domains::StepState state = domains::StepState::none;
  domains::StepState phase_from = domains::StepState::none;  // the state before this phase
  bool used = false;                                         // coupon: the order completed with it
  std::uint8_t reward_state = 0;                             // point: 0 none, 1 rewarded, 2 revoked
  std::int64_t amount = 0;          // coupon discount, points deducted, payment charged
  std::int64_t reward = 0;          // point: reward accrued
  std::uint32_t phase_records = 0;  // stock: records of the current move (one per line item)
  std::uint16_t last_type = 0;      // the last record's type (a move's items are consecutive)
  std::uint32_t forward = 0;        // effects that succeeded (sell/apply/deduct/charge)
  std::uint32_t compensations = 0;  // effects undone (release/refund/void)
  std::uint64_t first_sequence = 0;
  std::uint64_t last_sequence = 0;
};

// The stock step of an order the product domain counted in bulk (a stock_reserved record
// whose last_order_id covers it) starts at `reserved`; call this before its first record.
void replay_reserved(StepReplay& step) noexcept;

// Applies one record of the product, coupon, point or payment journal about an order.
// Returns "" if the transition is legal, else what is wrong in words ("refund of 30 points for
// a step that was never deducted"); the replay moves on either way. `items` bounds the records
// of one stock move (one per line item).
std::string replay_step(StepReplay& step, domains::RecordType type, const domains::Event& event,
                        std::uint64_t sequence, std::uint32_t items);

// Whether the step's journaled state is a success that a cancel must undo.
bool step_needs_compensation(ipc::Domain domain, const StepReplay& step) noexcept;
// The step a domain owns (product: stock, ...); nullopt for user and order.
std::optional<domains::OrderStep> step_of_domain(ipc::Domain domain) noexcept;

// --- The check ---------------------------------------------------------------------------------

inline constexpr int invariants_count = 7;

struct Violation {
  int invariant = 0;                   // 1..invariants_count
  std::uint64_t order_id = 0;          // 0 if the finding is not about one order
  std::string domain;                  // the journal that shows it
  std::uint64_t journal_sequence = 0;  // its position in that journal (0: a row, no record)
  std::string what;
};

struct CheckOptions {
  std::filesystem::path data_dir;
  bool require_terminal = false;  // invariant 5 strict: every order terminal, nothing in flight
  // A cancel (or completion) younger than this that a domain has not applied yet is in flight.
  std::int64_t inflight_grace_ns = 5'000'000'000;
  std::int64_t now_ns = 0;  // 0: the wall clock when the check starts
  // Live deployments: re-check findings with fresh snapshots at most this many times.
  std::uint32_t recheck_count_max = 3;
};

// A message a domain received, found invalid (checksum, magic, field, ...) and set aside
// without applying it: journaled as a message_invalid record at `journal_sequence`. Not a
// violation by itself (nothing was applied; a saga step lost this way times out and is
// compensated), but always reported: it means a producer or the shared memory misbehaved.
struct InvalidMessage {
  ipc::Domain domain = ipc::Domain::none;  // whose journal recorded it
  std::uint64_t journal_sequence = 0;
  std::uint64_t edge = 0;  // the ring it came from (deployment edge index)
  std::uint16_t type = 0;  // the header's type field, as received
  std::uint8_t error = 0;  // ipc::MessageError
};

// Orders [first, last] the order journal lost in a power loss under interval while other domains
// kept steps for them (marked by the supervisor at the next start: domains::LostOrders).
struct LostRange {
  std::uint64_t first = 0, last = 0;
};
inline constexpr std::size_t lost_ranges_max = 10'000;

// Exit status of `flashsaga check` when the only findings are lost orders (`lost`): nothing the
// engine did is wrong, but an operator must settle each listed step (docs/durability.md).
inline constexpr int check_exit_lost_orders = 3;

struct CheckReport {
  std::vector<Violation> violations;
  // Findings about orders inside a LostRange: a stock reservation, coupon use, points deduction
  // or charge whose order the order journal lost. Not violations; each names the order, the
  // domain holding the step and its journal position.
  std::vector<Violation> lost;
  std::vector<LostRange> lost_ranges;
  std::vector<InvalidMessage> invalid_messages;
  std::uint64_t orders = 0, completed = 0, cancelled = 0, pending = 0;
  std::uint64_t rejected = 0;         // order_rejected records (refused orders are not rows)
  std::uint64_t refunded_orders = 0;  // cancelled after completion
  std::uint64_t overdue = 0;   // pending past their deadline (a liveness note, not a violation)
  std::uint64_t inflight = 0;  // steps whose completion/compensation is still on its way
  // Charges whose request the order journal lost in a power loss, given back by the order's
  // cancel (domains::EdgeSkip): allowed by the recovery rules, counted, not violations.
  std::uint64_t undone_after_power_loss = 0;
  std::uint64_t users = 0, products = 0, coupons = 0, templates = 0;
  std::uint64_t point_accounts = 0, wallets = 0;
  std::int64_t units_total = 0, units_reserved = 0, units_sold = 0;
  // Per product: the units its journal created and restocked, lease moves left out (at a
  // cluster cell that is not the product's home: 0). cluster-check compares the home's.
  std::map<std::uint64_t, std::int64_t> product_stock;
  std::int64_t money_charged = 0, money_refunded = 0;
  std::array<std::uint64_t, 7> records{};         // per journal, index = ipc::Domain
  std::array<std::uint64_t, 7> view_positions{};  // per view: the journal sequence it holds up to
  std::uint64_t views_behind = 0;                 // views that trail their journal (overlaid)
  std::uint64_t reservations_through = 0;  // the product domain counted every order up to this
  std::uint32_t passes = 0;                // snapshots taken (1 unless findings were re-checked)
  std::int64_t elapsed_ns = 0;
  std::string data_dir;
  std::string error;  // set if the journals or views cannot be opened or read
};

CheckReport run_check(const CheckOptions& options);

// A summary, then each violation with its order id, domain, journal position and a
// "see: flashsaga trace <id>" line. Prints at most violations_print_max violations.
inline constexpr std::size_t violations_print_max = 500;
void print_check(const CheckReport& r, std::ostream& out);

}  // namespace flashsaga::tools
