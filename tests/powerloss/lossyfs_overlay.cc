#include "tests/powerloss/lossyfs_overlay.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

namespace flashsaga::lossyfs {
namespace {

// A regular file returns short counts only at its end or on a signal; bound the retries anyway.
constexpr int io_retry_count_max = 64;

long pwrite_all(int fd, const char* buf, std::size_t size, off_t off) {
  std::size_t done = 0;
  for (int i = 0; i < io_retry_count_max && done < size; ++i) {
    const ssize_t n = ::pwrite(fd, buf + done, size - done, off + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    done += static_cast<std::size_t>(n);
  }
  return done == size ? static_cast<long>(size) : -EIO;
}

// Reads up to `size` bytes; fewer only at the end of the file.
long pread_all(int fd, char* buf, std::size_t size, off_t off) {
  std::size_t done = 0;
  for (int i = 0; i < io_retry_count_max && done < size; ++i) {
    const ssize_t n = ::pread(fd, buf + done, size - done, off + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return static_cast<long>(done);
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::uint64_t page_of(off_t off) {
  return static_cast<std::uint64_t>(off) / page_bytes;
}
off_t page_start(std::uint64_t index) {
  return static_cast<off_t>(index * page_bytes);
}

}  // namespace

Overlay::~Overlay() {
  for (auto& [ino, f] : files_) ::close(f.fd);
}

Overlay::File* Overlay::track(int fd, ino_t ino, long* error) {
  auto it = files_.find(ino);
  if (it != files_.end()) return &it->second;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    *error = -errno;
    return nullptr;
  }
  const int own = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) {
    *error = -errno;
    return nullptr;
  }
  File& f = files_[ino];
  f.fd = own;
  f.size = st.st_size;
  return &f;
}

long Overlay::fill_page(File& f, std::uint64_t index, Page& page) {
  page.bytes.fill(0);
  const long n = pread_all(f.fd, page.data(), page_bytes, page_start(index));
  return n < 0 ? n : 0;
}

void Overlay::drop(ino_t ino) {
  auto it = files_.find(ino);
  if (it == files_.end()) return;
  ::close(it->second.fd);
  files_.erase(it);
}

long Overlay::read(int fd, ino_t ino, char* buf, std::size_t size, off_t off) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stats_.cut) return -EIO;
  auto it = files_.find(ino);
  if (it == files_.end()) return pread_all(fd, buf, size, off);
  File& f = it->second;
  if (off >= f.size) return 0;
  const std::size_t n = std::min(size, static_cast<std::size_t>(f.size - off));
  const long got = pread_all(f.fd, buf, n, off);
  if (got < 0) return got;
  std::memset(buf + got, 0, n - static_cast<std::size_t>(got));  // beyond the durable size
  const off_t end = off + static_cast<off_t>(n);
  for (auto p = f.pages.lower_bound(page_of(off)); p != f.pages.end() && page_start(p->first) < end;
       ++p) {
    const off_t from = std::max(off, page_start(p->first));
    const off_t to = std::min(end, page_start(p->first) + static_cast<off_t>(page_bytes));
    std::memcpy(buf + (from - off), p->second->data() + (from - page_start(p->first)),
                static_cast<std::size_t>(to - from));
  }
  return static_cast<long>(n);
}

long Overlay::write(int fd, ino_t ino, const char* buf, std::size_t size, off_t off, bool durable,
                    bool writeback) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stats_.cut) return -EIO;
  ++stats_.writes;
  stats_.write_bytes += size;
  if (writeback) ++stats_.writeback_writes;
  if (durable) ++stats_.durable_writes;
  if (size == 0) return 0;
  if (durable && files_.find(ino) == files_.end()) return pwrite_all(fd, buf, size, off);
  long error = 0;
  File* f = track(fd, ino, &error);
  if (f == nullptr) return error;
  const off_t end = off + static_cast<off_t>(size);
  for (std::uint64_t index = page_of(off); page_start(index) < end; ++index) {
    std::unique_ptr<Page>& page = f->pages[index];
    if (!page) {
      page = std::make_unique<Page>();
      if (const long e = fill_page(*f, index, *page); e < 0) {
        f->pages.erase(index);
        return e;
      }
    }
    const off_t from = std::max(off, page_start(index));
    const off_t to = std::min(end, page_start(index) + static_cast<off_t>(page_bytes));
    std::memcpy(page->data() + (from - page_start(index)), buf + (from - off),
                static_cast<std::size_t>(to - from));
    page->written_ns = now_ns();
  }
  f->size = std::max(f->size, end);
  if (durable) return pwrite_all(f->fd, buf, size, off);
  return static_cast<long>(size);
}

