// product: the catalog and the owner of stock.
//
// Stock lives in two places with one truth. The journal holds, per product, total (initial +
// restocks), reserved and sold units, and per order the step (SOLD, or RELEASED). The
// shared-memory StockSlot holds `available`, which ports reserve by CAS where requests enter
// (engine/stock.h). The product domain never CASes; after each durable batch its effects
//   - publish a product (price, sale window, limit, total; available = initial stock when it
//     is created);
//   - add units back that a cancellation released or a restock added;
//   - set every `available` after a reconciliation (below).
//
// Reservations reach it in bulk: the order domain sends, per batch of orders it journaled
// PENDING, one Reservations message per ten products (never one per order), each saying every
// order up to `last_order_id` is counted. Completions and cancellations come per order (the
// same edge, so an order's reservation always arrives before its end): OrderCompleted moves
// its units from reserved to sold, OrderCancelled gives them back (from reserved, or from sold
// for a refund) exactly once, gated by the order's step row.
//
// Leases (cluster cells only): the home of a product grants units to another cell, taking them
// from its own total (and, by CAS, from its available counter, before the grant is durable: a
// crash then undersells); the other cell adds them to its total and, after the commit, to its
// counter, so its door sells them as its own. An expired lease's unsold units are taken back
// the same way and returned; the home adds them after the commit. Every grant, load, return
// and credit is a journal record, and each message to another cell is a row of lease_out.
//
// Reconciliation: intake is closed (ports answer 503 meanwhile); the domain waits until no
// live port has a reservation in flight and every port->order ring is empty (so every
// reservation that was handed over is journaled by the order domain and visible in its view);
// then
//   available = total - reserved - sold - (units of orders the order view holds that this
//               domain has not counted yet, i.e. with ids above last_order_seen)
// and intake reopens. A CAS whose owner died before handing it over is thereby given back; a
// reservation that was handed over is counted exactly once.
#pragma once

#include <cstdint>
#include <vector>

#include "domains/fields.h"
#include "domains/logic.h"
#include "domains/options.h"
#include "domains/state.h"
#include "ipc/deployment.h"

namespace flashsaga::domains {

class ProductDomain final : public DomainLogic {
 public:
  // deployment may be null (tests, simulation): then nothing is read from shared memory and
  // no reconciliation runs.
  ProductDomain(const ProductOptions& options, ipc::Deployment* deployment);

  ipc::Domain domain() const noexcept override { return ipc::Domain::product; }
  std::vector<std::string> tables() const override {
    return {"products", "steps", "leases", "lease_out"};
  }
  std::vector<ipc::Domain> peers() const override { return {ipc::Domain::order}; }
  journal::Status load(const journal::Env& view, const journal::ReadTxn& txn) override;
  void apply(Batch& batch, const ipc::Message& in) override;
  std::size_t tick(Batch& batch) override;
  bool tick_due(std::int64_t) const noexcept override { return reconcile_ready_; }
  void viewed(std::uint64_t batch_id) override {
    steps_.viewed(batch_id);
    leases_.viewed(batch_id);
  }
  void end_batch(Batch& batch) override { products_.flush(batch); }
  bool before_batch() override;

  std::uint64_t reconciliations() const noexcept { return reconciliations_; }
  const ProductRow* product(std::uint64_t id) const noexcept { return products_.find(id); }

 private:
  void create(Batch& b, const ipc::Message& in);
  void replicate(Batch& b, const ipc::Message& in);
  void add_product(Batch& b, const ProductRow& row);
  void update(Batch& b, const ipc::Message& in);
  void restock(Batch& b, const ipc::Message& in);
  void reservations(Batch& b, const ipc::Message& in);
  void order_finished(Batch& b, const ipc::Message& in, bool completed);
  // Stock escrow leases between cells (domains/product/leases.cc, docs/cells.md).
  void lease_request(Batch& b, const ipc::Message& in);
  void lease_grant(Batch& b, const ipc::Message& in);
  void lease_return(Batch& b, const ipc::Message& in);
  void lease_expire(Batch& b, const ipc::Message& in);
  void lease_credit(Batch& b, const ipc::Message& in);
  void lease_record(Batch& b, RecordType type, const ProductRow& row, std::uint32_t peer,
                    std::int64_t units, std::uint64_t epoch);
  std::uint64_t lease_send(Batch& b, std::uint32_t to_cell, const ipc::Message& message);
  std::int64_t take_available(std::uint64_t product_id, std::int64_t most) noexcept;
  void reconcile(Batch& b);
  void adjust(Batch& b, const ipc::LineItem& item, std::uint64_t order_id,
              std::int64_t reserved_delta, std::int64_t sold_delta, RecordType type);
  bool quiescent(std::string* waiting_for);
  void publish(Batch& b, const ProductRow& row);

  ProductOptions options_;
  ipc::Deployment* deployment_;
  DenseTable<ProductRow> products_;
  WindowTable<ProductStep> steps_;
  KeyedTable<LeaseRow> leases_{KeyedTable<LeaseRow>::Memory::all};
  LogTable<ipc::Message> lease_out_;  // (to cell, edge sequence) -> the message; the link sends it
  Counter last_order_seen_{"last_order_seen"};
  // Reconciliation state.
  bool reconcile_wanted_ = false;  // set at start-up and on request
  bool reconcile_ready_ = false;   // quiescent: the next batch recomputes
  std::uint64_t reconcile_target_ = 0;
  std::int64_t reconcile_waiting_since_ns_ = 0;
  std::int64_t reconcile_logged_ns_ = 0;
  std::uint64_t reconciliations_ = 0;
  std::vector<std::int64_t> unseen_;  // reused by reconcile()
};

}  // namespace flashsaga::domains
