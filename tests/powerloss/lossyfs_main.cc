// lossyfs: the FUSE glue and main() (contract in tests/powerloss/lossyfs.h). Every request on a
// path maps to the same path under the backing directory (openat and friends relative to one
// directory fd); file data goes through the Overlay.
#define FUSE_USE_VERSION 314

#include <dirent.h>
#include <fcntl.h>
#include <fuse.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/powerloss/lossyfs.h"
#include "tests/powerloss/lossyfs_overlay.h"

namespace flashsaga::lossyfs {
namespace {

// Requests served at once: every domain may sit in a slow fsync while others read and write.
constexpr unsigned loop_threads_max = 64;

struct Context {
  int backing_fd = -1;
  Overlay overlay;
  std::atomic<int> fsync_delay_ms{0};
};

// One open file: a backing fd, or the control file.
struct Handle {
  int fd = -1;
  ino_t ino = 0;
  bool durable = false;  // opened O_SYNC / O_DSYNC
  bool control = false;
};

Context& ctx() {
  return *static_cast<Context*>(fuse_get_context()->private_data);
}
Handle* handle(fuse_file_info* fi) {
  return reinterpret_cast<Handle*>(fi->fh);
}

// The backing path relative to the backing directory fd.
const char* rel(const char* path) {
  return (path[0] == '/' && path[1] == '\0') ? "." : path + 1;
}

bool is_control(const char* path) {
  return path != nullptr && path[0] == '/' && std::string_view(path + 1) == control_file_name;
}

int ok_or_errno(int rc) {
  return rc == 0 ? 0 : -errno;
}

std::string stats_text() {
  const OverlayStats s = ctx().overlay.stats();
  std::ostringstream out;
  out << "state " << (s.cut ? "cut" : "live") << "\nunsynced_pages " << s.unsynced_pages
      << "\nunsynced_files " << s.unsynced_files << "\nwrites " << s.writes << "\nwriteback_writes "
      << s.writeback_writes << "\ndurable_writes " << s.durable_writes << "\nwrite_bytes "
      << s.write_bytes << "\nsyncs " << s.syncs << "\nsynced_pages " << s.synced_pages
      << "\nfsync_delay_ms " << ctx().fsync_delay_ms.load() << "\npid " << ::getpid() << "\n";
  return out.str();
}

// "cut [keep=P] [seed=N] [age=MS]": the power cut, then a clean unmount and exit a moment later.
int command_cut(std::istringstream& in) {
  double keep = 0;
  std::uint64_t seed = 0;
  long long age_ms = 0;
  std::string arg;
  while (in >> arg) {
    char* end = nullptr;
    if (arg.rfind("keep=", 0) == 0) keep = std::strtod(arg.c_str() + 5, &end);
    if (arg.rfind("seed=", 0) == 0) seed = std::strtoull(arg.c_str() + 5, &end, 10);
    if (arg.rfind("age=", 0) == 0) age_ms = std::strtoll(arg.c_str() + 4, &end, 10);
    if (end == nullptr || *end != '\0' || keep < 0 || keep > 1 || age_ms < 0) return -EINVAL;
  }
  const CutReport r = ctx().overlay.cut(keep, seed, age_ms * 1'000'000);
  std::printf(
      "lossyfs: cut pages_dropped=%llu pages_kept=%llu files=%llu aged=%llu keep=%g seed=%llu\n",
      static_cast<unsigned long long>(r.pages_dropped),
      static_cast<unsigned long long>(r.pages_kept), static_cast<unsigned long long>(r.files),
      static_cast<unsigned long long>(r.pages_aged), r.keep_fraction,
      static_cast<unsigned long long>(r.seed));
  std::fflush(stdout);
  // libfuse's SIGTERM handler ends the loop; serve() unmounts.
  std::thread([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(cut_exit_delay_ms));
    ::kill(::getpid(), SIGTERM);
  }).detach();
  return 0;
}

int control_write(const char* buf, std::size_t size) {
  std::istringstream in(std::string(buf, size));
  std::string verb;
  in >> verb;
  if (verb == "cut") return command_cut(in);
  if (verb == "fsync-delay") {
    int ms = -1;
    if (!(in >> ms) || ms < 0 || ms > fsync_delay_ms_max) return -EINVAL;
    ctx().fsync_delay_ms.store(ms);
    return 0;
  }
  return -EINVAL;
}

int op_getattr(const char* path, struct stat* st, fuse_file_info* fi) {
  if (is_control(path) || (fi != nullptr && handle(fi)->control)) {
    *st = {};
    st->st_mode = S_IFREG | 0600;
    st->st_nlink = 1;
    st->st_uid = ::getuid();
    st->st_gid = ::getgid();
    return 0;
  }
  if (ctx().overlay.is_cut()) return -EIO;
  const int rc = fi != nullptr ? ::fstat(handle(fi)->fd, st)
                               : ::fstatat(ctx().backing_fd, rel(path), st, AT_SYMLINK_NOFOLLOW);
  if (rc != 0) return -errno;
  if (S_ISREG(st->st_mode)) {
    if (auto size = ctx().overlay.size(st->st_ino)) st->st_size = *size;
  }
  return 0;
}

int op_readlink(const char* path, char* buf, std::size_t size) {
  if (size == 0) return -EINVAL;
  const ssize_t n = ::readlinkat(ctx().backing_fd, rel(path), buf, size - 1);
  if (n < 0) return -errno;
  buf[n] = '\0';
  return 0;
}

int op_mknod(const char* path, mode_t mode, dev_t dev) {
  return ok_or_errno(::mknodat(ctx().backing_fd, rel(path), mode, dev));
}
int op_mkdir(const char* path, mode_t mode) {
  return ok_or_errno(::mkdirat(ctx().backing_fd, rel(path), mode));
}
int op_rmdir(const char* path) {
  return ok_or_errno(::unlinkat(ctx().backing_fd, rel(path), AT_REMOVEDIR));
}
int op_symlink(const char* target, const char* path) {
  return ok_or_errno(::symlinkat(target, ctx().backing_fd, rel(path)));
}
int op_link(const char* from, const char* to) {
  return ok_or_errno(::linkat(ctx().backing_fd, rel(from), ctx().backing_fd, rel(to), 0));
}

// A regular file whose last link is about to go: forget its unsynced pages.
void forget_if_last_link(const char* path) {
  struct stat st {};
  if (::fstatat(ctx().backing_fd, rel(path), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
      S_ISREG(st.st_mode) && st.st_nlink == 1)
    ctx().overlay.forget(st.st_ino);
}

int op_unlink(const char* path) {
  if (is_control(path)) return -EPERM;
  if (ctx().overlay.is_cut()) return -EIO;
  forget_if_last_link(path);
  return ok_or_errno(::unlinkat(ctx().backing_fd, rel(path), 0));
}

int op_rename(const char* from, const char* to, unsigned int flags) {
  if (is_control(from) || is_control(to)) return -EPERM;
  if (ctx().overlay.is_cut()) return -EIO;
  if ((flags & RENAME_EXCHANGE) == 0) forget_if_last_link(to);
  return ok_or_errno(::renameat2(ctx().backing_fd, rel(from), ctx().backing_fd, rel(to), flags));
}

int op_chmod(const char* path, mode_t mode, fuse_file_info* fi) {
  if (fi != nullptr) return ok_or_errno(::fchmod(handle(fi)->fd, mode));
  return ok_or_errno(::fchmodat(ctx().backing_fd, rel(path), mode, 0));
}

int op_chown(const char* path, uid_t uid, gid_t gid, fuse_file_info* fi) {
  if (fi != nullptr) return ok_or_errno(::fchown(handle(fi)->fd, uid, gid));
  return ok_or_errno(::fchownat(ctx().backing_fd, rel(path), uid, gid, AT_SYMLINK_NOFOLLOW));
}

int op_truncate(const char* path, off_t size, fuse_file_info* fi) {
  if (fi != nullptr && handle(fi)->control) return 0;
  int fd =
      fi != nullptr ? handle(fi)->fd : ::openat(ctx().backing_fd, rel(path), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  struct stat st {};
  int rc = ::fstat(fd, &st) == 0 ? ctx().overlay.truncate(fd, st.st_ino, size) : -errno;
  if (fi == nullptr) ::close(fd);
  return rc;
}

int op_utimens(const char* path, const struct timespec tv[2], fuse_file_info* fi) {
  if (fi != nullptr) return handle(fi)->control ? 0 : ok_or_errno(::futimens(handle(fi)->fd, tv));
  return ok_or_errno(::utimensat(ctx().backing_fd, rel(path), tv, AT_SYMLINK_NOFOLLOW));
}

// Opens (or creates) the backing file for `fi->flags`; O_TRUNC is the Overlay's (durable).
int open_backing(const char* path, fuse_file_info* fi, bool create, mode_t mode) {
  if (is_control(path)) {
    if (create) return -EEXIST;
    fi->fh = reinterpret_cast<std::uint64_t>(new Handle{-1, 0, false, true});
    fi->direct_io = 1;
    return 0;
  }
  if (ctx().overlay.is_cut()) return -EIO;
  const int flags = fi->flags;
  int backing = flags & ~(O_SYNC | O_DSYNC | O_APPEND | O_DIRECT | O_TRUNC | O_CREAT | O_NOCTTY);
  if ((backing & O_ACCMODE) == O_WRONLY)
    backing = (backing & ~O_ACCMODE) | O_RDWR;  // pages are read back
  if (create) backing |= O_CREAT;
  const int fd = ::openat(ctx().backing_fd, rel(path), backing | O_CLOEXEC, mode);
  if (fd < 0) return -errno;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = -errno;
    ::close(fd);
    return e;
  }
  if ((flags & O_TRUNC) != 0 && (flags & O_ACCMODE) != O_RDONLY) {
    if (const int e = ctx().overlay.truncate(fd, st.st_ino, 0); e < 0) {
      ::close(fd);
      return e;
    }
  }
  fi->fh = reinterpret_cast<std::uint64_t>(
      new Handle{fd, st.st_ino, (flags & (O_SYNC | O_DSYNC)) != 0, false});
  fi->keep_cache = 1;
  return 0;
}

int op_open(const char* path, fuse_file_info* fi) {
  return open_backing(path, fi, false, 0);
}
int op_create(const char* path, mode_t mode, fuse_file_info* fi) {
  return open_backing(path, fi, true, mode);
}

int op_read(const char* path, char* buf, std::size_t size, off_t off, fuse_file_info* fi) {
  (void)path;
  Handle* h = handle(fi);
  if (h->control) {
    const std::string text = stats_text();
    if (off >= static_cast<off_t>(text.size())) return 0;
    const std::size_t n = std::min(size, text.size() - static_cast<std::size_t>(off));
    std::memcpy(buf, text.data() + off, n);
    return static_cast<int>(n);
  }
  return static_cast<int>(ctx().overlay.read(h->fd, h->ino, buf, size, off));
}

int op_write(const char* path, const char* buf, std::size_t size, off_t off, fuse_file_info* fi) {
  (void)path;
  Handle* h = handle(fi);
  if (h->control) {
    const int rc = control_write(buf, size);
    return rc < 0 ? rc : static_cast<int>(size);
  }
  const bool writeback = fi->writepage != 0;
  return static_cast<int>(
      ctx().overlay.write(h->fd, h->ino, buf, size, off, h->durable && !writeback, writeback));
}

int op_statfs(const char* path, struct statvfs* st) {
  (void)path;
  return ok_or_errno(::fstatvfs(ctx().backing_fd, st));
}

int op_flush(const char*, fuse_file_info*) {
  return 0;
}  // close(2) promises nothing durable

int op_release(const char*, fuse_file_info* fi) {
  Handle* h = handle(fi);
  if (h->fd >= 0) ::close(h->fd);
  delete h;
  return 0;
}

int op_fsync(const char*, int, fuse_file_info* fi) {
  Handle* h = handle(fi);
  if (h->control) return 0;
  if (const int ms = ctx().fsync_delay_ms.load(); ms > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ctx().overlay.sync(h->ino);
}

int op_opendir(const char* path, fuse_file_info* fi) {
  if (ctx().overlay.is_cut()) return -EIO;
  const int fd = ::openat(ctx().backing_fd, rel(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    const int e = -errno;
    ::close(fd);
    return e;
  }
  fi->fh = reinterpret_cast<std::uint64_t>(dir);
  return 0;
}

// The whole listing in one call (offsets 0): libfuse buffers it.
int op_readdir(const char*, void* buf, fuse_fill_dir_t fill, off_t, fuse_file_info* fi,
               fuse_readdir_flags) {
  DIR* dir = reinterpret_cast<DIR*>(fi->fh);
  ::rewinddir(dir);
  constexpr int entries_max = 1 << 20;
  for (int i = 0; i < entries_max; ++i) {
    errno = 0;
    const dirent* e = ::readdir(dir);
    if (e == nullptr) return -errno;
    struct stat st {};
    st.st_ino = e->d_ino;
    st.st_mode = static_cast<mode_t>(DTTOIF(e->d_type));
    if (fill(buf, e->d_name, &st, 0, static_cast<fuse_fill_dir_flags>(0)) != 0) return 0;
  }
  return -EOVERFLOW;
}

int op_releasedir(const char*, fuse_file_info* fi) {
  ::closedir(reinterpret_cast<DIR*>(fi->fh));
  return 0;
}

int op_fsyncdir(const char*, int, fuse_file_info*) {
  return 0;
}  // metadata is durable at once

int op_access(const char* path, int mask) {
  if (is_control(path)) return 0;
  return ok_or_errno(::faccessat(ctx().backing_fd, rel(path), mask, 0));
}

int op_fallocate(const char*, int mode, off_t off, off_t len, fuse_file_info* fi) {
  Handle* h = handle(fi);
  if (h->control) return -EOPNOTSUPP;
  return ctx().overlay.fallocate(h->fd, h->ino, mode, off, len);
}

void* op_init(fuse_conn_info* conn, fuse_config* cfg) {
  conn->want &= ~static_cast<unsigned>(FUSE_CAP_WRITEBACK_CACHE);  // every write(2) reaches us
  cfg->use_ino = 1;
  cfg->nullpath_ok = 1;
  cfg->hard_remove = 1;
  cfg->direct_io = 0;  // shared writable mappings need the page cache
  cfg->kernel_cache = 0;
  cfg->auto_cache = 0;
  cfg->negative_timeout = 0;
  return fuse_get_context()->private_data;
}

fuse_operations make_operations() {
  fuse_operations ops{};
  ops.init = op_init;
  ops.getattr = op_getattr;
  ops.readlink = op_readlink;
  ops.mknod = op_mknod;
  ops.mkdir = op_mkdir;
  ops.unlink = op_unlink;
  ops.rmdir = op_rmdir;
  ops.symlink = op_symlink;
  ops.rename = op_rename;
  ops.link = op_link;
  ops.chmod = op_chmod;
  ops.chown = op_chown;
  ops.truncate = op_truncate;
  ops.open = op_open;
  ops.read = op_read;
  ops.write = op_write;
  ops.statfs = op_statfs;
  ops.flush = op_flush;
  ops.release = op_release;
  ops.fsync = op_fsync;
  ops.opendir = op_opendir;
  ops.readdir = op_readdir;
  ops.releasedir = op_releasedir;
  ops.fsyncdir = op_fsyncdir;
  ops.access = op_access;
  ops.create = op_create;
  ops.utimens = op_utimens;
  ops.fallocate = op_fallocate;
  return ops;
}

int usage() {
  std::fprintf(stderr,
               "usage: lossyfs [--fsync-delay-ms N] [--debug] BACKING_DIR MOUNTPOINT\n"
               "(see tests/powerloss/lossyfs.h)\n");
  return 2;
}

// Mounts, serves until unmounted or signalled (SIGTERM after a cut), unmounts. 0 on a clean exit.
int serve(Context& context, const std::string& mountpoint, bool debug) {
  std::vector<std::string> args = {"lossyfs", "-o", "fsname=lossyfs,subtype=lossyfs"};
  if (debug) args.push_back("-d");
  std::vector<char*> cargs;
  for (std::string& a : args) cargs.push_back(a.data());
  fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(cargs.size()), cargs.data());
  const fuse_operations ops = make_operations();
  fuse* f = fuse_new(&fargs, &ops, sizeof ops, &context);
  if (f == nullptr) return 1;
  int rc = 1;
  if (fuse_mount(f, mountpoint.c_str()) == 0) {
    if (fuse_set_signal_handlers(fuse_get_session(f)) == 0) {
      fuse_loop_config* loop = fuse_loop_cfg_create();
      fuse_loop_cfg_set_max_threads(loop, loop_threads_max);
      std::printf("lossyfs: mounted at %s (pid %d)\n", mountpoint.c_str(), ::getpid());
      std::fflush(stdout);
      rc = fuse_loop_mt(f, loop);
      fuse_loop_cfg_destroy(loop);
      fuse_remove_signal_handlers(fuse_get_session(f));
      if (rc == SIGTERM || rc == SIGINT || rc == SIGHUP) rc = 0;  // the loop ends on a signal
    }
    fuse_unmount(f);
  }
  fuse_destroy(f);
  fuse_opt_free_args(&fargs);
  return rc;
}

}  // namespace
}  // namespace flashsaga::lossyfs

int main(int argc, char** argv) {
  using namespace flashsaga::lossyfs;
  static Context context;  // outlives every FUSE thread
  std::vector<std::string> positional;
  bool debug = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--fsync-delay-ms" && i + 1 < argc) {
      const int ms = std::atoi(argv[++i]);
      if (ms < 0 || ms > fsync_delay_ms_max) return usage();
      context.fsync_delay_ms.store(ms);
    } else if (a == "--debug") {
      debug = true;
    } else if (!a.empty() && a[0] == '-') {
      return usage();
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() != 2) return usage();
  context.backing_fd = ::open(positional[0].c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (context.backing_fd < 0) {
    std::fprintf(stderr, "lossyfs: cannot open backing directory %s: %s\n", positional[0].c_str(),
                 std::strerror(errno));
    return 1;
  }
  const int rc = serve(context, positional[1], debug);
  std::printf("lossyfs: exiting (%d)\n", rc);
  std::fflush(stdout);
  return rc;
}
