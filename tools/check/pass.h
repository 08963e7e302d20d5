// pass: one look at a deployment — take the snapshots, read every view's rows and every
// journal's records into the Model, then judge it. Internal to tools/check; run_check
// (check.cc) runs passes until the findings are stable.
//
// Where each part lives:
//   read_views.cc     rows (through the overlay), the runtime's cursors
//   read_journals.cc  records of the six journals, the order journal's outbox
//   evaluate_order.cc each order against its steps (invariants 5 and 6)
//   evaluate_stock.cc products, bulk reservations, the live table (invariant 1)
//   evaluate_ledgers.cc coupons, points, wallets, orphan steps (2, 3, 4)
//   evaluate_views.cc each view against its journal (7)
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "journal/batch.h"
#include "tools/check/model.h"
#include "tools/check/snapshot.h"

namespace flashsaga::tools {

class Pass {
 public:
  Pass(const CheckOptions& o, CheckReport& r, std::vector<Finding>& out, std::int64_t now,
       const std::array<DomainEnvs, 7>& envs, std::array<DomainSnapshot, 7>& snaps)
      : opt_(o), report_(r), found_(out), now_(now), envs_(envs), snaps_(snaps) {}

  // Takes every snapshot (order last) and reads rows and records. False: report.error is set.
  bool read();
  void evaluate();

 private:
  using RecordFn = std::function<void(const journal::RecordView&, const domains::Event*)>;
  using RowFn = std::function<void(std::uint64_t key, std::uint64_t key2, journal::Bytes value)>;

  bool fail(std::string message);
  void add(int inv, std::uint64_t order, ipc::Domain d, std::uint64_t seq, std::string_view kind,
           std::string what) {
    found_.add(inv, order, d, seq, kind, std::move(what));
  }
  const DomainSnapshot& snap(ipc::Domain d) const { return snaps_[idx(d)]; }

  // read_views.cc
  bool scan_table(ipc::Domain d, std::string_view table, std::size_t row_size, const RowFn& fn);
  template <typename Row, typename Fn>
  bool scan_rows(ipc::Domain d, std::string_view table, Fn fn);
  bool read_cursors(ipc::Domain d);
  bool read_user_rows();
  bool read_point_rows();
  bool read_product_rows();
  bool read_coupon_rows();
  bool read_payment_rows();
  bool read_order_rows();
  bool read_order_sets();
  void order_row(std::uint64_t id, const domains::OrderRow& o);

  // read_journals.cc
  bool read_records(ipc::Domain d, const RecordFn& fn, bool with_outbox = false);
  bool record_problem(ipc::Domain d, const journal::RecordView& r, std::string& problem);
  void step_record(ipc::Domain d, int inv, const journal::RecordView& r, const domains::Event& e);
  void on_point_record(const journal::RecordView& r, const domains::Event& e);
  void on_product_row_record(const journal::RecordView& r);
  void on_product_record(const journal::RecordView& r, const domains::Event& e);
  void on_stock_record(const journal::RecordView& r, const domains::Event& e, ProductFacts& f);
  void on_reservation(const journal::RecordView& r, const domains::Event& e, ProductFacts& f);
  void on_coupon_row_record(const journal::RecordView& r);
  void on_coupon_record(const journal::RecordView& r, const domains::Event& e);
  void on_payment_record(const journal::RecordView& r, const domains::Event& e);
  void on_order_record(const journal::RecordView& r, const domains::Event* e);
  void on_order_placed(const journal::RecordView& r, OrderFacts& f);
  void on_order_outbox(const journal::BatchView& b);
  bool read_user_journal();
  bool read_point_journal();
  bool read_product_journal();
  bool read_coupon_journal();
  bool read_payment_journal();
  bool read_order_journal();

  // evaluate_order.cc
  bool in_flight(std::uint64_t order, const OrderFacts& f, ipc::Domain d) const;
  domains::StepState stock_state(std::uint64_t order) const;
  void evaluate_orders();
  void evaluate_order(std::uint64_t id, const OrderFacts& f);
  void order_against_row(std::uint64_t id, const OrderFacts& f);
  void pending_order(std::uint64_t id, const OrderFacts& f);
  void completed_order(std::uint64_t id, const OrderFacts& f);
  void cancelled_order(std::uint64_t id, const OrderFacts& f);
  void order_money(std::uint64_t id, const OrderFacts& f);
  void not_yet(std::uint64_t id, const OrderFacts& f, ipc::Domain d, std::string_view kind,
               std::string what);
  const DomainStep* step_of(ipc::Domain d, std::uint64_t order) const;

  // evaluate_stock.cc
  void evaluate_products();
  void evaluate_product(std::uint64_t id, ProductFacts& p);
  void evaluate_reservations();
  void evaluate_stock_steps();
  void evaluate_live();

  // evaluate_ledgers.cc
  void evaluate_templates();
  void evaluate_coupons();
  void evaluate_coupon(std::uint64_t id, const CouponFacts& c);
  void evaluate_coupon_steps();
  void evaluate_points();
  void evaluate_payments();
  void evaluate_payment_steps();
  bool undone_after_power_loss(const OrderFacts& order, const StepReplay& step) const;
  void evaluate_orphans();

  // evaluate_views.cc
  void evaluate_views();

  const CheckOptions& opt_;
  CheckReport& report_;
  Findings found_;
  std::int64_t now_;
  const std::array<DomainEnvs, 7>& envs_;
  std::array<DomainSnapshot, 7>& snaps_;
  Model m_;
};

template <typename Row, typename Fn>
bool Pass::scan_rows(ipc::Domain d, std::string_view table, Fn fn) {
  return scan_table(d, table, sizeof(Row),
                    [&](std::uint64_t key, std::uint64_t key2, journal::Bytes value) {
                      Row row{};
                      (void)journal::from_bytes(value, row);  // scan_table checked the size
                      fn(key, key2, row);
                    });
}

}  // namespace flashsaga::tools
