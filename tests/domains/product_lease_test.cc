// The product domain's half of stock escrow leases (domains/product/leases.cc, docs/cells.md),
// driven through the real runtime stages over a real journal and view, with a real shared
// memory segment for the stock counters (the harness's transport collects the effects; they
// are applied to the segment here, as the ring transport does after the commit).
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "domains/product/product_domain.h"
#include "ipc/deployment.h"
#include "ipc/segment.h"
#include "tests/domains/domain_harness.h"

namespace flashsaga::domains {
namespace {

using harness::Harness;
using harness::message;
using harness::reply_of;
using harness::result_of;
using harness::t0_ns;
using ipc::CommandResult;
using ipc::Domain;
using ipc::MessageType;

constexpr std::uint32_t cells = 3;
constexpr std::uint64_t lamp = 3;  // cell 0's first product id of three cells

// A segment for one cell's counters, removed with the test.
class CellSegment {
 public:
  CellSegment() {
    ipc::Geometry g;
    g.saga_ring_slots = 64;
    g.port_ring_slots = 64;
    g.ports = 1;
    g.products_max = 64;
    std::string error, note;
    if (!ipc::Deployment::create(dir_.path(), g, deployment_, &error, &note))
      throw std::runtime_error("deployment: " + error);
  }
  ~CellSegment() {
    deployment_.reset();
    ipc::Segment::remove(dir_.path());
  }
  ipc::Deployment* get() const noexcept { return deployment_.get(); }

 private:
  harness::TempDir dir_;
  std::unique_ptr<ipc::Deployment> deployment_;
};

ProductOptions cell_options(std::uint32_t cell) {
  ProductOptions o;
  o.cell = CellOptions{cell, cells};
  return o;
}

// One cell's product domain over its own segment.
class Cell {
 public:
  explicit Cell(std::uint32_t cell) : logic_(cell_options(cell), segment_.get()), h_(logic_) {
    // What the runtime's loop does at start (the harness does not): the cell is quiescent, so
    // the next batch reconciles the counters and intake opens; until then leases wait.
    EXPECT_FALSE(logic_.before_batch());
    (void)run(h_.tick(t0_ns));
    EXPECT_EQ(logic_.reconciliations(), 1u);
  }

  // Applies what a batch let out to the counters, as the ring transport does.
  harness::Output run(harness::Output out) {
    for (const Effect& e : out.effects) {
      if (e.kind != Effect::Kind::stock_add && e.kind != Effect::Kind::stock_set) continue;
      ipc::StockSlot& slot = segment_.get()->stock(e.product_id);
      if (e.kind == Effect::Kind::stock_add)
        slot.available.fetch_add(e.value);
      else
        slot.available.store(e.value);
    }
    return out;
  }
  harness::Output apply(const ipc::Message& m) { return run(h_.apply(m)); }

  std::int64_t available(std::uint64_t id) const {
    return segment_.get()->stock(static_cast<std::uint32_t>(id)).available.load();
  }
  ProductRow product(std::uint64_t id) const {
    return h_.row<ProductRow>("products", journal::key_u64(id));
  }
  LeaseRow lease(std::uint64_t id, std::uint32_t peer) const {
    LeaseRow row{};
    (void)h_.get("leases", journal::key_u64_u64(id, peer), row);
    return row;
  }
  // The lease messages this cell wrote for `to_cell`, in edge order.
  std::vector<ipc::Message> lease_out(std::uint32_t to_cell) const {
    std::vector<ipc::Message> out;
    for (const auto& [sequence, m] : h_.under<ipc::Message>("lease_out", to_cell)) out.push_back(m);
    return out;
  }
  const Harness& harness() const noexcept { return h_; }
  void sell(std::uint64_t id, std::int64_t units) {
    segment_.get()->stock(static_cast<std::uint32_t>(id)).available.fetch_sub(units);
  }

