#include "journal/staging.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "engine/base/assert.h"
#include "engine/base/crc32c.h"

namespace flashsaga::journal {
namespace {

Status io_error(int e, const std::string& what) {
  return Status(e == ENOSPC ? ErrorCode::no_space : ErrorCode::io, e,
                what + ": " + std::strerror(e));
}

std::uint32_t frame_checksum(FrameHeader h, Bytes payload) noexcept {
  h.checksum = 0;
  const std::uint32_t crc = crc32c(&h, sizeof h);
  return crc32c(payload.data(), payload.size(), crc);
}

void put(std::vector<std::byte>& out, const void* p, std::size_t n) {
  const auto* b = static_cast<const std::byte*>(p);
  out.insert(out.end(), b, b + n);
}

bool pread_all(int fd, std::byte* out, std::size_t n, std::uint64_t at) {
  for (std::size_t done = 0; done < n;) {
    const ssize_t r = ::pread(fd, out + done, n - done, static_cast<off_t>(at + done));
    if (r <= 0) return false;
    done += static_cast<std::size_t>(r);
  }
  return true;
}

}  // namespace

Status StagingLog::open(const std::filesystem::path& path, std::unique_ptr<StagingLog>& out) {
  std::unique_ptr<StagingLog> log(new StagingLog());
  log->path_ = path;
  log->fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (log->fd_ < 0) return io_error(errno, "staging log " + path.string() + ": open");
  struct stat st {};
  if (::fstat(log->fd_, &st) != 0)
    return io_error(errno, "staging log " + path.string() + ": stat");
  log->end_ = static_cast<std::uint64_t>(st.st_size);
  out = std::move(log);
  return {};
}

StagingLog::~StagingLog() {
  if (fd_ >= 0) ::close(fd_);
}

Status StagingLog::append(std::span<const BatchBuilder* const> batches, Bytes entries) {
  buffer_.clear();
  const auto frame = [&](FrameKind kind, std::uint64_t first, std::size_t size,
                         const auto& write_payload) {
    const std::size_t at = buffer_.size();
    FrameHeader h{
        staging_magic, static_cast<std::uint8_t>(kind), 0, 0, static_cast<std::uint32_t>(size), 0,
        first};
    put(buffer_, &h, sizeof h);
    buffer_.resize(at + sizeof h + size);
    write_payload(buffer_.data() + at + sizeof h);
    h.checksum = frame_checksum(h, Bytes(buffer_.data() + at + sizeof h, size));
    std::memcpy(buffer_.data() + at, &h, sizeof h);
  };
  std::uint64_t next = 0;
  for (const BatchBuilder* b : batches) {
    if (b->record_count() == 0) continue;
    FS_ASSERT(b->stored_bytes() <= staging_frame_size_max_bytes);
    frame(FrameKind::batch, b->first_sequence(), b->stored_bytes(),
          [&](std::byte* p) { b->write_to(p); });
    next = b->next_sequence();
  }
  if (!entries.empty()) {
    frame(FrameKind::entries, next, entries.size(),
          [&](std::byte* p) { std::memcpy(p, entries.data(), entries.size()); });
  }
  for (std::size_t done = 0; done < buffer_.size();) {
    const ssize_t w = ::pwrite(fd_, buffer_.data() + done, buffer_.size() - done,
                               static_cast<off_t>(end_ + done));
    if (w < 0) return io_error(errno, "staging log " + path_.string() + ": write");
    done += static_cast<std::size_t>(w);
  }
  end_ += buffer_.size();
  return {};
}

Status StagingLog::read(const std::function<void(const Frame&)>& fn) const {
  std::vector<std::byte> payload;
  std::uint64_t at = 0;
  // Each frame advances `at` by at least its header: bounded by the file's size.
  for (std::uint64_t n = 0; at + sizeof(FrameHeader) <= end_ && n <= end_; ++n) {
    FrameHeader h{};
    if (!pread_all(fd_, reinterpret_cast<std::byte*>(&h), sizeof h, at)) break;
    if (h.magic != staging_magic || h.size > staging_frame_size_max_bytes ||
        at + sizeof h + h.size > end_)
      break;
    if (h.kind != static_cast<std::uint8_t>(FrameKind::batch) &&
        h.kind != static_cast<std::uint8_t>(FrameKind::entries))
      break;
    payload.resize(h.size);
    if (!pread_all(fd_, payload.data(), h.size, at + sizeof h)) break;
    if (frame_checksum(h, Bytes(payload.data(), payload.size())) != h.checksum) break;
    fn(Frame{static_cast<FrameKind>(h.kind), h.first_sequence,
             Bytes(payload.data(), payload.size())});
    at += sizeof h + h.size;
  }
  return {};
}

Status StagingLog::reset() {
  if (::ftruncate(fd_, 0) != 0)
    return io_error(errno, "staging log " + path_.string() + ": truncate");
  end_ = 0;
  return {};
}

}  // namespace flashsaga::journal
