// http_fuzz: raw bytes, as one connection's input, through the server's HTTP parser and the
// API's router and handlers (engine/gateway/http_feed.h over tests/fuzz/gateway_rig.h).
//
// Checks: nothing crashes (ASan, UBSan, the engine's asserts); every answer passes
// check_answer() (no 500, JSON that parses, errors with "error"); at most one answer per
// request read, and an answer to bad input ends the reading.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "tests/fuzz/gateway_rig.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  flashsaga::fuzz::GatewayRig& rig = flashsaga::fuzz::rig();
  rig.next_input();
  const auto answers = rig.feed().feed(std::string_view(reinterpret_cast<const char*>(data), size));
  if (answers.size() > flashsaga::gateway::feed_requests_max + 1) {
    std::fprintf(stderr, "http_fuzz: %zu answers\n", answers.size());
    std::abort();
  }
  for (std::size_t i = 0; i < answers.size(); ++i) {
    flashsaga::fuzz::check_answer(answers[i], "http");
    if (answers[i].route == "unparsed" && i + 1 != answers.size()) {
      std::fprintf(stderr, "http_fuzz: a request read after bad input\n");
      std::abort();
    }
  }
  return 0;
}
