#include "engine/cluster.h"

#include <toml++/toml.h>

#include <set>
#include <sstream>

namespace flashsaga::engine {
namespace {

std::string where(const std::filesystem::path& path, const toml::node& n) {
  std::ostringstream os;
  os << path.string() << ":" << n.source().begin.line << ":" << n.source().begin.column << ": ";
  return os.str();
}

bool read_nats(const std::filesystem::path& path, const toml::table& nats, Cluster& c,
               std::string* error) {
  for (const auto& [key, value] : nats) {
    if (key.str() == "servers") {
      const toml::array* a = value.as_array();
      if (a == nullptr || a->empty() || a->size() > nats_servers_max) {
        *error = where(path, value) + "nats.servers must be a list of 1.." +
                 std::to_string(nats_servers_max) + " URLs";
        return false;
      }
      for (const toml::node& s : *a) {
        auto url = s.value<std::string>();
        if (!url || url->rfind("nats://", 0) != 0) {
          *error = where(path, s) + "nats.servers entries must be nats:// URLs";
          return false;
        }
        c.nats_servers.push_back(*url);
      }
    } else if (key.str() == "replicas") {
      auto r = value.value<std::int64_t>();
      if (!r || *r < 1 || *r > 5) {
        *error = where(path, value) + "nats.replicas must be an integer in [1, 5]";
        return false;
      }
      c.replicas = static_cast<std::uint32_t>(*r);
    } else {
      *error = where(path, value) + "nats." + std::string(key.str()) + " is not a known setting";
      return false;
    }
  }
  return true;
}

bool read_cell(const std::filesystem::path& path, const toml::table& t, Cluster& c,
               std::string* error) {
  CellInfo cell;
  const std::string name = "cell " + std::to_string(c.cells.size());
  for (const auto& [key, value] : t) {
    const std::string k(key.str());
    if (k == "address") {
      auto v = value.value<std::string>();
      if (!v || v->rfind("http://", 0) != 0) {
        *error = where(path, value) + name + ": address must be an http:// URL";
        return false;
      }
      cell.address = *v;
    } else if (k == "http_port") {
      auto v = value.value<std::int64_t>();
      if (!v || *v < 1 || *v > 65535) {
        *error = where(path, value) + name + ": http_port must be in [1, 65535]";
        return false;
      }
      cell.http_port = static_cast<std::uint16_t>(*v);
    } else if (k == "data_dir") {
      auto v = value.value<std::string>();
      if (!v || v->empty()) {
        *error = where(path, value) + name + ": data_dir must be a path";
        return false;
      }
      cell.data_dir = std::filesystem::absolute(path.parent_path() / *v).lexically_normal();
    } else {
      *error = where(path, value) + name + ": " + k + " is not a known setting";
      return false;
    }
  }
  if (cell.address.empty() || cell.http_port == 0 || cell.data_dir.empty()) {
    *error = path.string() + ": " + name + " needs address, http_port and data_dir";
    return false;
  }
  c.cells.push_back(cell);
  return true;
}

}  // namespace

bool load_cluster(const std::filesystem::path& path, Cluster& out, std::string* error) {
  toml::table root;
  try {
    root = toml::parse_file(path.string());
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << path.string() << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
       << e.description();
    *error = os.str();
    return false;
  }
  Cluster c;
  for (const auto& [key, value] : root) {
    if (key.str() == "nats" && value.is_table()) {
      if (!read_nats(path, *value.as_table(), c, error)) return false;
    } else if (key.str() == "cell" && value.is_array_of_tables()) {
      const toml::array& cells = *value.as_array();
      if (cells.size() > cells_max) {
        *error = where(path, value) + "at most " + std::to_string(cells_max) + " cells";
        return false;
      }
      for (const toml::node& n : cells)
        if (!read_cell(path, *n.as_table(), c, error)) return false;
    } else {
      *error = where(path, value) + std::string(key.str()) +
               " is not a known section ([nats], [[cell]])";
      return false;
    }
  }
  if (c.nats_servers.empty() || c.cells.empty()) {
    *error = path.string() + ": needs [nats] servers and at least one [[cell]]";
    return false;
  }
  out = std::move(c);
  return true;
}

bool apply_cell(const Cluster& cluster, std::uint32_t cell, Config& config, std::string* error) {
  if (cell >= cluster.cells.size()) {
    *error = "no cell " + std::to_string(cell) + " in the cluster (it has " +
             std::to_string(cluster.cells.size()) + ", numbered from 0)";
    return false;
  }
  config.data_dir = cluster.cells[cell].data_dir;
  config.http_port = cluster.cells[cell].http_port;
  config.cell = cell;
  config.cells = static_cast<std::uint32_t>(cluster.cells.size());
  config.cell_addresses.clear();
  for (const CellInfo& c : cluster.cells) config.cell_addresses.push_back(c.address);
  config.nats_servers = cluster.nats_servers;
  config.nats_replicas = cluster.replicas;
  return true;
}

}  // namespace flashsaga::engine
