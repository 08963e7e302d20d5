// domain_process: the main of a domain process (`flashsaga domain NAME`).
//
// Attaches to the deployment's segment, takes the domain's exclusive lock (one writer process
// per domain, ever), starts its runtime (journal and view opened, view caught up, memory
// loaded, outbox re-sent), marks itself ready in the control block and runs until
// SIGTERM/SIGINT, then drains its rings, commits what it took and exits 0. Exit code 1: could
// not start (the message says why).
//
// It is also where the deployment's Config becomes what each part is told: the *_options()
// below (the simulator uses them too, so it runs the logics with the settings a deployment
// would give them).
#pragma once

#include <string_view>

#include "domains/options.h"
#include "engine/config.h"
#include "engine/runtime/runtime.h"
#include "ipc/message.h"

namespace flashsaga::engine {

int run_domain(const Config& config, ipc::Domain domain);

domains::OrderOptions order_options(const Config& config) noexcept;
domains::PaymentOptions payment_options(const Config& config) noexcept;
domains::CellOptions cell_options(const Config& config) noexcept;
domains::ProductOptions product_options(const Config& config) noexcept;
domains::StepOptions step_options(const Config& config) noexcept;
// The journal and view environments of `domain`, and how its runtime opens its peers' views.
runtime::RuntimeOptions runtime_options(const Config& config, ipc::Domain domain);

// "user" -> Domain::user, ...; Domain::none if unknown.
ipc::Domain parse_domain(std::string_view name) noexcept;

}  // namespace flashsaga::engine
