#include "ipc/segment.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/interprocess/exceptions.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/permissions.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <cerrno>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <system_error>

#include "engine/base/assert.h"
#include "engine/base/clock.h"

namespace flashsaga::ipc {
namespace {

namespace bip = boost::interprocess;

// create() retries once after removing a stale segment; a second collision means another
// creator is racing us, which we report instead of looping.
constexpr int create_attempt_count_max = 2;
// /proc/<pid>/stat is one line; comm is at most 16 bytes, and 52 numeric fields fit easily.
constexpr std::size_t proc_stat_size_bytes_max = 1024;
constexpr int proc_stat_start_time_field = 22;

__attribute__((format(printf, 2, 3))) bool fail(std::string* error, const char* format, ...) {
  if (error != nullptr) {
    char text[512];
    va_list args;
    va_start(args, format);
    std::vsnprintf(text, sizeof(text), format, args);
    va_end(args);
    *error = text;
  }
  return false;
}

std::uint64_t fnv1a_64(const std::string& s) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

std::uint64_t round_up(std::uint64_t n, std::uint64_t to) noexcept {
  return (n + to - 1) / to * to;
}

struct ProcStat {
  bool exists = false;
  char state = '?';
  std::uint64_t start_ticks = 0;
};

// Reads state (field 3) and starttime (field 22) of /proc/<pid>/stat. comm (field 2) may hold
// spaces and parentheses, so fields are counted from the last ')'.
ProcStat read_proc_stat(std::uint32_t pid) {
  ProcStat out;
  if (pid == 0) return out;
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%" PRIu32 "/stat", pid);
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char text[proc_stat_size_bytes_max];
  const ssize_t n = ::read(fd, text, sizeof(text) - 1);
  ::close(fd);
  if (n <= 0) return out;
  text[n] = '\0';
  const char* p = std::strrchr(text, ')');
  if (p == nullptr) return out;
  ++p;
  int field = 2;
  for (int step = 0; step < proc_stat_start_time_field && *p != '\0'; ++step) {
    while (*p == ' ') ++p;
    ++field;
    const char* token = p;
    while (*p != ' ' && *p != '\0') ++p;
    if (field == 3) out.state = *token;
    if (field == proc_stat_start_time_field) {
      out.start_ticks = std::strtoull(token, nullptr, 10);
      out.exists = true;
      break;
    }
  }
  return out;
}

// Owner uid of /dev/shm/<name>, or -1 if it cannot be stat'ed.
long shm_owner_uid(const std::string& name) {
  struct stat st {};
  const std::string path = "/dev/shm/" + name;
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<long>(st.st_uid);
}

std::string permission_text(const std::string& name) {
  const long owner = shm_owner_uid(name);
  char text[160];
  if (owner >= 0 && owner != static_cast<long>(::geteuid()))
    std::snprintf(text, sizeof(text),
                  "permission denied: it belongs to uid %ld and this "
                  "process runs as uid %ld (another user's deployment?)",
                  owner, static_cast<long>(::geteuid()));
  else
    std::snprintf(text, sizeof(text), "permission denied (mode or ownership of /dev/shm/%s)",
                  name.c_str());
  return text;
}

// What an existing segment's header says about its creator.
enum class Existing : std::uint8_t {
  alive = 0,         // creator process is running: the segment is in use
  dead = 1,          // readable header, creator gone (or its pid reused by another process)
  garbage = 2,       // too small or bad magic: not a (finished) flashsaga segment
  inaccessible = 3,  // cannot open it (permission)
  vanished = 4,      // gone between our create attempt and this look
};

struct ExistingInfo {
  Existing kind = Existing::garbage;
  std::uint32_t pid = 0;
  std::uint32_t magic = 0;
  std::uint16_t layout_version = 0;
  std::string detail;
};

ExistingInfo inspect_existing(const std::string& name) {
  ExistingInfo info;
  try {
    bip::shared_memory_object shm(bip::open_only, name.c_str(), bip::read_only);
    bip::offset_t size = 0;
    if (!shm.get_size(size) || size < static_cast<bip::offset_t>(sizeof(SegmentHeader))) {
      info.kind = Existing::garbage;
      info.detail = "too small to hold a header";
      return info;
    }
    bip::mapped_region region(shm, bip::read_only, 0, sizeof(SegmentHeader));
    auto* mapped = static_cast<SegmentHeader*>(region.get_address());
    const std::uint32_t magic =
        std::atomic_ref<std::uint32_t>(mapped->magic).load(std::memory_order_acquire);
    SegmentHeader header;
    std::memcpy(&header, mapped, sizeof(header));
    header.magic = magic;
    info.magic = header.magic;
    info.layout_version = header.layout_version;
    info.pid = header.creator_pid;
    if (header.magic != segment_magic) {
      char text[64];
      std::snprintf(text, sizeof(text), "bad magic 0x%08" PRIx32, header.magic);
      info.detail = text;
      info.kind = Existing::garbage;
      return info;
    }
    info.kind = process_alive(header.creator_pid, header.creator_start_ticks) ? Existing::alive
                                                                              : Existing::dead;
    return info;
  } catch (const bip::interprocess_exception& e) {
    if (e.get_error_code() == bip::not_found_error) {
      info.kind = Existing::vanished;
    } else if (e.get_native_error() == EACCES || e.get_native_error() == EPERM) {
      info.kind = Existing::inaccessible;
      info.detail = permission_text(name);
    } else {
      info.kind = Existing::garbage;
      info.detail = e.what();
    }
    return info;
  }
}

}  // namespace

std::string Segment::name_for(const std::filesystem::path& data_dir) {
  std::error_code ec;
  std::filesystem::path absolute = std::filesystem::absolute(data_dir, ec);
  if (ec) absolute = data_dir;
  std::filesystem::path canonical = std::filesystem::weakly_canonical(absolute, ec);
  if (ec) canonical = absolute.lexically_normal();
  std::string text = canonical.string();
  // "/srv/sale/" and "/srv/sale" are the same deployment.
  while (text.size() > 1 && text.back() == '/') text.pop_back();
  char name[32];
  std::snprintf(name, sizeof(name), "flashsaga-%016" PRIx64, fnv1a_64(text));
  return name;
}

Segment::Segment(std::string name, std::unique_ptr<bip::mapped_region> region) noexcept
    : name_(std::move(name)),
      region_(std::move(region)),
      base_(static_cast<std::byte*>(region_->get_address())) {}

Segment::~Segment() = default;

SegmentHeader& Segment::header() noexcept {
  return *reinterpret_cast<SegmentHeader*>(base_);
}

std::byte* Segment::payload() noexcept {
  return base_ + header().payload_offset;
}

std::size_t Segment::payload_bytes() const noexcept {
  return reinterpret_cast<const SegmentHeader*>(base_)->payload_bytes;
}

bool Segment::create(const std::filesystem::path& data_dir, std::size_t payload_bytes,
                     std::uint64_t geometry_hash, std::unique_ptr<Segment>& out, std::string* error,
                     std::string* note) {
  FS_ASSERT(payload_bytes > 0);
  const std::string name = name_for(data_dir);
  const std::uint64_t payload_offset = segment_payload_alignment_bytes;
  const std::uint64_t total_bytes =
      payload_offset + round_up(payload_bytes, segment_payload_alignment_bytes);
  if (note != nullptr) note->clear();

  for (int attempt = 0; attempt < create_attempt_count_max; ++attempt) {
    bool created = false;
    try {
      bip::permissions perm;
      perm.set_permissions(segment_file_mode);  // Boost fchmod()s, so the umask cannot widen it
      bip::shared_memory_object shm(bip::create_only, name.c_str(), bip::read_write, perm);
      created = true;
      shm.truncate(static_cast<bip::offset_t>(total_bytes));
      // Reserve every page now: a full /dev/shm fails here, not as a SIGBUS mid-sale.
      const int rc =
          ::posix_fallocate(shm.get_mapping_handle().handle, 0, static_cast<off_t>(total_bytes));
      if (rc != 0) {
        bip::shared_memory_object::remove(name.c_str());
        return fail(error,
                    "cannot create segment %s: not enough space in /dev/shm for %" PRIu64
                    " bytes (%s)",
                    name.c_str(), total_bytes, std::strerror(rc));
      }
      auto region = std::make_unique<bip::mapped_region>(shm, bip::read_write);
      auto* header = static_cast<SegmentHeader*>(region->get_address());
      // A fresh object is all zeros; fill the header, the magic last.
      header->layout_version = segment_layout_version;
      header->creator_pid = static_cast<std::uint32_t>(::getpid());
      header->creator_start_ticks = process_start_ticks(header->creator_pid);
      header->created_wall_ns = wall_now_ns();
      header->total_bytes = total_bytes;
      header->payload_offset = payload_offset;
      header->payload_bytes = payload_bytes;
      header->geometry_hash = geometry_hash;
      std::atomic_ref<std::uint32_t>(header->magic).store(segment_magic, std::memory_order_release);
      out.reset(new Segment(name, std::move(region)));
      return true;
    } catch (const bip::interprocess_exception& e) {
      if (created) bip::shared_memory_object::remove(name.c_str());
      if (e.get_native_error() == EACCES || e.get_native_error() == EPERM)
        return fail(error, "cannot create segment %s: %s", name.c_str(),
                    permission_text(name).c_str());
      if (e.get_error_code() != bip::already_exists_error || created)
        return fail(error, "cannot create segment %s: %s", name.c_str(), e.what());
    }

    // It exists. In use, or left behind?
    const ExistingInfo existing = inspect_existing(name);
    switch (existing.kind) {
      case Existing::alive:
        return fail(error, "segment %s is in use by pid %" PRIu32, name.c_str(), existing.pid);
      case Existing::inaccessible:
        return fail(error, "segment %s exists and is not accessible: %s", name.c_str(),
                    existing.detail.c_str());
      case Existing::vanished:
        continue;
      case Existing::dead:
      case Existing::garbage:
        break;
    }
    if (!bip::shared_memory_object::remove(name.c_str()))
      return fail(error, "segment %s was left behind but cannot be removed: %s", name.c_str(),
                  std::strerror(errno));
    if (note != nullptr) {
      char text[256];
      if (existing.kind == Existing::dead)
        std::snprintf(text, sizeof(text),
                      "removed stale segment %s left by dead pid %" PRIu32 " (layout version %u)",
                      name.c_str(), existing.pid, unsigned{existing.layout_version});
      else
        std::snprintf(text, sizeof(text), "removed stale segment %s with a garbage header (%s)",
                      name.c_str(), existing.detail.c_str());
      *note = text;
    }
  }
  return fail(error, "cannot create segment %s: another process keeps creating it", name.c_str());
}

bool Segment::attach(const std::filesystem::path& data_dir, std::uint64_t geometry_hash,
                     std::unique_ptr<Segment>& out, std::string* error) {
  const std::string name = name_for(data_dir);
  try {
    bip::shared_memory_object shm(bip::open_only, name.c_str(), bip::read_write);
    bip::offset_t size = 0;
    if (!shm.get_size(size) || size < static_cast<bip::offset_t>(segment_payload_alignment_bytes))
      return fail(error, "segment %s is garbage: %lld bytes is too small to hold a header",
                  name.c_str(), static_cast<long long>(size));
    auto region = std::make_unique<bip::mapped_region>(shm, bip::read_write);
    auto* header = static_cast<SegmentHeader*>(region->get_address());
    const std::uint32_t magic =
        std::atomic_ref<std::uint32_t>(header->magic).load(std::memory_order_acquire);
    if (magic != segment_magic)
      return fail(error,
                  "segment %s has bad magic 0x%08" PRIx32 " (expected 0x%08" PRIx32
                  " \"FSSG\"): not a flashsaga segment, or not finished being created",
                  name.c_str(), magic, segment_magic);
    if (header->layout_version != segment_layout_version)
      return fail(error,
                  "segment %s has layout version %u but this build expects layout "
                  "version %u: stop the old deployment (or remove the segment) first",
                  name.c_str(), unsigned{header->layout_version}, unsigned{segment_layout_version});
    if (!process_alive(header->creator_pid, header->creator_start_ticks))
      return fail(error,
                  "segment %s was left by dead supervisor pid %" PRIu32
                  "; start the supervisor again to clean it up",
                  name.c_str(), header->creator_pid);
    if (header->geometry_hash != geometry_hash)
      return fail(error,
                  "segment %s has geometry hash 0x%016" PRIx64
                  " but this process "
                  "expects 0x%016" PRIx64 ": created with another configuration or build",
                  name.c_str(), header->geometry_hash, geometry_hash);
    if (header->payload_offset != segment_payload_alignment_bytes ||
        header->total_bytes != static_cast<std::uint64_t>(size) ||
        header->payload_bytes > header->total_bytes - header->payload_offset)
      return fail(error,
                  "segment %s header is inconsistent: total %" PRIu64
                  " bytes (object "
                  "has %lld), payload %" PRIu64 " bytes at offset %" PRIu64,
                  name.c_str(), header->total_bytes, static_cast<long long>(size),
                  header->payload_bytes, header->payload_offset);
    out.reset(new Segment(name, std::move(region)));
    return true;
  } catch (const bip::interprocess_exception& e) {
    if (e.get_error_code() == bip::not_found_error)
      return fail(error, "segment %s not found: no supervisor is running for data directory %s",
                  name.c_str(), data_dir.string().c_str());
    if (e.get_native_error() == EACCES || e.get_native_error() == EPERM)
      return fail(error, "segment %s is not accessible: %s", name.c_str(),
                  permission_text(name).c_str());
    return fail(error, "cannot attach segment %s: %s", name.c_str(), e.what());
  }
}

bool Segment::remove(const std::filesystem::path& data_dir) {
  return bip::shared_memory_object::remove(name_for(data_dir).c_str());
}

std::uint64_t process_start_ticks(std::uint32_t pid) {
  const ProcStat stat = read_proc_stat(pid);
  return stat.exists ? stat.start_ticks : 0;
}

bool process_alive(std::uint32_t pid, std::uint64_t start_ticks) {
  const ProcStat stat = read_proc_stat(pid);
  if (!stat.exists) return false;
  if (stat.state == 'Z' || stat.state == 'X') return false;  // exited, not yet reaped
  return start_ticks == 0 || stat.start_ticks == start_ticks;
}

}  // namespace flashsaga::ipc
