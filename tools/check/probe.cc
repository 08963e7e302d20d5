#include "tools/check/probe.h"

#include <fcntl.h>
#include <lmdb.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "engine/base/clock.h"

namespace flashsaga::tools {
namespace {

constexpr int exit_walk_failed = 3;
constexpr unsigned probe_tables_max = 64;
constexpr std::size_t last_words_max_bytes = 4096;
constexpr std::size_t table_name_max_bytes = 511;  // LMDB's key limit
// Every table of an environment holds fewer entries than this; the bound only stops a loop
// that a corrupt page might start.
constexpr std::uint64_t walk_entries_max = std::uint64_t{1} << 40;

void say(int fd, const char* what, int rc) {
  char line[512];
  const int n = std::snprintf(line, sizeof line, "%s: %s", what, mdb_strerror(rc));
  if (n > 0) (void)!::write(fd, line, static_cast<std::size_t>(n));
}

// Visits every entry of one table (keys and values), as a reader's scan does.
int walk_table(MDB_txn* txn, MDB_dbi dbi) {
  MDB_cursor* cursor = nullptr;
  int rc = mdb_cursor_open(txn, dbi, &cursor);
  if (rc != MDB_SUCCESS) return rc;
  MDB_val k{}, v{};
  rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST);
  for (std::uint64_t n = 0; rc == MDB_SUCCESS && n < walk_entries_max; ++n)
    rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
  mdb_cursor_close(cursor);
  return rc == MDB_NOTFOUND ? MDB_SUCCESS : rc;
}

// The child: open read-only, walk the main table (the names of the others), then each table.
[[noreturn]] void child_walk(const std::filesystem::path& dir, int out_fd) {
  ::dup2(out_fd, STDERR_FILENO);  // LMDB's assertion text goes to stderr, then it aborts
  const rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  MDB_env* env = nullptr;
  if (mdb_env_create(&env) != MDB_SUCCESS) ::_exit(0);
  mdb_env_set_maxdbs(env, probe_tables_max);
  // An environment that cannot be opened is the caller's to report (its open says why).
  if (mdb_env_open(env, dir.c_str(), MDB_RDONLY | MDB_NOTLS, 0600) != MDB_SUCCESS) ::_exit(0);
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn);
  if (rc != MDB_SUCCESS) ::_exit(0);
  MDB_dbi main = 0;
  MDB_cursor* names = nullptr;
  rc = mdb_dbi_open(txn, nullptr, 0, &main);
  if (rc == MDB_SUCCESS) rc = mdb_cursor_open(txn, main, &names);
  if (rc != MDB_SUCCESS) {
    say(out_fd, "open the table of tables", rc);
    ::_exit(exit_walk_failed);
  }
  MDB_val k{}, v{};
  rc = mdb_cursor_get(names, &k, &v, MDB_FIRST);
  for (unsigned n = 0; rc == MDB_SUCCESS && n < probe_tables_max; ++n) {
    char name[table_name_max_bytes + 1] = {};
    std::memcpy(name, k.mv_data, std::min(k.mv_size, table_name_max_bytes));
    MDB_dbi dbi = 0;
    // A key of the main table that is not a table (MDB_INCOMPATIBLE) holds nothing to walk.
    if (mdb_dbi_open(txn, name, 0, &dbi) == MDB_SUCCESS) {
      if (const int walked = walk_table(txn, dbi); walked != MDB_SUCCESS) {
        say(out_fd, (std::string("walk table ") + name).c_str(), walked);
        ::_exit(exit_walk_failed);
      }
    }
    rc = mdb_cursor_get(names, &k, &v, MDB_NEXT);
  }
  if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) {
    say(out_fd, "walk the table of tables", rc);
    ::_exit(exit_walk_failed);
  }
  ::_exit(0);
}

std::string drain(int fd) {
  std::string text;
  char buf[512];
  for (std::size_t total = 0; total < last_words_max_bytes;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    total += static_cast<std::size_t>(n);
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  for (char& c : text)
    if (c == '\n') c = ' ';
  return text;
}

enum class Ended : std::uint8_t { exited, timed_out, lost };

// Waits for the child, bounded: sleeping in short, growing steps (no spin). `lost`: the child's
// status cannot be had (SIGCHLD ignored by the caller: the child was reaped by the kernel).
Ended wait_bounded(pid_t child, int* status) {
  const std::int64_t deadline = mono_now_ns() + probe_timeout_ns;
  std::int64_t sleep_us = 100;
  for (;;) {
    const pid_t r = ::waitpid(child, status, WNOHANG);
    if (r == child) return Ended::exited;
    if (r < 0 && errno != EINTR) return Ended::lost;
    if (mono_now_ns() > deadline) {
      ::kill(child, SIGKILL);
      ::waitpid(child, status, 0);
      return Ended::timed_out;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(sleep_us));
    sleep_us = std::min<std::int64_t>(sleep_us * 2, 20'000);
  }
}

std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev != nullptr ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

}  // namespace

std::string environment_damage(const journal::Status& s) {
  const int rc = s.lmdb_rc();
  if (rc != MDB_INVALID && rc != MDB_CORRUPTED && rc != MDB_PAGE_NOTFOUND) return {};
  return std::string("LMDB: ") + mdb_strerror(rc);
}

EnvProbe probe_environment(const std::filesystem::path& dir) {
  struct stat st {};
  if (::stat((dir / "data.mdb").c_str(), &st) != 0)
    return {};  // nothing to walk: the open says why
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return {false, std::string("cannot probe: pipe: ") + std::strerror(errno)};
  const pid_t child = ::fork();
  if (child < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return {false, std::string("cannot probe: fork: ") + std::strerror(errno)};
  }
  if (child == 0) {
    ::close(fds[0]);
    child_walk(dir, fds[1]);
  }
  ::close(fds[1]);
  // Read without blocking once the child is gone: another fork of this process made meanwhile
  // may hold the pipe's write end open.
  ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
  int status = 0;
  const Ended ended = wait_bounded(child, &status);
  const std::string words = drain(fds[0]);
  ::close(fds[0]);
  if (ended == Ended::lost) return {};  // no verdict: the caller's own reads decide
  if (ended == Ended::timed_out)
    return {false, "reading it did not finish within the probe's time bound (a loop of pages?)"};
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  if (WIFEXITED(status)) return {false, "LMDB failed to read it (" + words + ")"};
  const int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  std::string what = "reading it killed the reader with " + signal_name(sig);
  if (!words.empty()) what += " (" + words + ")";
  return {false, what};
}

}  // namespace flashsaga::tools
