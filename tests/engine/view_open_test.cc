// view_open_test: where a domain's view lives (runtime/view_open.h). In memory: the view
// directory is a link to its place under a memory root, survives a reopen, is rebuilt when that
// place was emptied (a reboot), replaces a view on disk and gives way to one, stays on disk
// where the memory has no room; orphans (their data directory gone) are freed, live and young
// ones never.
#include "engine/runtime/view_open.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "domains/rows.h"
#include "tests/engine/temp_dir.h"

namespace flashsaga::runtime {
namespace {

namespace fs = std::filesystem;

class TempDir : public testing::TempDir {
 public:
  TempDir() : testing::TempDir("flashsaga_view_open_test") {}
};

constexpr std::int64_t segment = 42;

// A deployment's order view: <data>/order/view, in memory at <root>/dep/order.
struct Place {
  explicit Place(const TempDir& t)
      : data(t.path() / "data"), root(t.path() / "shm"), memory(root / "dep" / "order") {
    fs::create_directories(data / "order");
    options.dir = data / "order" / "view";
    options.domain = "order";
    options.durability = journal::Durability::nosync;
    options.map_size_bytes = std::size_t{8} << 20;
    options.space_reserve_bytes = std::size_t{1} << 20;
    options.tables = {"orders", std::string(domains::view_counters_table_name)};
  }
  journal::Status open(const fs::path& memory_dir, bool* rebuilt, std::string* why) {
    env.reset();
    return open_view(options, memory_dir, segment, env, rebuilt, why);
  }
  void put(std::uint64_t key) {
    journal::WriteTxn txn;
    ASSERT_TRUE(env->begin_write(txn).ok());
    ASSERT_TRUE(txn.put(env->table("orders"), journal::key_u64(key), journal::as_bytes(key)).ok());
    ASSERT_TRUE(txn.commit().ok());
  }
  bool has(std::uint64_t key) {
    journal::ReadTxn txn;
    EXPECT_TRUE(env->begin_read(txn).ok());
    journal::Bytes v;
    return txn.get(env->table("orders"), journal::key_u64(key), v).ok();
  }
  fs::path data, root, memory;
  journal::Options options;
  std::unique_ptr<journal::Env> env;
};

TEST(ViewOpen, InMemoryTheViewDirectoryLinksToItsPlaceAndKeepsItsRowsAcrossAReopen) {
  TempDir t;
  Place p(t);
  bool rebuilt = true;
  std::string why;
  ASSERT_TRUE(p.open(p.memory, &rebuilt, &why).ok()) << why;
  EXPECT_FALSE(rebuilt);
  ASSERT_TRUE(fs::is_symlink(p.options.dir));
  EXPECT_EQ(fs::read_symlink(p.options.dir), p.memory);
  EXPECT_TRUE(fs::exists(p.memory / "data.mdb"));
  EXPECT_TRUE(fs::exists(p.data / "order" / "view.lifetime"));  // on disk, beside the link
  std::ifstream owner(p.root / "dep" / "owner");
  std::string named;
  std::getline(owner, named);
  EXPECT_EQ(fs::path(named), p.data);
  p.put(7);
  ASSERT_TRUE(close_view_clean(*p.env, segment).ok());
  ASSERT_TRUE(p.open(p.memory, &rebuilt, &why).ok()) << why;
  EXPECT_FALSE(rebuilt);
  EXPECT_TRUE(p.has(7));
}

TEST(ViewOpen, AViewWhoseMemoryWasEmptiedStartsEmptyAndSaysItIsRebuilt) {
  TempDir t;
  Place p(t);
  bool rebuilt = false;
  std::string why;
  ASSERT_TRUE(p.open(p.memory, &rebuilt, &why).ok()) << why;
  p.put(7);
  ASSERT_TRUE(close_view_clean(*p.env, segment).ok());
  p.env.reset();
  fs::remove_all(p.root);  // what a reboot does to tmpfs
  ASSERT_TRUE(p.open(p.memory, &rebuilt, &why).ok()) << why;
  EXPECT_TRUE(rebuilt);  // recovery then fills it from the whole journal
  EXPECT_NE(why.find("memory"), std::string::npos) << why;
  EXPECT_FALSE(p.has(7));
  EXPECT_EQ(fs::read_symlink(p.options.dir), p.memory);
}

TEST(ViewOpen, SwitchingBetweenDiskAndMemorySetsTheOldViewAsideEitherWay) {
  TempDir t;
  Place p(t);
  bool rebuilt = false;
  std::string why;
  ASSERT_TRUE(p.open(fs::path(), &rebuilt, &why).ok()) << why;  // on disk
  ASSERT_FALSE(fs::is_symlink(p.options.dir));
  p.put(7);
  ASSERT_TRUE(close_view_clean(*p.env, segment).ok());
  ASSERT_TRUE(p.open(p.memory, &rebuilt, &why).ok()) << why;  // now in memory
  EXPECT_TRUE(fs::is_symlink(p.options.dir));
  EXPECT_TRUE(fs::exists(p.data / "order" / "view.untrusted" / "data.mdb"));  // the disk view
  EXPECT_FALSE(p.has(7));
  ASSERT_TRUE(close_view_clean(*p.env, segment).ok());
  ASSERT_TRUE(p.open(fs::path(), &rebuilt, &why).ok()) << why;  // back on disk
  EXPECT_FALSE(fs::is_symlink(p.options.dir));
  EXPECT_TRUE(fs::is_directory(p.options.dir));
}

TEST(ViewOpen, AnUntrustedViewInMemoryIsSetAsideInMemoryAndANewOneTakesItsPlace) {
  TempDir t;
  Place p(t);
  bool rebuilt = false;
  std::string why;
  ASSERT_TRUE(p.open(p.memory, &rebuilt, &why).ok()) << why;
  p.put(7);
  p.env.reset();  // not closed cleanly, and the next open comes from another segment
  std::unique_ptr<journal::Env> env;
  ASSERT_TRUE(open_view(p.options, p.memory, segment + 1, env, &rebuilt, &why).ok()) << why;
  EXPECT_TRUE(rebuilt);
  p.env = std::move(env);
  EXPECT_FALSE(p.has(7));
  EXPECT_EQ(fs::read_symlink(p.options.dir), p.memory);
  EXPECT_TRUE(fs::exists(fs::path(p.memory.string() + ".untrusted") / "data.mdb"));
  EXPECT_TRUE(fs::is_symlink(p.data / "order" / "view.untrusted"));
}

TEST(ViewOpen, AMemoryFileSystemWithoutRoomKeepsANewViewOnDiskAndSaysWhy) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a small tmpfs needs root";
  TempDir t;
  Place p(t);
  fs::create_directories(p.root);
  if (::mount("tmpfs", p.root.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=32m") != 0)
    GTEST_SKIP() << "cannot mount a tmpfs: " << std::strerror(errno);
  bool rebuilt = true;
  std::string why;
  const journal::Status s = p.open(p.memory, &rebuilt, &why);
  p.env.reset();
  ::umount2(p.root.c_str(), MNT_DETACH);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_FALSE(rebuilt);
  EXPECT_FALSE(fs::is_symlink(p.options.dir));
  EXPECT_TRUE(fs::exists(p.options.dir / "data.mdb"));
  EXPECT_NE(why.find("stays on disk"), std::string::npos) << why;
}

TEST(ViewOpen, OrphanViewsInMemoryAreFreedLiveAndYoungOnesKept) {
  TempDir t;
  Place live(t);
  bool rebuilt = false;
  std::string why;
  ASSERT_TRUE(live.open(live.memory, &rebuilt, &why).ok()) << why;
  const fs::path gone = live.root / "gone", young = live.root / "young";
  for (const fs::path& d : {gone, young}) {
    fs::create_directories(d / "order");
    std::ofstream(d / "owner") << (t.path() / "deleted-data").string() << '\n';
  }
  const auto old = fs::file_time_type::clock::now() - std::chrono::minutes(5);
  fs::last_write_time(gone, old);
  fs::last_write_time(live.root / "dep", old);
  EXPECT_EQ(remove_orphan_memory_views(live.root), 1u);
  EXPECT_FALSE(fs::exists(gone));
  EXPECT_TRUE(fs::exists(young));        // may be a deployment being created
  EXPECT_TRUE(fs::exists(live.memory));  // its data directory still links to it
  EXPECT_EQ(remove_orphan_memory_views(t.path() / "no-such-root"), 0u);
}

}  // namespace
}  // namespace flashsaga::runtime
