// lossyfs (tests/powerloss/lossyfs.h) on a real FUSE mount: what a cut keeps and what it drops.
// Each test mounts lossyfs over a fresh backing directory, writes through the mount, cuts, then
// reads the backing directory (what survived) directly. Skips, saying why, where FUSE is unusable.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/falloc.h>
#include <lmdb.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/powerloss/lossyfs_mount.h"

namespace flashsaga::lossyfs {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

std::string pattern(std::size_t n, char seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + static_cast<char>(i % 23));
  return s;
}

void write_at(int fd, const std::string& data, off_t off) {
  ASSERT_EQ(::pwrite(fd, data.data(), data.size(), off), static_cast<ssize_t>(data.size()))
      << std::strerror(errno);
}

class Lossyfs : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = LossyMount::unavailable_reason();
    if (!why.empty()) GTEST_SKIP() << why;
    char tmpl[] = "/tmp/lossyfs-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    fs::create_directories(backing());
    remount();
  }
  void TearDown() override {
    mount_.reset();
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  void remount(int fsync_delay_ms = 0) {
    mount_.reset();
    std::string error;
    MountOptions o;
    o.backing = backing();
    o.mountpoint = mnt();
    o.fsync_delay_ms = fsync_delay_ms;
    ASSERT_TRUE(LossyMount::mount(o, mount_, &error)) << error;
  }
  CutOutcome cut(double keep = 0, std::uint64_t seed = 1) {
    std::string error;
    CutOutcome r = mount_->cut(keep, seed, &error);
    EXPECT_TRUE(r.ok) << error;
    return r;
  }
  int open_mnt(const std::string& name, int flags = O_RDWR | O_CREAT) {
    const int fd = ::open((mnt() / name).c_str(), flags | O_CLOEXEC, 0600);
    EXPECT_GE(fd, 0) << std::strerror(errno);
    return fd;
  }
  fs::path backing() const { return dir_ / "backing"; }
  fs::path mnt() const { return dir_ / "mnt"; }

  fs::path dir_;
  std::unique_ptr<LossyMount> mount_;
};

TEST_F(Lossyfs, AnUnsyncedWriteIsReadableUntilTheCutAndGoneAfterIt) {
  const int fd = open_mnt("f");
  write_at(fd, "hello", 0);
  EXPECT_EQ(read_file(mnt() / "f"), "hello");
  EXPECT_EQ(fs::file_size(backing() / "f"), 0u);  // created (metadata is durable), no data yet
  EXPECT_GE(mount_->stat("unsynced_pages"), 1u);
  ::close(fd);  // close(2) promises nothing durable
  const CutOutcome r = cut();
  EXPECT_GE(r.pages_dropped, 1u);
  EXPECT_EQ(r.pages_kept, 0u);
  EXPECT_TRUE(fs::exists(backing() / "f"));
  EXPECT_EQ(read_file(backing() / "f"), "");
}

TEST_F(Lossyfs, WriteThenFsyncIsKeptAndALaterUnsyncedOverwriteIsNot) {
  const int fd = open_mnt("f");
  write_at(fd, "durable!", 0);
  ASSERT_EQ(::fsync(fd), 0);
  EXPECT_EQ(read_file(backing() / "f"), "durable!");
  write_at(fd, "LOST", 0);
  EXPECT_EQ(read_file(mnt() / "f"), "LOSTble!");
  ::close(fd);
  cut();
  EXPECT_EQ(read_file(backing() / "f"), "durable!");
}

TEST_F(Lossyfs, FdatasyncMakesDataDurable) {
  const int fd = open_mnt("f");
  const std::string data = pattern(3 * 4096 + 100, 'a');
  write_at(fd, data, 0);
  ASSERT_EQ(::fdatasync(fd), 0);
  ::close(fd);
  cut();
  EXPECT_EQ(read_file(backing() / "f"), data);
}

TEST_F(Lossyfs, AWriteThroughAnODsyncHandleIsDurableWhenItReturns) {
  const int plain = open_mnt("f");
  write_at(plain, std::string(8192, 'x'), 0);
  ASSERT_EQ(::fsync(plain), 0);
  const int dsync = open_mnt("f", O_WRONLY | O_DSYNC);
  write_at(dsync, "META", 4096);
  ::close(dsync);
  ::close(plain);
  cut();
  const std::string after = read_file(backing() / "f");
  ASSERT_EQ(after.size(), 8192u);
  EXPECT_EQ(after.substr(4096, 4), "META");
}

