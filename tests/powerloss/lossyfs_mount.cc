#include "tests/powerloss/lossyfs_mount.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/powerloss/lossyfs.h"

#ifndef LOSSYFS_EXE
#define LOSSYFS_EXE ""
#endif

namespace flashsaga::lossyfs {
namespace {

constexpr std::int64_t mount_timeout_ns = 10'000'000'000;
constexpr std::int64_t exit_timeout_ns = 10'000'000'000;
constexpr auto poll_interval = std::chrono::milliseconds(2);

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string exe_or_default(const std::string& exe) {
  return exe.empty() ? std::string(LOSSYFS_EXE) : exe;
}

bool on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':'))
    if (!dir.empty() && ::access((dir + "/" + name).c_str(), X_OK) == 0) return true;
  return false;
}

std::filesystem::path control_path(const std::filesystem::path& mnt) {
  return mnt / std::string(control_file_name);
}

// Writes one command to the control file; false with errno's text.
bool control_command(const std::filesystem::path& mnt, const std::string& command,
                     std::string* error) {
  const int fd = ::open(control_path(mnt).c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = "cannot open " + control_path(mnt).string() + ": " + std::strerror(errno);
    return false;
  }
  const ssize_t n = ::write(fd, command.data(), command.size());
  const int saved = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(command.size())) {
    *error = "lossyfs refused '" + command + "': " + std::strerror(saved);
    return false;
  }
  return true;
}

bool is_mounted(const std::filesystem::path& mnt) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  std::string where(1, ' ');  // appended: " " + a temporary trips GCC 12's -Wrestrict at -O3
  where += std::filesystem::absolute(mnt).lexically_normal().string() + " ";
  for (int i = 0; i < 100'000 && std::getline(in, line); ++i)
    if (line.find(where) != std::string::npos && line.find("lossyfs") != std::string::npos)
      return true;
  return false;
}

// "" when lossyfs mounts and unmounts a scratch directory, else why not.
std::string trial_mount(const std::string& exe) {
  char tmpl[] = "/tmp/lossyfs-trial-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr)
    return std::string("no scratch directory: ") + std::strerror(errno);
  const std::filesystem::path dir = tmpl;
  std::filesystem::create_directories(dir / "backing");
  MountOptions o;
  o.backing = dir / "backing";
  o.mountpoint = dir / "mnt";
  o.exe = exe;
  std::unique_ptr<LossyMount> m;
  std::string error;
  const bool ok = LossyMount::mount(o, m, &error);
  m.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return ok ? "" : "FUSE cannot mount here: " + error;
}

}  // namespace

std::string LossyMount::unavailable_reason(const std::string& exe) {
  const std::string bin = exe_or_default(exe);
  if (bin.empty() || ::access(bin.c_str(), X_OK) != 0)
    return "lossyfs was not built (Debian libfuse3-dev was missing at configure time: "
           "tools/setup.sh)";
  if (::geteuid() != 0) return "power-loss tests mount a FUSE file system and need root";
  if (!on_path("fusermount3")) return "fusermount3 is missing (Debian package fuse3)";
  const int fd = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd < 0) return std::string("/dev/fuse is unusable: ") + std::strerror(errno);
  ::close(fd);
  // The proof: a mount (a container may refuse it even to root). Once per process.
  static const std::string trial = trial_mount(bin);
  return trial;
}