 private:
  CellSegment segment_;
  ProductDomain logic_;
  Harness h_;
};

ipc::Message create_lamp(std::int64_t stock) {
  ipc::CreateProductBody b{};
  b.price = 2'500;
  b.stock = stock;
  EXPECT_TRUE(b.name.assign("Lamp"));
  return message(MessageType::create_product, Domain::port, Domain::product, b);
}

ipc::Message request(std::uint32_t from, std::int64_t want, std::int64_t granted_seen) {
  return message(MessageType::lease_request, Domain::product, Domain::product,
                 ipc::LeaseRequestBody{lamp, 0, from, want, granted_seen});
}

ipc::Message give_back(std::uint32_t from, std::int64_t units, std::int64_t returned_total) {
  return message(MessageType::lease_return, Domain::product, Domain::product,
                 ipc::LeaseReturnBody{lamp, 0, from, units, returned_total, 1});
}

std::int64_t granted(const harness::Output& out) {
  const auto r = reply_of(out);
  EXPECT_EQ(r.result, static_cast<std::uint16_t>(CommandResult::ok));
  return r.value;
}

class ProductLeaseTest : public ::testing::Test {
 protected:
  ProductLeaseTest() : home(0) {
    const auto r = reply_of(home.apply(create_lamp(120)));
    EXPECT_EQ(r.result, static_cast<std::uint16_t>(CommandResult::ok));
    EXPECT_EQ(r.entity_id, lamp);
  }
  Cell home;
};

TEST_F(ProductLeaseTest, AGrantTakesUnitsFromTheHomesTotalAndCounterAndJournalsThem) {
  ASSERT_EQ(home.available(lamp), 120);
  // At most a 2*cells-th of what the home has: 120 / 6.
  EXPECT_EQ(granted(home.apply(request(1, 64, 0))), 20);
  EXPECT_EQ(home.available(lamp), 100);
  EXPECT_EQ(home.product(lamp).total, 100);
  const LeaseRow l = home.lease(lamp, 1);
  EXPECT_EQ(l.granted, 20);
  EXPECT_EQ(l.returned, 0);
  EXPECT_EQ(l.epoch, 1u);
  EXPECT_GT(l.expires_ns, t0_ns);
  const auto records = home.harness().records();
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records.back().type, RecordType::lease_out);
  const Event ev = records.back().as<Event>();
  EXPECT_EQ(ev.subject, lamp);
  EXPECT_EQ(ev.other, 1u);
  EXPECT_EQ(ev.amount, 20);
  EXPECT_EQ(ev.balance, 100);
  // The grant is a message on the lease edge to cell 1, cumulative.
  const auto sent = home.lease_out(1);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(static_cast<MessageType>(sent[0].header.type), MessageType::lease_grant);
  EXPECT_EQ(sent[0].header.sequence, 1u);
  const auto g = ipc::body_as<ipc::LeaseGrantBody>(sent[0]);
  EXPECT_EQ(g.units, 20);
  EXPECT_EQ(g.granted_total, 20);
  EXPECT_EQ(g.to_cell, 1u);
  EXPECT_EQ(ipc::validate(sent[0]), ipc::MessageError::ok);
}

TEST_F(ProductLeaseTest, ARepeatedRequestGrantsNothingUntilTheCellLoadedTheGrant) {
  EXPECT_EQ(granted(home.apply(request(1, 64, 0))), 20);
  // The same request again (a retry), and another before the grant was loaded: nothing.
  EXPECT_EQ(granted(home.apply(request(1, 64, 0))), 0);
  EXPECT_EQ(granted(home.apply(request(1, 5, 0))), 0);
  EXPECT_EQ(home.lease(lamp, 1).granted, 20);
  EXPECT_EQ(home.lease(lamp, 1).epoch, 1u);
  EXPECT_EQ(home.lease_out(1).size(), 1u);
  EXPECT_EQ(home.available(lamp), 100);
  // A figure from the future is not the cell's either.
  EXPECT_EQ(granted(home.apply(request(1, 64, 40))), 0);
  // Once the cell says it loaded 20, it may have more.
  EXPECT_EQ(granted(home.apply(request(1, 64, 20))), 16);  // 100 / 6
  EXPECT_EQ(home.lease(lamp, 1).granted, 36);
  EXPECT_EQ(home.lease(lamp, 1).epoch, 2u);
  EXPECT_EQ(home.lease_out(1).size(), 2u);
}

TEST_F(ProductLeaseTest, GrantSizesShrinkWithTheHomesStockDownToOneUnit) {
  std::int64_t seen[3] = {0, 0, 0};
  std::int64_t last = 1'000;
  std::int64_t leased = 0;
  for (int round = 0; round < 40 && home.available(lamp) > 0; ++round) {
    const std::uint32_t cell = 1 + static_cast<std::uint32_t>(round % 2);
    const std::int64_t before = home.available(lamp);
    const std::int64_t g = granted(home.apply(request(cell, 1'000, seen[cell])));
    EXPECT_EQ(g, std::max<std::int64_t>(1, before / (2 * cells))) << "round " << round;
    EXPECT_LE(g, last);
    last = g;
    seen[cell] += g;
    leased += g;
    EXPECT_EQ(home.available(lamp), before - g);
  }
  EXPECT_EQ(home.available(lamp), 0);
  EXPECT_EQ(leased, 120);
  EXPECT_EQ(home.product(lamp).total, 0);
  // Nothing left: a request grants nothing and sends nothing.
  const std::size_t sent = home.lease_out(1).size();
  EXPECT_EQ(granted(home.apply(request(1, 10, seen[1]))), 0);
  EXPECT_EQ(home.lease_out(1).size(), sent);
  // A request never gets more than it wants.
  const auto r = reply_of(home.apply(create_lamp(600)));
  const std::uint64_t bulb = r.entity_id;
  EXPECT_EQ(granted(home.apply(message(MessageType::lease_request, Domain::product, Domain::product,
                                       ipc::LeaseRequestBody{bulb, 0, 2, 7, 0}))),
            7);
}

TEST_F(ProductLeaseTest, AReturnCreditsTheHomeOnceAndNeverBeyondTheGrant) {
  EXPECT_EQ(granted(home.apply(request(1, 64, 0))), 20);
  const auto credited = home.apply(give_back(1, 5, 5));
  EXPECT_EQ(reply_of(credited).value, 5);
  EXPECT_EQ(home.product(lamp).total, 105);
  EXPECT_EQ(home.available(lamp), 105);  // after the commit, as an effect
  EXPECT_EQ(home.lease(lamp, 1).returned, 5);
  EXPECT_EQ(home.harness().records().back().type, RecordType::lease_in);
  EXPECT_EQ(home.harness().records().back().as<Event>().balance, 105);
  // Redelivered: cumulative, so nothing more.
  EXPECT_EQ(granted(home.apply(give_back(1, 5, 5))), 0);
  EXPECT_EQ(home.product(lamp).total, 105);
  // More back than was ever granted is refused, and credits nothing.
  EXPECT_EQ(result_of(home.apply(give_back(1, 30, 30))), CommandResult::invalid_field);
  EXPECT_EQ(home.product(lamp).total, 105);
  EXPECT_EQ(home.lease(lamp, 1).returned, 5);
  // A cell that was never granted anything returns nothing.
  EXPECT_EQ(result_of(home.apply(give_back(2, 1, 1))), CommandResult::not_found);
  EXPECT_EQ(home.product(lamp).total, 105);
  // The rest comes back.
  EXPECT_EQ(granted(home.apply(give_back(1, 15, 20))), 15);
  EXPECT_EQ(home.product(lamp).total, 120);
  EXPECT_EQ(home.available(lamp), 120);
}

TEST_F(ProductLeaseTest, ACellLoadsAGrantOnceAndReturnsWhatIsUnsoldWhenItExpires) {
  EXPECT_EQ(granted(home.apply(request(1, 64, 0))), 20);
  Cell one(1);
  const ProductRow at_home = home.product(lamp);
  ipc::ReplicateProductBody rep{};
  rep.product_id = lamp;
  rep.price = at_home.price;
  rep.home_cell = 0;
  rep.name = at_home.name;
  EXPECT_EQ(result_of(one.apply(
                message(MessageType::replicate_product, Domain::port, Domain::product, rep))),
            CommandResult::ok);
  EXPECT_EQ(one.product(lamp).total, 0);
  const ipc::Message grant = home.lease_out(1).at(0);
  const auto g = ipc::body_as<ipc::LeaseGrantBody>(grant);
  const auto deliver = [&] {
    return one.apply(message(MessageType::lease_grant, Domain::product, Domain::product, g));
  };
  EXPECT_EQ(granted(deliver()), 20);
  EXPECT_EQ(one.product(lamp).total, 20);
  EXPECT_EQ(one.available(lamp), 20);
  EXPECT_EQ(one.lease(lamp, 0).granted, 20);
  EXPECT_EQ(granted(deliver()), 0);  // redelivered
  EXPECT_EQ(one.available(lamp), 20);
  // The door sells 8 (its CAS, outside the domain); then the link says the lease expired.
  one.sell(lamp, 8);
  const auto expired =
      one.apply(message(MessageType::lease_return, Domain::product, Domain::product,
                        ipc::LeaseReturnBody{lamp, 0, 1, 0, 0, 1}));
  EXPECT_EQ(granted(expired), 12);
  EXPECT_EQ(one.available(lamp), 0);
  EXPECT_EQ(one.product(lamp).total, 8);  // what it sold stays its own
  EXPECT_EQ(one.lease(lamp, 0).returned, 12);
  EXPECT_EQ(one.harness().records().back().type, RecordType::lease_out);
  const auto back = one.lease_out(0);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(static_cast<MessageType>(back[0].header.type), MessageType::lease_return);
  const auto ret = ipc::body_as<ipc::LeaseReturnBody>(back[0]);
  EXPECT_EQ(ret.units, 12);
  EXPECT_EQ(ret.returned_total, 12);
  EXPECT_EQ(ret.from_cell, 1u);
  // Nothing unsold left: expiring again returns nothing.
  EXPECT_EQ(granted(one.apply(message(MessageType::lease_return, Domain::product, Domain::product,
                                      ipc::LeaseReturnBody{lamp, 0, 1, 0, 0, 1}))),
            0);
  EXPECT_EQ(one.lease_out(0).size(), 1u);
  // The home credits the return: 100 + 12 of its 120, the cell holds the 8 it sold.
  EXPECT_EQ(granted(home.apply(
                message(MessageType::lease_return, Domain::product, Domain::product, ret))),
            12);
  EXPECT_EQ(home.product(lamp).total, 112);
  EXPECT_EQ(home.product(lamp).total + one.product(lamp).total, 120);
}

}  // namespace
}  // namespace flashsaga::domains
