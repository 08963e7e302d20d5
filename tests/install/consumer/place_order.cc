// place_order: a program of someone else's that uses the installed flashsaga client library.
// Attaches to a running deployment (`flashsaga run --no-gateway --config FILE`), creates a
// buyer with a wallet and a product, places one order over the rings and waits for its end.
//
//   place_order --config FILE     prints "order N COMPLETED paid P" and exits 0; 1 otherwise
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "engine/client.h"
#include "engine/config.h"

namespace fe = flashsaga::engine;

namespace {

int fail(const std::string& what) {
  std::fprintf(stderr, "place_order: %s\n", what.c_str());
  return 1;
}

// The deployment may still be starting: retry the attachment for up to 30 s.
bool attach(const fe::Config& config, std::unique_ptr<fe::Client>& client, std::string* error) {
  for (int attempt = 0; attempt < 300; ++attempt) {
    if (fe::Client::connect(config, client, error)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// A command can be refused while intake is still closed after start: retry it for up to 30 s.
template <typename Command>
fe::CommandOutcome retry(Command command) {
  fe::CommandOutcome outcome;
  for (int attempt = 0; attempt < 300; ++attempt) {
    outcome = command();
    if (outcome.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return outcome;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || std::string_view(argv[1]) != "--config")
    return fail("usage: place_order --config FILE");
  fe::Config config;
  std::string error;
  if (!fe::load_config(argv[2], config, &error)) return fail(error);
  std::unique_ptr<fe::Client> client;
  if (!attach(config, client, &error)) return fail("cannot attach: " + error);

  fe::CommandOutcome user = retry([&] { return client->create_user("Kim", "kim@example.com"); });
  if (!user.ok()) return fail("create_user refused");
  if (!client->deposit(user.id, 500'000).ok()) return fail("deposit refused");
  fe::CommandOutcome product = client->create_product("Lamp", 1500, 10);
  if (!product.ok()) return fail("create_product refused");

  const auto product_id = static_cast<std::uint32_t>(product.id);
  fe::PlaceOutcome placed = client->place_order(user.id, {{product_id, 1}});
  if (!placed.accepted()) return fail("order not accepted");
  flashsaga::domains::OrderRow row{};
  if (!client->wait_terminal(placed.order_id, 10'000, &row))
    return fail("order did not end in 10 s");
  const auto status = static_cast<flashsaga::domains::OrderStatus>(row.status);
  std::printf("order %llu %s paid %lld\n", static_cast<unsigned long long>(placed.order_id),
              std::string(flashsaga::domains::order_status_name(status)).c_str(),
              static_cast<long long>(row.paid));
  return status == flashsaga::domains::OrderStatus::completed ? 0 : 1;
}
