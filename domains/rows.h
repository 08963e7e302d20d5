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
//            live      (u64 user, u64 product) -> i64 units  units in live orders
//            idem      u64 key hash      -> u64 order id
//   payment: wallets   u64 user          -> Wallet
//            history   (u64 user, u64 journal seq) -> Event
//            payments  u64 order         -> PaymentRow
// Every environment also has the runtime's tables: counters (name -> u64), inbox, outseq, outbox.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>
#include <type_traits>
#include <utility>

#include "engine/base/limits.h"
#include "ipc/message.h"

namespace flashsaga::domains {

inline constexpr std::uint32_t row_layout_version = 1;

// The runtime's tables, which every domain's environment has besides its own.
inline std::vector<std::string> runtime_tables() {
  return {"counters", "inbox", "outseq", "outbox"};
}

// Every table of a domain's environment — its own, as listed above, then the runtime's
// (counters, inbox, outseq, outbox): what a reader must name to open it.
inline std::vector<std::string> all_tables(ipc::Domain d) {
  std::vector<std::string> t;
  switch (d) {
    case ipc::Domain::user: t = {"users", "emails"}; break;
    case ipc::Domain::point: t = {"accounts", "history", "steps", "reasons"}; break;
    case ipc::Domain::product: t = {"products", "steps"}; break;
    case ipc::Domain::coupon: t = {"templates", "coupons", "holders", "by_user", "steps"}; break;
    case ipc::Domain::order: t = {"orders", "pending", "live", "idem"}; break;
    case ipc::Domain::payment: t = {"wallets", "history", "payments"}; break;
    default: break;
  }
  for (std::string& runtime : runtime_tables()) t.push_back(std::move(runtime));
  return t;
}

template <typename T>
constexpr bool is_row_v = std::is_trivially_copyable_v<T> && std::has_unique_object_representations_v<T>;

// A row of the runtime's "inbox" table (key: edge index): the last input sequence applied on
// that edge, committed in the batch that applied it. segment_id scopes port edges, whose
// sequences restart with each shared-memory segment; domain edges store 0 (their sequences
// come from the producer's outbox and survive everything). Readers (check) use it to tell a
// message still on its way from a lost one.
struct InboxEntry {
  std::int64_t segment_id;
  std::uint64_t last_sequence;
};
static_assert(sizeof(InboxEntry) == 16 && is_row_v<InboxEntry>);

// --- Step states (stable numbers; the API shows their names in lower case) -----------------

enum class StepState : std::uint8_t {
  none = 0,
  // forward
  reserved = 1,   // product
  sold = 2,       // product
  applied = 3,    // coupon
  deducted = 4,   // point
  approved = 5,   // payment
  pending = 6,    // payment: waiting for the external PG; order: step requested
  // refusals
  rejected = 16,  // coupon, point
  declined = 17,  // payment
  // compensations
  released = 32,  // product, coupon
  refunded = 33,  // point, payment
  voided = 34,    // payment: cancelled while the PG had not answered; nothing was charged
  cancelled_before_apply = 35,  // the cancel came first; a later forward step is refused
  skipped = 48,   // order: the step is not part of this order (no coupon, no points)
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
  std::int64_t accrued;    // operator accruals
  std::int64_t deducted;   // used for orders
  std::int64_t refunded;   // deductions given back
  std::int64_t rewarded;   // rewards for completed orders
  std::int64_t revoked;    // rewards taken back on refund
};
static_assert(sizeof(PointAccount) == 48 && is_row_v<PointAccount>);

struct PointStep {
  std::uint64_t user_id;
  std::int64_t amount;         // points deducted
  std::int64_t reward;         // reward accrued on completion
  std::int64_t reward_revoked; // reward taken back on refund
  std::uint8_t state;          // StepState: deducted, rejected, refunded, cancelled_before_apply
  std::uint8_t reward_state;   // 0 none, 1 rewarded, 2 revoked
  std::uint8_t reserved[6];
};
static_assert(sizeof(PointStep) == 40 && is_row_v<PointStep>);

struct ProductRow {
  std::uint64_t id;
  std::int64_t price;
  std::int64_t total;      // initial stock + restocks
  std::int64_t reserved;   // units in RESERVED steps
  std::int64_t sold;       // units in SOLD steps
  std::int64_t sale_starts_ns;
  std::int64_t sale_ends_ns;
  std::int64_t created_ns;
  std::int64_t updated_ns;
  std::uint32_t max_per_user;
  std::uint32_t reserved0;
  ipc::Name name;
};
static_assert(sizeof(ProductRow) == 144 && is_row_v<ProductRow>);

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
  std::int64_t quantity;   // 0: unlimited
  std::int64_t issued;
  std::int64_t created_ns;
  std::uint8_t kind;       // ipc::CouponKind
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
  std::uint8_t state;      // CouponState
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
  std::int64_t points_to_use;    // requested, capped at subtotal - expected discount
  std::int64_t subtotal;
  std::int64_t discount;
  std::int64_t points_used;
  std::int64_t paid;
  std::int64_t reward_points;
  std::int64_t created_ns;
  std::int64_t updated_ns;
  std::int64_t deadline_ns;      // wall clock; a PENDING order past it is cancelled (timeout)
  std::uint8_t status;           // OrderStatus
  std::uint8_t reason;           // ipc::OrderReason
  std::uint8_t step_stock;       // StepState as the order sees each step
  std::uint8_t step_coupon;
  std::uint8_t step_points;
  std::uint8_t step_payment;
  std::uint8_t item_count;
  std::uint8_t was_completed;    // 1: cancelled after completion (refund)
  std::array<ipc::LineItem, line_items_max> items;
};
static_assert(sizeof(OrderRow) == 248 && is_row_v<OrderRow>);

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
  std::uint8_t state;    // approved, declined, refunded, pending, voided, cancelled_before_apply
  std::uint8_t method;   // PaymentMethod
  std::uint8_t reason;   // ipc::OrderReason when declined
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
  order_step = 42,           // a step answered: Event.state = step state, Event.other = which step
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
  message_invalid = 90,      // an input message failed validation and was set aside
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

}  // namespace flashsaga::domains
