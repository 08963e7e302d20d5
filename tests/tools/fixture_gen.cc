// inspector_fixture_gen DIR [RECORDS]: builds a big deployment (default ten million journal
// records across the six journals) for measuring `journal show`, `journal export` and `trace`.
// The flows are the fixture's (tests/tools/fixture.h), so `flashsaga check` passes on the result;
// record times advance as the flows do (about 3 ms per order, in time order as a deployment
// appends them) from fixture_epoch_ns. Written nosync, in batches of 1000 orders per transaction.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tests/tools/fixture.h"

int main(int argc, char** argv) {
  using namespace flashsaga::tools::testing;
  if (argc < 2) {
    std::fprintf(stderr, "usage: inspector_fixture_gen DIR [RECORDS]\n");
    return 2;
  }
  const std::uint64_t target = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 10'000'000;
  constexpr std::uint64_t users = 10'000, products = 100, orders_per_batch = 1000;
  Fixture f(argv[1], flashsaga::journal::Durability::nosync, std::size_t{32} << 30);
  for (std::uint64_t u = 1; u <= users; ++u) {
    f.user(u, "User " + std::to_string(u));
    f.deposit(u, u % 10 == 0 ? 100 : 1'000'000'000);  // every tenth user cannot pay
    f.accrue(u, 1'000'000);
  }
  for (std::uint64_t p = 1; p <= products; ++p)
    f.product(p, 100 + static_cast<std::int64_t>(p), 1'000'000'000);
  f.coupon_template(1, 50, 0);
  f.commit();
  std::uint64_t order = 0;
  while (f.records() < target) {
    for (std::uint64_t k = 0; k < orders_per_batch; ++k) {
      ++order;
      const std::uint64_t user = order % users + 1;
      const auto product = static_cast<std::uint32_t>(order % products + 1);
      const std::vector<Item> items = {{product, 1, 100 + static_cast<std::int64_t>(product)}};
      if (user % 10 == 0) {
        f.insufficient_balance(order, user, items, 0, 10);
      } else if (order % 7 == 0) {
        f.coupon_rejected(order, user, items, 999'999'999);  // no such coupon
      } else {
        f.happy(order, user, items, 0, order % 3 == 0 ? 20 : 0);
        if (order % 50 == 0) f.refund_completed(order);
      }
    }
    f.commit();
  }
  std::printf("%llu orders, %llu records in %s\n", static_cast<unsigned long long>(order),
              static_cast<unsigned long long>(f.records()), argv[1]);
  return 0;
}
