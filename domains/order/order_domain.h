// order: the order state machine that drives the saga.
//
//   PlaceOrder ──(user ok, limit ok)──> PENDING ──(coupon ok, points ok)──> payment requested
//        │                                 │                                     │
//        └─> REJECTED(reason)              ├─ any rejection / timeout ─> CANCELLED(reason)
//            (stock given back,            │                                     │
//             nothing else hears)          └──────────── PaymentApproved ──> COMPLETED
//                                                                                │
//                                                  CancelOrder (refund) ─> CANCELLED
//
// Requires: read access to the user, coupon and product views (peers) for the checks it makes
//   before the 202: the user exists and is not blocked, the per-customer limit, and the
//   coupon's expected discount (to cap the points taken).
// Guarantees: an order is answered `accepted` only in the batch that journals it PENDING, so
//   the reply leaves after the commit (and after the view shows it). Every PENDING order
//   reaches COMPLETED or CANCELLED: a step that does not answer within step_timeout_ms cancels
//   it (reason timeout). A message about an order that is no longer PENDING changes nothing
//   (the cancel already went out and the other domains' gates handle it). The product domain
//   hears of the batch's reservations in bulk (Reservations, at the end of the batch), before
//   any completion or cancellation of those orders.
// Memory: the most recent orders (a window; older ones are read from the view), the units each
//   user holds in live orders of limited products, idempotency keys not yet in the view, the
//   pending orders' deadlines (a FIFO: deadlines are created in time order).
#pragma once

#include <algorithm>

#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

#include "domains/logic.h"
#include "domains/options.h"
#include "domains/state.h"

namespace flashsaga::domains {

class OrderDomain final : public DomainLogic {
 public:
  explicit OrderDomain(const OrderOptions& options);

  ipc::Domain domain() const noexcept override { return ipc::Domain::order; }
  std::vector<std::string> tables() const override { return {"orders", "pending", "live", "idem"}; }
  std::vector<ipc::Domain> peers() const override {
    return {ipc::Domain::user, ipc::Domain::coupon, ipc::Domain::product};
  }
  journal::Status load(const journal::Env& view, const journal::ReadTxn& txn) override;
  void id_floor(std::uint64_t floor) override { next_order_id_ = std::max(next_order_id_, floor); }
  void stopped_at(std::int64_t wall_ns) override { stopped_at_ns_ = wall_ns; }
  void apply(Batch& batch, const ipc::Message& in) override;
  std::size_t tick(Batch& batch) override;
  bool tick_due(std::int64_t now_ns) const noexcept override;
  std::int64_t next_due_ns() const noexcept override;
  void viewed(std::uint64_t batch_id) override {
    orders_.viewed(batch_id);
    idem_.viewed(batch_id);
    live_.viewed(batch_id);
  }

  std::size_t pending_count() const noexcept { return pending_; }

 private:
  void place(Batch& b, const ipc::Message& in);
  bool admit(Batch& b, const ipc::Message& in, const ipc::PlaceOrderBody& body,
             std::int64_t* subtotal, std::uint8_t* counted);
  bool replay_duplicate(Batch& b, const ipc::Message& in, const ipc::PlaceOrderBody& body);
  void reject(Batch& b, const ipc::Message& in, const ipc::PlaceOrderBody& body,
              ipc::OrderReason reason);
  void step_answer(Batch& b, const ipc::Message& in);
  void step_refused(Batch& b, OrderRow& row, ipc::MessageType type, const ipc::Message& in);
  void cancel_request(Batch& b, const ipc::Message& in);
  void maybe_request_payment(Batch& b, OrderRow& row);
  void complete(Batch& b, OrderRow& row);
  void cancel(Batch& b, OrderRow& row, ipc::OrderReason reason);
  void save(Batch& b, const OrderRow& row) { orders_.put(b, row.id, row); }
  void record_step(Batch& b, const OrderRow& row, OrderStep step, StepState state,
                   std::int64_t amount, ipc::OrderReason reason);
  void change_live(Batch& b, const OrderRow& row, std::int64_t sign);
  void send_reservations(Batch& b);
  std::int64_t expected_discount(const Batch& b, std::uint64_t coupon_id,
                                 std::int64_t subtotal) const;

  OrderOptions options_;
  WindowTable<OrderRow> orders_;
  IdSet pending_ids_;
  KeyedTable<std::int64_t> live_{KeyedTable<std::int64_t>::Memory::all};
  KeyedTable<std::uint64_t> idem_{KeyedTable<std::uint64_t>::Memory::recent};
  std::uint64_t next_order_id_ = 0;  // last id assigned
  std::size_t pending_ = 0;
  // (deadline on the monotonic clock, order id) of every order placed PENDING, in deadline
  // order; an entry whose order is no longer pending is skipped when it comes up. A wall
  // clock stepped back or forward moves none of them (row.deadline_ns, the wall time the
  // journal shows, is only for people and `check`).
  std::deque<std::pair<std::int64_t, std::uint64_t>> deadlines_;
  // Pending orders found by load(), with their journaled wall deadlines: the first tick moves
  // them into deadlines_ at mono + the time each had left when the domain stopped (wall
  // deadline - stopped_at_ns_, the journal's last record), clamped to [0, step timeout], since
  // monotonic time does not survive a reboot. The time the domain was down is not counted:
  // its peers re-send the answers it lost (a power loss) or that waited for it, and an order
  // must not time out for the engine's own restart.
  std::vector<std::pair<std::int64_t, std::uint64_t>> restored_;
  std::int64_t stopped_at_ns_ = 0;  // 0: unknown (an empty journal): wall now is used
  void restore_deadlines(const Batch& b);
  // A tick that comes much later than the first deadline fell due (more than a quarter of the
  // step timeout), with no tick in between, means this process was not running: stopped, descheduled, or waiting on its
  // own disk. That time was not the peers' to answer in, and requests it had committed may
  // not even have left it: every pending order's clock starts again, a full step timeout from
  // now at the least. Timeouts come later after a stall of the order domain, never sooner.
  void forgive_own_stall(const Batch& b);
  std::int64_t last_tick_mono_ns_ = 0;  // when tick() last ran (Batch::mono_ns)
  // The orders this batch journaled PENDING, for the batch's Reservations messages.
  struct Placed {
    std::uint64_t id;
    std::uint32_t item_count;
    std::array<ipc::LineItem, line_items_max> items;
  };
  std::vector<Placed> placed_;
};

}  // namespace flashsaga::domains
