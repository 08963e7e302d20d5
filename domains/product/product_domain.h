// product: the catalog and the owner of stock.
//
// Stock lives in two places with one truth. The journal holds, per product, total (initial +
// restocks), reserved and sold units, and per order the step (RESERVED -> SOLD, or RELEASED).
// The shared-memory StockSlot holds `available`, which ports reserve by CAS where requests
// enter (engine/stock.h). The product domain never CASes; it only
//   - publishes a product (price, sale window, limit, available = initial stock) after the
//     commit that created it;
//   - adds units back after the commit that released them (cancellation) or restocked them;
//   - reconciles: recomputes every `available` from the journals, at start-up and whenever a
//     process that may have died between a CAS and its hand-over asks for it.
//
// Reconciliation (DESIGN.md, "Stock"): intake is closed (ports answer 503 meanwhile); the
// domain waits until no live port has a reservation in flight and every port->order ring is
// empty (so every reservation that was handed over is journaled by the order domain); then
//   available = total - reserved - sold - (units of orders the order journal holds that this
//               domain has not yet seen, i.e. with ids above the last OrderPlaced it applied)
// and intake reopens. A CAS whose owner died before handing it over is thereby given back; a
// reservation that was handed over is counted exactly once.
#pragma once

#include <cstdint>
#include <vector>

#include "domains/fields.h"
#include "domains/logic.h"
#include "domains/options.h"
#include "ipc/deployment.h"

namespace flashsaga::domains {

class ProductDomain final : public DomainLogic {
 public:
  // deployment may be null (tests, simulation): then nothing is published to shared memory.
  ProductDomain(const ProductOptions& options, ipc::Deployment* deployment)
      : options_(options), deployment_(deployment) {}

  ipc::Domain domain() const noexcept override { return ipc::Domain::product; }
  std::vector<std::string> tables() const override { return {"products", "steps"}; }
  std::vector<ipc::Domain> peers() const override { return {ipc::Domain::order}; }
  journal::Status recover(journal::Env& env, const journal::ReadTxn& txn) override;
  journal::Status apply(Batch& batch, const ipc::Message& in) override;
  journal::Status tick(Batch& batch, std::size_t* work) override;
  bool tick_due(std::int64_t now_ns) const noexcept override;
  void committed() override;
  bool before_batch() override;

  std::uint64_t reconciliations() const noexcept { return reconciliations_; }

 private:
  journal::Status create(Batch& b, const ipc::Message& in);
  journal::Status update(Batch& b, const ipc::Message& in);
  journal::Status restock(Batch& b, const ipc::Message& in);
  journal::Status order_placed(Batch& b, const ipc::Message& in);
  journal::Status order_finished(Batch& b, const ipc::Message& in, bool completed);
  journal::Status reconcile(Batch& b);
  journal::Status adjust(Batch& b, const ipc::LineItem& item, std::uint64_t order_id, std::int64_t reserved_delta,
                         std::int64_t sold_delta, RecordType type);
  bool quiescent(std::string* waiting_for);
  void publish(const ProductRow& row);

  ProductOptions options_;
  ipc::Deployment* deployment_;
  journal::TableId t_products_ = 0, t_steps_ = 0, t_counters_ = 0;
  std::uint64_t next_product_id_ = 0;
  std::uint64_t last_order_seen_ = 0;
  // Reconciliation state.
  bool reconcile_wanted_ = false;   // set at start-up and on request
  bool reconcile_ready_ = false;    // quiescent: the next batch recomputes
  std::uint64_t reconcile_target_ = 0;
  std::int64_t reconcile_waiting_since_ns_ = 0;
  std::int64_t reconcile_logged_ns_ = 0;
  std::uint64_t reconciliations_ = 0;
  // Published to shared memory after commit.
  std::vector<ProductRow> to_publish_;
  std::vector<std::pair<std::uint32_t, std::int64_t>> to_set_available_;
  bool reopen_intake_ = false;
};

}  // namespace flashsaga::domains
