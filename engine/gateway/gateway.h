// gateway: the HTTP/JSON front door of a deployment (API.md is the contract it serves).
//
// Requires: a deployment whose segment the supervisor has created (ipc::Deployment), port
//   slot 0 free (the gateway's), and the config every process of the deployment shares.
// Guarantees:
//   - serves every route of API.md on config.http_address:config.http_port with
//     config.http_threads I/O threads, HTTP/1.1 keep-alive, one strand per connection;
//   - POST /orders reserves stock by CAS in the I/O thread (engine/port.h): sold out, unknown
//     product and not on sale are answered at once with nothing sent anywhere;
//   - every GET is served from read-only snapshots of the domains' journals, no IPC;
//   - every other write is a command to its owning domain, answered after the domain's commit;
//   - bad input gets a 4xx JSON error and changes nothing; nothing wedges an I/O thread;
//   - SIGTERM/SIGINT: stops accepting, finishes in-flight requests (bounded), returns 0.
// Returns 1 (with a message on stderr) if it cannot attach, claim port 0, or listen.
//
// Example (tools/main.cc):
//   engine::Config config;
//   if (!engine::load_config(path, config, &error)) die(error);
//   return run_gateway(config);
#pragma once

#include "engine/config.h"

namespace flashsaga {

int run_gateway(const engine::Config& config);

}  // namespace flashsaga
