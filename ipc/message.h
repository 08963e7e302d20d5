// Messages: the fixed-layout wire format every ring slot carries.
//
// Requires: nothing but the standard library; every struct here is a wire format.
// Guarantees: each message is exactly 256 bytes (one ring slot, four cache lines), trivially
//   copyable, with no padding (has_unique_object_representations), so it can be memcpy'd into
//   shared memory and checksummed byte for byte. A message is either valid as a whole or
//   rejected with a reason by validate(); nothing is ever half-read.
//
// Layout of one message (offsets in bytes):
//
//    0               8               16              24              32
//    +-------+---+---+-+-+---+-------+---------------+---------------+
//    | magic |ver|typ|s|d|bsz| crc32c|   sequence    |   order_id    |   header: 64 bytes
//    +-------+---+---+-+-+---+-------+---------------+---------------+
//    32              40              48      52      56              64
//    +---------------+---------------+-------+-------+---------------+
//    |  correlation  | timestamp_ns  | port  | rsvd0 |     rsvd1     |
//    +---------------+---------------+-------+-------+---------------+
//    64                                                              256
//    +---------------------------------------------------------------+
//    |  body: one of the *Body structs below, zero padded to 192     |
//    +---------------------------------------------------------------+
//
// The CRC32C covers the header (with the checksum field taken as zero) and the body_size bytes
// of the body in use. Reserved fields and body bytes beyond body_size must be zero; validate()
// rejects anything else, so a flipped bit anywhere (header, body, or padding) is detected.
//
// Example:
//   PlaceOrderBody body{...};
//   Message m = make_message(MessageType::place_order, Node::port(0), Node::order(), body);
//   m.header.sequence = next_sequence++;
//   seal(m);                                // computes the checksum
//   ...
//   if (validate(m) != MessageError::ok) { /* count, log once, set aside */ }
//   auto placed = body_as<PlaceOrderBody>(m);
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

#include "engine/base/limits.h"

