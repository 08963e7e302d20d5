// SPSC ring, one process: edge cases set up by writing cursors directly, batch and release
// semantics, attach checks, and a two-thread transfer (which ThreadSanitizer checks for races).
#include "ipc/spsc_ring.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <limits>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "engine/base/clock.h"
#include "ipc/message.h"
#include "ipc/ring_descriptor.h"

namespace flashsaga::ipc {
namespace {

namespace rd = ring_descriptor;

constexpr Node gateway{Domain::port, 3};
constexpr Node order{Domain::order, 0};

// A 64-byte aligned heap region big enough for one ring.
class RingRegion {
 public:
  explicit RingRegion(std::uint32_t capacity)
      : bytes_(SpscRing::region_bytes(capacity)),
        memory_(::operator new (bytes_, std::align_val_t{rd::region_alignment_bytes})) {}
  ~RingRegion() { ::operator delete (memory_, std::align_val_t{rd::region_alignment_bytes}); }
  RingRegion(const RingRegion&) = delete;
  RingRegion& operator=(const RingRegion&) = delete;
  void* get() const { return memory_; }
  std::size_t bytes() const { return bytes_; }
  rd::Control& control() const { return *static_cast<rd::Control*>(memory_); }

 private:
  std::size_t bytes_;
  void* memory_;
};

Message numbered(std::uint64_t sequence) {
  Message m = make_message(MessageType::payment_approved, Domain::payment, Domain::order,
                           PaymentApprovedBody{static_cast<std::int64_t>(sequence * 3)});
  m.header.sequence = sequence;
  m.header.order_id = sequence + 1000;
  seal(m);
  return m;
}

// Both cursors set to `cursor`, as if that many messages had already passed through.
void set_cursors(RingRegion& region, std::uint64_t cursor) {
  std::atomic_ref<std::uint64_t>(region.control().producer.cursor).store(cursor);
  std::atomic_ref<std::uint64_t>(region.control().consumer.cursor).store(cursor);
}

// Reads and releases everything readable; returns the sequences seen, validating each.
std::vector<std::uint64_t> drain(RingConsumer& consumer) {
  std::vector<std::uint64_t> seen;
  const std::size_t n = consumer.readable();
  for (std::size_t i = 0; i < n; ++i) {
    const Message& m = consumer.peek(i);
    EXPECT_EQ(validate(m), MessageError::ok);
    seen.push_back(m.header.sequence);
  }
  consumer.release(n);
  return seen;
}

std::vector<std::uint64_t> range(std::uint64_t first, std::uint64_t count) {
  std::vector<std::uint64_t> out;
  for (std::uint64_t i = 0; i < count; ++i) out.push_back(first + i);
  return out;
}

TEST(SpscRing, FormatsAnEmptyRingWithItsGeometry) {
  RingRegion region(64);
  SpscRing ring = SpscRing::format(region.get(), 64, gateway, order);
  EXPECT_TRUE(ring.valid());
  EXPECT_EQ(ring.capacity(), 64u);
  EXPECT_EQ(ring.from(), gateway);
  EXPECT_EQ(ring.to(), order);
  EXPECT_EQ(ring.depth(), 0u);
  EXPECT_EQ(ring.full_events(), 0u);
  EXPECT_EQ(ring.load_acked(), 0u);
  EXPECT_EQ(region.control().header.magic, ring_magic);
  EXPECT_EQ(region.control().header.region_bytes, region.bytes());
  RingConsumer consumer(ring);
  EXPECT_EQ(consumer.readable(), 0u);
  RingProducer producer(ring, nullptr);
  EXPECT_EQ(producer.free_slots(), 64u);
}

TEST(SpscRing, DefaultConstructedViewIsNotValid) {
  SpscRing ring;
  EXPECT_FALSE(ring.valid());
}

TEST(SpscRing, DeliversMessagesInPublishOrder) {
  RingRegion region(16);
  SpscRing ring = SpscRing::format(region.get(), 16, gateway, order);
  RingProducer producer(ring, nullptr);
  RingConsumer consumer(ring);
  for (std::uint64_t s = 1; s <= 5; ++s) ASSERT_TRUE(producer.try_publish(numbered(s)));
  EXPECT_EQ(ring.depth(), 5u);
  EXPECT_EQ(drain(consumer), range(1, 5));
  EXPECT_EQ(ring.depth(), 0u);
}

TEST(SpscRing, RejectsPublishWhenRingFull) {
  RingRegion region(16);
  SpscRing ring = SpscRing::format(region.get(), 16, gateway, order);
  RingProducer producer(ring, nullptr);
  for (std::uint64_t s = 1; s <= 16; ++s) ASSERT_TRUE(producer.try_publish(numbered(s)));
  EXPECT_EQ(producer.free_slots(), 0u);
  EXPECT_FALSE(producer.try_publish(numbered(17)));
  EXPECT_FALSE(producer.try_publish(numbered(17)));
  EXPECT_EQ(ring.full_events(), 2u);
  EXPECT_EQ(ring.depth(), 16u);
  // Nothing unread was overwritten.
  RingConsumer consumer(ring);
  EXPECT_EQ(drain(consumer), range(1, 16));
}

TEST(SpscRing, AcceptsPublishAgainOnceTheConsumerReleases) {
  RingRegion region(16);
  SpscRing ring = SpscRing::format(region.get(), 16, gateway, order);
  RingProducer producer(ring, nullptr);
  RingConsumer consumer(ring);
  for (std::uint64_t s = 1; s <= 16; ++s) ASSERT_TRUE(producer.try_publish(numbered(s)));
  ASSERT_FALSE(producer.try_publish(numbered(17)));
  ASSERT_EQ(consumer.readable(), 16u);
  consumer.release(1);
  EXPECT_TRUE(producer.try_publish(numbered(17)));
  EXPECT_FALSE(producer.try_publish(numbered(18)));
}

TEST(SpscRing, ReportsEmptyAndFullAcrossTheCapacityWrap) {
  RingRegion region(16);
  SpscRing ring = SpscRing::format(region.get(), 16, gateway, order);
  set_cursors(region, 16 * 1000 + 13);  // slot index 13: three slots before the wrap
  RingProducer producer(ring, nullptr);
  RingConsumer consumer(ring);
  EXPECT_EQ(consumer.readable(), 0u);
  EXPECT_EQ(producer.free_slots(), 16u);
  for (std::uint64_t s = 1; s <= 16; ++s) ASSERT_TRUE(producer.try_publish(numbered(s)));
  EXPECT_FALSE(producer.try_publish(numbered(17)));
  EXPECT_EQ(ring.depth(), 16u);
  EXPECT_EQ(consumer.readable(), 16u);
  EXPECT_EQ(consumer.peek(3).header.sequence, 4u);  // first message after the wrap, slot 0
  EXPECT_EQ(drain(consumer), range(1, 16));
  EXPECT_EQ(consumer.readable(), 0u);
  EXPECT_EQ(ring.load_producer_cursor(std::memory_order_relaxed), 16u * 1000 + 13 + 16);
}

TEST(SpscRing, ReportsEmptyAndFullWhenCursorsWrapPastTwoToTheSixtyFour) {
  RingRegion region(16);
  SpscRing ring = SpscRing::format(region.get(), 16, gateway, order);
  const std::uint64_t near_wrap = std::numeric_limits<std::uint64_t>::max() - 4;  // 2^64 - 5
  set_cursors(region, near_wrap);
  RingProducer producer(ring, nullptr);
  RingConsumer consumer(ring);
  EXPECT_EQ(consumer.readable(), 0u);
  EXPECT_EQ(producer.free_slots(), 16u);
  for (std::uint64_t s = 1; s <= 16; ++s) ASSERT_TRUE(producer.try_publish(numbered(s)));
  EXPECT_EQ(ring.load_producer_cursor(std::memory_order_relaxed), 11u);  // wrapped through 0
  EXPECT_FALSE(producer.try_publish(numbered(17)));
  EXPECT_EQ(ring.depth(), 16u);
  EXPECT_EQ(consumer.readable(), 16u);
  consumer.release(7);  // consumer cursor crosses 2^64 too
  EXPECT_EQ(ring.load_consumer_cursor(std::memory_order_relaxed), 2u);
  EXPECT_EQ(producer.free_slots(), 7u);
  EXPECT_EQ(drain(consumer), range(8, 9));
  for (std::uint64_t s = 17; s <= 32; ++s) ASSERT_TRUE(producer.try_publish(numbered(s)));
  EXPECT_EQ(drain(consumer), range(17, 16));
}

TEST(SpscRing, BatchPublishesTheLongestPrefixThatFits) {
  RingRegion region(16);
  SpscRing ring = SpscRing::format(region.get(), 16, gateway, order);
  RingProducer producer(ring, nullptr);
  RingConsumer consumer(ring);
  std::vector<Message> batch;
  for (std::uint64_t s = 1; s <= 10; ++s) batch.push_back(numbered(s));
  EXPECT_EQ(producer.try_publish_batch(batch), 10u);
  EXPECT_EQ(ring.full_events(), 0u);
  batch.clear();
  for (std::uint64_t s = 11; s <= 20; ++s) batch.push_back(numbered(s));
  EXPECT_EQ(producer.try_publish_batch(batch), 6u);  // only 6 slots left
  EXPECT_EQ(ring.full_events(), 1u);
  EXPECT_EQ(producer.try_publish_batch(batch), 0u);
  EXPECT_EQ(ring.full_events(), 2u);
  EXPECT_EQ(drain(consumer), range(1, 16));  // the prefix 11..16, never 17..20
}

TEST(SpscRing, BatchPublishSplitsAcrossTheCapacityWrap) {
  RingRegion region(16);
  SpscRing ring = SpscRing::format(region.get(), 16, gateway, order);
  set_cursors(region, 16 * 7 + 12);
  RingProducer producer(ring, nullptr);
  RingConsumer consumer(ring);
  std::vector<Message> batch;
  for (std::uint64_t s = 1; s <= 9; ++s) batch.push_back(numbered(s));
  EXPECT_EQ(producer.try_publish_batch(batch), 9u);  // 4 before the wrap, 5 after
  EXPECT_EQ(drain(consumer), range(1, 9));
}

TEST(SpscRing, BatchOfNothingPublishesNothing) {
  RingRegion region(16);
  SpscRing ring = SpscRing::format(region.get(), 16, gateway, order);
  RingProducer producer(ring, nullptr);
  EXPECT_EQ(producer.try_publish_batch({}), 0u);
  EXPECT_EQ(ring.depth(), 0u);
  EXPECT_EQ(ring.full_events(), 0u);
}

TEST(SpscRing, ReleaseFreesExactlyTheReleasedSlots) {
  RingRegion region(16);
  SpscRing ring = SpscRing::format(region.get(), 16, gateway, order);
  RingProducer producer(ring, nullptr);
  RingConsumer consumer(ring);
  for (std::uint64_t s = 1; s <= 6; ++s) ASSERT_TRUE(producer.try_publish(numbered(s)));
  ASSERT_EQ(consumer.readable(), 6u);
  EXPECT_EQ(producer.free_slots(), 10u);
  consumer.release(2);
  EXPECT_EQ(consumer.readable(), 4u);
  EXPECT_EQ(consumer.peek(0).header.sequence, 3u);
  EXPECT_EQ(producer.free_slots(), 12u);
  EXPECT_EQ(ring.depth(), 4u);
  consumer.release(0);
  EXPECT_EQ(consumer.readable(), 4u);
}

TEST(SpscRing, ReadableRefreshesOnlyWhenTheCachedViewIsExhausted) {
  RingRegion region(16);
  SpscRing ring = SpscRing::format(region.get(), 16, gateway, order);
  RingProducer producer(ring, nullptr);
  RingConsumer consumer(ring);
  ASSERT_TRUE(producer.try_publish(numbered(1)));
  ASSERT_EQ(consumer.readable(), 1u);
  ASSERT_TRUE(producer.try_publish(numbered(2)));
  EXPECT_EQ(consumer.readable(), 1u);  // cached view still has message 1
  EXPECT_EQ(consumer.refresh(), 2u);
  consumer.release(2);
  EXPECT_EQ(consumer.readable(), 0u);
}

TEST(SpscRing, UnreleasedMessagesAreReadAgainByARestartedConsumer) {
  RingRegion region(16);
  SpscRing ring = SpscRing::format(region.get(), 16, gateway, order);
  RingProducer producer(ring, nullptr);
  for (std::uint64_t s = 1; s <= 5; ++s) ASSERT_TRUE(producer.try_publish(numbered(s)));
  {
    RingConsumer crashed(ring);
    ASSERT_EQ(crashed.readable(), 5u);
    crashed.release(2);  // committed 1..2; read 3..5 but "died" before committing them
  }
  RingConsumer restarted(ring);
  EXPECT_EQ(drain(restarted), range(3, 3));
}

TEST(SpscRing, RestartedProducerContinuesAfterTheLastPublishedMessage) {
  RingRegion region(16);
  SpscRing ring = SpscRing::format(region.get(), 16, gateway, order);
  {
    RingProducer first(ring, nullptr);
    for (std::uint64_t s = 1; s <= 3; ++s) ASSERT_TRUE(first.try_publish(numbered(s)));
  }
  RingProducer restarted(ring, nullptr);
  EXPECT_EQ(restarted.free_slots(), 13u);
  ASSERT_TRUE(restarted.try_publish(numbered(4)));
  RingConsumer consumer(ring);
  EXPECT_EQ(drain(consumer), range(1, 4));
}

TEST(SpscRing, AckedSequenceIsSharedBetweenTheTwoSides) {
  RingRegion region(16);
  SpscRing ring = SpscRing::format(region.get(), 16, gateway, order);
  SpscRing other;
  ASSERT_TRUE(SpscRing::attach(region.get(), other, nullptr));
  ring.store_acked(41);
  EXPECT_EQ(other.load_acked(), 41u);
}

TEST(SpscRing, AttachSeesTheFormattedGeometry) {
  RingRegion region(32);
  SpscRing::format(region.get(), 32, gateway, order);
  SpscRing ring;
  std::string error;
  ASSERT_TRUE(SpscRing::attach(region.get(), region.bytes(), ring, &error)) << error;
  EXPECT_EQ(ring.capacity(), 32u);
  EXPECT_EQ(ring.from(), gateway);
  EXPECT_EQ(ring.to(), order);
}

TEST(SpscRing, AttachRejectsWrongMagic) {
  RingRegion region(16);
  SpscRing::format(region.get(), 16, gateway, order);
  region.control().header.magic = 0x12345678u;
  SpscRing ring;
  std::string error;
  EXPECT_FALSE(SpscRing::attach(region.get(), ring, &error));
  EXPECT_FALSE(ring.valid());
  EXPECT_NE(error.find("expected 0x47525346"), std::string::npos) << error;
  EXPECT_NE(error.find("found 0x12345678"), std::string::npos) << error;
}

TEST(SpscRing, AttachRejectsAnotherLayoutVersionNamingBothVersions) {
  RingRegion region(16);
  SpscRing::format(region.get(), 16, gateway, order);
  region.control().header.layout_version = 7;
  SpscRing ring;
  std::string error;
  EXPECT_FALSE(SpscRing::attach(region.get(), ring, &error));
  EXPECT_NE(error.find("expected version 1"), std::string::npos) << error;
  EXPECT_NE(error.find("found version 7"), std::string::npos) << error;
}

TEST(SpscRing, AttachRejectsABadGeometry) {
  RingRegion region(16);
  SpscRing ring;
  std::string error;

  SpscRing::format(region.get(), 16, gateway, order);
  region.control().header.capacity_slots = 24;
  EXPECT_FALSE(SpscRing::attach(region.get(), ring, &error));
  EXPECT_NE(error.find("capacity 24"), std::string::npos) << error;

  SpscRing::format(region.get(), 16, gateway, order);
  region.control().header.slot_size_bytes = 128;
  EXPECT_FALSE(SpscRing::attach(region.get(), ring, &error));
  EXPECT_NE(error.find("slot size 256"), std::string::npos) << error;

  SpscRing::format(region.get(), 16, gateway, order);
  EXPECT_FALSE(SpscRing::attach(region.get(), region.bytes() - 1, ring, &error));
  EXPECT_NE(error.find("only"), std::string::npos) << error;
}

TEST(SpscRingDeathTest, FormatRefusesACapacityThatIsNotAPowerOfTwo) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  RingRegion region(32);
  EXPECT_DEATH(SpscRing::format(region.get(), 24, gateway, order), "has_single_bit");
}

TEST(SpscRingDeathTest, FormatRefusesACapacityBelowTheMinimum) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  RingRegion region(16);
  EXPECT_DEATH(SpscRing::format(region.get(), 8, gateway, order), "ring_capacity_slots_min");
}

