// Faults during a sale, over a real deployment: the disk fills up, a journal's map reaches its
// maximum. Intake must answer 503 and stop cleanly (no domain crashes, nothing half-written),
// and the sale must resume when space returns; afterwards every acknowledged order ends and
// `flashsaga check` proves every invariant. And a corrupted message in a ring: set aside,
// journaled with its position, reported by check, never applied, the domain unharmed. And a
// reboot that emptied the views kept in memory: rebuilt from the journals, every order as it was.
//
// The full disk is a real one: the data directory is a small tmpfs (mounting needs root; the
// test is skipped with the reason otherwise), filled with a filler file while orders flow.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/port.h"
#include "ipc/spsc_ring.h"
#include "tests/e2e/http_client.h"
#include "tests/e2e/live_deployment.h"
#include "tests/e2e/settled_check.h"

namespace flashsaga {
namespace {

using ipc::Domain;
using testing::LiveDeployment;

struct Shop {
  std::vector<std::uint64_t> users;
  std::uint32_t product = 0;
};

Shop open_shop(engine::Client& c, std::size_t users) {
  Shop s;
  for (std::size_t i = 0; i < users; ++i) {
    auto u = c.create_user("buyer", "buyer" + std::to_string(i) + "@full.example");
    EXPECT_TRUE(u.ok());
    EXPECT_TRUE(c.deposit(u.id, 1'000'000'000).ok());
    s.users.push_back(u.id);
  }
  auto p = c.create_product("drop", 1'000, 10'000'000, 0);
  EXPECT_TRUE(p.ok());
  s.product = static_cast<std::uint32_t>(p.id);
  return s;
}

// Places orders (window 64) until `stop_when` says so or attempts_max is reached; collects the
// acknowledged ids and counts answers.
struct Load {
  std::vector<std::uint64_t> acknowledged;
  std::uint64_t attempts = 0, unavailable = 0, timed_out = 0, refused = 0;
};

Load place_until(engine::Client& c, const Shop& shop, std::uint64_t attempts_max,
                 std::uint64_t key_base, const std::function<bool(const Load&)>& stop_when) {
  Load out;
  std::mutex mutex;
  std::atomic<std::uint32_t> in_flight{0};
  std::mt19937_64 rng(key_base);
  for (std::uint64_t i = 0; i < attempts_max; ++i) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (stop_when(out)) break;
    }
    for (int spin = 0; spin < 200'000 && in_flight.load() >= 64; ++spin)
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    engine::PlaceRequest req;
    req.user_id = shop.users[rng() % shop.users.size()];
    req.item_count = 1;
    req.items[0] = ipc::LineItem{shop.product, 1, 0};
    req.idempotency_key = key_base + i;
    in_flight.fetch_add(1);
    ++out.attempts;
    const auto now = c.port().place_order(req, [&](const engine::PortReply& r) {
      std::lock_guard<std::mutex> lock(mutex);
      if (r.timed_out) {
        ++out.timed_out;
      } else if (ipc::body_as<ipc::PlaceOrderReplyBody>(r.message).result ==
                 static_cast<std::uint8_t>(ipc::PlaceResult::accepted)) {
        out.acknowledged.push_back(r.message.header.order_id);
      } else {
        ++out.refused;
      }
      in_flight.fetch_sub(1);
    });
    if (now.status != engine::PlaceStatus::submitted) {
      in_flight.fetch_sub(1);
      std::lock_guard<std::mutex> lock(mutex);
      if (now.status == engine::PlaceStatus::unavailable)
        ++out.unavailable;
      else
        ++out.refused;
    }
  }
  // Replies may wait for space to return: the port times them out after request_timeout.
  for (int i = 0; i < 30'000 && in_flight.load() != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return out;
}

std::vector<std::uint32_t> domain_pids(ipc::Deployment& d) {
  std::vector<std::uint32_t> pids;
  for (std::uint8_t i = 1; i <= domain_count; ++i)
    pids.push_back(d.status(static_cast<Domain>(i)).pid.load());
  return pids;
}

std::string degraded_domains(ipc::Deployment& d) {
  std::string out;
  for (std::uint8_t i = 1; i <= domain_count; ++i)
    if (d.status(static_cast<Domain>(i)).state.load() ==
        static_cast<std::uint32_t>(ipc::DomainState::degraded))
      out += std::string(ipc::domain_name(static_cast<Domain>(i))) + " ";
  return out;
}

// Waits (bounded) until every domain is ready and intake is open again.
bool wait_all_ready(LiveDeployment& dep, int timeout_ms) {
  for (int i = 0; i < timeout_ms / 10; ++i) {
    if (dep.ready() && degraded_domains(dep.client().deployment()).empty()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// Fills the file system of `dir` up to all but `keep_bytes` with one file; returns its path.
std::filesystem::path fill_disk(const std::filesystem::path& dir, std::uint64_t keep_bytes) {
  struct statvfs vfs {};
  EXPECT_EQ(::statvfs(dir.c_str(), &vfs), 0);
  const std::uint64_t free_bytes = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  const std::filesystem::path filler = dir / "filler";
  const int fd = ::open(filler.c_str(), O_CREAT | O_WRONLY, 0600);
  EXPECT_GE(fd, 0);
  if (free_bytes > keep_bytes) {
    EXPECT_EQ(::posix_fallocate(fd, 0, static_cast<off_t>(free_bytes - keep_bytes)), 0);
  }
  ::close(fd);
  return filler;
}

void expect_terminal_and_clean(LiveDeployment& dep,
                               const std::vector<std::uint64_t>& acknowledged) {
  for (std::uint64_t id : acknowledged) {
    ASSERT_TRUE(dep.client().order(id).has_value()) << "acknowledged order " << id << " is missing";
    EXPECT_TRUE(dep.client().wait_terminal(id, 30'000)) << "order " << id << " never ended";
  }
  const tools::CheckReport report = testing::check_when_settled(dep.config().data_dir);
  EXPECT_EQ(report.error, "");
  if (!report.violations.empty()) tools::print_check(report, std::cerr);
  EXPECT_TRUE(report.violations.empty()) << report.violations.size() << " violations";
}

// Sells until intake has answered `unavailable` 200 times (a domain cannot write), prints what
// happened, and checks the pause: some domain degraded, none crashed or restarted.
Load sell_until_intake_pauses(LiveDeployment& dep, const Shop& shop,
                              const std::vector<std::uint32_t>& pids, const char* label,
                              const char* never) {
  engine::Client& c = dep.client();
  Load full = place_until(c, shop, 2'000'000, 1'000'000,
                          [](const Load& l) { return l.unavailable >= 200; });
  std::printf(
      "%s: %llu attempts, %zu acknowledged, %llu unavailable, %llu timed out; degraded: %s\n",
      label, static_cast<unsigned long long>(full.attempts), full.acknowledged.size(),
      static_cast<unsigned long long>(full.unavailable),
      static_cast<unsigned long long>(full.timed_out), degraded_domains(c.deployment()).c_str());
  EXPECT_GE(full.unavailable, 200u) << never;
  EXPECT_FALSE(degraded_domains(c.deployment()).empty());
  // No domain crashed or was restarted: running out of space is an answer, not a fault.
  EXPECT_EQ(domain_pids(c.deployment()), pids);
  for (std::uint8_t i = 1; i <= domain_count; ++i)
    EXPECT_EQ(c.deployment().status(static_cast<Domain>(i)).restarts.load(), 0u) << int(i);
  return full;
}

TEST(ResourceFaults, DiskFullDuringASalePausesIntakeLosesNothingAndResumesWhenSpaceReturns) {
  const std::uint16_t http_port = testing::free_tcp_port();
  LiveDeployment dep("[journal]\nmap_size_mib = 4\nspace_reserve_mib = 1\n[http]\nport = " +
                         std::to_string(http_port) + "\n",
                     /*gateway=*/true, "nosync", /*tmpfs_mib=*/64);
  if (!dep.mount_error().empty()) GTEST_SKIP() << dep.mount_error();
  engine::Client& c = dep.client();
  const Shop shop = open_shop(c, 200);
  const std::vector<std::uint32_t> pids = domain_pids(c.deployment());

  // Leave a few MiB: the sale runs into the wall within seconds.
  const std::filesystem::path filler = fill_disk(dep.config().data_dir, 3u << 20);
  Load full = sell_until_intake_pauses(dep, shop, pids, "disk full",
                                       "the disk never filled up: intake never paused");
  ASSERT_GE(full.unavailable, 200u);
  EXPECT_TRUE(dep.supervisor_alive());
  // Over HTTP: 503 with the API's error body, at once.
  const testing::HttpResponse r = testing::http_request(
      http_port, "POST", "/orders",
      R"({"user_id":)" + std::to_string(shop.users[0]) + R"(,"items":[{"product_id":)" +
          std::to_string(shop.product) + R"(,"quantity":1}]})");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_NE(r.body.find("\"error\":\"unavailable\""), std::string::npos) << r.body;
  // A command to a domain that cannot write is refused at once too (not left in its ring).
  Domain degraded = Domain::none;
  for (std::uint8_t i = 1; i <= domain_count && degraded == Domain::none; ++i)
    if (c.deployment().status(static_cast<Domain>(i)).state.load() ==
        static_cast<std::uint32_t>(ipc::DomainState::degraded))
      degraded = static_cast<Domain>(i);
  const std::string user = std::to_string(shop.users[0]);
  const std::map<Domain, std::pair<std::string, std::string>> command_of = {
      {Domain::user, {"/users", R"({"name":"Late","email":"late@full.example"})"}},
      {Domain::point, {"/users/" + user + "/points", R"({"amount":10,"reason":"late"})"}},
      {Domain::payment, {"/users/" + user + "/wallet/deposits", R"({"amount":10})"}},
      {Domain::product, {"/products", R"({"name":"late","price":10,"stock":1})"}},
      {Domain::coupon, {"/coupon-templates", R"({"name":"late","kind":"fixed","value":10})"}},
      {Domain::order, {"/orders/" + std::to_string(full.acknowledged.front()) + "/cancel", "{}"}}};
  ASSERT_TRUE(command_of.count(degraded)) << "no domain degraded";
  const auto& [path, body] = command_of.at(degraded);
  const testing::HttpResponse u = testing::http_request(http_port, "POST", path, body);
  EXPECT_EQ(u.status, 503) << path << ": " << u.body;
  EXPECT_NE(u.body.find("disk or journal map full"), std::string::npos) << u.body;

  // Space returns: the sale resumes by itself.
  std::filesystem::remove(filler);
  ASSERT_TRUE(wait_all_ready(dep, 30'000))
      << "still degraded: " << degraded_domains(c.deployment());
  Load after = place_until(c, shop, 20'000, 5'000'000,
                           [](const Load& l) { return l.acknowledged.size() >= 500; });
  EXPECT_GE(after.acknowledged.size(), 500u);
  EXPECT_EQ(after.timed_out, 0u);
  EXPECT_EQ(domain_pids(c.deployment()), pids);

  std::vector<std::uint64_t> all = full.acknowledged;
  all.insert(all.end(), after.acknowledged.begin(), after.acknowledged.end());
  expect_terminal_and_clean(dep, all);
}

TEST(ResourceFaults, AJournalAtItsMaximumMapSizePausesIntakeAndARestartWithABiggerMapResumes) {
  // 1 MiB maps that may grow to 2 MiB: the order journal reaches its maximum quickly.
  LiveDeployment dep(
      "[journal]\nmap_size_mib = 1\nmap_size_max_mib = 2\n[supervisor]\ndrain_timeout_ms = 1000\n");
  engine::Client& c = dep.client();  // valid until dep.stop()
  const Shop shop = open_shop(c, 50);
  const std::vector<std::uint32_t> pids = domain_pids(c.deployment());
  Load full =
      sell_until_intake_pauses(dep, shop, pids, "map full", "no journal ever reached its maximum");
  ASSERT_GE(full.unavailable, 200u);

  // The operator raises the maximum and restarts the deployment: pending sagas finish.
  dep.stop();
  std::string text;
  {
    std::ifstream in(dep.dir() / "flashsaga.toml");
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::string from = "map_size_max_mib = 2";
  ASSERT_NE(text.find(from), std::string::npos);
  text.replace(text.find(from), from.size(), "map_size_max_mib = 64");
  std::ofstream(dep.dir() / "flashsaga.toml", std::ios::trunc) << text;
  dep.reload_config();
  dep.start();
  Load after = place_until(dep.client(), shop, 20'000, 5'000'000,
                           [](const Load& l) { return l.acknowledged.size() >= 500; });
  EXPECT_GE(after.acknowledged.size(), 500u);
  std::vector<std::uint64_t> all = full.acknowledged;
  all.insert(all.end(), after.acknowledged.begin(), after.acknowledged.end());
  expect_terminal_and_clean(dep, all);
}

TEST(Reboot, ViewsInMemoryThatARebootEmptiedAreRebuiltFromTheJournalsLosingNothing) {
  LiveDeployment dep;
  engine::Client& c = dep.client();  // valid until dep.stop()
  const Shop shop = open_shop(c, 20);
  Load load = place_until(c, shop, 5'000, 7'000'000,
                          [](const Load& l) { return l.acknowledged.size() >= 300; });
  ASSERT_GE(load.acknowledged.size(), 300u);
  std::vector<std::uint8_t> before;  // each order's status (OrderStatus)
  for (std::uint64_t id : load.acknowledged) {
    ASSERT_TRUE(c.wait_terminal(id, 30'000)) << "order " << id << " never ended";
    before.push_back(c.order(id)->status);
  }
  // The views live in memory, linked from the data directory.
  const std::filesystem::path memory = dep.config().view_memory_dir(Domain::order).parent_path();
  ASSERT_TRUE(std::filesystem::is_symlink(dep.config().domain_dir(Domain::order) / "view"));
  ASSERT_TRUE(std::filesystem::exists(memory / "order" / "data.mdb"));
  dep.stop();
  std::filesystem::remove_all(memory);  // what a reboot does to tmpfs
  dep.start();
  for (std::size_t i = 0; i < load.acknowledged.size(); ++i) {
    const auto order = dep.client().order(load.acknowledged[i]);
    ASSERT_TRUE(order.has_value()) << "order " << load.acknowledged[i] << " is missing";
    EXPECT_EQ(order->status, before[i]) << "order " << load.acknowledged[i];
  }
  EXPECT_TRUE(std::filesystem::exists(memory / "order" / "data.mdb"));
  expect_terminal_and_clean(dep, load.acknowledged);
}

TEST(CorruptedMessages, AFlippedBitInARingIsSetAsideJournaledAndReportedNeverApplied) {
  LiveDeployment dep;
  engine::Client& c = dep.client();
  ipc::Deployment& d = c.deployment();
  const std::uint32_t user_pid = d.status(Domain::user).pid.load();
  // A port of our own, claimed but without its pump: we are the producer of its rings.
  std::unique_ptr<engine::Port> port;
  std::string error;
  ASSERT_TRUE(engine::Port::open(d, engine::PortOptions{}, port, &error)) << error;
  const ipc::Node from = ipc::port_node(port->index());
  const ipc::Node to = ipc::domain_node(Domain::user);
  ipc::RingProducer producer(d.ring(from, to), &d.doorbell(to));

  const auto create_user = [](std::string_view name, std::uint64_t sequence) {
    ipc::CreateUserBody body{};
    EXPECT_TRUE(body.name.assign(name));
    EXPECT_TRUE(body.email.assign(std::string(name) + "@corrupt.example"));
    ipc::Message m =
        ipc::make_message(ipc::MessageType::create_user, Domain::port, Domain::user, body);
    m.header.sequence = sequence;
    ipc::seal(m);
    return m;
  };
  ipc::Message bad = create_user("Mallory", 1);
  bad.body[3] ^= std::byte{0x10};  // one bit flipped after sealing: the checksum no longer matches
  const ipc::Message good = create_user("Alice", 2);
  ASSERT_TRUE(producer.try_publish(bad));
  ASSERT_TRUE(producer.try_publish(good));

  // The valid message behind it is applied; the corrupted one never is.
  std::uint64_t users = 0;
  for (int i = 0; i < 5'000 && users == 0; ++i) {
    tools::CheckOptions o;
    o.data_dir = dep.config().data_dir;
    users = tools::run_check(o).users;
    if (users == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_EQ(users, 1u) << "the valid message behind the corrupted one was not applied";
  EXPECT_EQ(d.status(Domain::user).pid.load(), user_pid) << "the user domain crashed";
  EXPECT_EQ(d.status(Domain::user).messages_invalid.load(), 1u);

  tools::CheckOptions o;
  o.data_dir = dep.config().data_dir;
  const tools::CheckReport report = tools::run_check(o);
  EXPECT_EQ(report.error, "");
  EXPECT_TRUE(report.violations.empty());
  ASSERT_EQ(report.invalid_messages.size(), 1u);
  const tools::InvalidMessage& m = report.invalid_messages.front();
  EXPECT_EQ(m.domain, Domain::user);
  EXPECT_EQ(m.edge, static_cast<std::uint64_t>(d.edge_index(from, to)));
  EXPECT_EQ(m.error, static_cast<std::uint8_t>(ipc::MessageError::bad_checksum));
  EXPECT_GT(m.journal_sequence, 0u);
  std::ostringstream printed;
  tools::print_check(report, printed);
  EXPECT_NE(printed.str().find("set aside  1 invalid message (never applied)"), std::string::npos)
      << printed.str();
  EXPECT_NE(printed.str().find("user journal seq " + std::to_string(m.journal_sequence)),
            std::string::npos)
      << printed.str();
}

}  // namespace
}  // namespace flashsaga
