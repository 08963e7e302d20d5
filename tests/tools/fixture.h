// fixture: hand-built deployments for the checker and inspector tests.
//
// Writes each domain's two environments the way the runtime does: the journal
// (<data>/<domain>/journal: one batch per record, appended with journal::WriteTxn::append_batch,
// plus the runtime's cursors) and the view (<data>/<domain>/view: all_tables(domain), the same
// rows and step rows, field for field, and the view position). Record times are FIXED (each
// batch begins at the fixture's clock), so output can be compared with golden files. The
// messages a batch sends can be added to its outbox section (send()), and a consumer's inbox
// position set (inbox()), for the checker's in-flight rules. Every commit() leaves each view
// holding exactly its journal, unless a test moves the view's position (view_position()).
//
// Saga helpers mirror one domain's handling of one message each; the flows (happy, coupon
// rejected, insufficient balance, ...) chain them in the order a deployment would journal them.
// Tests that need a broken deployment call the helpers out of order, or write rows directly.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "domains/rows.h"
#include "ipc/message.h"
#include "journal/batch.h"
#include "journal/journal.h"

namespace flashsaga::tools::testing {

using domains::RecordType;
using domains::StepState;
using ipc::Domain;

// 2026-03-01T09:00:00Z: every fixture starts its clock here.
inline constexpr std::int64_t fixture_epoch_ns = 1'772'355'600'000'000'000;

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct Item {
  std::uint32_t product;
  std::uint32_t quantity;
  std::int64_t price;
};

class Fixture {
 public:
  explicit Fixture(std::filesystem::path data,
                   journal::Durability durability = journal::Durability::nosync,
                   std::size_t map_size_bytes = std::size_t{64} << 20);
  ~Fixture();  // commits
  Fixture(const Fixture&) = delete;
  Fixture& operator=(const Fixture&) = delete;

