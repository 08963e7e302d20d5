// rows: the persisted layouts of every domain — table rows, step states and journal records.
//
// These structs are written into LMDB by their owning domain and read by everyone else (the
// gateway serves GETs from them, `flashsaga check` proves the invariants from them, the
// inspector decodes them). They are wire formats: explicit widths, no padding, reserved
// fields zero, sizes proven at compile time. Changing one means bumping row_layout_version.
//
// Tables (key -> value), per domain environment (<data>/<domain>):
//   user:    users     u64 id            -> UserRow
//            emails    lower-case e-mail -> u64 id
//   point:   accounts  u64 user          -> PointAccount
//            history   (u64 user, u64 journal seq) -> Event
//            steps     u64 order         -> PointStep
//            reasons   (u64 user, u64 journal seq) -> ipc::Reason  text of an operator accrual
//   product: products  u64 id            -> ProductRow
//            steps     u64 order         -> ProductStep
//   coupon:  templates u64 id            -> TemplateRow
//            coupons   u64 id            -> CouponRow
//            holders   (u64 template, u64 user) -> u64 coupon
//            by_user   (u64 user, u64 coupon)   -> (empty)
//            steps     u64 order         -> CouponStep
//   order:   orders    u64 id            -> OrderRow
//            pending   u64 id            -> (empty)         orders not yet terminal
//            live      (u64 user, u64 product) -> i64 units  units in live orders of products
//                                                         with a per-customer limit
//            idem      u64 key hash      -> u64 order id
//   payment: wallets   u64 user          -> Wallet
//            history   (u64 user, u64 journal seq) -> Event
//            payments  u64 order         -> PaymentRow
// These live in the domain's VIEW environment (<data>/<domain>/view), the read model rebuilt
// from its journal (<data>/<domain>/journal), with a "counters" table (name -> u64).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>
#include <type_traits>

#include "engine/base/limits.h"
#include "ipc/message.h"

