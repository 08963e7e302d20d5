// cluster: cluster.toml — the NATS servers and the cells of a multi-host deployment.
//
// A cell is one ordinary deployment (`flashsaga run`) serving a shard of the users. Its users,
// products and coupon templates get ids with `id % cells == cell` (cells numbered 0..n-1), so
// an id names its home cell without any lookup and ids stay small (JSON-safe, below 2^53).
// Single-host runs are the one-cell case (cells = 1): every id is as before.
//
// File format (paths relative to the file's directory):
//   [nats]
//   servers = ["nats://127.0.0.1:14222", ...]   # any of them; the client fails over
//   replicas = 3                                 # JetStream stream replicas (R3)
//   [[cell]]                                     # in order: the first is cell 0
//   address = "http://127.0.0.1:18080"           # what a 421 answer names
//   http_port = 18080
//   data_dir = "cells/cell0"
//
// Guarantees: load_cluster() accepts only a file with 1..cells_max cells, 1..5 NATS servers and
// replicas in 1..5; unknown keys are errors. apply_cell() turns a Config into cell N's.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/config.h"

namespace flashsaga::engine {

inline constexpr std::uint32_t cells_max = 64;
inline constexpr std::uint32_t nats_servers_max = 5;

struct CellInfo {
  std::string address;  // base URL, e.g. http://127.0.0.1:18080
  std::uint16_t http_port = 0;
  std::filesystem::path data_dir;  // absolute
};

struct Cluster {
  std::vector<std::string> nats_servers;
  std::uint32_t replicas = 3;
  std::vector<CellInfo> cells;
};

bool load_cluster(const std::filesystem::path& path, Cluster& out, std::string* error);

// Sets config's data dir, HTTP port and cell fields to cell `cell` of the cluster; false (and
// *error) when there is no such cell.
bool apply_cell(const Cluster& cluster, std::uint32_t cell, Config& config, std::string* error);

// The home cell of an id (user, product, coupon template) in a cluster of `cells` cells.
constexpr std::uint32_t home_cell(std::uint64_t id, std::uint32_t cells) noexcept {
  return cells <= 1 ? 0 : static_cast<std::uint32_t>(id % cells);
}

}  // namespace flashsaga::engine
