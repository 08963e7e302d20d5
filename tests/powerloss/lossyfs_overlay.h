// Overlay: lossyfs's memory of every write not yet durable, per backing file, page by page.
//
// The backing file holds exactly what is durable. A write goes to an in-memory copy of each page
// it touches (a page is first filled from the backing file, zeros beyond its end); a read sees
// the overlay over the backing file; sync() writes a file's pages and its size to the backing
// file and forgets them; cut() drops every page (or keeps a seeded share, written in random
// order), after which every call fails with EIO. Metadata (truncate, fallocate) goes to the
// backing file at once: it is durable.
//
// Requires: one Overlay per backing tree; a file is named by its backing inode number, with an
//   open backing fd when it is first written (dup'ed and kept until it is clean again).
// Guarantees: thread-safe (one mutex; the FUSE loop runs many threads). For every tracked file
//   current size >= durable size (the backing file's size), every page lies below
//   current_size rounded up to a page, and the bytes of a page beyond current_size are zeros.
//   Results are byte counts or 0 on success, -errno on failure.
//
// Example:
//   Overlay o;
//   o.write(fd, ino, "abc", 3, 0, /*durable=*/false);   // in memory only
//   o.sync(ino);                                         // now in the backing file
//   CutReport r = o.cut(0.5, 42);                        // drop (or keep half of) the rest
#pragma once

#include <sys/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace flashsaga::lossyfs {

inline constexpr std::size_t page_bytes = 4096;

struct CutReport {
  std::uint64_t pages_dropped = 0;
  std::uint64_t pages_kept = 0;  // in all
  std::uint64_t pages_aged = 0;  // of which kept for their age
  std::uint64_t files = 0;       // files that had unsynced writes
  std::uint64_t seed = 0;
  double keep_fraction = 0;
};

struct OverlayStats {
  bool cut = false;
  std::uint64_t unsynced_pages = 0;
  std::uint64_t unsynced_files = 0;
  std::uint64_t writes = 0;            // write requests (any kind)
  std::uint64_t writeback_writes = 0;  // of which page-cache write-back (mmap, close)
  std::uint64_t durable_writes = 0;    // of which through an O_SYNC / O_DSYNC handle
  std::uint64_t write_bytes = 0;
  std::uint64_t syncs = 0;  // fsync / fdatasync requests that made a file durable
  std::uint64_t synced_pages = 0;
  CutReport last_cut;
};

class Overlay {
 public:
  Overlay() = default;
  ~Overlay();
  Overlay(const Overlay&) = delete;
  Overlay& operator=(const Overlay&) = delete;

  // Reads [off, off + size) as the file is now: backing bytes under overlay pages, up to the
  // current size. `fd` is an open backing fd of `ino`.
  long read(int fd, ino_t ino, char* buf, std::size_t size, off_t off);
  // Writes into the overlay. durable: also writes the bytes to the backing file at once (an
  // O_SYNC / O_DSYNC handle). writeback only counts it in the stats.
  long write(int fd, ino_t ino, const char* buf, std::size_t size, off_t off, bool durable,
             bool writeback);
  // Makes every unsynced page and the size of `ino` durable (fsync / fdatasync / msync).
  int sync(ino_t ino);
  // ftruncate, applied to the backing file at once; the overlay follows the new size.
  int truncate(int fd, ino_t ino, off_t size);
  // fallocate, applied to the backing file at once (punch / zero range clear overlay bytes).
  int fallocate(int fd, ino_t ino, int mode, off_t off, off_t len);
  // The last link of `ino` is gone: its unsynced pages go with it.
  void forget(ino_t ino);
  // The current size of a tracked file (nullopt: not tracked; the backing size is current).
  std::optional<off_t> size(ino_t ino);

  // The power cut: keeps a seeded share of the unsynced pages, and every page last written at
  // least age_ns before (age_ns > 0: a disk that persisted what the kernel wrote back a while
  // ago), written to the backing files in random order; drops the rest; fails every later call
  // with EIO.
  CutReport cut(double keep_fraction, std::uint64_t seed, std::int64_t age_ns = 0);
  bool is_cut();
  OverlayStats stats();

 private:
  struct Page {
    std::array<char, page_bytes> bytes{};
    std::int64_t written_ns = 0;  // steady clock, its last write
    char* data() noexcept { return bytes.data(); }
  };
  struct File {
    int fd = -1;     // dup of a backing fd, closed when the file is clean
    off_t size = 0;  // current size (>= the backing file's size)
    std::map<std::uint64_t, std::unique_ptr<Page>> pages;  // by page index
  };

  File* track(int fd, ino_t ino, long* error);
  long fill_page(File& f, std::uint64_t index, Page& page);
  void drop(ino_t ino);
  int flush(File& f);

  std::mutex mutex_;
  std::unordered_map<ino_t, File> files_;
  OverlayStats stats_;
};

}  // namespace flashsaga::lossyfs
