// `flashsaga cluster-check` (tools::run_cluster_check) over hand-built cell data directories
// (tests/tools/fixture.h): a consistent cluster with leases is clean, and each cross-cell
// invariant, broken on purpose, is reported. No NATS: the product domains' rows and journal
// records are written the way the product domain writes them (domains/product/leases.cc).
#include "tools/check/cluster_check.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "domains/rows.h"
#include "tests/tools/fixture.h"

namespace flashsaga::tools {
namespace {

using domains::Event;
using domains::LeaseRow;
using domains::RecordType;
using ipc::Domain;
using testing::Fixture;
using testing::TempDir;

constexpr std::uint32_t cells = 3;
constexpr std::uint64_t lamp = 3;  // home: cell 0 (3 % 3)
constexpr std::int64_t price = 2'500;
constexpr std::size_t fixture_map_bytes = std::size_t{4} << 20;  // small: 36 environments

// A lease move as the product domain journals it: the total changes, a lease_out (units leave
// this cell) or lease_in (units arrive) record carries the new total, and the lease row with
// `peer` holds the cumulative figures.
void move(Fixture& f, RecordType type, std::uint32_t peer, std::int64_t units, LeaseRow& lease) {
  domains::ProductRow& p = f.product_row(lamp);
  p.total += type == RecordType::lease_in ? units : -units;
  p.updated_ns = f.now_ns;
  f.save_product(lamp);
  Event ev{};
  ev.subject = lamp;
  ev.other = peer;
  ev.amount = units;
  ev.balance = p.total;
  ev.extra = static_cast<std::int64_t>(lease.epoch);
  f.record(Domain::product, type, 0, ev);
  lease.product_id = lamp;
  lease.peer = peer;
  f.put2(Domain::product, "leases", lamp, peer, lease);
}

// Leases as the home sees them.
void grant(Fixture& home, std::uint32_t to, std::int64_t units, LeaseRow& lease) {
  lease.granted += units;
  ++lease.epoch;
  move(home, RecordType::lease_out, to, units, lease);
}
void credit(Fixture& home, std::uint32_t from, std::int64_t units, LeaseRow& lease) {
  lease.returned += units;
  move(home, RecordType::lease_in, from, units, lease);
}
// And as the other cell sees them.
void load(Fixture& cell, std::int64_t units, LeaseRow& lease) {
  lease.granted += units;
  ++lease.epoch;
  move(cell, RecordType::lease_in, 0, units, lease);
}
void give_back(Fixture& cell, std::int64_t units, LeaseRow& lease) {
  lease.returned += units;
  move(cell, RecordType::lease_out, 0, units, lease);
}

// A customer of the cell buys `units` lamps (the whole saga, journaled by every domain).
void sell(Fixture& f, std::uint64_t order, std::uint64_t user, std::uint32_t units) {
  f.user(user, "Buyer");
  f.deposit(user, price * units);
  f.happy(order, user, {{static_cast<std::uint32_t>(lamp), units, price}});
}

// How far each test breaks the cluster.
struct Faults {
  std::int64_t loaded_extra = 0;     // cell 1 loads more than its home granted
  std::int64_t credited_extra = 0;   // the home credits cell 2 more than it returned
  std::int64_t not_loaded = 0;       // a grant to cell 1 still on its way (in flight, clean)
  std::int64_t replica_restock = 0;  // cell 1 adds units of its own to its replica
  bool grant_untaken = false;        // the home grants cell 1 units without taking them from itself
  std::uint32_t cell1_sells = 2;
};

class ClusterCheckTest : public ::testing::Test {
 protected:
  // Product lamp, 100 units at cell 0; 20 leased to cell 1, 10 to cell 2, which gave 4 back.
  // Each cell sells some: the home 3, cell 1 2 (by default), cell 2 1.
  void build(const Faults& x = {}) {
    LeaseRow home_1{}, home_2{}, at_1{}, at_2{};
    {
      Fixture home(dirs[0].path(), journal::Durability::nosync, fixture_map_bytes);
      home.product(lamp, price, 100, "Lamp");
      home.commit();
      if (x.grant_untaken) {  // the lease row says granted, the total never gave the units up
        home_1.granted = 20;
        home_1.epoch = 1;
        home_1.product_id = lamp;
        home_1.peer = 1;
        home.put2(Domain::product, "leases", lamp, 1, home_1);
      } else {
        grant(home, 1, 20 + x.not_loaded, home_1);
      }
      grant(home, 2, 10, home_2);
      credit(home, 2, 4 + x.credited_extra, home_2);
      home.advance_ms(60'000);
      sell(home, 3, 3, x.grant_untaken ? 94 : 3);  // all it holds, or 3
      last_ns = std::max(last_ns, home.now_ns);
    }
    {
      Fixture one(dirs[1].path(), journal::Durability::nosync, fixture_map_bytes);
      one.product(lamp, price, 0, "Lamp");  // the replica: no stock of its own
      load(one, 20 + x.loaded_extra, at_1);
      if (x.replica_restock > 0) one.restock(lamp, x.replica_restock);
      one.advance_ms(60'000);
      sell(one, 1, 1, x.cell1_sells);
      last_ns = std::max(last_ns, one.now_ns);
    }
    {
      Fixture two(dirs[2].path(), journal::Durability::nosync, fixture_map_bytes);
      two.product(lamp, price, 0, "Lamp");
      load(two, 10, at_2);
      give_back(two, 4, at_2);
      two.advance_ms(60'000);
      sell(two, 2, 2, 1);
      last_ns = std::max(last_ns, two.now_ns);
    }
  }

  ClusterReport check() {
    CheckOptions o;
    o.now_ns = last_ns + 60'000'000'000;
    std::vector<std::filesystem::path> paths;
    for (const TempDir& d : dirs) paths.push_back(d.path());
    ClusterReport r = run_cluster_check(paths, o);
    std::ostringstream text;
    print_cluster_check(r, text);
    printed = text.str();
    if (std::getenv("FLASHSAGA_SHOW_CHECK") != nullptr) std::cout << printed;
    return r;
  }
  static bool has(const ClusterReport& r, std::string_view words) {
    return std::any_of(r.violations.begin(), r.violations.end(),
                       [&](const std::string& v) { return v.find(words) != std::string::npos; });
  }
  static bool cells_clean(const ClusterReport& r) {
    return std::all_of(r.cells.begin(), r.cells.end(), [](const CheckReport& c) {
      return c.error.empty() && c.violations.empty();
    });
  }

  std::array<TempDir, cells> dirs;
  std::int64_t last_ns = testing::fixture_epoch_ns;
  std::string printed;
};

TEST_F(ClusterCheckTest, AConsistentClusterWithLeasesIsClean) {
  build();
  const ClusterReport r = check();
  ASSERT_TRUE(r.error.empty()) << r.error;
  EXPECT_TRUE(r.clean()) << printed;
  EXPECT_EQ(r.products, 1u);
  EXPECT_EQ(r.replicas, 2u);
  EXPECT_EQ(r.replicas_missing, 0u);
  EXPECT_EQ(r.leases, 2u);
  EXPECT_EQ(r.lease_units_in_flight, 0);
  EXPECT_EQ(r.units_total, 100);
  EXPECT_EQ(r.units_sold, 3 + 2 + 1);
  ASSERT_EQ(r.cells.size(), cells);
  EXPECT_EQ(r.cells[0].product_stock.at(lamp), 100);
  EXPECT_EQ(r.cells[1].product_stock.at(lamp), 0);  // a replica owns nothing
  EXPECT_NE(printed.find("cluster: every invariant holds"), std::string::npos) << printed;
}

TEST_F(ClusterCheckTest, AGrantNotLoadedYetIsInFlightNotAViolation) {
  build({.not_loaded = 5});
  const ClusterReport r = check();
  EXPECT_TRUE(r.clean()) << printed;
  EXPECT_EQ(r.lease_units_in_flight, 5);
  EXPECT_EQ(r.units_total, 100);
}

TEST_F(ClusterCheckTest, ACellThatLoadedMoreThanItsHomeGrantedIsReported) {
  build({.loaded_extra = 5});
  const ClusterReport r = check();
  EXPECT_TRUE(cells_clean(r)) << printed;  // each cell's journal adds up on its own
  EXPECT_FALSE(r.clean());
  EXPECT_TRUE(has(r, "product 3 at cell 1: loaded 25 leased units, its home granted 20"))
      << printed;
  EXPECT_NE(printed.find("cluster: VIOLATIONS"), std::string::npos) << printed;
}

TEST_F(ClusterCheckTest, AHomeThatCreditedMoreThanACellReturnedIsReported) {
  build({.credited_extra = 2});
  const ClusterReport r = check();
  EXPECT_TRUE(cells_clean(r)) << printed;
  EXPECT_TRUE(has(r, "product 3 at cell 2: its home credited 6 returned units, it returned 4"))
      << printed;
}

TEST_F(ClusterCheckTest, UnitsACellHoldsBeyondItsLeasesBreakTheClusterSum) {
  build({.replica_restock = 5});  // 74 + 25 + 6 held, nothing in flight, of 100
  const ClusterReport r = check();
  EXPECT_TRUE(cells_clean(r)) << printed;
  EXPECT_TRUE(has(r, "product 3 at cell 1: holds 25 units, its leases leave it 20")) << printed;
  EXPECT_TRUE(has(r, "product 3: cells hold 105 units and 0 are in flight, of a total of 100"))
      << printed;
}

TEST_F(ClusterCheckTest, ACellSellingBeyondWhatItHoldsIsOversold) {
  build({.cell1_sells = 21});
  const ClusterReport r = check();
  EXPECT_TRUE(has(r, "product 3 at cell 1: oversold: 21 sold or reserved of 20")) << printed;
}

// The home's lease row says 20 went to cell 1, but its total never gave them up: every cell's
// own journal adds up and so do the lease figures; only the home's journal stock shows that
// the cluster could sell 120 lamps of 100 (and here sold 115).
TEST_F(ClusterCheckTest, AHomeGrantingUnitsItDidNotGiveUpIsOversoldAcrossCells) {
  build({.grant_untaken = true, .cell1_sells = 20});
  const ClusterReport r = check();
  EXPECT_TRUE(cells_clean(r)) << printed;
  EXPECT_EQ(r.units_sold, 94 + 20 + 1);
  EXPECT_TRUE(has(r,
                  "product 3: its home owns 120 units (94 its own, 26 leased out), more than "
                  "the 100 its journal created and restocked"))
      << printed;
}

}  // namespace
}  // namespace flashsaga::tools
