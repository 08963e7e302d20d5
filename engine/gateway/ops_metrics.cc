#include "engine/gateway/ops_metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string_view>
#include <vector>

#ifndef FLASHSAGA_VERSION
#define FLASHSAGA_VERSION "unknown"
#endif
#ifndef FLASHSAGA_BUILD_TYPE
#define FLASHSAGA_BUILD_TYPE "unknown"
#endif

namespace flashsaga::gateway {
namespace {

constexpr std::size_t proc_fds_max = 1u << 20;  // a bound on the directory walk

class Text {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_.append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ");
    out_.append(name).append(" ").append(type).append("\n");
  }
  void sample(std::string_view name, std::string_view labels, double value) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.9g", value);
    line(name, labels, buf);
  }
  void sample(std::string_view name, std::string_view labels, std::uint64_t value) {
    line(name, labels, std::to_string(value));
  }
  std::string take() { return std::move(out_); }

 private:
  void line(std::string_view name, std::string_view labels, const std::string& value) {
    out_.append(name);
    if (!labels.empty()) out_.append("{").append(labels).append("}");
    out_.append(" ").append(value).append("\n");
  }
  std::string out_;
};

std::string label(std::string_view key, std::string_view value) {
  std::string out(key);
  out += "=\"";
  for (const char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  out += '"';
  return out;
}

std::string exe_of(const std::string& proc_dir) {
  char buf[4096];
  const ssize_t n = ::readlink((proc_dir + "/exe").c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

const char* compiler() {
#if defined(__clang__)
  return "clang " __clang_version__;
#elif defined(__GNUC__)
  return "gcc " __VERSION__;
#else
  return "unknown";
#endif
}

void build_info(Text& t) {
  t.family("flashsaga_build_info", "gauge", "Always 1; the labels say which build is running.");
  t.sample("flashsaga_build_info",
           label("version", FLASHSAGA_VERSION) + "," + label("compiler", compiler()) + "," +
               label("build_type", FLASHSAGA_BUILD_TYPE),
           std::uint64_t{1});
}

void processes(Text& t, ipc::Deployment& deployment) {
  struct Proc {
    std::string name;
    std::uint32_t pid;
  };
  std::vector<Proc> procs;
  procs.push_back(
      {"supervisor", deployment.control().supervisor_pid.load(std::memory_order_acquire)});
  for (std::uint8_t d = 1; d <= domain_count; ++d) {
    const auto domain = static_cast<ipc::Domain>(d);
    procs.push_back({std::string(ipc::domain_name(domain)),
                     deployment.status(domain).pid.load(std::memory_order_acquire)});
  }
  procs.push_back({"gateway", static_cast<std::uint32_t>(::getpid())});
  std::vector<std::pair<std::string, ProcessResources>> seen;
  for (const Proc& p : procs) {
    ProcessResources r;
    if (p.pid != 0 && read_process_resources(p.pid, r))
      seen.emplace_back(label("process", p.name), r);
  }
  t.family("process_cpu_seconds_total", "counter",
           "User and system CPU time of each process of the deployment.");
  for (const auto& [l, r] : seen) t.sample("process_cpu_seconds_total", l, r.cpu_seconds);
  t.family("process_resident_memory_bytes", "gauge",
           "Resident memory of each process of the deployment.");
  for (const auto& [l, r] : seen) t.sample("process_resident_memory_bytes", l, r.resident_bytes);
  t.family("process_open_fds", "gauge", "Open file descriptors of each process of the deployment.");
  for (const auto& [l, r] : seen) t.sample("process_open_fds", l, r.open_fds);
}

void journal_maps(Text& t, Store& store, const engine::Config& config) {
  struct Map {
    std::string label;
    journal::EnvStats stats;
    std::uint64_t max;
  };
  std::vector<Map> maps;
  for (std::uint8_t d = 1; d <= domain_count; ++d) {
    const auto domain = static_cast<ipc::Domain>(d);
    const journal::Env* env = store.env(domain);
    if (!env) continue;
    maps.push_back({label("domain", ipc::domain_name(domain)), env->stats(),
                    config.journal_options(domain).map_size_max_bytes});
  }
  t.family("flashsaga_journal_map_used_bytes", "gauge",
           "Bytes of the journal's map in use (last page * page size).");
  for (const Map& m : maps)
    t.sample("flashsaga_journal_map_used_bytes", m.label, std::uint64_t{m.stats.used_bytes});
  t.family("flashsaga_journal_map_size_bytes", "gauge",
           "The journal's current map size (it grows up to the maximum).");
  for (const Map& m : maps)
    t.sample("flashsaga_journal_map_size_bytes", m.label, std::uint64_t{m.stats.map_size_bytes});
  t.family(
      "flashsaga_journal_map_max_bytes", "gauge",
      "journal.map_size_max_mib in bytes: at this use the domain cannot commit and intake pauses.");
  for (const Map& m : maps) t.sample("flashsaga_journal_map_max_bytes", m.label, m.max);
}

void histogram(Text& t, std::string_view name, const std::string& labels, const SagaHistogram& h) {
  const std::string bucket = std::string(name) + "_bucket";
  const std::string prefix = labels.empty() ? std::string() : labels + ",";
  std::uint64_t cumulative = 0;
  for (std::size_t b = 0; b < SagaHistogram::bounds_s.size(); ++b) {
    cumulative += h.buckets[b];
    char le[32];
    std::snprintf(le, sizeof le, "%g", SagaHistogram::bounds_s[b]);
    t.sample(bucket, prefix + label("le", le), cumulative);
  }
  t.sample(bucket, prefix + label("le", "+Inf"), cumulative + h.buckets.back());
  t.sample(std::string(name) + "_sum", labels, h.sum_s);
  t.sample(std::string(name) + "_count", labels, h.count);
}

void sale_orders(Text& t, const SaleTracker& sale) {
  const SaleCounts total = sale.total();
  t.family("flashsaga_orders_admitted_total", "counter",
           "Orders the order journal holds (stock was reserved).");
  t.sample("flashsaga_orders_admitted_total", "", total.admitted);
  t.family("flashsaga_orders_completed_total", "counter",
           "Orders that ended COMPLETED, from the order journal.");
  t.sample("flashsaga_orders_completed_total", "", total.completed);
  t.family("flashsaga_orders_cancelled_total", "counter",
           "Orders that ended CANCELLED, from the order journal.");
  t.sample("flashsaga_orders_cancelled_total", "", total.cancelled);
  std::vector<std::pair<std::string, SaleCounts>> products;
  for (std::uint32_t id = 1; id <= sale_products_max; ++id) {
    const SaleCounts c = sale.product(id);
    if (c.admitted != 0) products.emplace_back(label("product", std::to_string(id)), c);
  }
  const struct {
    const char* name;
    const char* help;
    std::uint64_t SaleCounts::*field;
  } families[] = {
      {"flashsaga_product_orders_admitted_total", "Orders holding the product (products 1-64).",
       &SaleCounts::admitted},
      {"flashsaga_product_orders_completed_total", "Completed orders holding the product.",
       &SaleCounts::completed},
      {"flashsaga_product_orders_cancelled_total", "Cancelled orders holding the product.",
       &SaleCounts::cancelled},
  };
  for (const auto& f : families) {
    t.family(f.name, "counter", f.help);
    for (const auto& [l, c] : products) t.sample(f.name, l, c.*f.field);
  }
  t.family(
      "flashsaga_product_saga_completion_seconds", "histogram",
      "Saga time (terminal - created) of the orders holding the product, from the order journal.");
  for (const auto& [l, c] : products)
    histogram(t, "flashsaga_product_saga_completion_seconds", l, c.saga);
}

}  // namespace

bool read_process_resources(std::uint32_t pid, ProcessResources& out) {
  static const std::string self_exe = exe_of("/proc/self");
  const std::string dir = "/proc/" + std::to_string(pid);
  if (self_exe.empty() || exe_of(dir) != self_exe) return false;  // gone, or the pid was reused
  std::ifstream stat(dir + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const std::size_t paren = text.rfind(')');
  if (paren == std::string::npos) return false;
  // After "pid (comm)": state is field 3; utime and stime are fields 14 and 15.
  unsigned long long utime = 0, stime = 0;
  if (std::sscanf(text.c_str() + paren + 1,
                  " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
    return false;
  const long ticks = ::sysconf(_SC_CLK_TCK);
  out.cpu_seconds =
      static_cast<double>(utime + stime) / static_cast<double>(ticks > 0 ? ticks : 100);
  std::ifstream statm(dir + "/statm");
  unsigned long long size_pages = 0, resident_pages = 0;
  if (!(statm >> size_pages >> resident_pages)) return false;
  out.resident_bytes = resident_pages * static_cast<unsigned long long>(::sysconf(_SC_PAGESIZE));
  out.open_fds = 0;
  if (DIR* fds = ::opendir((dir + "/fd").c_str())) {
    while (const dirent* e = ::readdir(fds)) {
      if (e->d_name[0] != '.') ++out.open_fds;
      if (out.open_fds >= proc_fds_max) break;
    }
    ::closedir(fds);
  }
  return true;
}

std::string render_ops_metrics(ipc::Deployment& deployment, Store& store,
                               const engine::Config& config, const SaleTracker& sale) {
  Text t;
  build_info(t);
  processes(t, deployment);
  journal_maps(t, store, config);
  sale_orders(t, sale);
  return t.take();
}

}  // namespace flashsaga::gateway
