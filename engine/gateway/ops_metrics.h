// ops_metrics: the /metrics families an operator's standard tools expect, appended after the
// gateway's own (metrics.h): build info, per-process resources, journal map use, and the sale's
// order counts from the order journal (sale_stats.h).
//
// Requires: the deployment's shared memory (process ids in its control and status blocks), the
//   Store, and a SaleTracker already updated for this scrape. Any thread.
// Guarantees: text in the Prometheus exposition format 0.0.4, every family with # HELP and
//   # TYPE, counters ending in _total and nothing else; families:
//   - flashsaga_build_info{version,compiler,build_type} 1
//   - process_cpu_seconds_total / process_resident_memory_bytes / process_open_fds{process},
//     for the supervisor, the six domains and this gateway, read from /proc/<pid>; a process
//     that is not running (or whose pid now names another program) has no sample;
//   - flashsaga_journal_map_{used,size,max}_bytes{domain};
//   - flashsaga_orders_{admitted,completed,cancelled}_total and, per product 1..64,
//     flashsaga_product_orders_{admitted,completed,cancelled}_total{product} and the histogram
//     flashsaga_product_saga_completion_seconds{product}.
#pragma once

#include <string>

#include "engine/config.h"
#include "ipc/deployment.h"
#include "engine/gateway/sale_stats.h"
#include "engine/gateway/store.h"

namespace flashsaga::gateway {

std::string render_ops_metrics(ipc::Deployment& deployment, Store& store,
                               const engine::Config& config, const SaleTracker& sale);

// One process's resources from /proc/<pid>; false when it is gone or runs another program.
struct ProcessResources {
  double cpu_seconds = 0;
  std::uint64_t resident_bytes = 0;
  std::uint64_t open_fds = 0;
};
bool read_process_resources(std::uint32_t pid, ProcessResources& out);

}  // namespace flashsaga::gateway
