// staging: where the `interval` durability mode keeps batches between two synced commits.
//
// Under `interval` a domain's committed batches go first to this log — one pwrite per group,
// never an fsync, so a batch survives a process crash the moment the write returns — and every
// fsync_interval_ms all of them move into the LMDB journal in ONE synced transaction, after
// which the log starts over. LMDB therefore only ever sees synced commits (its integrity holds
// whatever the file system does at a power loss), while the log may be torn: a power loss
// keeps an arbitrary subset of its unsynced pages. Every frame carries a CRC32C, so a reader
// takes the longest prefix of whole, valid frames and ignores the rest.
//
// Frame layout (little-endian; payload follows the header, frames are back to back):
//
//    0       4   5   6   8       12      16              24
//    +-------+---+---+---+-------+-------+---------------+
//    | magic |knd|rsv|rsv| size  | crc32c|  first_seq    |   FrameHeader (24 B)
//    +-------+---+---+---+-------+-------+---------------+
//
//   kind batch:   payload = one stored batch (journal/batch.h), first_seq its first record's
//   kind entries: payload = entries (journal/batch.h's entry format) the runtime stores with
//                 the batches of the same group (its cursors); first_seq = the group's last
//                 batch's next sequence
//   The CRC32C covers the header (crc = 0) and the payload.
//
// Requires: one writer process (the domain's lock); one thread per StagingLog.
// Guarantees: append() either adds whole frames or returns an error and adds nothing a reader
//   would take (a short write leaves a frame that fails its CRC); read() never returns a frame
//   that was not appended whole.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "journal/batch.h"
#include "journal/journal.h"

namespace flashsaga::journal {

inline constexpr std::uint32_t staging_magic = 0x534A5346u;  // "FSJS"
inline constexpr std::size_t staging_frame_size_max_bytes = std::size_t{1} << 30;

enum class FrameKind : std::uint8_t { batch = 1, entries = 2 };

struct FrameHeader {
  std::uint32_t magic;
  std::uint8_t kind;
  std::uint8_t reserved0;
  std::uint16_t reserved1;
  std::uint32_t size;
  std::uint32_t checksum;
  std::uint64_t first_sequence;
};
static_assert(sizeof(FrameHeader) == 24);

struct Frame {
  FrameKind kind;
  std::uint64_t first_sequence;
  Bytes payload;  // valid during the read() callback
};

class StagingLog {
 public:
  // Opens (creating, mode 0600) the log at path. Returns ok or io.
  static Status open(const std::filesystem::path& path, std::unique_ptr<StagingLog>& out);
  ~StagingLog();
  StagingLog(const StagingLog&) = delete;
  StagingLog& operator=(const StagingLog&) = delete;

  // Appends one frame per batch, then one entries frame (if `entries` is not empty), with one
  // write. Returns ok, no_space or io.
  Status append(std::span<const BatchBuilder* const> batches, Bytes entries);
  // Visits the valid frames from the start, in order, stopping at the first one that is torn
  // or fails its checks. Returns ok or io (a read error, not a torn tail).
  Status read(const std::function<void(const Frame&)>& fn) const;
  // Empties the log (after its frames were committed to the journal). Returns ok or io.
  Status reset();
  std::uint64_t size_bytes() const noexcept { return end_; }
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  StagingLog() = default;
  int fd_ = -1;
  std::uint64_t end_ = 0;  // where the next frame goes
  std::filesystem::path path_;
  std::vector<std::byte> buffer_;  // one group's frames, written at once
};

}  // namespace flashsaga::journal
