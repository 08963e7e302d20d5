// flashsaga demo: a demo flash sale, end to end over HTTP (see demo.cc for what it does).
#pragma once

#include <cstdint>
#include <filesystem>

namespace flashsaga::tools {

struct DemoOptions {
  std::filesystem::path executable;  // the flashsaga binary
  std::filesystem::path data_dir = "demo-data";
  std::uint16_t port = 8080;
  std::uint64_t buyers = 2'000;
  std::uint32_t connections = 64;
  std::uint64_t attempts = 20'000;
  std::uint64_t hot_stock = 500;
  std::uint64_t seed = 1;
};

int run_demo(const DemoOptions& options);

}  // namespace flashsaga::tools
