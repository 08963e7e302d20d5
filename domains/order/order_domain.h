// order: the order state machine that drives the saga (DESIGN.md, "The saga").
//
//   PlaceOrder ──(user ok, limit ok)──> PENDING ──(coupon ok, points ok)──> payment requested
//        │                                 │                                     │
//        └─> REJECTED(reason)              ├─ any rejection / timeout ─> CANCELLED(reason)
//            (stock given back,            │                                     │
//             nothing else hears)          └──────────── PaymentApproved ──> COMPLETED
//                                                                                │
//                                                  CancelOrder (refund) ─> CANCELLED
//
// Requires: read access to the user, coupon and product journals (peers) for the checks it
//   makes before the 202: the user exists and is not blocked, the per-customer limit, and the
//   coupon's expected discount (to cap the points taken).
// Guarantees: an order is answered `accepted` only in the batch that journals it PENDING, so
//   the reply leaves after the commit. Every PENDING order reaches COMPLETED or CANCELLED: a
//   step that does not answer within step_timeout_ms cancels it (reason timeout). A message
//   about an order that is no longer PENDING changes nothing (the cancel already went out and
//   the other domains' gates handle it).
#pragma once

#include <cstdint>
#include <set>
#include <utility>

#include "domains/logic.h"
#include "domains/options.h"

namespace flashsaga::domains {

class OrderDomain final : public DomainLogic {
 public:
  explicit OrderDomain(const OrderOptions& options) : options_(options) {}

  ipc::Domain domain() const noexcept override { return ipc::Domain::order; }
  std::vector<std::string> tables() const override { return {"orders", "pending", "live", "idem"}; }
  std::vector<ipc::Domain> peers() const override {
    return {ipc::Domain::user, ipc::Domain::coupon, ipc::Domain::product};
  }
  journal::Status recover(journal::Env& env, const journal::ReadTxn& txn) override;
  journal::Status apply(Batch& batch, const ipc::Message& in) override;
  journal::Status tick(Batch& batch, std::size_t* work) override;
  bool tick_due(std::int64_t now_ns) const noexcept override;
  std::int64_t next_due_ns() const noexcept override {
    return deadlines_.empty() ? INT64_MAX : deadlines_.begin()->first + 1;
  }

  std::size_t pending_count() const noexcept { return deadlines_.size(); }

 private:
  journal::Status place(Batch& b, const ipc::Message& in);
  journal::Status reject(Batch& b, const ipc::Message& in, const ipc::PlaceOrderBody& body, ipc::OrderReason reason);
  journal::Status step_answer(Batch& b, const ipc::Message& in);
  journal::Status cancel_request(Batch& b, const ipc::Message& in);
  journal::Status maybe_request_payment(Batch& b, OrderRow& row);
  journal::Status complete(Batch& b, OrderRow& row);
  journal::Status cancel(Batch& b, OrderRow& row, ipc::OrderReason reason);
  journal::Status save(Batch& b, const OrderRow& row);
  journal::Status record_step(Batch& b, const OrderRow& row, OrderStep step, StepState state, std::int64_t amount,
                              ipc::OrderReason reason);
  journal::Status change_live(Batch& b, const OrderRow& row, std::int64_t sign);
  std::int64_t expected_discount(const Batch& b, std::uint64_t coupon_id, std::int64_t subtotal) const;

  OrderOptions options_;
  journal::TableId t_orders_ = 0, t_pending_ = 0, t_live_ = 0, t_idem_ = 0, t_counters_ = 0;
  std::uint64_t next_order_id_ = 0;  // last id assigned
  std::set<std::pair<std::int64_t, std::uint64_t>> deadlines_;  // (deadline_ns, order id)
};

}  // namespace flashsaga::domains
