// status: `flashsaga status`, the live sale on one screen in the terminal (what the sale page
// at GET / shows): intake, orders admitted / completed / cancelled and sold-out answers with
// their rates, saga p50/p99, each domain's health, ring depth, and each product on sale.
//
//   flashsaga status --url http://127.0.0.1:8080     asks the gateway (GET /stats)
//   flashsaga status --data DIR [--config FILE]      reads shared memory and the journals itself
//                                                    (works without a gateway; sold-out answers,
//                                                    counted by the gateway, are then unknown)
//   ... --watch [--interval MS] [--count N]          redraws every interval (N times; 0: until ^C)
//   ... --json                                       one sample, the GET /stats JSON as it is
//
// Rates are the difference of two samples over the time between them: a one-shot status takes
// two samples --interval apart. Exit 0; 1 (with the reason on stderr) when the source cannot
// be read.
#pragma once

#include <functional>

#include "engine/config.h"

namespace CLI {
class App;
}

namespace flashsaga::tools {

void add_status_command(CLI::App& app, const std::function<engine::Config()>& config);

}  // namespace flashsaga::tools
