// domain_process: the main of a domain process (`flashsaga domain NAME`).
//
// Attaches to the deployment's segment, takes the domain's exclusive lock (one writer process
// per domain, ever), opens its journal, recovers (replay state, re-send outbox), marks itself
// ready in the control block and runs its agent until SIGTERM/SIGINT, then drains its rings,
// flushes the journal and exits 0. Exit code 1: could not start (the message says why).
#pragma once

#include "engine/config.h"
#include "ipc/message.h"

namespace flashsaga::domains {

int run_domain(const engine::Config& config, ipc::Domain domain);

// "user" -> Domain::user, ...; Domain::none if unknown.
ipc::Domain parse_domain(std::string_view name) noexcept;

}  // namespace flashsaga::domains
