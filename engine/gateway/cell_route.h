// cell_route: the answer a cluster cell gives to a request for another cell's user.
//
// In a cluster (engine/cluster.h) a user's data lives only in its home cell (user id % cells).
// A request naming a user of another cell is answered 421 Misdirected Request with that
// cell's number and address, never forwarded: forwarding would put a second cell's gateway
// and a second failure domain on the request path, while the client (or the load balancer
// that picks the cell) learns the user's cell from the id once and goes there directly.
//
// Body: {"error":"wrong_cell","message":...,"cell":N,"address":"http://..."}.
// Guarantees: on a single host (cells == 1) never answers anything.
#pragma once

#include <cstdint>
#include <optional>

#include "engine/config.h"
#include "engine/gateway/exchange.h"

namespace flashsaga::gateway {

// nullopt when user_id belongs to this cell (or there is no cluster, or the id is 0).
std::optional<Response> wrong_cell(const engine::Config& config, std::uint64_t user_id);

}  // namespace flashsaga::gateway