int Overlay::flush(File& f) {
  for (const auto& [index, page] : f.pages) {
    const off_t len = std::min<off_t>(static_cast<off_t>(page_bytes), f.size - page_start(index));
    if (len <= 0) continue;
    const long n = pwrite_all(f.fd, page->data(), static_cast<std::size_t>(len), page_start(index));
    if (n < 0) return static_cast<int>(n);
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) return -errno;
  if (st.st_size != f.size && ::ftruncate(f.fd, f.size) != 0) return -errno;
  return 0;
}

int Overlay::sync(ino_t ino) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stats_.cut) return -EIO;
  ++stats_.syncs;
  auto it = files_.find(ino);
  if (it == files_.end()) return 0;
  if (const int e = flush(it->second); e < 0) return e;
  stats_.synced_pages += it->second.pages.size();
  drop(ino);
  return 0;
}

int Overlay::truncate(int fd, ino_t ino, off_t size) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stats_.cut) return -EIO;
  if (::ftruncate(fd, size) != 0) return -errno;
  auto it = files_.find(ino);
  if (it == files_.end()) return 0;
  File& f = it->second;
  f.pages.erase(f.pages.lower_bound(page_of(size + static_cast<off_t>(page_bytes) - 1)),
                f.pages.end());
  if (auto p = f.pages.find(page_of(size)); p != f.pages.end()) {
    const std::size_t keep = static_cast<std::size_t>(size - page_start(p->first));
    std::memset(p->second->data() + keep, 0, page_bytes - keep);
  }
  f.size = size;
  return 0;
}

int Overlay::fallocate(int fd, ino_t ino, int mode, off_t off, off_t len) {
  constexpr int supported = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE;
  if ((mode & ~supported) != 0) return -EOPNOTSUPP;  // collapse / insert would shift pages
  std::lock_guard<std::mutex> lock(mutex_);
  if (stats_.cut) return -EIO;
  if (::fallocate(fd, mode, off, len) != 0) return -errno;
  auto it = files_.find(ino);
  if (it == files_.end()) return 0;
  File& f = it->second;
  const off_t end = off + len;
  if ((mode & FALLOC_FL_KEEP_SIZE) == 0) f.size = std::max(f.size, end);
  if ((mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) == 0) return 0;
  for (auto p = f.pages.lower_bound(page_of(off)); p != f.pages.end() && page_start(p->first) < end;
       ++p) {
    const off_t from = std::max(off, page_start(p->first));
    const off_t to = std::min(end, page_start(p->first) + static_cast<off_t>(page_bytes));
    std::memset(p->second->data() + (from - page_start(p->first)), 0,
                static_cast<std::size_t>(to - from));
  }
  return 0;
}

void Overlay::forget(ino_t ino) {
  std::lock_guard<std::mutex> lock(mutex_);
  drop(ino);
}

std::optional<off_t> Overlay::size(ino_t ino) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = files_.find(ino);
  if (it == files_.end()) return std::nullopt;
  return it->second.size;
}

CutReport Overlay::cut(double keep_fraction, std::uint64_t seed, std::int64_t age_ns) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stats_.cut) return stats_.last_cut;
  CutReport r;
  r.seed = seed;
  r.keep_fraction = keep_fraction;
  std::mt19937_64 rng(seed);
  std::bernoulli_distribution keep(std::clamp(keep_fraction, 0.0, 1.0));
  std::vector<std::pair<File*, std::uint64_t>> kept;
  const std::int64_t now = now_ns();
  for (auto& [ino, f] : files_) {
    ++r.files;
    for (const auto& [index, page] : f.pages) {
      const bool aged = age_ns > 0 && now - page->written_ns >= age_ns;
      r.pages_aged += aged;
      if (keep(rng) || aged)
        kept.emplace_back(&f, index);
      else
        ++r.pages_dropped;
    }
  }
  // A disk persists what it had in its own order: the kept pages land in a random one.
  std::shuffle(kept.begin(), kept.end(), rng);
  for (const auto& [f, index] : kept) {
    const off_t len = std::min<off_t>(static_cast<off_t>(page_bytes), f->size - page_start(index));
    if (len > 0)
      (void)pwrite_all(f->fd, f->pages[index]->data(), static_cast<std::size_t>(len),
                       page_start(index));
    ++r.pages_kept;
  }
  for (auto& [ino, f] : files_) ::close(f.fd);
  files_.clear();
  stats_.cut = true;
  stats_.last_cut = r;
  return r;
}

bool Overlay::is_cut() {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_.cut;
}

OverlayStats Overlay::stats() {
  std::lock_guard<std::mutex> lock(mutex_);
  OverlayStats s = stats_;
  s.unsynced_files = files_.size();
  s.unsynced_pages = 0;
  for (const auto& [ino, f] : files_) s.unsynced_pages += f.pages.size();
  return s;
}

}  // namespace flashsaga::lossyfs
