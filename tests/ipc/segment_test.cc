// Segment: create / attach / remove, mode 0600, refusal while the creator lives, clean-up of
// a segment left by a dead creator, and attach refusals that name what is wrong.
// Each test uses its own temporary data directory, so its own segment name, and removes it.
#include "ipc/segment.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "engine/base/clock.h"

namespace flashsaga::ipc {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t geometry = 0x6E6F6D6574727931ull;
constexpr std::size_t payload_size = 1 << 20;
constexpr std::int64_t condition_deadline_ns = 20'000'000'000;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

int wait_child(pid_t pid) {
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

class SegmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/flashsaga-segment-test-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    data_dir_ = pattern;
    name_ = Segment::name_for(data_dir_);
    Segment::remove(data_dir_);
  }
  void TearDown() override {
    Segment::remove(data_dir_);
    std::error_code ec;
    fs::remove_all(data_dir_, ec);
    EXPECT_FALSE(fs::exists("/dev/shm/" + name_)) << "test left /dev/shm/" << name_;
  }
  std::string shm_path() const { return "/dev/shm/" + name_; }

  fs::path data_dir_;
  std::string name_;
};

TEST_F(SegmentTest, NameIsStableAndDependsOnlyOnTheDirectory) {
  EXPECT_EQ(name_.size(), std::string("flashsaga-").size() + 16);
  EXPECT_EQ(name_.rfind("flashsaga-", 0), 0u);
  EXPECT_EQ(name_.find_first_not_of("0123456789abcdef", 10), std::string::npos) << name_;
  EXPECT_EQ(Segment::name_for(data_dir_.string() + "/"), name_);
  EXPECT_EQ(Segment::name_for(data_dir_ / "sub" / ".."), name_);
  EXPECT_NE(Segment::name_for(data_dir_ / "sub"), name_);
}

TEST_F(SegmentTest, CreatesAttachesAndRemoves) {
  std::unique_ptr<Segment> created;
  std::string error, note;
  ASSERT_TRUE(Segment::create(data_dir_, payload_size, geometry, created, &error, &note)) << error;
  EXPECT_TRUE(note.empty()) << note;
  EXPECT_EQ(created->name(), name_);

  const SegmentHeader& h = created->header();
  EXPECT_EQ(h.magic, segment_magic);
  EXPECT_EQ(h.layout_version, segment_layout_version);
  EXPECT_EQ(h.creator_pid, static_cast<std::uint32_t>(::getpid()));
  EXPECT_EQ(h.creator_start_ticks, process_start_ticks(static_cast<std::uint32_t>(::getpid())));
  EXPECT_NE(h.creator_start_ticks, 0u);
  EXPECT_GT(h.created_wall_ns, 0);
  EXPECT_LE(h.created_wall_ns, wall_now_ns());
  EXPECT_EQ(h.payload_offset, 4096u);
  EXPECT_EQ(h.payload_bytes, payload_size);
  EXPECT_GE(h.total_bytes, h.payload_offset + h.payload_bytes);
  EXPECT_EQ(h.geometry_hash, geometry);
  EXPECT_EQ(created->payload_bytes(), payload_size);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(created->payload()) % 4096, 0u);

  // The payload starts zero-filled.
  std::size_t nonzero = 0;
  for (std::size_t i = 0; i < payload_size; ++i) nonzero += created->payload()[i] != std::byte{0};
  EXPECT_EQ(nonzero, 0u);

  // A second mapping (as another process would have) sees the same bytes.
  created->payload()[12345] = std::byte{0x5A};
  std::unique_ptr<Segment> attached;
  ASSERT_TRUE(Segment::attach(data_dir_, geometry, attached, &error)) << error;
  EXPECT_EQ(attached->payload()[12345], std::byte{0x5A});
  EXPECT_EQ(attached->payload_bytes(), payload_size);

  EXPECT_TRUE(Segment::remove(data_dir_));
  EXPECT_FALSE(Segment::remove(data_dir_));
  EXPECT_FALSE(Segment::attach(data_dir_, geometry, attached, &error));
  EXPECT_TRUE(contains(error, "segment " + name_ + " not found")) << error;
}

