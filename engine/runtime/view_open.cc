#include "engine/runtime/view_open.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string_view>

#include "domains/rows.h"
#include "engine/base/clock.h"

namespace flashsaga::runtime {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view lifetime_key = "view_lifetime";
constexpr auto orphan_age_min = std::chrono::minutes(1);  // younger ones may be being created
constexpr std::size_t deployment_entries_max = 64;        // per domain: its view and its aside
constexpr std::uint64_t view_memory_free_min_bytes = std::uint64_t{256} << 20;

journal::Status io_status(const std::error_code& ec, const std::string& what) {
  return journal::Status(journal::ErrorCode::io, ec.value(), what + ": " + ec.message());
}

// Creates the root of the views in memory as a shared, sticky directory (like /tmp): several
// users' deployments may keep views there, each in its own 0700 directory.
void make_memory_root(const fs::path& root) {
  std::error_code ec;
  if (fs::exists(root, ec)) return;
  if (fs::create_directories(root, ec))
    fs::permissions(root, fs::perms::all | fs::perms::sticky_bit, ec);
}

// The deployment's directory in memory names its data directory, for
// remove_orphan_memory_views(); written once, after the link exists.
void write_owner(const fs::path& memory_dir, const fs::path& link) {
  const fs::path owner = memory_dir.parent_path() / "owner";
  std::error_code ec;
  if (fs::exists(owner, ec)) return;
  std::ofstream out(owner, std::ios::trunc);
  out << fs::absolute(link).parent_path().parent_path().string() << '\n';
}

// Views in memory: makes options.dir a link to memory_dir, creating memory_dir (*fresh: it had
// to be, for a new deployment or after a reboot emptied the memory). A view on disk found there
// (a run with views = "disk") is set aside as view.untrusted; a link elsewhere is replaced.
// Views on disk: a link a run with views in memory left is removed (the view is rebuilt on
// disk, from the journal).
journal::Status place_view(const fs::path& link, const fs::path& memory_dir, bool* fresh) {
  std::error_code ec;
  *fresh = false;
  if (memory_dir.empty()) {
    if (fs::is_symlink(link, ec)) fs::remove(link, ec);
    return {};
  }
  if (fs::is_symlink(link, ec)) {
    if (fs::read_symlink(link, ec) != memory_dir) fs::remove(link, ec);
  } else if (fs::exists(link, ec)) {
    const fs::path aside = link.string() + ".untrusted";
    fs::remove_all(aside, ec);
    fs::rename(link, aside, ec);
    if (ec) return io_status(ec, "cannot move the view on disk " + link.string() + " aside");
  }
  if (!fs::exists(memory_dir, ec)) {
    make_memory_root(memory_dir.parent_path().parent_path());
    fs::create_directories(memory_dir, ec);
    if (ec)
      return io_status(ec, "cannot create the view's directory in memory " + memory_dir.string() +
                               " (deployment.views = \"disk\" keeps the views on disk)");
    fs::permissions(memory_dir.parent_path(), fs::perms::owner_all, ec);
    *fresh = true;
  }
  if (!fs::is_symlink(link, ec)) {
    fs::create_directory_symlink(memory_dir, link, ec);
    if (ec) return io_status(ec, "cannot link " + link.string() + " to " + memory_dir.string());
  }
  write_owner(memory_dir, link);
  return {};
}

// A view goes to memory if it is there already, or if the memory file system has
// view_memory_free_min_bytes free; else it stays on disk, and *note says why.
bool room_in_memory(const fs::path& memory_dir, std::string* note) {
  if (memory_dir.empty()) return false;
  std::error_code ec;
  if (fs::exists(memory_dir, ec)) return true;
  fs::path probe = memory_dir;
  for (int up = 0; up < 8 && !probe.empty() && !fs::exists(probe, ec); ++up)
    probe = probe.parent_path();
  struct statvfs st {};
  if (::statvfs(probe.c_str(), &st) != 0) {
    *note = "the view stays on disk: " + probe.string() + " cannot be read (" +
            std::strerror(errno) + ")";
    return false;
  }
  const std::uint64_t free_bytes = static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
  if (free_bytes >= view_memory_free_min_bytes) return true;
  *note = "the view stays on disk: " + probe.string() + " has " + std::to_string(free_bytes >> 20) +
          " MiB free, less than the " + std::to_string(view_memory_free_min_bytes >> 20) +
          " MiB a view in memory is given room for";
  return false;
}

// Whether one of the views in the deployment directory d is still what its data directory's
// <domain>/view link points at.
bool still_linked(const fs::path& d) {
  std::ifstream in(d / "owner");
  std::string data;
  if (!std::getline(in, data) || data.empty()) return false;
  std::error_code ec;
  std::size_t n = 0;
  for (fs::directory_iterator it(d, ec), end; !ec && it != end && n < deployment_entries_max;
       it.increment(ec), ++n) {
    const fs::path link = fs::path(data) / it->path().filename() / "view";
    std::error_code e;
    if (fs::is_symlink(link, e) && fs::read_symlink(link, e) == it->path()) return true;
  }
  return false;
}

journal::Status write_lifetime(journal::Env& view, const ViewLifetime& lifetime) {
  journal::WriteTxn txn;
  journal::Status s = view.begin_write(txn);
  if (!s.ok()) return s;
  s = txn.put_as(view.table(domains::view_counters_table_name), journal::as_bytes(lifetime_key),
                 lifetime);
  if (!s.ok()) return s;
  if (s = txn.commit(); !s.ok()) return s;
  return view.sync();
}

// Whether the view that opened can be trusted; sets *why when not.
bool trusted(journal::Env& view, std::int64_t segment_id, std::uint64_t boot, std::string* why) {
  journal::ReadTxn txn;
  if (!view.begin_read(txn).ok()) {
    *why = "it cannot be read";
    return false;
  }
  ViewLifetime lt{};
  journal::Status s = txn.get_as(view.table(domains::view_counters_table_name),
                                 journal::as_bytes(lifetime_key), lt);
  if (s.code() == journal::ErrorCode::not_found) {
    // A view that never recorded a lifetime is either new (empty: nothing to lose) or foreign.
    journal::Bytes k, v;
    const bool empty = txn.last(view.table(domains::view_counters_table_name), k, v).code() ==
                       journal::ErrorCode::not_found;
    if (!empty) *why = "it records no lifetime";
    return empty;
  }
  if (!s.ok()) {
    *why = "its lifetime row cannot be read: " + s.message();
    return false;
  }
  if (lt.clean == 1) return true;
  if (lt.segment_id == segment_id && lt.boot_id == boot) return true;
  *why =
      lt.boot_id != boot
          ? "the machine restarted since it was written (a power loss, or a reboot without a clean stop)"
          : "the deployment's shared memory is new and the view was not closed cleanly (a power loss may have taken writes it had)";
  return false;
}

// The lifetime is also kept in a small file beside the view (<dir>.lifetime, written and synced
// with it), read before LMDB opens the view: a view whose lifetime is over is set aside
// without ever being opened, since reading a torn view can make LMDB assert and abort.
std::filesystem::path sidecar(const journal::Options& options) {
  return options.dir.string() + ".lifetime";
}

bool read_sidecar(const journal::Options& options, ViewLifetime& out) {
  std::ifstream in(sidecar(options), std::ios::binary);
  return static_cast<bool>(in.read(reinterpret_cast<char*>(&out), sizeof out)) &&
         in.gcount() == sizeof out;
}

journal::Status write_sidecar(const journal::Options& options, const ViewLifetime& lt) {
  const std::string path = sidecar(options).string();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  bool ok = fd >= 0 && ::write(fd, &lt, sizeof lt) == static_cast<ssize_t>(sizeof lt) &&
            ::fdatasync(fd) == 0;
  if (fd >= 0) ok = ::close(fd) == 0 && ok;
  if (!ok)
    return journal::Status(journal::ErrorCode::io, errno,
                           "cannot write " + path + ": " + std::strerror(errno));
  return {};
}

// Moves the view aside (<dir>.untrusted; in memory, its directory to <memory_dir>.untrusted,
// linked from there) and leaves an empty place for a new one.
journal::Status set_aside(const journal::Options& options, const fs::path& memory_dir) {
  std::error_code ec;
  const std::filesystem::path aside = options.dir.string() + ".untrusted";
  std::filesystem::remove_all(aside, ec);  // a link: only the link
  if (!memory_dir.empty() && fs::is_symlink(options.dir, ec)) {
    const fs::path kept = memory_dir.string() + ".untrusted";
    fs::remove_all(kept, ec);
    fs::rename(memory_dir, kept, ec);
    if (ec && fs::exists(memory_dir))
      return io_status(ec, "cannot move the view " + memory_dir.string() + " aside");
    fs::create_directory_symlink(kept, aside, ec);
    bool fresh = false;
    return place_view(options.dir, memory_dir, &fresh);
  }
  std::filesystem::rename(options.dir, aside, ec);
  if (ec && std::filesystem::exists(options.dir)) {
    return journal::Status(
        journal::ErrorCode::io, ec.value(),
        "cannot move the view " + options.dir.string() + " aside: " + ec.message());
  }
  return {};
}

}  // namespace

