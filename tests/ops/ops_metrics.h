// Helpers for the tests/ops suites: a small sale over HTTP and /metrics parsed into samples.
// Test-only header (Boost.JSON through http_deployment.h).
#pragma once

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/e2e/http_deployment.h"

namespace flashsaga::testing {

// Samples of a Prometheus text exposition: "name{labels}" (as written) -> value; and the
// families it declares (# TYPE name type).
struct Exposition {
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;

  explicit Exposition(const std::string& text) {
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.rfind("# TYPE ", 0) == 0) {
        std::istringstream w(line.substr(7));
        std::string name, type;
        w >> name >> type;
        types[name] = type;
        continue;
      }
      if (line.empty() || line[0] == '#') continue;
      const std::size_t sp = line.rfind(' ');
      samples[line.substr(0, sp)] = std::strtod(line.c_str() + sp + 1, nullptr);
    }
  }
  bool has(const std::string& key) const { return samples.count(key) != 0; }
  double at(const std::string& key) const {
    auto it = samples.find(key);
    if (it == samples.end()) {
      ADD_FAILURE() << "no sample " << key;
      return -1;
    }
    return it->second;
  }
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Runs a shell command; returns its exit status (-1 if it could not run) and its output.
inline int run_command(const std::string& command, std::string& output) {
  output.clear();
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) output.append(buf, n);
  const int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

inline bool have_program(const std::string& name) {
  std::string out;
  return run_command("command -v " + name, out) == 0;
}

struct SmallSale {
  std::vector<std::int64_t> products;
  std::vector<std::int64_t> users;
};

struct ProductSpec {
  std::string name;
  int price;
  int stock;
};

// Products and `buyers` users with money.
inline SmallSale make_sale(const HttpDeployment& d, const std::vector<ProductSpec>& products,
                           int buyers) {
  SmallSale s;
  for (const auto& [name, price, stock] : products) {
    auto r = d.post("/products", R"({"name":")" + name + R"(","price":)" + std::to_string(price) +
                                     R"(,"stock":)" + std::to_string(stock) + "}");
    EXPECT_EQ(r.status, 201) << r.body;
    s.products.push_back(num(body_of(r), "id"));
  }
  static int n = 0;
  for (int i = 0; i < buyers; ++i) {
    auto r =
        d.post("/users", R"({"name":"B","email":"b)" + std::to_string(++n) + R"(@example.com"})");
    EXPECT_EQ(r.status, 201) << r.body;
    const std::int64_t u = num(body_of(r), "id");
    EXPECT_EQ(d.post("/users/" + std::to_string(u) + "/wallet/deposits", R"({"amount":100000000})")
                  .status,
              201);
    s.users.push_back(u);
  }
  return s;
}

inline HttpResponse place(const HttpDeployment& d, std::int64_t user, std::int64_t product) {
  return d.post("/orders", R"({"user_id":)" + std::to_string(user) + R"(,"items":[{"product_id":)" +
                               std::to_string(product) + R"(,"quantity":1}]})");
}

}  // namespace flashsaga::testing