TEST_F(Lossyfs, AnExtensionBeyondTheDurableSizeRevertsAtTheCut) {
  const int fd = open_mnt("f");
  write_at(fd, std::string(5000, 'd'), 0);
  ASSERT_EQ(::fsync(fd), 0);
  write_at(fd, std::string(10000, 'e'), 5000);  // grows the file to 15000, unsynced
  struct stat st {};
  ASSERT_EQ(::fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, 15000);
  EXPECT_EQ(fs::file_size(backing() / "f"), 5000u);
  ::close(fd);
  cut();
  EXPECT_EQ(read_file(backing() / "f"), std::string(5000, 'd'));
}

TEST_F(Lossyfs, TruncateAndFallocateAreDurableAtOnce) {
  const int fd = open_mnt("f");
  ASSERT_EQ(::ftruncate(fd, 12345), 0);
  ASSERT_EQ(::posix_fallocate(fd, 0, 65536), 0);  // what the journal's space reserve does
  write_at(fd, "gone", 100);
  ::close(fd);
  cut();
  EXPECT_EQ(read_file(backing() / "f"), std::string(65536, '\0'));
}

// What LMDB with MDB_WRITEMAP does: stores into a shared writable mapping, msync(MS_SYNC).
TEST_F(Lossyfs, AStoreIntoASharedMappingIsKeptAfterMsyncAndGoneWithoutIt) {
  const int fd = open_mnt("map");
  ASSERT_EQ(::ftruncate(fd, 4 * 4096), 0);
  char* map =
      static_cast<char*>(::mmap(nullptr, 4 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
  ASSERT_NE(map, MAP_FAILED) << std::strerror(errno);
  std::memcpy(map, "synced page", 11);
  ASSERT_EQ(::msync(map, 4 * 4096, MS_SYNC), 0);
  EXPECT_GE(mount_->stat("writeback_writes"), 1u);  // the dirty page reached lossyfs
  EXPECT_EQ(read_file(backing() / "map").substr(0, 11), "synced page");
  std::memcpy(map + 2 * 4096, "never synced", 12);
  ASSERT_EQ(::munmap(map, 4 * 4096), 0);
  ::close(fd);  // writes the dirty page back (unsynced): still not durable
  cut();
  const std::string after = read_file(backing() / "map");
  ASSERT_EQ(after.size(), 4u * 4096);
  EXPECT_EQ(after.substr(0, 11), "synced page");
  EXPECT_EQ(after.substr(2 * 4096, 12), std::string(12, '\0'));
}

TEST_F(Lossyfs, ACutThatKeepsAFractionKeepsAboutThatShareOfPagesSeeded) {
  constexpr int pages = 2000;
  const int fd = open_mnt("f");
  ASSERT_EQ(::ftruncate(fd, pages * 4096), 0);
  for (int i = 0; i < pages; ++i)
    write_at(fd, std::string(4096, static_cast<char>('A' + i % 26)), i * 4096);
  ::close(fd);
  const CutOutcome r = cut(0.3, 77);
  EXPECT_EQ(r.pages_kept + r.pages_dropped, static_cast<std::uint64_t>(pages));
  EXPECT_NEAR(static_cast<double>(r.pages_kept) / pages, 0.3, 0.05);
  // Each page survived whole or not at all, and the backing holds exactly the kept ones.
  const std::string after = read_file(backing() / "f");
  ASSERT_EQ(after.size(), static_cast<std::size_t>(pages) * 4096);
  std::uint64_t kept = 0;
  for (int i = 0; i < pages; ++i) {
    const std::string page = after.substr(static_cast<std::size_t>(i) * 4096, 4096);
    if (page == std::string(4096, static_cast<char>('A' + i % 26)))
      ++kept;
    else
      EXPECT_EQ(page, std::string(4096, '\0')) << "page " << i << " is torn";
  }
  EXPECT_EQ(kept, r.pages_kept);
}

// age=MS: a disk that persisted what it was given at least MS ago (nosync's promise).
TEST_F(Lossyfs, ACutWithAnAgeKeepsThePagesWrittenLongEnoughBefore) {
  const int fd = open_mnt("f");
  write_at(fd, std::string(4096, 'o'), 0);
  const auto old_written = std::chrono::steady_clock::now();
  // Time must pass for a page to age; the wait is the thing under test.
  while (std::chrono::steady_clock::now() - old_written < std::chrono::milliseconds(400))
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  write_at(fd, std::string(4096, 'y'), 4096);
  const auto young_written = std::chrono::steady_clock::now();
  ::close(fd);
  std::string error;
  const CutOutcome r = mount_->cut(0.0, 5, &error, 200);
  const auto cut_sent = std::chrono::steady_clock::now();
  ASSERT_TRUE(r.ok) << error;
  EXPECT_GE(r.pages_aged, 1u);
  const std::string after = read_file(backing() / "f");
  ASSERT_GE(after.size(), 4096u);
  EXPECT_EQ(after.substr(0, 4096), std::string(4096, 'o'));
  // The young page is dropped unless the machine took 200 ms to send the cut.
  if (cut_sent - young_written < std::chrono::milliseconds(200)) {
    EXPECT_EQ(after.size(), 4096u);
  }
}

TEST_F(Lossyfs, EveryFsyncTakesAtLeastTheConfiguredDelay) {
  std::string error;
  ASSERT_TRUE(mount_->set_fsync_delay(150, &error)) << error;
  EXPECT_EQ(mount_->stat("fsync_delay_ms"), 150u);
  const int fd = open_mnt("f");
  write_at(fd, "slow", 0);
  const auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(::fsync(fd), 0);
  const auto took = std::chrono::steady_clock::now() - start;
  // A lower bound only: the delay is the contract, how much longer it takes is the machine's.
  EXPECT_GE(took, std::chrono::milliseconds(150));
  ::close(fd);
  EXPECT_EQ(read_file(backing() / "f"), "slow");
}

TEST_F(Lossyfs, RenameAndUnlinkAreDurableAndCarryOrDropTheUnsyncedPages) {
  int fd = open_mnt("a");
  write_at(fd, "synced", 0);
  ASSERT_EQ(::fsync(fd), 0);
  write_at(fd, "unsynced", 0);
  ::close(fd);
  ASSERT_EQ(::rename((mnt() / "a").c_str(), (mnt() / "b").c_str()), 0);
  EXPECT_EQ(read_file(mnt() / "b"), "unsynced");
  fd = open_mnt("gone");
  write_at(fd, "x", 0);
  ::close(fd);
  ASSERT_EQ(::unlink((mnt() / "gone").c_str()), 0);
  cut();
  EXPECT_FALSE(fs::exists(backing() / "a"));
  EXPECT_EQ(read_file(backing() / "b"), "synced");
  EXPECT_FALSE(fs::exists(backing() / "gone"));
}

TEST_F(Lossyfs, ABadControlCommandIsRefusedAndTheMountStaysUp) {
  const int fd = ::open((mnt() / ".lossyfs").c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(::write(fd, "explode", 7), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(::write(fd, "cut keep=2", 10), -1);
  EXPECT_EQ(errno, EINVAL);
  ::close(fd);
  EXPECT_EQ(mount_->stats()["state"], "live");
}

TEST_F(Lossyfs, AFreshMountOverTheSameBackingServesWhatSurvived) {
  int fd = open_mnt("f");
  write_at(fd, "kept", 0);
  ASSERT_EQ(::fsync(fd), 0);
  write_at(fd, "lost-lost", 0);
  ::close(fd);
  cut();
  remount();
  EXPECT_EQ(read_file(mnt() / "f"), "kept");
  fd = open_mnt("f");
  write_at(fd, "again", 4);
  ASSERT_EQ(::fsync(fd), 0);
  ::close(fd);
  EXPECT_EQ(read_file(backing() / "f"), "keptagain");
}

// LMDB the way the journals use it: a sync writer (pwrite, fdatasync, then the meta page through
// an O_DSYNC descriptor) and a MDB_WRITEMAP writer (stores into a shared mapping, msync).
class LossyLmdb : public Lossyfs {
 protected:
  // Opens (creating) an environment under the mount; nullptr with the LMDB error in *rc.
  MDB_env* open_env(unsigned flags, int* rc) {
    fs::create_directories(mnt() / "env");
    MDB_env* env = nullptr;
    *rc = mdb_env_create(&env);
    if (*rc == 0) *rc = mdb_env_set_mapsize(env, 8u << 20);
    if (*rc == 0) *rc = mdb_env_open(env, (mnt() / "env").c_str(), flags, 0600);
    if (*rc != 0 && env != nullptr) {
      mdb_env_close(env);
      env = nullptr;
    }
    return env;
  }
  // One committed transaction per key, each value a page of the key's digit.
  void put_keys(MDB_env* env, int from, int to) {
    for (int k = from; k < to; ++k) {
      MDB_txn* txn = nullptr;
      ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
      MDB_dbi dbi = 0;
      ASSERT_EQ(mdb_dbi_open(txn, nullptr, 0, &dbi), 0);
      std::string value(3000, static_cast<char>('0' + k % 10));
      MDB_val key{sizeof k, &k}, val{value.size(), value.data()};
      ASSERT_EQ(mdb_put(txn, dbi, &key, &val, 0), 0);
      ASSERT_EQ(mdb_txn_commit(txn), 0);
    }
  }
  // How many of keys [0, n) the environment holds, each with its whole value; -1: unreadable.
  int count_keys(MDB_env* env, int n) {
    MDB_txn* txn = nullptr;
    if (mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) != 0) return -1;
    MDB_dbi dbi = 0;
    int found = 0;
    if (mdb_dbi_open(txn, nullptr, 0, &dbi) == 0) {
      for (int k = 0; k < n; ++k) {
        MDB_val key{sizeof k, &k}, val{};
        if (mdb_get(txn, dbi, &key, &val) == 0 &&
            std::string(static_cast<char*>(val.mv_data), val.mv_size) ==
                std::string(3000, static_cast<char>('0' + k % 10)))
          ++found;
      }
    }
    mdb_txn_abort(txn);
    return found;
  }
};

TEST_F(LossyLmdb, EverySyncCommitSurvivesACutThatKeepsHalfTheUnsyncedPages) {
  int rc = 0;
  MDB_env* env = open_env(0, &rc);
  ASSERT_NE(env, nullptr) << mdb_strerror(rc);
  put_keys(env, 0, 200);
  if (HasFatalFailure()) return;
  // A transaction in progress at the cut: its pages are written, its meta page is not.
  MDB_txn* txn = nullptr;
  ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
  mdb_env_close(env);  // abandons it (the process would have died here)
  cut(0.5, 11);
  remount();
  env = open_env(0, &rc);
  ASSERT_NE(env, nullptr) << "the environment does not open after the cut: " << mdb_strerror(rc);
  EXPECT_EQ(count_keys(env, 200), 200);
  mdb_env_close(env);
}

TEST_F(LossyLmdb, WritemapCommitsSurviveOnceTheEnvironmentIsSynced) {
  int rc = 0;
  MDB_env* env = open_env(MDB_WRITEMAP | MDB_NOSYNC, &rc);
  ASSERT_NE(env, nullptr) << mdb_strerror(rc);
  put_keys(env, 0, 100);
  if (HasFatalFailure()) return;
  ASSERT_EQ(mdb_env_sync(env, 1), 0);  // msync(MS_SYNC) of the map, then fsync
  EXPECT_GE(mount_->stat("writeback_writes"), 1u);
  mdb_env_close(env);
  cut(0.0, 12);
  remount();
  env = open_env(MDB_WRITEMAP | MDB_NOSYNC, &rc);
  ASSERT_NE(env, nullptr) << mdb_strerror(rc);
  EXPECT_EQ(count_keys(env, 100), 100);
  mdb_env_close(env);
}

// What issue 17 found: nosync commits that were never synced are not on the disk after a cut.
TEST_F(LossyLmdb, WritemapCommitsNeverSyncedAreGoneAfterACut) {
  int rc = 0;
  MDB_env* env = open_env(MDB_WRITEMAP | MDB_NOSYNC | MDB_MAPASYNC, &rc);
  ASSERT_NE(env, nullptr) << mdb_strerror(rc);
  put_keys(env, 0, 100);
  if (HasFatalFailure()) return;
  mdb_env_close(env);  // NOSYNC: nothing is synced at close either
  cut(0.0, 13);
  remount();
  env = open_env(MDB_RDONLY, &rc);
  const int found = env != nullptr ? count_keys(env, 100) : -1;
  EXPECT_LE(found, 0) << "unsynced LMDB commits survived the cut";
  if (env != nullptr) mdb_env_close(env);
}

}  // namespace
}  // namespace flashsaga::lossyfs
