// The CLI's tool subcommands: check, journal, trace (inspection), demo and bench.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "engine/config.h"

namespace CLI {
class App;
}

namespace flashsaga::tools {

void add_commands(CLI::App& app, const std::function<engine::Config()>& config,
                  const std::filesystem::path& executable);

// `flashsaga bench peers ARGS...`: replaces this process with bench/peers/run.sh ARGS (found
// beside the binary, else in the source tree it was built from), FLASHSAGA defaulting to this
// binary. Returns an exit code only when it cannot (the script is missing: a message saying so).
int run_bench_peers(const std::filesystem::path& executable, const std::vector<std::string>& args);

}  // namespace flashsaga::tools
