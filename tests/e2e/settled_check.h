// `flashsaga check` over a deployment's journals once its sagas have settled: compensations land
// asynchronously after an order ends, so the check is retried (bounded) until it is clean or
// the attempts run out; the last report is returned either way.
#pragma once

#include <chrono>
#include <filesystem>
#include <thread>

#include "tools/check/check.h"

namespace flashsaga::testing {

inline tools::CheckReport check_when_settled(const std::filesystem::path& data_dir,
                                             bool require_terminal = true) {
  constexpr int attempts_max = 100;
  tools::CheckReport report;
  for (int attempt = 0; attempt < attempts_max; ++attempt) {
    tools::CheckOptions o;
    o.data_dir = data_dir;
    o.require_terminal = require_terminal;
    report = tools::run_check(o);
    if (report.error.empty() && report.violations.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return report;
}

}  // namespace flashsaga::testing