bool LossyMount::mount(const MountOptions& options, std::unique_ptr<LossyMount>& out,
                       std::string* error) {
  std::unique_ptr<LossyMount> m(new LossyMount(options));
  m->options_.exe = exe_or_default(options.exe);
  if (m->options_.log.empty()) m->options_.log = options.mountpoint.string() + ".log";
  std::error_code ec;
  std::filesystem::create_directories(options.mountpoint, ec);
  struct stat parent {};
  ::stat(options.mountpoint.c_str(), &parent);
  const std::string delay = std::to_string(options.fsync_delay_ms);
  m->pid_ = ::fork();
  if (m->pid_ == 0) {
    const int log =
        ::open(m->options_.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log >= 0) {
      ::dup2(log, STDOUT_FILENO);
      ::dup2(log, STDERR_FILENO);
    }
    ::execl(m->options_.exe.c_str(), "lossyfs", "--fsync-delay-ms", delay.c_str(),
            options.backing.c_str(), options.mountpoint.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Mounted once the control file answers on a device other than the mount point's parent's.
  const std::int64_t deadline = now_ns() + mount_timeout_ns;
  while (now_ns() < deadline) {
    struct stat st {};
    if (::stat(control_path(options.mountpoint).c_str(), &st) == 0 && st.st_dev != parent.st_dev) {
      struct stat root {};
      ::stat(options.mountpoint.c_str(), &root);
      m->dev_ = root.st_dev;
      out = std::move(m);
      return true;
    }
    int status = 0;
    if (::waitpid(m->pid_, &status, WNOHANG) == m->pid_) {
      m->pid_ = 0;
      *error = "lossyfs exited before mounting: " + m->log_text();
      return false;
    }
    std::this_thread::sleep_for(poll_interval);
  }
  *error = "lossyfs did not mount within 10 s: " + m->log_text();
  return false;  // the destructor stops it
}

LossyMount::~LossyMount() {
  unmount();
}

std::map<std::string, std::string> LossyMount::stats() const {
  std::map<std::string, std::string> out;
  std::ifstream in(control_path(options_.mountpoint));
  std::string key, value;
  for (int i = 0; i < 1000 && in >> key >> value; ++i) out[key] = value;
  return out;
}

std::uint64_t LossyMount::stat(const std::string& key) const {
  const auto s = stats();
  const auto it = s.find(key);
  return it == s.end() ? 0 : std::strtoull(it->second.c_str(), nullptr, 10);
}

bool LossyMount::set_fsync_delay(int ms, std::string* error) {
  return control_command(options_.mountpoint, "fsync-delay " + std::to_string(ms), error);
}

CutOutcome LossyMount::cut(double keep_fraction, std::uint64_t seed, std::string* error,
                           std::int64_t age_ms) {
  CutOutcome r;
  const std::int64_t start = now_ns();
  std::ostringstream command;
  command << "cut keep=" << keep_fraction << " seed=" << seed << " age=" << age_ms;
  if (!control_command(options_.mountpoint, command.str(), error)) return r;
  if (!wait_exit(exit_timeout_ns)) {
    *error = "lossyfs did not exit after the cut: " + log_text();
    force_unmount();
    return r;
  }
  if (is_mounted(options_.mountpoint)) force_unmount();
  r.duration_ns = now_ns() - start;
  // The daemon's last "lossyfs: cut ..." line.
  std::istringstream log(log_text());
  std::string line, last;
  for (int i = 0; i < 1'000'000 && std::getline(log, line); ++i)
    if (line.rfind("lossyfs: cut ", 0) == 0) last = line;
  unsigned long long dropped = 0, kept = 0, files = 0, aged = 0;
  if (std::sscanf(last.c_str(),
                  "lossyfs: cut pages_dropped=%llu pages_kept=%llu files=%llu aged=%llu", &dropped,
                  &kept, &files, &aged) != 4) {
    *error = "lossyfs did not report its cut: " + log_text();
    return r;
  }
  r.ok = true;
  r.pages_dropped = dropped;
  r.pages_kept = kept;
  r.files = files;
  r.pages_aged = aged;
  return r;
}

bool LossyMount::wait_exit(std::int64_t timeout_ns) {
  if (pid_ <= 0) return true;
  const std::int64_t deadline = now_ns() + timeout_ns;
  while (now_ns() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = 0;
      return true;
    }
    std::this_thread::sleep_for(poll_interval);
  }
  return false;
}

void LossyMount::force_unmount() {
  if (dev_ != 0) {
    // Aborting the connection fails every request at once, so nothing can hang on the mount.
    std::ofstream(("/sys/fs/fuse/connections/" + std::to_string(minor(dev_)) + "/abort").c_str())
        << "1";
  }
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    (void)wait_exit(exit_timeout_ns);
  }
  ::umount2(options_.mountpoint.c_str(), MNT_DETACH);
}

void LossyMount::unmount() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    if (!wait_exit(exit_timeout_ns)) force_unmount();
  }
  if (is_mounted(options_.mountpoint)) ::umount2(options_.mountpoint.c_str(), MNT_DETACH);
}

std::string LossyMount::log_text() const {
  std::ifstream in(options_.log);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

}  // namespace flashsaga::lossyfs
