// A real deployment for end-to-end tests: `flashsaga run` as a child process in a fresh data
// directory, with a config the test writes, and a client-library connection to it.
#pragma once

#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine/client.h"
#include "engine/base/clock.h"
#include "engine/config.h"
#include "ipc/segment.h"

namespace flashsaga::testing {

class LiveDeployment {
 public:
  // `extra_toml` is appended to the config file (e.g. "[saga]\nstep_timeout_ms = 300\n").
  // tmpfs_mib > 0 puts the data directory on a tmpfs of that size (a disk that can fill up);
  // mounting needs root: see mount_error() when it could not be done.
  explicit LiveDeployment(const std::string& extra_toml = "", bool gateway = false,
                          const std::string& durability = "nosync", std::uint64_t tmpfs_mib = 0) {
    char tmpl[] = "/tmp/flashsaga-e2e-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    if (tmpfs_mib > 0) mount_tmpfs(dir_ / "data", tmpfs_mib);
    config_path_ = dir_ / "flashsaga.toml";
    std::ofstream(config_path_)
        << "[deployment]\ndata_dir = \"" << (dir_ / "data").string() << "\"\ndurability = \""
        << durability << "\"\n"
        << "[rings]\nsaga_capacity_slots = 4096\nport_capacity_slots = 1024\nports = 4\n"
        << "[stock]\nproducts_max = 4096\n"
        << (extra_toml.find("[journal]") == std::string::npos ? "[journal]\nmap_size_mib = 64\n"
                                                              : "")
        << extra_toml;
    reload_config();
    start(gateway);
  }

  // Reads the config file again (after a test edited it; takes effect at the next start()).
  void reload_config() {
    std::string error;
    if (!engine::load_config(config_path_, config_, &error)) {
      std::fprintf(stderr, "LiveDeployment: bad test config: %s\n", error.c_str());
      std::abort();
    }
  }

  ~LiveDeployment() {
    client_.reset();
    stop();
    if (mounted_) ::umount2((dir_ / "data").c_str(), MNT_DETACH);
    std::error_code ec;
    if (std::getenv("FLASHSAGA_KEEP_TEST_DATA") == nullptr) std::filesystem::remove_all(dir_, ec);
  }

  void start(bool gateway = false) {
    pid_ = ::fork();
    if (pid_ == 0) {
      std::string exe = FLASHSAGA_EXE;
      std::string cfg = config_path_.string();
      if (gateway)
        ::execl(exe.c_str(), exe.c_str(), "run", "--config", cfg.c_str(),
                static_cast<char*>(nullptr));
      else
        ::execl(exe.c_str(), exe.c_str(), "run", "--no-gateway", "--config", cfg.c_str(),
                static_cast<char*>(nullptr));
      ::_exit(127);
    }
    // Wait (bounded) until every domain is ready and intake is open.
    const std::int64_t deadline = mono_now_ns() + 30'000'000'000;
    std::string error;
    while (mono_now_ns() < deadline) {
      if (!client_) (void)engine::Client::connect(config_, client_, &error);
      if (client_ && ready()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::fprintf(stderr, "LiveDeployment: not ready after 30 s: %s\n", error.c_str());
    std::abort();
  }

  bool ready() {
    ipc::Deployment& d = client_->deployment();
    for (std::uint8_t i = 1; i <= domain_count; ++i)
      if (d.status(static_cast<ipc::Domain>(i)).state.load() !=
          static_cast<std::uint32_t>(ipc::DomainState::ready))
        return false;
    return d.control().intake_open.load() == 1;
  }

  // Graceful stop (SIGTERM); returns the supervisor's exit status.
  int stop() {
    if (pid_ <= 0) return -1;
    client_.reset();
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = 0;
    return status;
  }

  // Every process dies at once (the supervisor by SIGKILL, its children by PR_SET_PDEATHSIG)
  // and the shared-memory segment is removed: what a power loss leaves, less the page cache.
  // Safe to call from another thread than the one using client(): it only kills processes.
  // Call forget_crashed() from the client's thread afterwards, then start().
  void kill_everything() {
    if (pid_ <= 0) return;
    std::vector<std::uint32_t> children;
    for (std::uint8_t d = 1; d <= domain_count; ++d)
      children.push_back(client_->deployment().status(static_cast<ipc::Domain>(d)).pid.load());
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = 0;
    // Children notice their parent's death asynchronously: wait (bounded) until none is left.
    for (std::uint32_t child : children)
      for (int i = 0; i < 5000 && ipc::process_alive(child, ipc::process_start_ticks(child)); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  // After kill_everything(): drop the client attached to the dead deployment and, for a power
  // loss, the segment (without: a supervisor killed alone, whose successor finds its segment).
  void forget_crashed(bool remove_segment = true) {
    client_.reset();
    if (remove_segment) ipc::Segment::remove(config_.data_dir);
  }

  // The pid of this deployment's process with the given role ("gateway", or a domain name), by
  // reading /proc (not pgrep, whose own command line would match); 0 if none.
  pid_t find_process(const std::string& role) const {
    const std::string data = config_.data_dir.string();
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
      const std::string name = entry.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::ifstream in(entry.path() / "cmdline");
      std::string cmdline((std::istreambuf_iterator<char>(in)), {});
      std::vector<std::string> args;
      std::string arg;
      for (char ch : cmdline) {
        if (ch == '\0') {
          args.push_back(arg);
          arg.clear();
        } else {
          arg += ch;
        }
      }
      bool role_found = false, data_found = false;
      for (std::size_t i = 0; i + 1 < args.size(); ++i) {
        role_found = role_found || args[i] == role;
        data_found = data_found || (args[i] == "--data" && args[i + 1] == data);
      }
      if (role_found && data_found) return static_cast<pid_t>(std::stol(name));
    }
    return 0;
  }

  // Empty if the tmpfs asked for was mounted (or none was asked for).
  const std::string& mount_error() const { return mount_error_; }
  // Whether the supervisor is still running (it exits on its own only after a fatal error).
  bool supervisor_alive() {
    if (pid_ <= 0) return false;
    int status = 0;
    return ::waitpid(pid_, &status, WNOHANG) == 0;
  }

  engine::Client& client() { return *client_; }
  const engine::Config& config() const { return config_; }
  const std::filesystem::path& dir() const { return dir_; }
  pid_t supervisor_pid() const { return pid_; }

 private:
  void mount_tmpfs(const std::filesystem::path& where, std::uint64_t mib) {
    std::error_code ec;
    std::filesystem::create_directories(where, ec);
    const std::string opts = "size=" + std::to_string(mib) + "m,mode=0700";
    if (::mount("tmpfs", where.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, opts.c_str()) != 0) {
      mount_error_ = std::string("cannot mount a tmpfs (needs root): ") + std::strerror(errno);
      return;
    }
    mounted_ = true;
  }

  std::filesystem::path dir_;
  bool mounted_ = false;
  std::string mount_error_;
  std::filesystem::path config_path_;
  engine::Config config_;
  pid_t pid_ = 0;
  std::unique_ptr<engine::Client> client_;
};

}  // namespace flashsaga::testing
