// probe: whether an LMDB environment can be read without taking the reader down with it.
//
// A power loss can tear a page of an environment (a B-tree page half old, half new). LMDB
// reports some of that as MDB_CORRUPTED or MDB_INVALID, but on other torn pages it asserts
// (`mdb.c: Assertion 'IS_LEAF(mp)' failed in mdb_cursor_next()`) and aborts the process: a
// C assert, which no flag turns off and no handler can leave safely. So the risky read — a
// cursor walk over every table, the same page visits `check` and `journal verify` make — runs
// first in a forked child. The child opens the environment itself (nothing LMDB crosses
// fork), walks it, and exits; the parent reads the child's verdict from its exit status and
// its last words (LMDB's assertion text) from a pipe. Only an environment the child walked
// to the end is opened by the caller.
//
// Requires: a directory that holds (or should hold) an LMDB environment. May be called from a
//   process with threads (the child only opens, walks and exits).
// Guarantees: never aborts the caller. `sound` is false only when the walk failed: an LMDB
//   error while walking (the message names it), the child killed by a signal (LMDB's abort,
//   or a fault on a garbage page), or the walk overrunning probe_timeout_ns (killed). An
//   environment that cannot be opened at all is left to the caller's own open, which reports
//   why (missing, another layout version, MDB_INVALID).
//
// Example:
//   const EnvProbe p = probe_environment("data/order/journal");
//   if (!p.sound) fail("order journal (data/order/journal) is corrupt: " + p.problem);
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "journal/journal.h"

namespace flashsaga::tools {

inline constexpr std::int64_t probe_timeout_ns = 600'000'000'000;  // a walk of a huge environment

struct EnvProbe {
  bool sound = true;
  std::string problem;  // why not, in one line
};

EnvProbe probe_environment(const std::filesystem::path& dir);

// Whether an open or read failure is LMDB saying the environment is damaged (MDB_INVALID: no
// valid meta page; MDB_CORRUPTED, MDB_PAGE_NOTFOUND: a bad page), and if so LMDB's words for
// it; "" otherwise (missing, another layout version, busy, ...).
std::string environment_damage(const journal::Status& s);

}  // namespace flashsaga::tools