std::uint64_t current_boot_id() noexcept {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  if (!(in >> id)) return 0;
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : id) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::size_t remove_orphan_memory_views(const std::filesystem::path& root) {
  std::error_code ec;
  std::size_t removed = 0, seen = 0;
  const auto now = fs::file_time_type::clock::now();
  for (fs::directory_iterator it(root, ec), end; !ec && it != end && seen < memory_views_scan_max;
       it.increment(ec), ++seen) {
    std::error_code e;
    const fs::path d = it->path();
    if (it->is_symlink(e) || !it->is_directory(e)) continue;
    const auto written = fs::last_write_time(d, e);
    if (e || now - written < orphan_age_min || still_linked(d)) continue;
    fs::remove_all(d, e);
    removed += e ? 0 : 1;
  }
  return removed;
}

journal::Status open_view(const journal::Options& options,
                          const std::filesystem::path& wanted_memory_dir, std::int64_t segment_id,
                          std::unique_ptr<journal::Env>& out, bool* rebuilt, std::string* why) {
  *rebuilt = false;
  std::string note;
  const fs::path memory_dir =
      room_in_memory(wanted_memory_dir, &note) ? wanted_memory_dir : fs::path();
  bool fresh = false;
  if (journal::Status p = place_view(options.dir, memory_dir, &fresh); !p.ok()) return p;
  const std::uint64_t boot = current_boot_id();
  ViewLifetime known{};
  const bool had_lifetime = read_sidecar(options, known);
  journal::Status s;
  if (had_lifetime && known.clean != 1 &&
      (known.segment_id != segment_id || known.boot_id != boot)) {
    *why = "its lifetime (" + sidecar(options).string() + ") is over and it was not closed cleanly";
    s = journal::Status(journal::ErrorCode::corrupt, 0, *why);  // set aside unopened
  } else {
    s = journal::Env::open(options, out);
  }
  if (s.ok() && !trusted(*out, segment_id, boot, why))
    s = journal::Status(journal::ErrorCode::corrupt, 0, *why);
  if (!s.ok()) {
    if (s.code() != journal::ErrorCode::corrupt && s.code() != journal::ErrorCode::version_mismatch)
      return s;
    if (why->empty()) *why = s.message();
    out.reset();
    if (journal::Status a = set_aside(options, memory_dir); !a.ok()) return a;
    if (s = journal::Env::open(options, out); !s.ok()) return s;
    *rebuilt = true;
  } else if (fresh && had_lifetime) {
    *rebuilt = true;
    *why =
        "it was kept in memory (" + memory_dir.string() + "), which was emptied since (a reboot)";
  }
  if (!*rebuilt) *why = note;
  const ViewLifetime now{segment_id, boot, 0, {}};
  if (journal::Status w = write_lifetime(*out, now); !w.ok()) return w;
  return write_sidecar(options, now);
}

journal::Status close_view_clean(journal::Env& view, std::int64_t segment_id) {
  const ViewLifetime clean{segment_id, current_boot_id(), 1, {}};
  if (journal::Status s = write_lifetime(view, clean); !s.ok()) return s;
  return write_sidecar(view.options(), clean);
}

}  // namespace flashsaga::runtime
