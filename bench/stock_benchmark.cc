// The hot path of a flash sale: a reservation by compare-and-swap on a shared counter, and the
// sold-out answer once stock is gone (one load, no write). Measured with 1 and 2 threads on the
// same SKU, beside the baseline of an uncontended atomic fetch_sub (the cheapest possible write)
// in the same run. Also: sealing and validating a message (CRC32C over 256 bytes).
//
//   build/release/bench/stock_benchmark --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "ipc/deployment.h"
#include "engine/port.h"
#include "engine/stock.h"
#include "ipc/segment.h"
#include "ipc/message.h"

namespace flashsaga {
namespace {

ipc::StockSlot& shared_slot() {
  static ipc::StockSlot slot{};
  return slot;
}

// Sold out: every call is answered from one load of a line nobody writes.
void BM_ReserveSoldOut(benchmark::State& state) {
  ipc::StockSlot& slot = shared_slot();
  if (state.thread_index() == 0) slot.available.store(0);
  for (auto _ : state) {
    auto r = engine::reserve(slot, 1);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ReserveSoldOut)->Threads(1)->Threads(2)->UseRealTime();

// In stock: every call wins a CAS (two threads fight over the same line).
void BM_ReserveInStock(benchmark::State& state) {
  ipc::StockSlot& slot = shared_slot();
  if (state.thread_index() == 0) slot.available.store(INT64_MAX / 2);
  for (auto _ : state) {
    auto r = engine::reserve(slot, 1);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ReserveInStock)->Threads(1)->Threads(2)->UseRealTime();

// Baseline: an unconditional atomic decrement of the same shared line.
void BM_BaselineFetchSub(benchmark::State& state) {
  ipc::StockSlot& slot = shared_slot();
  for (auto _ : state)
    benchmark::DoNotOptimize(slot.available.fetch_sub(1, std::memory_order_acq_rel));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BaselineFetchSub)->Threads(1)->Threads(2)->UseRealTime();

// The whole door path of a sold-out request, as a client-library or gateway thread runs it:
// request validation, intake gate and in-flight count (ReservationGuard), product existence and
// sale window, the CAS attempt — over a real shared-memory deployment segment.
struct DoorFixture {
  DoorFixture() {
    dir = std::filesystem::temp_directory_path() /
          ("flashsaga-stock-bench-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    ipc::Geometry g;
    g.saga_ring_slots = 1024;
    g.port_ring_slots = 64;
    g.ports = 2;
    g.products_max = 1024;
    std::string error, note;
    if (!ipc::Deployment::create(dir, g, deployment, &error, &note)) std::abort();
    deployment->stock(1).exists.store(1);
    deployment->stock(1).available.store(0);
    deployment->control().intake_open.store(1);
    if (!engine::Port::open(*deployment, engine::PortOptions{}, port, &error)) std::abort();
  }
  ~DoorFixture() {
    port.reset();
    deployment.reset();
    ipc::Segment::remove(dir);
    std::filesystem::remove_all(dir);
  }
  std::filesystem::path dir;
  std::unique_ptr<ipc::Deployment> deployment;
  std::unique_ptr<engine::Port> port;
};

void BM_PortPlaceOrderSoldOut(benchmark::State& state) {
  static DoorFixture* fixture = nullptr;
  if (state.thread_index() == 0) fixture = new DoorFixture();
  engine::PlaceRequest req;
  req.user_id = 7;
  req.item_count = 1;
  req.items[0] = ipc::LineItem{1, 1, 0};
  for (auto _ : state) {
    auto now = fixture->port->place_order(req, nullptr);
    benchmark::DoNotOptimize(now);
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    delete fixture;
    fixture = nullptr;
  }
}
BENCHMARK(BM_PortPlaceOrderSoldOut)->Threads(1)->Threads(2)->UseRealTime();

ipc::Message sample_order() {
  ipc::PlaceOrderBody body{};
  body.user_id = 42;
  body.item_count = 2;
  body.items[0] = ipc::LineItem{1, 1, 1000};
  body.items[1] = ipc::LineItem{2, 3, 250};
  return ipc::make_message(ipc::MessageType::place_order, ipc::Domain::port, ipc::Domain::order,
                           body);
}

void BM_MessageSeal(benchmark::State& state) {
  ipc::Message m = sample_order();
  for (auto _ : state) {
    m.header.sequence++;
    ipc::seal(m);
    benchmark::DoNotOptimize(m.header.checksum);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MessageSeal);

void BM_MessageValidate(benchmark::State& state) {
  ipc::Message m = sample_order();
  ipc::seal(m);
  for (auto _ : state) benchmark::DoNotOptimize(ipc::validate(m));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MessageValidate);

}  // namespace
}  // namespace flashsaga

BENCHMARK_MAIN();
