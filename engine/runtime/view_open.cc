#include "engine/runtime/view_open.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string_view>

#include "domains/rows.h"
#include "engine/base/clock.h"

namespace flashsaga::runtime {
namespace {

constexpr std::string_view lifetime_key = "view_lifetime";

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

journal::Status set_aside(const journal::Options& options) {
  std::error_code ec;
  const std::filesystem::path aside = options.dir.string() + ".untrusted";
  std::filesystem::remove_all(aside, ec);
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

journal::Status open_view(const journal::Options& options, std::int64_t segment_id,
                          std::unique_ptr<journal::Env>& out, bool* rebuilt, std::string* why) {
  *rebuilt = false;
  const std::uint64_t boot = current_boot_id();
  ViewLifetime known{};
  journal::Status s;
  if (read_sidecar(options, known) && known.clean != 1 &&
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
    if (journal::Status a = set_aside(options); !a.ok()) return a;
    if (s = journal::Env::open(options, out); !s.ok()) return s;
    *rebuilt = true;
  }
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
