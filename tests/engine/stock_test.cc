#include "engine/stock.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "engine/base/clock.h"
#include "ipc/deployment.h"
#include "engine/port.h"
#include "ipc/segment.h"

namespace flashsaga::engine {
namespace {

class StockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("flashsaga-stock-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    ipc::Geometry g;
    g.saga_ring_slots = 64;
    g.port_ring_slots = 64;
    g.ports = 2;
    g.products_max = 64;
    std::string error, note;
    ASSERT_TRUE(ipc::Deployment::create(dir_, g, d_, &error, &note)) << error;
    for (std::uint32_t id = 1; id <= 3; ++id) {
      d_->stock(id).exists.store(1);
      d_->stock(id).price.store(100 * id);
      d_->stock(id).available.store(10);
    }
    d_->control().intake_open.store(1);
  }
  void TearDown() override {
    d_.reset();
    ipc::Segment::remove(dir_);
    std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
  std::unique_ptr<ipc::Deployment> d_;
};

TEST_F(StockTest, ReservesAllLinesOrNoneAndGivesPartialReservationsBack) {
  std::array<ipc::LineItem, 3> items = {{{1, 4, 0}, {2, 10, 0}, {3, 11, 0}}};
  std::uint32_t failed = 99;
  EXPECT_EQ(reserve_items(*d_, items.data(), 3, 0, &failed), ReserveResult::sold_out);
  EXPECT_EQ(failed, 2u);
  EXPECT_EQ(d_->stock(1).available.load(), 10);  // given back
  EXPECT_EQ(d_->stock(2).available.load(), 10);
  items[2].quantity = 10;
  EXPECT_EQ(reserve_items(*d_, items.data(), 3, 0, &failed), ReserveResult::ok);
  EXPECT_EQ(d_->stock(1).available.load(), 6);
  EXPECT_EQ(d_->stock(3).available.load(), 0);
  EXPECT_EQ(items[1].unit_price, 200);  // priced at reservation time
}

TEST_F(StockTest, RefusesUnknownProductsAndOrdersOutsideTheSaleWindow) {
  std::array<ipc::LineItem, 1> items = {{{9, 1, 0}}};
  std::uint32_t failed = 0;
  EXPECT_EQ(reserve_items(*d_, items.data(), 1, 0, &failed), ReserveResult::unknown_product);
  d_->stock(2).sale_starts_ns.store(1'000);
  d_->stock(2).sale_ends_ns.store(2'000);
  items[0] = {2, 1, 0};
  EXPECT_EQ(reserve_items(*d_, items.data(), 1, 999, &failed), ReserveResult::not_on_sale);
  EXPECT_EQ(reserve_items(*d_, items.data(), 1, 2'000, &failed), ReserveResult::not_on_sale);
  EXPECT_EQ(reserve_items(*d_, items.data(), 1, 1'500, &failed), ReserveResult::ok);
  EXPECT_EQ(d_->stock(2).available.load(), 9);
}

TEST_F(StockTest, RacingThreadsNeverOversell) {
  d_->stock(1).available.store(1'000);
  std::atomic<int> won{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10'000; ++i)
        if (reserve(d_->stock(1), 1) == ReserveResult::ok) ++won;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(won.load(), 1'000);
  EXPECT_EQ(d_->stock(1).available.load(), 0);
}

TEST_F(StockTest, AClosedGateAdmitsNoReservationAndCountsNothingInFlight) {
  d_->control().intake_open.store(0);
  {
    ReservationGuard guard(*d_, d_->port(1));
    EXPECT_FALSE(guard.admitted());
    EXPECT_EQ(d_->port(1).inflight.load(), 0);
  }
  d_->control().intake_open.store(1);
  ReservationGuard guard(*d_, d_->port(1));
  EXPECT_TRUE(guard.admitted());
  EXPECT_EQ(d_->port(1).inflight.load(), 1);
  guard.handed_over();
  EXPECT_EQ(d_->port(1).inflight.load(), 0);
}

TEST_F(StockTest, APortAnswersSoldOutWithoutTouchingTheGateOrAnyCounter) {
  std::unique_ptr<Port> port;
  std::string error;
  ASSERT_TRUE(Port::open(*d_, PortOptions{}, port, &error)) << error;
  d_->stock(1).available.store(0);
  PlaceRequest req;
  req.user_id = 1;
  req.item_count = 1;
  req.items[0] = {1, 1, 0};
  bool called = false;
  EXPECT_EQ(port->place_order(req, [&](const PortReply&) { called = true; }).status,
            PlaceStatus::sold_out);
  EXPECT_EQ(d_->port(port->index()).inflight.load(), 0);
  EXPECT_EQ(port->requests_in_flight(), 0u);
  EXPECT_FALSE(called);
  // A reservation that is queued stays counted in flight until the pump hands it to a ring.
  req.items[0] = {2, 1, 0};
  EXPECT_EQ(port->place_order(req, nullptr).status, PlaceStatus::submitted);
  EXPECT_EQ(d_->port(port->index()).inflight.load(), 1);
  EXPECT_EQ(d_->stock(2).available.load(), 9);
  (void)port->pump_once();
  EXPECT_EQ(d_->port(port->index()).inflight.load(), 0);
}

TEST_F(StockTest, AnUnansweredRequestTimesOutOnceAfterItsDeadlineEvenWhileThePumpSpins) {
  PortOptions options;
  options.request_timeout_ns = 20'000'000;
  std::unique_ptr<Port> port;
  std::string error;
  ASSERT_TRUE(Port::open(*d_, options, port, &error)) << error;
  // No user domain runs: nobody will ever answer.
  ipc::CreateUserBody body{};
  ASSERT_TRUE(body.name.assign("Nobody"));
  ASSERT_TRUE(body.email.assign("nobody@example.com"));
  int calls = 0;
  bool timed_out = false;
  const std::int64_t sent = mono_now_ns();
  std::int64_t answered = 0;
  ASSERT_TRUE(port->submit(
      ipc::Domain::user,
      ipc::make_message(ipc::MessageType::create_user, ipc::Domain::port, ipc::Domain::user, body),
      [&](const PortReply& r) {
        ++calls;
        timed_out = r.timed_out;
        answered = mono_now_ns();
      }));
  // Back-to-back cycles, as the pump runs them while it spins before parking (bounded).
  for (int i = 0; i < 50'000'000 && calls == 0; ++i) (void)port->pump_once();
  ASSERT_EQ(calls, 1);
  EXPECT_TRUE(timed_out);
  EXPECT_GE(answered - sent, options.request_timeout_ns);
  EXPECT_EQ(port->requests_in_flight(), 0u);
  for (int i = 0; i < 1000; ++i) (void)port->pump_once();
  EXPECT_EQ(calls, 1);
}

TEST_F(StockTest, ADomainThatCannotCommitClosesOrderIntakeUntilItCanAgain) {
  std::unique_ptr<Port> port;
  std::string error;
  ASSERT_TRUE(Port::open(*d_, PortOptions{}, port, &error)) << error;
  PlaceRequest req;
  req.user_id = 1;
  req.item_count = 1;
  req.items[0] = {1, 1, 0};
  d_->control().degraded_domains.store(1u << static_cast<unsigned>(ipc::Domain::payment));
  EXPECT_EQ(port->place_order(req, nullptr).status, PlaceStatus::unavailable);
  EXPECT_EQ(d_->stock(1).available.load(), 10) << "nothing reserved";
  EXPECT_EQ(d_->port(port->index()).inflight.load(), 0);
  d_->control().degraded_domains.store(0);
  EXPECT_EQ(port->place_order(req, nullptr).status, PlaceStatus::submitted);
  EXPECT_EQ(d_->stock(1).available.load(), 9);
}

TEST_F(StockTest, EveryEdgeIndexMapsBackToItsEnds) {
  for (int e = 0; e < d_->edge_count(); ++e)
    EXPECT_EQ(d_->edge_index(d_->edge_from(e), d_->edge_to(e)), e);
  EXPECT_EQ(
      d_->edge_index(ipc::domain_node(ipc::Domain::user), ipc::domain_node(ipc::Domain::order)),
      -1);
  EXPECT_EQ(d_->edge_index(ipc::port_node(5), ipc::domain_node(ipc::Domain::order)),
            -1);  // only 2 ports
}

}  // namespace
}  // namespace flashsaga::engine
