# tools/inspect.cmake: the invariant checker and the journal inspector (`flashsaga check`,
# `flashsaga journal ...`, `flashsaga trace ORDER`). Included from tools/CMakeLists.txt.
#   flashsaga_check      proves DESIGN.md invariants 1-6 from the six journals (no CLI)
#   flashsaga_inspector  the CLI11 subcommands over it: check, journal ls/show/tail/verify/
#                        stats/export, trace
include_guard(GLOBAL)

if(NOT TARGET flashsaga_domains_leaf)
  return()  # the checker reads the domains' rows; built once the domains are
endif()

flashsaga_library(flashsaga_check
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/check.cc
  DEPS flashsaga_domains_leaf fmt::fmt)

find_package(CLI11 CONFIG QUIET)
set(_flashsaga_cli11 "")
if(TARGET CLI11::CLI11)
  set(_flashsaga_cli11 CLI11::CLI11)
endif()

flashsaga_library(flashsaga_inspector
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/inspector/decode.cc
    ${CMAKE_CURRENT_LIST_DIR}/inspector/output.cc
    ${CMAKE_CURRENT_LIST_DIR}/inspector/reading.cc
    ${CMAKE_CURRENT_LIST_DIR}/inspector/journal_commands.cc
    ${CMAKE_CURRENT_LIST_DIR}/inspector/trace.cc
    ${CMAKE_CURRENT_LIST_DIR}/inspector/commands.cc
  DEPS flashsaga_check ${_flashsaga_cli11} fmt::fmt)