TEST(SpscRingDeathTest, ReleasingMoreThanIsReadableIsABug) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  RingRegion region(16);
  SpscRing ring = SpscRing::format(region.get(), 16, gateway, order);
  RingConsumer consumer(ring);
  EXPECT_DEATH(consumer.release(1), "cached_head_");
}

// Two threads, many wrap-arounds, random batch sizes on both sides: every message arrives
// once, in order, whole. Under ThreadSanitizer this also proves the release/acquire pairs.
TEST(SpscRing, TwoThreadsTransferEveryMessageInOrder) {
  constexpr std::uint64_t message_count = 100'000;
  constexpr std::int64_t deadline_ns = 60'000'000'000;
  RingRegion region(64);
  SpscRing ring = SpscRing::format(region.get(), 64, gateway, order);
  const std::int64_t start_ns = mono_now_ns();

  std::thread producer_thread([&] {
    RingProducer producer(ring, nullptr);
    std::vector<Message> batch;
    std::uint64_t next = 1;
    std::uint64_t rng = 0x9E3779B97F4A7C15ull;
    while (next <= message_count && mono_now_ns() - start_ns < deadline_ns) {
      rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
      const std::uint64_t want = 1 + rng % 20;
      batch.clear();
      for (std::uint64_t i = 0; i < want && next + i <= message_count; ++i)
        batch.push_back(numbered(next + i));
      next += producer.try_publish_batch(batch);
    }
  });

  RingConsumer consumer(ring);
  std::uint64_t expected = 1;
  std::uint64_t bad = 0;
  std::uint64_t rng = 0xD1B54A32D192ED03ull;
  while (expected <= message_count && mono_now_ns() - start_ns < deadline_ns) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    const std::size_t take = std::min<std::size_t>(consumer.readable(), 1 + rng % 33);
    for (std::size_t i = 0; i < take; ++i) {
      const Message& m = consumer.peek(i);
      if (validate(m) != MessageError::ok || m.header.sequence != expected + i) ++bad;
    }
    consumer.release(take);
    expected += take;
  }
  producer_thread.join();
  EXPECT_EQ(expected, message_count + 1);
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(ring.depth(), 0u);
}

}  // namespace
}  // namespace flashsaga::ipc
