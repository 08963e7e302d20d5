// gateway_rig: the gateway's API over a real deployment segment, for the HTTP and JSON-body
// fuzzers, with no domain processes and no sockets.
//
// One rig per process (rig()), built on first use in a fresh temporary directory: the
// deployment's segment (small rings), port 0 in inline mode with a 1 ns request timeout (a
// command the API sends is answered 503 "did not answer in time" at the next pump), products
// 1..8 registered in the stock table (so POST /orders reaches the ring), no journals (a GET
// that reads one is answered 503 "cannot be read yet"), and an HttpFeed (engine/gateway/
// http_feed.h) over it all. next_input() restores the rig between inputs: it frees what the
// API put into the rings to the domains and refills the stock.
//
// check_answer() aborts (a fuzzer finding) on an answer the API must never give: a status
// outside 100..599, a 500 (an exception escaped a handler), a JSON answer that is not JSON, or
// an error answer without its "error" member (but /healthz, whose 503 lists the domains).
#pragma once

#include <string_view>

#include "engine/gateway/http_feed.h"

namespace flashsaga::fuzz {

class GatewayRig {
 public:
  virtual ~GatewayRig() = default;
  virtual gateway::HttpFeed& feed() = 0;
  virtual void next_input() = 0;
};

GatewayRig& rig();

void check_answer(const gateway::FedAnswer& answer, std::string_view what);

}  // namespace flashsaga::fuzz
