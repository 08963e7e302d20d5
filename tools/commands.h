// The CLI's tool subcommands: check, journal, trace (inspection), demo and bench.
#pragma once

#include <filesystem>
#include <functional>

#include "engine/config.h"

namespace CLI {
class App;
}

namespace flashsaga::tools {

void add_commands(CLI::App& app, const std::function<engine::Config()>& config,
                  const std::filesystem::path& executable);

}  // namespace flashsaga::tools
