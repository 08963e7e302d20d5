// cluster_test: cluster.toml loading, ids carrying their cell, the 421 answer, the link state.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "domains/options.h"
#include "engine/cells/link_state.h"
#include "engine/cluster.h"
#include "engine/gateway/cell_route.h"
#include "ipc/message.h"

namespace flashsaga {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir() {
  fs::path d = fs::temp_directory_path() / ("cluster_test." + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

fs::path write(const fs::path& dir, const std::string& text) {
  const fs::path p = dir / "cluster.toml";
  std::ofstream(p) << text;
  return p;
}

const char* three_cells = R"([nats]
servers = ["nats://127.0.0.1:14222", "nats://127.0.0.1:14223"]
replicas = 3
[[cell]]
address = "http://127.0.0.1:18080"
http_port = 18080
data_dir = "c0"
[[cell]]
address = "http://127.0.0.1:18081"
http_port = 18081
data_dir = "c1"
[[cell]]
address = "http://127.0.0.1:18082"
http_port = 18082
data_dir = "c2"
)";

TEST(Cluster, LoadsCellsAndAppliesOne) {
  const fs::path dir = temp_dir();
  engine::Cluster c;
  std::string error;
  ASSERT_TRUE(engine::load_cluster(write(dir, three_cells), c, &error)) << error;
  EXPECT_EQ(c.cells.size(), 3u);
  EXPECT_EQ(c.nats_servers.size(), 2u);
  engine::Config config;
  ASSERT_TRUE(engine::apply_cell(c, 2, config, &error)) << error;
  EXPECT_EQ(config.cell, 2u);
  EXPECT_EQ(config.cells, 3u);
  EXPECT_EQ(config.http_port, 18082);
  EXPECT_EQ(config.data_dir, fs::absolute(dir / "c2").lexically_normal());
  EXPECT_FALSE(engine::apply_cell(c, 3, config, &error));
  EXPECT_NE(error.find("no cell 3"), std::string::npos);
  fs::remove_all(dir);
}

TEST(Cluster, RejectsBadFiles) {
  const fs::path dir = temp_dir();
  engine::Cluster c;
  std::string error;
  EXPECT_FALSE(engine::load_cluster(write(dir, "[nats]\nservers = [\"nats://x:1\"]\n"), c, &error));
  EXPECT_FALSE(
      engine::load_cluster(write(dir, std::string(three_cells) + "[extra]\nx = 1\n"), c, &error));
  EXPECT_NE(error.find("not a known section"), std::string::npos) << error;
  EXPECT_FALSE(engine::load_cluster(
      write(
          dir,
          "[nats]\nservers = [\"http://x\"]\n[[cell]]\naddress=\"http://a\"\nhttp_port=1\ndata_dir=\"d\"\n"),
      c, &error));
  EXPECT_FALSE(engine::load_cluster(dir / "missing.toml", c, &error));
  fs::remove_all(dir);
}

TEST(Cluster, OwnIdsCarryTheCell) {
  const domains::CellOptions single{};
  EXPECT_EQ(single.own_id_from(1), 1u);
  EXPECT_EQ(single.own_id_from(7), 7u);
  for (std::uint32_t cell = 0; cell < 3; ++cell) {
    const domains::CellOptions o{cell, 3};
    std::uint64_t id = 0;
    for (int n = 0; n < 10; ++n) {
      const std::uint64_t next = o.own_id_from(id + 1);
      EXPECT_GT(next, id);
      EXPECT_LE(next, id + 3);
      EXPECT_EQ(next % 3, cell);
      EXPECT_EQ(engine::home_cell(next, 3), cell);
      id = next;
    }
  }
  // Far below 2^53: a cell's ids are dense within the cell, spaced by the cell count.
  EXPECT_EQ(domains::CellOptions({2, 64}).own_id_from(1), 2u);
}

TEST(Cluster, WrongCellAnswers421NamingTheHome) {
  engine::Config config;
  EXPECT_FALSE(gateway::wrong_cell(config, 5).has_value());  // single host: never
  config.cells = 3;
  config.cell = 0;
  config.cell_addresses = {"http://a:1", "http://b:2", "http://c:3"};
  EXPECT_FALSE(gateway::wrong_cell(config, 3).has_value());
  auto r = gateway::wrong_cell(config, 4);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 421);
  EXPECT_NE(r->body.find("\"cell\":1"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("\"address\":\"http://b:2\""), std::string::npos) << r->body;
}

TEST(CellMessages, ReplicateProductAndCellAckAreWholeMessages) {
  ipc::ReplicateProductBody b{};
  b.product_id = 4;
  b.price = 1500;
  b.home_cell = 1;
  ASSERT_TRUE(b.name.assign("Lamp"));
  ipc::Message m = ipc::make_message(ipc::MessageType::replicate_product, ipc::Domain::port,
                                     ipc::Domain::product, b);
  m.header.sequence = 1;
  ipc::seal(m);
  EXPECT_EQ(ipc::validate(m), ipc::MessageError::ok);
  EXPECT_EQ(ipc::message_type_name(ipc::MessageType::replicate_product), "ReplicateProduct");
  b.product_id = 0;  // no such product
  m = ipc::make_message(ipc::MessageType::replicate_product, ipc::Domain::port,
                        ipc::Domain::product, b);
  ipc::seal(m);
  EXPECT_EQ(ipc::validate(m), ipc::MessageError::bad_field);
  ipc::Message a = ipc::make_message(ipc::MessageType::cell_ack, ipc::Domain::product,
                                     ipc::Domain::product, ipc::CellAckBody{1, 2, 7});
  ipc::seal(a);
  EXPECT_EQ(ipc::validate(a), ipc::MessageError::ok);
}

TEST(CellMessages, LeaseMessagesAreWholeMessagesWithCheckedFields) {
  const auto sealed = [](ipc::MessageType t, const auto& body) {
    ipc::Message m = ipc::make_message(t, ipc::Domain::product, ipc::Domain::product, body);
    m.header.sequence = 3;
    ipc::seal(m);
    return ipc::validate(m);
  };
  EXPECT_EQ(sealed(ipc::MessageType::lease_request, ipc::LeaseRequestBody{3, 0, 1, 64, 0}),
            ipc::MessageError::ok);
  EXPECT_EQ(sealed(ipc::MessageType::lease_request,
                   ipc::LeaseRequestBody{3, 0, 1, 0, 0}),  // wants nothing
            ipc::MessageError::bad_field);
  EXPECT_EQ(sealed(ipc::MessageType::lease_grant, ipc::LeaseGrantBody{3, 0, 1, 10, 30, 2, 5}),
            ipc::MessageError::ok);
  // A grant's cumulative total covers the grant itself.
  EXPECT_EQ(sealed(ipc::MessageType::lease_grant, ipc::LeaseGrantBody{3, 0, 1, 10, 5, 2, 5}),
            ipc::MessageError::bad_field);
  EXPECT_EQ(sealed(ipc::MessageType::lease_return, ipc::LeaseReturnBody{3, 0, 2, 4, 4, 1}),
            ipc::MessageError::ok);
  EXPECT_EQ(
      sealed(ipc::MessageType::lease_return, ipc::LeaseReturnBody{0, 0, 2, 4, 4, 1}),  // no product
      ipc::MessageError::bad_field);
  EXPECT_EQ(ipc::message_type_name(ipc::MessageType::lease_grant), "LeaseGrant");
  EXPECT_EQ(ipc::body_size_for(ipc::MessageType::lease_return), sizeof(ipc::LeaseReturnBody));
}

TEST(LinkState, SurvivesASaveAndLoad) {
  const fs::path dir = temp_dir();
  cells::LinkState s, back;
  std::string error;
  ASSERT_TRUE(cells::load_link_state(dir / "link.state", back, &error));  // missing: empty
  EXPECT_EQ(back.inbox[1], 0u);
  s.inbox[1] = 7;
  s.acked[2] = 9;
  s.lease_inbox[0] = 11;
  s.lease_acked[2] = 13;
  ASSERT_TRUE(cells::save_link_state(dir / "link.state", s, &error)) << error;
  ASSERT_TRUE(cells::load_link_state(dir / "link.state", back, &error)) << error;
  EXPECT_EQ(back.inbox[1], 7u);
  EXPECT_EQ(back.acked[2], 9u);
  EXPECT_EQ(back.lease_inbox[0], 11u);
  EXPECT_EQ(back.lease_acked[2], 13u);
  EXPECT_EQ(back.lease_inbox[2], 0u);
  std::ofstream(dir / "link.state") << "inbox 999 1\n";
  EXPECT_FALSE(cells::load_link_state(dir / "link.state", back, &error));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace flashsaga