TEST_F(SegmentTest, ModeIsOwnerReadWriteOnlyWhateverTheUmask) {
  const mode_t old_umask = ::umask(0);
  std::unique_ptr<Segment> segment;
  std::string error;
  const bool created = Segment::create(data_dir_, payload_size, geometry, segment, &error, nullptr);
  ::umask(old_umask);
  ASSERT_TRUE(created) << error;
  struct stat st {};
  ASSERT_EQ(::stat(shm_path().c_str(), &st), 0) << shm_path();
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_uid, ::geteuid());
}

TEST_F(SegmentTest, SecondCreateFailsWhileTheCreatorIsAlive) {
  std::unique_ptr<Segment> first, second;
  std::string error, note;
  ASSERT_TRUE(Segment::create(data_dir_, payload_size, geometry, first, &error, &note)) << error;
  EXPECT_FALSE(Segment::create(data_dir_, payload_size, geometry, second, &error, &note));
  EXPECT_EQ(second, nullptr);
  EXPECT_EQ(error, "segment " + name_ + " is in use by pid " + std::to_string(::getpid()));
  EXPECT_TRUE(note.empty()) << note;
  EXPECT_EQ(first->header().magic, segment_magic);  // untouched
}

TEST_F(SegmentTest, StaleSegmentOfADeadCreatorIsRemovedAndRecreated) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // the creator: create, report, wait to be killed (alarm bounds the wait)
    ::close(ready[0]);
    ::alarm(60);
    std::unique_ptr<Segment> segment;
    const char ok =
        Segment::create(data_dir_, payload_size, geometry, segment, nullptr, nullptr) ? 'y' : 'n';
    if (::write(ready[1], &ok, 1) != 1) ::_exit(2);
    for (int i = 0; i < 1000; ++i) ::pause();
    ::_exit(3);
  }
  ::close(ready[1]);
  char ok = 0;
  ASSERT_EQ(::read(ready[0], &ok, 1), 1);
  ::close(ready[0]);
  ASSERT_EQ(ok, 'y');

  std::unique_ptr<Segment> segment;
  std::string error, note;
  ASSERT_TRUE(Segment::attach(data_dir_, geometry, segment, &error)) << error;  // creator alive
  segment.reset();
  EXPECT_FALSE(Segment::create(data_dir_, payload_size, geometry, segment, &error, &note));
  EXPECT_TRUE(contains(error, "is in use by pid " + std::to_string(pid))) << error;

  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  EXPECT_EQ(wait_child(pid), 128 + SIGKILL);

  EXPECT_FALSE(Segment::attach(data_dir_, geometry, segment, &error));
  EXPECT_TRUE(contains(error, "left by dead supervisor pid " + std::to_string(pid))) << error;

  ASSERT_TRUE(Segment::create(data_dir_, payload_size, geometry, segment, &error, &note)) << error;
  EXPECT_TRUE(
      contains(note, "removed stale segment " + name_ + " left by dead pid " + std::to_string(pid)))
      << note;
  EXPECT_EQ(segment->header().creator_pid, static_cast<std::uint32_t>(::getpid()));
}

TEST_F(SegmentTest, GarbageHeaderIsRemovedAndRecreated) {
  const int fd = ::shm_open(name_.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 100), 0);  // too small for a header
  ::close(fd);
  std::unique_ptr<Segment> segment;
  std::string error, note;
  ASSERT_TRUE(Segment::create(data_dir_, payload_size, geometry, segment, &error, &note)) << error;
  EXPECT_TRUE(contains(note, "removed stale segment " + name_ + " with a garbage header")) << note;
}

TEST_F(SegmentTest, AttachRefusesAnotherLayoutVersionNamingBoth) {
  std::unique_ptr<Segment> created, attached;
  std::string error;
  ASSERT_TRUE(Segment::create(data_dir_, payload_size, geometry, created, &error, nullptr));
  created->header().layout_version = 2;
  EXPECT_FALSE(Segment::attach(data_dir_, geometry, attached, &error));
  EXPECT_TRUE(contains(error, "layout version 2")) << error;
  EXPECT_TRUE(contains(error, "expects layout version 1")) << error;
}

