// Segment: the deployment's one shared-memory segment (POSIX shm under /dev/shm).
//
// Requires: Linux (/proc and /dev/shm). One creator per data directory at a time (the
//   supervisor); two creators racing on the same data_dir is not supported (the supervisor's
//   own lock prevents it). A Segment object is not shared across fork(): a forked child may
//   keep using the mapping (payload(), header()) but must not destroy the object.
// Guarantees: named "flashsaga-<16 hex digits>" from the canonical data directory, so every
//   process of a deployment finds the same segment and two deployments never collide; mode
//   0600 (only the deploying user, whatever the umask); memory reserved up front, so a full
//   /dev/shm is an error at create() and never a SIGBUS later; the payload starts zero-filled
//   and 4096-aligned. attach() never silently accepts garbage: bad magic, another layout
//   version, another geometry, or a dead creator each fail with a message that says which.
//   create() cleans up a segment left by a dead creator and says so in *note.
// Memory ordering: create() writes every header field, then the magic with a release store;
//   attach() loads the magic with acquire before reading the rest. The payload's own ordering
//   is the business of what lives in it (rings, doorbells, tables).
//
// Header layout (offset 0; 64 bytes; the rest of the first page is zero; payload at 4096):
//
//    0       4   6   8       12      16              24              32
//    +-------+---+---+-------+-------+---------------+---------------+
//    | magic |ver|rsv|  pid  | rsvd2 |  start_ticks  |created_wall_ns|
//    +-------+---+---+-------+-------+---------------+---------------+
//    32              40              48              56              64
//    +---------------+---------------+---------------+---------------+
//    |  total_bytes  |payload_offset | payload_bytes | geometry_hash |
//    +---------------+---------------+---------------+---------------+
//    4096                                            4096 + payload_bytes
//    +-----------------------------------------------+
//    | payload: rings, doorbells, tables (engine)    |
//    +-----------------------------------------------+
//
//   magic, layout_version, creator_pid and creator_start_ticks keep these offsets in every
//   future layout version, so any build can tell "another version" from "garbage" and can
//   tell whether the creator is alive.
//
// Example:
//   std::unique_ptr<Segment> seg; std::string error, note;
//   if (!Segment::create(data_dir, layout.bytes, layout.hash, seg, &error, &note)) die(error);
//   if (!note.empty()) log(note);            // "removed stale segment ... left by dead pid N"
//   ...                                      // a domain process:
//   if (!Segment::attach(data_dir, layout.hash, seg, &error)) die(error);
//   std::byte* base = seg->payload();
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace boost::interprocess {
class mapped_region;
}  // namespace boost::interprocess

namespace flashsaga::ipc {

inline constexpr std::uint32_t segment_magic = 0x47535346u;  // "FSSG" little-endian
inline constexpr std::uint16_t segment_layout_version = 1;
inline constexpr std::size_t segment_payload_alignment_bytes = 4096;
inline constexpr std::uint32_t segment_file_mode = 0600;

struct SegmentHeader {           // at offset 0; byte layout in the diagram above
  std::uint32_t magic;           // "FSSG"
  std::uint16_t layout_version;  // segment_layout_version = 1
  std::uint16_t reserved;
  std::uint32_t creator_pid;
  std::uint32_t reserved2;
  std::uint64_t creator_start_ticks;  // field 22 of /proc/<pid>/stat: tells pid reuse apart
  std::int64_t created_wall_ns;
  std::uint64_t total_bytes;
  std::uint64_t payload_offset;  // 4096-aligned
  std::uint64_t payload_bytes;
  std::uint64_t geometry_hash;  // set by the creator (engine); attach checks it
};
static_assert(sizeof(SegmentHeader) == 64);
static_assert(offsetof(SegmentHeader, layout_version) == 4);
static_assert(offsetof(SegmentHeader, creator_pid) == 8);
static_assert(offsetof(SegmentHeader, creator_start_ticks) == 16);
static_assert(offsetof(SegmentHeader, created_wall_ns) == 24);
static_assert(offsetof(SegmentHeader, total_bytes) == 32);
static_assert(offsetof(SegmentHeader, payload_offset) == 40);
static_assert(offsetof(SegmentHeader, payload_bytes) == 48);
static_assert(offsetof(SegmentHeader, geometry_hash) == 56);
static_assert(sizeof(SegmentHeader) <= segment_payload_alignment_bytes);

class Segment {
 public:
  // "flashsaga-" + 16 hex digits of a hash of the canonical absolute data_dir path.
  static std::string name_for(const std::filesystem::path& data_dir);
  // Creates the segment. If one exists: its creator alive (pid exists AND start ticks match) →
  // false, error "segment <name> is in use by pid N"; creator dead or header garbage → remove it,
  // put a clear line in *note ("removed stale segment <name> left by dead pid N"), then create.
  // The payload is zero-filled. Mode 0600. payload_bytes > 0 (assert).
  // Other errors: /dev/shm full ("not enough space"), permission denied, name not removable.
  // error and note may be nullptr.
  static bool create(const std::filesystem::path& data_dir, std::size_t payload_bytes,
                     std::uint64_t geometry_hash, std::unique_ptr<Segment>& out, std::string* error,
                     std::string* note);
  // Attaches to an existing segment. False with a clear *error when: missing; bad magic; another
  // layout version (message names both); geometry hash differs; creator dead ("left by dead
  // supervisor pid N"); not accessible (permission — e.g. another user: say so).
  static bool attach(const std::filesystem::path& data_dir, std::uint64_t geometry_hash,
                     std::unique_ptr<Segment>& out, std::string* error);
  static bool remove(const std::filesystem::path& data_dir);  // true if something was removed

  SegmentHeader& header() noexcept;
  std::byte* payload() noexcept;
  std::size_t payload_bytes() const noexcept;
  const std::string& name() const noexcept { return name_; }
  ~Segment();

  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

 private:
  Segment(std::string name, std::unique_ptr<boost::interprocess::mapped_region> region) noexcept;

  std::string name_;
  std::unique_ptr<boost::interprocess::mapped_region> region_;
  std::byte* base_ = nullptr;
};

// True if pid is running (not a zombie) and, when start_ticks != 0, started at start_ticks
// (so a recycled pid is not mistaken for the original process). Reads /proc/<pid>/stat.
bool process_alive(std::uint32_t pid, std::uint64_t start_ticks);  // helper, also used by others
std::uint64_t process_start_ticks(std::uint32_t pid);              // 0 if no such process

}  // namespace flashsaga::ipc