  // --- Clock: every record is stamped with now_ns; advance it between steps. ------------------
  std::int64_t now_ns = fixture_epoch_ns;
  void advance_ms(std::int64_t ms) { now_ns += ms * 1'000'000; }
  void advance_us(std::int64_t us) { now_ns += us * 1'000; }

  // --- Raw access ----------------------------------------------------------------------------
  journal::WriteTxn& view_txn(Domain d);
  journal::TableId table(Domain d, std::string_view name);  // a view table
  // Appends one record as a batch of its own (stored at the next commit, or before the next
  // record of this journal); returns its sequence.
  std::uint64_t append(Domain d, RecordType type, std::uint64_t order_id, journal::Bytes payload);
  // Adds a message to the outbox section of the batch of the domain's last record.
  void send(Domain from, std::uint16_t edge, const ipc::Message& m);
  // The consumer's inbox position on an edge (its journal's cursors table).
  void inbox(Domain consumer, std::uint64_t edge, std::uint64_t last_sequence);
  // Sets the view's position (after commit() wrote the journal's end there).
  void view_position(Domain d, std::uint64_t last_sequence);
  // From now on the domain's view lags its journal, as a live view does for a moment: its
  // position stays at the journal's current end, and every row written since goes only into
  // the state section of its batch (the redo entries the view has not applied yet).
  void lag_view(Domain d);
  template <typename T>
  std::uint64_t record(Domain d, RecordType type, std::uint64_t order_id, const T& payload) {
    return append(d, type, order_id, journal::as_bytes(payload));
  }
  template <typename T>
  void put(Domain d, std::string_view table_name, std::uint64_t key, const T& value) {
    put_raw(d, table_name, journal::as_bytes(journal::key_u64(key)), journal::as_bytes(value));
  }
  template <typename T>
  void put2(Domain d, std::string_view table_name, std::uint64_t a, std::uint64_t b,
            const T& value) {
    put_raw(d, table_name, journal::as_bytes(journal::key_u64_u64(a, b)), journal::as_bytes(value));
  }
  void put_raw(Domain d, std::string_view table_name, journal::Bytes key, journal::Bytes value);
  void del(Domain d, std::string_view table_name, std::uint64_t key);
  void del_raw(Domain d, std::string_view table_name, journal::Bytes key);
  void commit();                  // every open write transaction
  std::uint64_t records() const;  // appended so far, all journals

  // --- Entities (commands) -------------------------------------------------------------------
  void user(std::uint64_t id, std::string_view name);
  void product(std::uint64_t id, std::int64_t price, std::int64_t stock,
               std::string_view name = "");
  void restock(std::uint64_t id, std::int64_t quantity);
  void deposit(std::uint64_t user, std::int64_t amount);
  void accrue(std::uint64_t user, std::int64_t amount);
  void coupon_template(std::uint64_t id, std::int64_t value, std::int64_t quantity);
  void issue(std::uint64_t coupon, std::uint64_t template_id, std::uint64_t user);

  // --- The saga, one domain's step at a time ---------------------------------------------------
  // order
  void place(std::uint64_t order, std::uint64_t user, std::vector<Item> items,
             std::uint64_t coupon = 0, std::int64_t points = 0);
  void reject_order(std::uint64_t user, std::uint64_t units,
                    ipc::OrderReason reason);  // REJECTED: no row
  void order_step(std::uint64_t order, domains::OrderStep step, StepState state,
                  std::int64_t amount, ipc::OrderReason reason = ipc::OrderReason::none);
  void request_payment(std::uint64_t order);
  void complete(std::uint64_t order);
  void cancel(std::uint64_t order, ipc::OrderReason reason);
  // product: the bulk count of every placed order up to `order` not counted yet (one
  // stock_reserved record per product, order id 0, other = order), then per order its sale or
  // its release (one record per line item, and the step row)
  void stock_reserve(std::uint64_t order);
  void stock_sell(std::uint64_t order);
  void stock_release(std::uint64_t order);
  // coupon
  void coupon_apply(std::uint64_t order);
  void coupon_reject(std::uint64_t order, ipc::OrderReason reason);
  void coupon_use(std::uint64_t order);
  void coupon_release(std::uint64_t order, ipc::OrderReason reason);
  // point
  void points_deduct(std::uint64_t order);
  void points_reject(std::uint64_t order);
  void points_refund(std::uint64_t order, ipc::OrderReason reason);
  void points_reward(std::uint64_t order);
  // payment
  void charge(std::uint64_t order);
  void decline(std::uint64_t order, ipc::OrderReason reason);
  void refund(std::uint64_t order, ipc::OrderReason reason);
  void payment_cancelled_before_apply(std::uint64_t order, ipc::OrderReason reason);

  // --- Whole flows (SEED.md section 4), journaled as a deployment would ------------------------
  void happy(std::uint64_t order, std::uint64_t user, std::vector<Item> items,
             std::uint64_t coupon = 0, std::int64_t points = 0);
  // The coupon is refused (already used, not owned, ...): CANCELLED, stock released, points
  // refunded.
  void coupon_rejected(std::uint64_t order, std::uint64_t user, std::vector<Item> items,
                       std::uint64_t coupon, std::int64_t points = 0);
  // The wallet cannot pay: CANCELLED, stock, coupon and points given back, nothing refunded.
  void insufficient_balance(std::uint64_t order, std::uint64_t user, std::vector<Item> items,
                            std::uint64_t coupon = 0, std::int64_t points = 0);
  // A completed order cancelled by the customer: everything given back, the charge refunded.
  void refund_completed(std::uint64_t order,
                        ipc::OrderReason reason = ipc::OrderReason::cancelled_by_customer);

  // Rows as the fixture holds them (tests edit them to break invariants).
  domains::OrderRow& order_row(std::uint64_t id) { return orders_[id]; }
  domains::ProductRow& product_row(std::uint64_t id) { return products_[id]; }
  domains::PointAccount& account(std::uint64_t user) { return accounts_[user]; }
  domains::Wallet& wallet(std::uint64_t user) { return wallets_[user]; }
  domains::CouponRow& coupon_row(std::uint64_t id) { return coupons_[id]; }
  void product_limit(std::uint64_t id, std::uint32_t max_per_user);  // a per-customer limit
  void save_order(std::uint64_t id);
  void save_product(std::uint64_t id);
  void save_account(std::uint64_t user);
  void save_wallet(std::uint64_t user);
  void save_coupon(std::uint64_t id);

 private:
  struct Store {
    std::unique_ptr<journal::Env> journal;
    std::unique_ptr<journal::Env> view;
    journal::WriteTxn journal_txn;
    journal::WriteTxn view_txn;
    std::unique_ptr<journal::BatchBuilder> batch;  // the last record's batch, not stored yet
    std::uint64_t next_sequence = 1;
    std::uint64_t batches = 0;
    std::int64_t created_ns = 0;  // the journal's, recorded in the view position
    bool open = false;
    bool position_set = false;  // view_position() was called in this transaction
    bool lagging = false;       // lag_view(): rows go to state entries, not to the view
  };
  void state_entry(Store& st, Domain d, std::string_view table, journal::Bytes key,
                   journal::Bytes value, bool del);
  Store& open(Domain d);
  void store_batch(Store& s);
  std::int64_t subtotal(const domains::OrderRow& o) const;
  void change_live(const domains::OrderRow& o, std::int64_t sign);

  std::filesystem::path data_;
  std::array<Store, 7> stores_;
  std::uint64_t counted_through_ = 0;  // the product domain's bulk counts cover orders up to this
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::int64_t> live_;
  std::map<std::uint64_t, domains::OrderRow> orders_;
  std::map<std::uint64_t, domains::ProductRow> products_;
  std::map<std::uint64_t, domains::ProductStep> product_steps_;
  std::map<std::uint64_t, domains::TemplateRow> templates_;
  std::map<std::uint64_t, domains::CouponRow> coupons_;
  std::map<std::uint64_t, domains::CouponStep> coupon_steps_;
  std::map<std::uint64_t, domains::PointAccount> accounts_;
  std::map<std::uint64_t, domains::PointStep> point_steps_;
  std::map<std::uint64_t, domains::Wallet> wallets_;
  std::map<std::uint64_t, domains::PaymentRow> payments_;
};

// The deployment the golden files show: four users, two products, a coupon template with three
// coupons, and one order of each flow:
//   1 happy (coupon 1, 50 points)           2 coupon rejected (coupon 1 is user 1's)
//   3 insufficient balance (coupon 3, 100 points; its wallet holds 100)
//   4 happy (no coupon, no points)          5 happy with points, then refunded by the customer
//   6 pending (stock reserved, nothing else yet)      and one REJECTED request (unknown user 9)
// Record times start at fixture_epoch_ns; the sale opens a minute after the catalogue.
void build_sale(Fixture& f);

// Flips one byte of the stored record `sequence` of a domain's journal (`offset` bytes into the
// record: past its 32-byte header, the payload), leaving the checksum stale.
void corrupt_record(const std::filesystem::path& data, Domain d, std::uint64_t sequence,
                    std::size_t offset = 40);

// Flips one byte of the outbox section of the batch at `first_sequence` (its checksum goes stale).
void corrupt_outbox(const std::filesystem::path& data, Domain d, std::uint64_t first_sequence);

// Tears one page of an environment as a power loss can: the second leaf page of `table`
// (which must span two leaves) gets a branch page's flags, so LMDB's cursor walk asserts
// (mdb_cursor_next: IS_LEAF) when it reaches it. Returns the page number torn (0: could not).
std::uint64_t tear_leaf_page(const std::filesystem::path& env_dir, const std::string& table);

// Reads a golden file from tests/tools/golden/NAME; with FLASHSAGA_UPDATE_GOLDEN=1 set, writes
// `actual` there instead and returns it.
std::string golden(const std::string& name, const std::string& actual);

}  // namespace flashsaga::tools::testing