namespace flashsaga::domains {

// 2: OrderRow gained counted_items; runtime rows (cursors, view position) added.
inline constexpr std::uint32_t row_layout_version = 2;

// Every table of a domain's view environment — its own, as listed above, then "counters":
// what a reader must name to open it.
inline std::vector<std::string> all_tables(ipc::Domain d) {
  std::vector<std::string> t;
  switch (d) {
    case ipc::Domain::user:
      t = {"users", "emails"};
      break;
    case ipc::Domain::point:
      t = {"accounts", "history", "steps", "reasons"};
      break;
    case ipc::Domain::product:
      t = {"products", "steps", "leases", "lease_out"};
      break;
    case ipc::Domain::coupon:
      t = {"templates", "coupons", "holders", "by_user", "steps"};
      break;
    case ipc::Domain::order:
      t = {"orders", "pending", "live", "idem"};
      break;
    case ipc::Domain::payment:
      t = {"wallets", "history", "payments"};
      break;
    default:
      break;
  }
  t.emplace_back("counters");
  return t;
}

// The tables of a domain's journal environment besides its journal: the runtime's cursors.
inline std::vector<std::string> journal_tables() {
  return {"cursors"};
}

template <typename T>
constexpr bool is_row_v =
    std::is_trivially_copyable_v<T>&& std::has_unique_object_representations_v<T>;

// --- Step states (stable numbers; the API shows their names in lower case) -----------------

enum class StepState : std::uint8_t {
  none = 0,
  // forward
  reserved = 1,  // product
  sold = 2,      // product
  applied = 3,   // coupon
  deducted = 4,  // point
  approved = 5,  // payment
  pending = 6,   // payment: waiting for the external PG; order: step requested
  // refusals
  rejected = 16,  // coupon, point
  declined = 17,  // payment
  // compensations
  released = 32,  // product, coupon
  refunded = 33,  // point, payment
  voided = 34,    // payment: cancelled while the PG had not answered; nothing was charged
  cancelled_before_apply = 35,  // the cancel came first; a later forward step is refused
  skipped = 48,                 // order: the step is not part of this order (no coupon, no points)
};
std::string_view step_state_name(StepState s) noexcept;

enum class OrderStatus : std::uint8_t { pending = 1, completed = 2, cancelled = 3, rejected = 4 };
std::string_view order_status_name(OrderStatus s) noexcept;  // "PENDING", ...

// --- Rows ------------------------------------------------------------------------------------

struct UserRow {
  std::uint64_t id;
  std::int64_t created_ns;
  std::int64_t updated_ns;
  std::uint8_t blocked;
  std::uint8_t reserved[7];
  ipc::Name name;
  ipc::Email email;
};
static_assert(sizeof(UserRow) == 192 && is_row_v<UserRow>);

struct PointAccount {
  std::int64_t balance;
  std::int64_t accrued;   // operator accruals
  std::int64_t deducted;  // used for orders
  std::int64_t refunded;  // deductions given back
  std::int64_t rewarded;  // rewards for completed orders
  std::int64_t revoked;   // rewards taken back on refund
};
static_assert(sizeof(PointAccount) == 48 && is_row_v<PointAccount>);

struct PointStep {
  std::uint64_t user_id;
  std::int64_t amount;          // points deducted
  std::int64_t reward;          // reward accrued on completion
  std::int64_t reward_revoked;  // reward taken back on refund
  std::uint8_t state;           // StepState: deducted, rejected, refunded, cancelled_before_apply
  std::uint8_t reward_state;    // 0 none, 1 rewarded, 2 revoked
  std::uint8_t reserved[6];
};
static_assert(sizeof(PointStep) == 40 && is_row_v<PointStep>);

struct ProductRow {
  std::uint64_t id;
  std::int64_t price;
  std::int64_t total;     // initial stock + restocks
  std::int64_t reserved;  // units in RESERVED steps
  std::int64_t sold;      // units in SOLD steps
  std::int64_t sale_starts_ns;
  std::int64_t sale_ends_ns;
  std::int64_t created_ns;
  std::int64_t updated_ns;
  std::uint32_t max_per_user;
  std::uint32_t reserved0;
  ipc::Name name;
};
static_assert(sizeof(ProductRow) == 144 && is_row_v<ProductRow>);

// One side of the stock leases of a product between its home and another cell, keyed
// (product, peer cell). At the home: granted = units ever granted to the peer, returned =
// units ever credited back from it. At the other cell (peer = the home): granted = units ever
// loaded, returned = units ever sent back. Its holding is granted - returned there. Key
// (0, cell) is not a product: its epoch is the last sequence of the lease edge to that cell.
struct LeaseRow {
  std::uint64_t product_id;
  std::uint32_t peer;
  std::uint32_t reserved0;
  std::int64_t granted;
  std::int64_t returned;
  std::uint64_t epoch;
  std::int64_t expires_ns;  // wall clock; 0: none
};
static_assert(sizeof(LeaseRow) == 48 && is_row_v<LeaseRow>);

struct ProductStep {
  std::uint64_t user_id;
  std::uint8_t state;  // reserved, sold, released, cancelled_before_apply
  std::uint8_t item_count;
  std::uint8_t reserved[6];
  std::array<ipc::LineItem, line_items_max> items;
};
static_assert(sizeof(ProductStep) == 144 && is_row_v<ProductStep>);

struct TemplateRow {
  std::uint64_t id;
  std::int64_t value;
  std::int64_t max_discount;
  std::int64_t min_order_amount;
  std::int64_t expires_at_ns;
  std::int64_t quantity;  // 0: unlimited
  std::int64_t issued;
  std::int64_t created_ns;
  std::uint8_t kind;  // ipc::CouponKind
  std::uint8_t reserved[7];
  ipc::Name name;
};
static_assert(sizeof(TemplateRow) == 136 && is_row_v<TemplateRow>);

enum class CouponState : std::uint8_t { available = 1, held = 2, used = 3 };
std::string_view coupon_state_name(CouponState s) noexcept;  // plus "expired", derived from time

struct CouponRow {
  std::uint64_t id;
  std::uint64_t template_id;
  std::uint64_t user_id;
  std::uint64_t order_id;  // holder while held or used, 0 otherwise
  std::int64_t issued_ns;
  std::uint8_t state;  // CouponState
  std::uint8_t reserved[7];
};
static_assert(sizeof(CouponRow) == 48 && is_row_v<CouponRow>);

struct CouponStep {
  std::uint64_t coupon_id;
  std::int64_t discount;
  std::uint8_t state;   // applied, rejected, released, cancelled_before_apply
  std::uint8_t reason;  // ipc::OrderReason when rejected
  std::uint8_t used;    // 1 once the order completed
  std::uint8_t reserved[5];
};
static_assert(sizeof(CouponStep) == 24 && is_row_v<CouponStep>);

struct OrderRow {
  std::uint64_t id;
  std::uint64_t user_id;
  std::uint64_t coupon_id;
  std::uint64_t idempotency_key;
  std::int64_t points_requested;
  std::int64_t points_to_use;  // requested, capped at subtotal - expected discount
  std::int64_t subtotal;
  std::int64_t discount;
  std::int64_t points_used;
  std::int64_t paid;
  std::int64_t reward_points;
  std::int64_t created_ns;
  std::int64_t updated_ns;
  std::int64_t deadline_ns;  // wall clock; a PENDING order past it is cancelled (timeout)
  std::uint8_t status;       // OrderStatus
  std::uint8_t reason;       // ipc::OrderReason
  std::uint8_t step_stock;   // StepState as the order sees each step
  std::uint8_t step_coupon;
  std::uint8_t step_points;
  std::uint8_t step_payment;
  std::uint8_t item_count;
  std::uint8_t was_completed;  // 1: cancelled after completion (refund)
  // Bit i: item i counts in the user's live units of its product (the product had a
  // per-customer limit when the order was placed), so a cancel takes back exactly that.
  std::uint8_t counted_items;
  std::uint8_t reserved[7];
  std::array<ipc::LineItem, line_items_max> items;  // last: unused lines are a zero tail
};
static_assert(sizeof(OrderRow) == 256 && is_row_v<OrderRow>);

struct Wallet {
  std::int64_t balance;
  std::int64_t deposits;
  std::int64_t charges;
  std::int64_t refunds;
};
static_assert(sizeof(Wallet) == 32 && is_row_v<Wallet>);

enum class PaymentMethod : std::uint8_t { wallet = 1, pg = 2 };
std::string_view payment_method_name(PaymentMethod m) noexcept;

struct PaymentRow {
  std::uint64_t order_id;
  std::uint64_t user_id;
  std::int64_t amount;
  std::int64_t updated_ns;
  std::uint8_t state;   // approved, declined, refunded, pending, voided, cancelled_before_apply
  std::uint8_t method;  // PaymentMethod
  std::uint8_t reason;  // ipc::OrderReason when declined
  std::uint8_t reserved[5];
};
static_assert(sizeof(PaymentRow) == 40 && is_row_v<PaymentRow>);

// --- Journal records ---------------------------------------------------------------------------
// Record types are stable numbers, grouped by domain. Entity records carry the row as payload;
// effect records carry an Event.

enum class RecordType : std::uint16_t {
  // user
  user_created = 1,
  user_updated = 2,
  // point
  points_accrued = 10,
  points_deducted = 11,
  points_rejected = 12,
  points_refunded = 13,
  points_rewarded = 14,
  points_reward_revoked = 15,
  points_cancelled_before_apply = 16,
  // product
  product_created = 20,
  product_updated = 21,
  product_restocked = 22,
  stock_reserved = 23,
  stock_sold = 24,
  stock_released = 25,
  stock_reconciled = 26,
  stock_cancelled_before_apply = 27,
  // Stock escrow leases between cells (docs/cells.md). Event: subject = product, other = the
  // peer cell, amount = units (> 0), balance = the row's total after, extra = lease epoch.
  lease_out = 28,  // units leave this cell's total: a grant (at the home) or a return (at a cell)
  lease_in = 29,   // units join this cell's total: a load (at a cell) or a credit (at the home)
  // coupon
  coupon_template_created = 30,
  coupon_issued = 31,
  coupon_applied = 32,
  coupon_rejected = 33,
  coupon_released = 34,
  coupon_used = 35,
  coupon_cancelled_before_apply = 36,
  // order
  order_pending = 40,
  order_rejected = 41,
  order_step = 42,  // a step answered: Event.state = step state, Event.other = which step
  order_payment_requested = 43,
  order_completed = 44,
  order_cancelled = 45,
  // payment
  wallet_deposited = 50,
  payment_approved = 51,
  payment_declined = 52,
  payment_refunded = 53,
  payment_cancelled_before_apply = 54,
  payment_pg_requested = 55,
  payment_voided = 56,
  // any domain
  message_invalid = 90,  // an input message failed validation and was set aside
  batch_note = 91,       // a batch that changed state without an event of its own (empty)
};
std::string_view record_type_name(RecordType t) noexcept;
ipc::Domain record_domain(RecordType t) noexcept;

// Which step an order_step record is about (Event.other).
enum class OrderStep : std::uint8_t { stock = 1, coupon = 2, points = 3, payment = 4 };

// The payload of every effect record.
struct Event {
  std::uint64_t subject;  // the entity: user (point, payment), product (stock), coupon
  std::uint64_t other;    // a second id or small enum (template, step, edge)
  std::int64_t amount;    // units, money or points moved by this effect (>= 0)
  std::int64_t balance;   // the subject's balance, stock or total after the effect
  std::int64_t extra;     // record-specific (discount, paid, ...)
  std::uint8_t state;     // StepState after the effect
  std::uint8_t reason;    // ipc::OrderReason
  std::uint8_t reserved[6];
};
static_assert(sizeof(Event) == 48 && is_row_v<Event>);

// --- Runtime rows ------------------------------------------------------------------------------
// The journal environment of every domain holds, besides its journal, one small table the
// runtime writes in the same transaction as each batch:
//   cursors  (1, edge) -> InboxEntry     the last input sequence applied on an input edge
//            (2, edge) -> OutboxCursor   where an output edge stands
// and the view environment one row the runtime writes with each view transaction:
//   counters "view_position" -> ViewPosition   how far the view has applied the journal

inline constexpr std::uint64_t cursor_kind_inbox = 1;
inline constexpr std::uint64_t cursor_kind_outbox = 2;
// Order journal only: (3, wall ns) -> LostOrders, written by the supervisor after a power loss
// under interval when the order journal kept less than its peers applied (docs/durability.md).
inline constexpr std::uint64_t cursor_kind_lost_orders = 3;
struct LostOrders {
  std::uint64_t first;    // the first order id the order journal lost and a peer holds a step for
  std::uint64_t last;     // the highest order id a peer's journal names
  std::int64_t found_ns;  // wall clock of the start that found it
  std::uint64_t reserved;
};
// Producer journal: (4, wall ns + edge) -> EdgeSkip, written by the supervisor after a power
// loss under interval when a consumer had applied messages on `edge` that the producer's
// journal lost (its next messages continue after them): the consumer holds steps whose
// request the producer no longer shows. `flashsaga check` accepts such a step only when the
// order's cancel undid it and it was applied before the mark (consumer_last).
inline constexpr std::uint64_t cursor_kind_edge_skip = 4;
struct EdgeSkip {
  std::uint64_t edge;
  std::uint64_t producer_last;     // the producer's journal kept messages up to this sequence
  std::uint64_t consumer_applied;  // the consumer had applied up to this one
  std::uint64_t consumer_last;     // the consumer journal's last record sequence at the repair
  std::int64_t found_ns;           // wall clock of the start that found it
  std::uint64_t reserved;
};
static_assert(sizeof(EdgeSkip) == 48 && is_row_v<EdgeSkip>);
inline constexpr std::string_view cursors_table_name = "cursors";
inline constexpr std::string_view view_counters_table_name = "counters";
inline constexpr std::string_view view_position_key = "view_position";

// segment_id scopes port edges, whose sequences restart with each shared-memory segment;
// domain edges store 0 (their sequences come from the producer's journal and survive
// everything). Readers (check) use it to tell a message still on its way from a lost one.
struct InboxEntry {
  std::int64_t segment_id;
  std::uint64_t last_sequence;
};
static_assert(sizeof(InboxEntry) == 16 && is_row_v<InboxEntry>);

struct OutboxCursor {
  std::uint64_t last_sequence;  // last message sequence assigned on the edge
  std::uint64_t acked;          // highest sequence the consumer said it applied (lower bound)
  std::uint64_t resend_from;    // journal sequence of the batch holding the first unacked
                                // message (0: none unacked)
  std::uint64_t reserved;
};
static_assert(sizeof(OutboxCursor) == 32 && is_row_v<OutboxCursor>);

struct ViewPosition {
  std::uint64_t last_sequence;      // the view holds every state entry of journal records <= this
  std::uint64_t batch_id;           // the writer's batch number of that batch
  std::int64_t journal_created_ns;  // the journal it was built from (a new journal: rebuild)
  std::uint64_t reserved;
};
static_assert(sizeof(ViewPosition) == 32 && is_row_v<ViewPosition>);

}  // namespace flashsaga::domains