namespace flashsaga::ipc {

inline constexpr std::uint32_t message_magic = 0x474D5346u;  // "FSMG" little-endian
// 2: the checksum covers the header and the body bytes in use (the rest must be zero), and
// order -> product carries reservations per batch instead of OrderPlaced per order.
inline constexpr std::uint16_t message_layout_version = 2;

// Process roles. Numbers are stable: they are written into rings and journals.
enum class Domain : std::uint8_t {
  none = 0,
  user = 1,
  point = 2,
  product = 3,
  coupon = 4,
  order = 5,
  payment = 6,
  port = 7,  // an ingress port: the gateway or a client-library attachment
};
std::string_view domain_name(Domain d) noexcept;

// A node is one end of a ring: a domain, or ingress port p (0..ports_max-1).
struct Node {
  Domain domain = Domain::none;
  std::uint8_t port = 0;  // meaningful only when domain == Domain::port
  friend constexpr bool operator==(Node, Node) = default;
};

// Message types. Numbers are stable and never reused; 0 is never a valid type.
enum class MessageType : std::uint16_t {
  // The saga.
  place_order = 1,          // port -> order
  place_order_reply = 2,    // order -> port
  order_placed = 3,         // order -> product, coupon, point
  coupon_applied = 4,       // coupon -> order
  coupon_rejected = 5,      // coupon -> order
  points_deducted = 6,      // point -> order
  points_rejected = 7,      // point -> order
  payment_requested = 8,    // order -> payment
  payment_approved = 9,     // payment -> order
  payment_declined = 10,    // payment -> order
  order_completed = 11,     // order -> product, coupon, point, payment
  order_cancelled = 12,     // order -> product, coupon, point, payment
  cancel_order = 13,        // port -> order (customer or operator)
  cancel_order_reply = 14,  // order -> port
  reservations = 15,        // order -> product: the units the orders of one batch reserved
  // Commands from a port to the owning domain, answered by command_reply.
  create_user = 32,
  update_user = 33,
  accrue_points = 34,
  deposit = 35,
  create_product = 36,
  update_product = 37,
  restock = 38,
  create_coupon_template = 39,
  issue_coupon = 40,
  // Between cells (docs/cells.md): on JetStream subjects, and link -> product as a command.
  replicate_product = 41,  // home cell's link -> stream -> other cells' links -> their product
  cell_ack = 42,           // a cell's link -> stream -> the home's link: what it committed
  lease_request = 43,      // a cell's link -> stream -> the home's link -> its product: more units
  lease_grant = 44,  // home product -> (outbox) link -> stream -> the cell's link -> its product
  lease_return =
      45,  // a cell's product -> (outbox) link -> stream -> the home's link -> its product
  command_reply = 63,
};
inline constexpr std::uint16_t message_type_max = 63;
std::string_view message_type_name(MessageType t) noexcept;

// Why a message was rejected. Stable numbers.
enum class MessageError : std::uint8_t {
  ok = 0,
  bad_magic = 1,
  bad_version = 2,
  bad_type = 3,
  bad_checksum = 4,
  bad_body_size = 5,
  nonzero_reserved = 6,
  bad_field = 7,  // a body field out of range (checked by the body's own validator)
};
std::string_view message_error_name(MessageError e) noexcept;

// --- Header -------------------------------------------------------------------------------

struct MessageHeader {
  std::uint32_t magic;           //  0 message_magic
  std::uint16_t layout_version;  //  4 message_layout_version
  std::uint16_t type;            //  6 MessageType
  std::uint8_t source;           //  8 Domain of the sender
  std::uint8_t destination;      //  9 Domain of the receiver
  std::uint16_t body_size;       // 10 bytes of body in use (<= 192)
  std::uint32_t checksum;        // 12 CRC32C of the whole message with this field zero
  std::uint64_t sequence;        // 16 per-edge sequence number, from 1
  std::uint64_t order_id;        // 24 the order this message is about, 0 if none
  std::uint64_t correlation;     // 32 request id chosen by a port, echoed in its reply
  std::int64_t timestamp_ns;     // 40 wall clock at creation
  std::uint32_t port;            // 48 ingress port that started the request (replies go there)
  std::uint32_t reserved0;       // 52 must be zero
  std::uint64_t reserved1;       // 56 must be zero
};
static_assert(sizeof(MessageHeader) == message_header_size_bytes);
static_assert(offsetof(MessageHeader, checksum) == 12);
static_assert(offsetof(MessageHeader, sequence) == 16);
static_assert(offsetof(MessageHeader, order_id) == 24);
static_assert(offsetof(MessageHeader, correlation) == 32);
static_assert(offsetof(MessageHeader, timestamp_ns) == 40);
static_assert(offsetof(MessageHeader, port) == 48);
static_assert(offsetof(MessageHeader, reserved1) == 56);

struct alignas(cache_line_size_bytes) Message {
  MessageHeader header;
  std::array<std::byte, message_body_size_bytes> body;
};
static_assert(sizeof(Message) == message_size_bytes);
static_assert(offsetof(Message, body) == message_header_size_bytes);
static_assert(std::is_trivially_copyable_v<Message>);
static_assert(std::has_unique_object_representations_v<Message>);

// --- Bodies -------------------------------------------------------------------------------
// Each body: explicit widths, reserved fields zero, no padding, <= 192 bytes.

// Fixed text field: UTF-8, NUL padded; bytes after the first NUL must be zero.
template <std::size_t N>
struct FixedText {
  std::array<char, N> bytes;
  std::string_view view() const noexcept { return {bytes.data(), ::strnlen(bytes.data(), N)}; }
  // False if the text does not fit (N bytes; a full field has no NUL).
  bool assign(std::string_view s) noexcept {
    if (s.size() > N) return false;
    bytes.fill('\0');
    std::memcpy(bytes.data(), s.data(), s.size());
    return true;
  }
  bool well_formed() const noexcept {
    const std::size_t n = ::strnlen(bytes.data(), N);
    for (std::size_t i = n; i < N; ++i)
      if (bytes[i] != '\0') return false;
    return true;
  }
};
using Name = FixedText<name_size_bytes>;
using Email = FixedText<email_size_bytes>;
using Reason = FixedText<reason_size_bytes>;

struct LineItem {
  std::uint32_t product_id;  // 0: product ids are small dense integers (shm stock index)
  std::uint32_t quantity;    // 4: 1..quantity_max
  std::int64_t unit_price;   // 8: price at reservation time, smallest money unit
};
static_assert(sizeof(LineItem) == 16);

// Why an order ended CANCELLED or REJECTED. Stable numbers; also the API's `reason` strings.
enum class OrderReason : std::uint8_t {
  none = 0,
  coupon_invalid = 1,
  coupon_not_owned = 2,
  coupon_used = 3,
  coupon_expired = 4,
  coupon_min_amount = 5,
  insufficient_points = 6,
  insufficient_balance = 7,
  payment_declined = 8,
  timeout = 9,
  cancelled_by_customer = 10,
  cancelled_by_operator = 11,
  // Synchronous refusals (REJECTED, never reach coupon/point/payment).
  sold_out = 32,
  unknown_user = 33,
  blocked_user = 34,
  limit_exceeded = 35,
  not_on_sale = 36,
  unknown_product = 37,
  bad_request = 38,
  unavailable = 39,
};
std::string_view order_reason_name(OrderReason r) noexcept;

struct PlaceOrderBody {
  std::uint64_t user_id;
  std::uint64_t coupon_id;        // 0: none
  std::int64_t points_requested;  // 0: none
  std::uint64_t idempotency_key;  // hash of the Idempotency-Key header, 0: none
  std::uint32_t reservation;      // the port's reservation slot index
  std::uint8_t item_count;        // 1..line_items_max
  std::uint8_t reserved[3];
  std::array<LineItem, line_items_max> items;
};
static_assert(sizeof(PlaceOrderBody) == 168);

// Result of PlaceOrder / CancelOrder, as the port sees it. Stable numbers.
enum class PlaceResult : std::uint8_t {
  accepted = 0,       // PENDING committed; order id in the header
  duplicate = 1,      // same idempotency key seen before; order id of the first
  rejected = 2,       // REJECTED(reason); the stock was given back by the order domain
  not_found = 3,      // cancel: no such order
  already_final = 4,  // cancel: already cancelled
};

struct PlaceOrderReplyBody {
  std::uint8_t result;  // PlaceResult
  std::uint8_t reason;  // OrderReason when rejected
  std::uint8_t status;  // OrderStatus after the request (see domains/order)
  std::uint8_t reserved[5];
};
static_assert(sizeof(PlaceOrderReplyBody) == 8);

struct OrderPlacedBody {
  std::uint64_t user_id;
  std::uint64_t coupon_id;
  std::int64_t points_to_use;  // already capped at subtotal - expected discount
  std::int64_t subtotal;
  std::uint8_t item_count;
  std::uint8_t reserved[7];
  std::array<LineItem, line_items_max> items;
};
static_assert(sizeof(OrderPlacedBody) == 168);

struct CouponAppliedBody {
  std::uint64_t coupon_id;
  std::int64_t discount;
};
struct StepRejectedBody {  // coupon_rejected, points_rejected, payment_declined
  std::uint8_t reason;     // OrderReason
  std::uint8_t reserved[7];
};
struct PointsDeductedBody {
  std::int64_t amount;
};
struct PaymentRequestedBody {
  std::uint64_t user_id;
  std::int64_t amount;
};
struct PaymentApprovedBody {
  std::int64_t amount;
};
struct OrderFinishedBody {  // order_completed and order_cancelled
  std::uint64_t user_id;
  std::uint64_t coupon_id;
  std::int64_t paid;           // completed: amount charged
  std::int64_t reward_points;  // completed: points to accrue; cancelled after completion: to revoke
  std::uint8_t reason;         // cancelled: OrderReason
  std::uint8_t was_completed;  // cancelled: 1 if this cancels a completed order (a refund)
  std::uint8_t item_count;
  std::uint8_t reserved[5];
  std::array<LineItem, line_items_max> items;
};
static_assert(sizeof(OrderFinishedBody) == 168);

// Units reserved at the door for one product by the orders of one order-domain batch.
struct ReservedUnits {
  std::uint32_t product_id;  // >= 1
  std::uint32_t reserved;    // zero
  std::int64_t units;        // >= 1
};
inline constexpr std::size_t reservations_per_message_max = 10;

// order -> product: the product domain learns of reservations without one message per order.
// Every order with an id <= last_order_id is counted in this message or an earlier one, and an
// order's lines are never split across two messages.
struct ReservationsBody {
  std::uint64_t last_order_id;
  std::uint8_t count;  // entries of `products` in use, 1..reservations_per_message_max
  std::uint8_t reserved[7];
  std::array<ReservedUnits, reservations_per_message_max> products;
};
static_assert(sizeof(ReservationsBody) == 176);

struct CancelOrderBody {
  std::uint8_t reason;  // OrderReason: cancelled_by_customer or cancelled_by_operator
  std::uint8_t reserved[7];
};

// --- Commands (port -> owning domain) -----------------------------------------------------

struct CreateUserBody {
  Name name;
  Email email;
};
struct UpdateUserBody {
  std::uint64_t user_id;
  std::uint8_t set_name;     // 1: apply name
  std::uint8_t set_email;    // 1: apply email
  std::uint8_t set_blocked;  // 1: apply blocked
  std::uint8_t blocked;
  std::uint8_t reserved[4];
  Name name;
  Email email;
};
static_assert(sizeof(UpdateUserBody) == 176);
struct AccruePointsBody {
  std::uint64_t user_id;
  std::int64_t amount;
  Reason reason;
};
struct DepositBody {
  std::uint64_t user_id;
  std::int64_t amount;
};
struct CreateProductBody {
  std::int64_t price;
  std::int64_t stock;
  std::int64_t sale_starts_ns;  // 0: no start
  std::int64_t sale_ends_ns;    // 0: no end
  std::uint32_t max_per_user;   // 0: no limit
  std::uint32_t reserved;
  Name name;
};
struct UpdateProductBody {
  std::uint64_t product_id;
  std::int64_t price;
  std::int64_t sale_starts_ns;
  std::int64_t sale_ends_ns;
  std::uint32_t max_per_user;
  std::uint8_t set_name;
  std::uint8_t set_price;
  std::uint8_t set_max_per_user;
  std::uint8_t set_sale_starts;  // with sale_starts_ns == 0: clear the start
  std::uint8_t set_sale_ends;
  std::uint8_t reserved[7];
  Name name;
};
static_assert(sizeof(UpdateProductBody) == 112);
struct RestockBody {
  std::uint64_t product_id;
  std::int64_t quantity;
};
enum class CouponKind : std::uint8_t { fixed = 1, percent = 2 };
struct CreateCouponTemplateBody {
  std::int64_t value;             // fixed: amount off; percent: 1..100
  std::int64_t max_discount;      // 0: no cap
  std::int64_t min_order_amount;  // 0: none
  std::int64_t expires_at_ns;     // 0: never
  std::int64_t quantity;          // 0: unlimited
  std::uint8_t kind;              // CouponKind
  std::uint8_t reserved[7];
  Name name;
};
struct IssueCouponBody {
  std::uint64_t template_id;
  std::uint64_t user_id;
};

// --- Between cells (engine/cells) -----------------------------------------------------------

// A product as its home cell created it. Header sequence: the home's catalog edge sequence.
struct ReplicateProductBody {
  std::uint64_t product_id;  // id % cells == home_cell
  std::int64_t price;
  std::int64_t total;  // the home's total stock (other cells sell only leased units)
  std::int64_t sale_starts_ns;
  std::int64_t sale_ends_ns;
  std::uint32_t max_per_user;
  std::uint32_t home_cell;
  Name name;
};
static_assert(sizeof(ReplicateProductBody) == 112);

// End-to-end ack: cell `from_cell` has durably applied every message of edge `edge` (a home
// cell's catalog stream) up to `sequence`; the home may stop re-sending them.
struct CellAckBody {
  std::uint32_t edge;
  std::uint32_t from_cell;
  std::uint64_t sequence;
};

// Stock escrow leases (docs/cells.md). A cell asks its product's home for more units; not
// sequenced (advisory): the home grants only if `granted_seen` equals what it has granted that
// cell so far, so a repeated or late request grants nothing twice.
struct LeaseRequestBody {
  std::uint64_t product_id;
  std::uint32_t home_cell;
  std::uint32_t from_cell;
  std::int64_t want;          // units wanted (>= 1)
  std::int64_t granted_seen;  // units of this product the cell has loaded from its home, ever
};

// A grant: header sequence = the home -> to_cell lease edge sequence. granted_total is
// cumulative (every unit the home ever granted to_cell of this product), so applying is
// idempotent: a cell loads granted_total - what it loaded before.
struct LeaseGrantBody {
  std::uint64_t product_id;
  std::uint32_t home_cell;
  std::uint32_t to_cell;
  std::int64_t units;          // this grant
  std::int64_t granted_total;  // cumulative
  std::uint64_t epoch;         // grants of this (product, cell), from 1
  std::int64_t expires_ns;     // wall clock: unsold units go back after this
};

// A return of unsold units: header sequence = the from_cell -> home lease edge sequence;
// returned_total is cumulative. As a command from a cell's own link to its product domain
// (from_cell == the cell, units 0): "the lease expired: return what is unsold now".
struct LeaseReturnBody {
  std::uint64_t product_id;
  std::uint32_t home_cell;
  std::uint32_t from_cell;
  std::int64_t units;
  std::int64_t returned_total;  // cumulative
  std::uint64_t epoch;          // the lease epoch the units came under
};

// Result of a command. Stable numbers; the gateway maps them to HTTP statuses.
enum class CommandResult : std::uint16_t {
  ok = 0,
  not_found = 1,      // an id in the command does not exist
  conflict = 2,       // e.g. e-mail taken, coupon already held by this user
  sold_out = 3,       // limited coupon template exhausted
  invalid_field = 4,  // a field out of range the domain checks
  unavailable = 5,    // the domain cannot take writes now (disk or map full)
};
std::string_view command_result_name(CommandResult r) noexcept;

struct CommandReplyBody {
  std::uint16_t result;  // CommandResult
  std::uint16_t field;   // which field was at fault (command-specific number), 0: none
  std::uint32_t reserved;
  std::uint64_t entity_id;  // id created or changed
  std::int64_t value;       // e.g. new balance
};

// --- Operations ---------------------------------------------------------------------------

// Fills magic, version, type, source/destination, body (copied, zero padded) and timestamp.
// Sequence, order id, correlation and port are left zero for the caller; seal() last.
template <typename Body>
Message make_message(MessageType type, Domain source, Domain destination,
                     const Body& body) noexcept;
// Same, stamped with timestamp_ns instead of the clock. A domain's messages pass stamp_at_seal:
// the runtime stamps each with its batch's time when it seals them (Agent::seal_outputs), so a
// batch reads the clock once, not once per message.
inline constexpr std::int64_t stamp_at_seal = 0;
template <typename Body>
Message make_message(MessageType type, Domain source, Domain destination, const Body& body,
                     std::int64_t timestamp_ns) noexcept;

// Computes and stores the checksum. Call after every field is final.
void seal(Message& m) noexcept;

// Checks magic, version, type, body size, reserved fields and checksum, in that order.
// Never reads beyond the 256 bytes; never modifies the message.
MessageError validate(const Message& m) noexcept;

// Copies the body out as Body (the body's bytes beyond sizeof(Body) are ignored).
template <typename Body>
Body body_as(const Message& m) noexcept {
  static_assert(std::is_trivially_copyable_v<Body>);
  static_assert(sizeof(Body) <= message_body_size_bytes);
  Body b;
  std::memcpy(&b, m.body.data(), sizeof(Body));
  return b;
}

// The body size a message of this type must carry (0 for an unknown type).
std::uint16_t body_size_for(MessageType t) noexcept;

// --- Implementation of the template ---------------------------------------------------------

std::int64_t message_clock_ns() noexcept;

template <typename Body>
Message make_message(MessageType type, Domain source, Domain destination,
                     const Body& body) noexcept {
  return make_message(type, source, destination, body, message_clock_ns());
}

template <typename Body>
Message make_message(MessageType type, Domain source, Domain destination, const Body& body,
                     std::int64_t timestamp_ns) noexcept {
  static_assert(std::is_trivially_copyable_v<Body>);
  static_assert(std::has_unique_object_representations_v<Body>, "bodies must have no padding");
  static_assert(sizeof(Body) <= message_body_size_bytes);
  Message m{};
  m.header.magic = message_magic;
  m.header.layout_version = message_layout_version;
  m.header.type = static_cast<std::uint16_t>(type);
  m.header.source = static_cast<std::uint8_t>(source);
  m.header.destination = static_cast<std::uint8_t>(destination);
  m.header.body_size = static_cast<std::uint16_t>(sizeof(Body));
  m.header.timestamp_ns = timestamp_ns;
  std::memcpy(m.body.data(), &body, sizeof(Body));
  return m;
}

}  // namespace flashsaga::ipc
