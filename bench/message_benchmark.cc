// Messages as the domains see them: encoding a 256-byte message (make_message + seal), validating
// one (magic, version, type, body size, reserved fields, CRC32C), the reject path for a corrupted
// one, and reading a body back (body_as). Beside them, the bare CRC32C over 256 bytes, the
// floor of both seal and validate. stock_benchmark has the order message's seal/validate too;
// this suite covers every shape a saga step sends.
//
//   build/release/bench/message_benchmark --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <cstdint>

#include "engine/base/crc32c.h"
#include "ipc/message.h"

namespace flashsaga {
namespace {

ipc::PlaceOrderBody sample_order_body() {
  ipc::PlaceOrderBody body{};
  body.user_id = 42;
  body.item_count = 2;
  body.items[0] = ipc::LineItem{1, 1, 1000};
  body.items[1] = ipc::LineItem{2, 3, 250};
  return body;
}

// Encode: fill the header and body, then seal (CRC32C over all 256 bytes).
void BM_EncodePlaceOrder(benchmark::State& state) {
  const ipc::PlaceOrderBody body = sample_order_body();
  std::uint64_t sequence = 0;
  for (auto _ : state) {
    ipc::Message m = ipc::make_message(ipc::MessageType::place_order, ipc::Domain::port,
                                       ipc::Domain::order, body);
    m.header.sequence = ++sequence;
    m.header.order_id = sequence;
    ipc::seal(m);
    benchmark::DoNotOptimize(m);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(sizeof(ipc::Message)));
}
BENCHMARK(BM_EncodePlaceOrder);

// The smallest saga message (a deposit command): the same cost, since the CRC covers 256 bytes.
void BM_EncodeDeposit(benchmark::State& state) {
  std::uint64_t sequence = 0;
  for (auto _ : state) {
    ipc::Message m = ipc::make_message(ipc::MessageType::deposit, ipc::Domain::port,
                                       ipc::Domain::payment, ipc::DepositBody{7, 1000});
    m.header.sequence = ++sequence;
    ipc::seal(m);
    benchmark::DoNotOptimize(m);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EncodeDeposit);

// Validate an intact message: every check passes, CRC included.
void BM_ValidateIntact(benchmark::State& state) {
  ipc::Message m = ipc::make_message(ipc::MessageType::place_order, ipc::Domain::port,
                                     ipc::Domain::order, sample_order_body());
  ipc::seal(m);
  if (ipc::validate(m) != ipc::MessageError::ok)
    state.SkipWithError("the sample does not validate");
  for (auto _ : state) benchmark::DoNotOptimize(ipc::validate(m));
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(sizeof(ipc::Message)));
}
BENCHMARK(BM_ValidateIntact);

// Validate a message with one flipped body bit: rejected by the checksum, the last check.
void BM_ValidateCorrupt(benchmark::State& state) {
  ipc::Message m = ipc::make_message(ipc::MessageType::place_order, ipc::Domain::port,
                                     ipc::Domain::order, sample_order_body());
  ipc::seal(m);
  m.body[17] ^= std::byte{0x10};
  if (ipc::validate(m) != ipc::MessageError::bad_checksum)
    state.SkipWithError("the corruption was not caught");
  for (auto _ : state) benchmark::DoNotOptimize(ipc::validate(m));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ValidateCorrupt);

// Validate + decode, what a domain does per input message.
void BM_ValidateAndDecode(benchmark::State& state) {
  ipc::Message m = ipc::make_message(ipc::MessageType::place_order, ipc::Domain::port,
                                     ipc::Domain::order, sample_order_body());
  ipc::seal(m);
  std::uint64_t users = 0;
  for (auto _ : state) {
    if (ipc::validate(m) == ipc::MessageError::ok)
      users += ipc::body_as<ipc::PlaceOrderBody>(m).user_id;
    benchmark::DoNotOptimize(users);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ValidateAndDecode);

// The floor: CRC32C over one message's 256 bytes.
void BM_Crc32c256(benchmark::State& state) {
  ipc::Message m = ipc::make_message(ipc::MessageType::place_order, ipc::Domain::port,
                                     ipc::Domain::order, sample_order_body());
  for (auto _ : state) benchmark::DoNotOptimize(crc32c(&m, sizeof m));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(sizeof(ipc::Message)));
}
BENCHMARK(BM_Crc32c256);

}  // namespace
}  // namespace flashsaga

BENCHMARK_MAIN();
