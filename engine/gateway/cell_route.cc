#include "engine/gateway/cell_route.h"

#include <string>

#include "engine/cluster.h"

namespace flashsaga::gateway {
namespace {

// Addresses come from cluster.toml (http:// URLs); escape what JSON needs anyway.
std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out.push_back('\\');
    if (static_cast<unsigned char>(ch) < 0x20) continue;
    out.push_back(ch);
  }
  out.push_back('"');
  return out;
}

}  // namespace

std::optional<Response> wrong_cell(const engine::Config& config, std::uint64_t user_id) {
  if (config.cells <= 1 || user_id == 0) return std::nullopt;
  const std::uint32_t home = engine::home_cell(user_id, config.cells);
  if (home == config.cell) return std::nullopt;
  const std::string address =
      home < config.cell_addresses.size() ? config.cell_addresses[home] : "";
  Response r;
  r.status = 421;
  r.body = "{\"error\":\"wrong_cell\",\"message\":" +
           json_string("user " + std::to_string(user_id) + " lives in cell " +
                       std::to_string(home) + " at " + address + "; send the request there") +
           ",\"cell\":" + std::to_string(home) + ",\"address\":" + json_string(address) + "}";
  return r;
}

}  // namespace flashsaga::gateway