TEST_F(SegmentTest, AttachRefusesBadMagic) {
  std::unique_ptr<Segment> created, attached;
  std::string error;
  ASSERT_TRUE(Segment::create(data_dir_, payload_size, geometry, created, &error, nullptr));
  created->header().magic = 0xDEADBEEFu;
  EXPECT_FALSE(Segment::attach(data_dir_, geometry, attached, &error));
  EXPECT_TRUE(contains(error, "bad magic 0xdeadbeef")) << error;
}

TEST_F(SegmentTest, AttachRefusesAnotherGeometry) {
  std::unique_ptr<Segment> created, attached;
  std::string error;
  ASSERT_TRUE(Segment::create(data_dir_, payload_size, geometry, created, &error, nullptr));
  EXPECT_FALSE(Segment::attach(data_dir_, geometry + 1, attached, &error));
  EXPECT_TRUE(contains(error, "geometry hash")) << error;
}

TEST_F(SegmentTest, AttachRefusesAnotherUsersSegmentAndSaysSo) {
  std::unique_ptr<Segment> created;
  std::string error;
  ASSERT_TRUE(Segment::create(data_dir_, payload_size, geometry, created, &error, nullptr));
  if (::geteuid() != 0) {  // we cannot become another user: take our own access away instead
    ASSERT_EQ(::chmod(shm_path().c_str(), 0), 0);
    std::unique_ptr<Segment> attached;
    EXPECT_FALSE(Segment::attach(data_dir_, geometry, attached, &error));
    ::chmod(shm_path().c_str(), 0600);
    EXPECT_TRUE(contains(error, "permission denied")) << error;
    return;
  }
  // As root: a child becomes "nobody" and tries to attach; it reports the error text back.
  constexpr std::size_t report_bytes = 4096;
  void* shared =
      ::mmap(nullptr, report_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(shared, MAP_FAILED);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
    std::unique_ptr<Segment> attached;
    std::string child_error;
    const bool ok = Segment::attach(data_dir_, geometry, attached, &child_error);
    std::strncpy(static_cast<char*>(shared), child_error.c_str(), report_bytes - 1);
    ::_exit(ok ? 1 : 0);
  }
  EXPECT_EQ(wait_child(pid), 0);
  const std::string child_error(static_cast<const char*>(shared));
  ::munmap(shared, report_bytes);
  EXPECT_TRUE(contains(child_error, "is not accessible")) << child_error;
  EXPECT_TRUE(contains(child_error, "belongs to uid 0")) << child_error;
  EXPECT_TRUE(contains(child_error, "runs as uid 65534")) << child_error;
}

TEST(ProcessAlive, TellsALiveProcessFromARecycledPid) {
  const auto self = static_cast<std::uint32_t>(::getpid());
  const std::uint64_t ticks = process_start_ticks(self);
  EXPECT_NE(ticks, 0u);
  EXPECT_TRUE(process_alive(self, ticks));
  EXPECT_TRUE(process_alive(self, 0));
  EXPECT_FALSE(process_alive(self, ticks + 1));  // same pid, another start time: reused pid
  EXPECT_FALSE(process_alive(0, 0));
}

TEST(ProcessAlive, ExitedChildIsDeadEvenBeforeItIsReaped) {
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) ::_exit(0);
  const auto child = static_cast<std::uint32_t>(pid);
  bool dead = false;
  const std::int64_t start_ns = mono_now_ns();
  while (!dead && mono_now_ns() - start_ns < condition_deadline_ns) {  // becomes a zombie
    dead = !process_alive(child, 0);
    if (!dead) ::sched_yield();
  }
  EXPECT_TRUE(dead);
  EXPECT_NE(process_start_ticks(child), 0u);  // the zombie still has its /proc entry
  EXPECT_EQ(wait_child(pid), 0);
  EXPECT_FALSE(process_alive(child, 0));
  EXPECT_EQ(process_start_ticks(child), 0u);
}

}  // namespace
}  // namespace flashsaga::ipc
