#include "tools/commands.h"

#include <CLI/CLI.hpp>

#ifdef FLASHSAGA_HAVE_INSPECTOR
#include "tools/check.h"
#include "tools/inspector/inspector.h"
#endif

namespace flashsaga::tools {

void add_commands(CLI::App& app, const std::function<engine::Config()>& config,
                  const std::filesystem::path& executable) {
  (void)executable;
#ifdef FLASHSAGA_HAVE_INSPECTOR
  add_check_command(app, config);
  add_inspector_commands(app, config);
#else
  (void)app;
  (void)config;
#endif
}

}  // namespace flashsaga::tools
