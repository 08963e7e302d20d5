#include "engine/cells/link.h"

#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <unordered_map>
#include <vector>

#include "domains/journal_open.h"
#include "domains/rows.h"
#include "engine/base/clock.h"
#include "engine/cells/jetstream.h"
#include "engine/cells/link_state.h"
#include "engine/client.h"

namespace flashsaga::cells {
namespace {

using ipc::Domain;
using ipc::Message;
using ipc::MessageType;

constexpr int fetch_batch = 64;
constexpr std::int64_t fetch_wait_ms = 50;
constexpr std::int64_t consumer_ack_wait_ms =
    2000;  // JetStream redelivers an unacked message after this
constexpr std::int64_t resend_after_ns = 2'000'000'000;
constexpr std::int64_t scan_every_ns = 100'000'000;
constexpr std::size_t outbox_max = 1u << 17;  // products_max: one entry per own product at most
constexpr std::size_t catalog_scan_max = 1u << 17;
constexpr std::int64_t start_retry_ns = 500'000'000;
constexpr int start_attempts_max = 120;
// Leases (docs/cells.md): a cell asks for lease_want units when its counter of another
// home's product is at or below lease_low_water; an unanswered ask is repeated after
// lease_ask_again_ns; an expired lease's unsold units go back at most every lease_return_every_ns.
constexpr std::int64_t lease_want = 64;
constexpr std::int64_t lease_low_water = 16;
constexpr std::int64_t lease_ask_again_ns = 1'000'000'000;
constexpr std::int64_t lease_return_every_ns = 500'000'000;
constexpr std::size_t lease_scan_max = 1u << 16;
// A CellAck's edge for the lease edge from cell c (catalog edges are the home cell itself).
constexpr std::uint32_t lease_edge_base = 1u << 16;

std::atomic<bool> stop_flag{false};
void on_stop(int) {
  stop_flag.store(true);
}

void say(const engine::Config& c, const std::string& text) {
  std::fprintf(stderr, "flashsaga cells[%u]: %s\n", c.cell, text.c_str());
}

void pause_ns(std::int64_t ns) {
  timespec t{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  ::nanosleep(&t, nullptr);
}

struct Outgoing {
  std::uint64_t sequence;
  Message message;
  std::int64_t sent_ns;  // 0: never sent
};

class Link {
 public:
  explicit Link(const engine::Config& config)
      : config_(config), state_file_(config.data_dir / "cells" / "link.state") {}

  bool start(std::string* error);
  void round();
  void summary() const;

 private:
  void scan_catalog();
  void scan_leases();
  void scan_lease_out(const journal::Env& env, const journal::ReadTxn& txn);
  void watch_stock(const journal::Env& env, const journal::ReadTxn& txn);
  void ask_for_lease(std::uint64_t product, std::uint32_t home, std::int64_t granted_seen);
  void send_leases();
  void take_leases();
  void on_lease(Delivery& d);
  void on_lease_request(Delivery& d, const Message& m);
  void confirm_lease(std::uint32_t from);
  void send_due();
  void take_catalog();
  void take_acks();
  void on_replica(Delivery& d);
  void on_ack(Delivery& d);
  void confirm(std::uint32_t home);
  std::uint64_t acked_by_all() const noexcept;
  bool save();
  static bool read_message(const Delivery& d, MessageType type, Message& out);

  engine::Config config_;
  std::filesystem::path state_file_;
  LinkState state_;
  std::unique_ptr<engine::Client> client_;
  std::unique_ptr<JetStream> js_;
  int catalog_in_ = -1;
  int acks_in_ = -1;
  std::deque<Outgoing> outbox_;
  std::uint64_t last_scanned_id_ = 0;  // product ids below are in own_count_ already
  std::uint64_t own_count_ = 0;        // own products seen (= the last catalog sequence)
  std::int64_t next_scan_ns_ = 0;
  std::string last_error_;
  int leases_in_ = -1;
  std::vector<std::deque<Outgoing>> lease_outbox_;  // per destination cell
  std::vector<std::uint64_t> lease_scanned_;        // per destination: last sequence in the outbox
  struct Asked {
    std::int64_t granted_seen = -1;
    std::int64_t at_ns = 0;
    std::int64_t returned_ns = 0;
  };
  std::unordered_map<std::uint64_t, Asked> asked_;  // per product of another home
  std::uint64_t lease_requests_sent_ = 0;
  std::uint64_t lease_messages_sent_ = 0;     // grants and returns, re-sends included
  std::uint64_t lease_messages_applied_ = 0;  // grants and returns applied here
};

void Link::summary() const {
  say(config_, "lease traffic: " + std::to_string(lease_requests_sent_) + " requests sent, " +
                   std::to_string(lease_messages_sent_) + " grants/returns sent, " +
                   std::to_string(lease_messages_applied_) + " grants/returns applied");
}

bool Link::start(std::string* error) {
  ::mkdir((config_.data_dir / "cells").c_str(), 0700);
  if (!load_link_state(state_file_, state_, error)) return false;
  if (!engine::Client::connect(config_, client_, error)) return false;
  js_ = JetStream::connect(config_.nats_servers, "flashsaga-cell" + std::to_string(config_.cell),
                           error);
  if (!js_) return false;
  const int r = static_cast<int>(config_.nats_replicas);
  if (!js_->ensure_stream("FS_CATALOG", "fs.catalog.*", r, error)) return false;
  if (!js_->ensure_stream("FS_ACK", "fs.ack.*", r, error)) return false;
  const std::string cell = std::to_string(config_.cell);
  catalog_in_ = js_->pull_consumer("FS_CATALOG", "fs.catalog.*", "catalog-cell" + cell,
                                   consumer_ack_wait_ms, error);
  if (catalog_in_ < 0) return false;
  acks_in_ = js_->pull_consumer("FS_ACK", "fs.ack." + cell, "ack-cell" + cell, consumer_ack_wait_ms,
                                error);
  if (acks_in_ < 0) return false;
  if (!js_->ensure_stream("FS_LEASE", "fs.lease.*", r, error)) return false;
  leases_in_ = js_->pull_consumer("FS_LEASE", "fs.lease." + cell, "lease-cell" + cell,
                                  consumer_ack_wait_ms, error);
  lease_outbox_.resize(config_.cells);
  lease_scanned_.assign(config_.cells, 0);
  return leases_in_ >= 0;
}

void Link::round() {
  const std::int64_t now = mono_now_ns();
  if (now >= next_scan_ns_) {
    scan_catalog();
    scan_leases();
    next_scan_ns_ = now + scan_every_ns;
  }
  send_due();
  send_leases();
  take_catalog();
  take_leases();
  take_acks();
}

std::uint64_t Link::acked_by_all() const noexcept {
  std::uint64_t low = UINT64_MAX;
  for (std::uint32_t c = 0; c < config_.cells; ++c)
    if (c != config_.cell) low = std::min(low, state_.acked[c]);
  return low;
}

// Own products the view holds that the outbox has not seen: ids only grow, so each scan
// starts after the last id seen and a product's rank (its sequence) never changes.
void Link::scan_catalog() {
  std::unique_ptr<journal::Env> env;
  if (!domains::open_view_read_only(config_.data_dir, Domain::product, env).ok()) return;
  journal::ReadTxn txn;
  if (!env->begin_read(txn).ok()) return;
  const std::uint64_t low = acked_by_all();
  const auto from = journal::key_u64(last_scanned_id_ + 1);
  (void)txn.scan(env->table("products"), journal::as_bytes(from), catalog_scan_max,
                 [&](journal::Bytes key, journal::Bytes value) {
                   domains::ProductRow row{};
                   if (key.size() != 8 || !journal::from_bytes(value, row)) return true;
                   last_scanned_id_ = std::max(last_scanned_id_, row.id);
                   if (engine::home_cell(row.id, config_.cells) != config_.cell) return true;
                   ++own_count_;
                   if (own_count_ <= low || outbox_.size() >= outbox_max) return true;
                   ipc::ReplicateProductBody b{};
                   b.product_id = row.id;
                   b.price = row.price;
                   b.total = row.total;
                   b.sale_starts_ns = row.sale_starts_ns;
                   b.sale_ends_ns = row.sale_ends_ns;
                   b.max_per_user = row.max_per_user;
                   b.home_cell = config_.cell;
                   b.name = row.name;
                   Message m = ipc::make_message(MessageType::replicate_product, Domain::product,
                                                 Domain::product, b);
                   m.header.sequence = own_count_;
                   ipc::seal(m);
                   outbox_.push_back({own_count_, m, 0});
                   return true;
                 });
}

void Link::send_due() {
  const std::uint64_t low = acked_by_all();
  for (std::size_t n = 0; n < outbox_max && !outbox_.empty() && outbox_.front().sequence <= low;
       ++n)
    outbox_.pop_front();  // every other cell committed it: trimmed on the end-to-end ack only
  const std::int64_t now = mono_now_ns();
  const std::string subject = "fs.catalog." + std::to_string(config_.cell);
  for (Outgoing& o : outbox_) {
    if (o.sent_ns != 0 && now - o.sent_ns < resend_after_ns) continue;
    const std::string id =
        "catalog" + std::to_string(config_.cell) + ":" + std::to_string(o.sequence);
    std::string error;
    if (!js_->publish(subject, &o.message, sizeof o.message, id, &error)) {
      if (error != last_error_) say(config_, error + " (will retry)");
      last_error_ = error;
      return;  // in order: nothing after an unsent message
    }
    last_error_.clear();
    o.sent_ns = now;
  }
}

bool Link::read_message(const Delivery& d, MessageType type, Message& out) {
  if (d.size() != sizeof(Message)) return false;
  std::memcpy(&out, d.data(), sizeof out);
  return ipc::validate(out) == ipc::MessageError::ok &&
         out.header.type == static_cast<std::uint16_t>(type);
}

bool Link::save() {
  std::string error;
  if (save_link_state(state_file_, state_, &error)) return true;
  say(config_, error);
  return false;
}

// Tells the home what this cell has committed of its catalog.
void Link::confirm(std::uint32_t home) {
  ipc::CellAckBody b{home, config_.cell, state_.inbox[home]};
  Message m = ipc::make_message(MessageType::cell_ack, Domain::product, Domain::product, b);
  m.header.sequence = state_.inbox[home];
  ipc::seal(m);
  const std::string id = "ack" + std::to_string(config_.cell) + "-" + std::to_string(home) + ":" +
                         std::to_string(state_.inbox[home]);
  std::string error;
  if (!js_->publish("fs.ack." + std::to_string(home), &m, sizeof m, id, &error))
    say(config_, error);
}

void Link::on_replica(Delivery& d) {
  Message m;
  if (!read_message(d, MessageType::replicate_product, m)) {
    say(config_, "dropping a malformed catalog message");
    (void)d.ack();
    return;
  }
  const auto body = ipc::body_as<ipc::ReplicateProductBody>(m);
  const std::uint32_t home = body.home_cell;
  if (home >= config_.cells || home == config_.cell) {
    (void)d.ack();  // our own catalog, or a cell this cluster does not have
    return;
  }
  const std::uint64_t seq = m.header.sequence;
  if (seq <= state_.inbox[home]) {  // a duplicate: already committed
    if (d.ack()) confirm(home);
    return;
  }
  if (seq != state_.inbox[home] + 1) return;  // a gap: JetStream redelivers the missing one first
  Message command =
      ipc::make_message(MessageType::replicate_product, Domain::port, Domain::product, body);
  const engine::CommandOutcome out = client_->run(Domain::product, command);
  if (!out.ok()) {
    if (!out.timed_out)
      say(config_, "product " + std::to_string(body.product_id) + " from cell " +
                       std::to_string(home) +
                       " refused: " + std::string(ipc::command_result_name(out.result)));
    if (out.timed_out || out.result == ipc::CommandResult::unavailable)
      return;  // retried on redelivery
  }
  state_.inbox[home] = seq;  // committed (or refused for good): never applied again
  if (!save()) return;
  if (d.ack()) confirm(home);
}

void Link::take_catalog() {
  std::string error;
  if (js_->fetch(
          catalog_in_, fetch_batch, fetch_wait_ms, [&](Delivery& d) { on_replica(d); }, &error) <
          0 &&
      error != last_error_) {
    say(config_, error);
    last_error_ = error;
  }
}

void Link::on_ack(Delivery& d) {
  Message m;
  if (!read_message(d, MessageType::cell_ack, m)) {
    (void)d.ack();
    return;
  }
  const auto b = ipc::body_as<ipc::CellAckBody>(m);
  if (b.edge == lease_edge_base + config_.cell && b.from_cell < config_.cells &&
      b.sequence > state_.lease_acked[b.from_cell]) {
    state_.lease_acked[b.from_cell] = b.sequence;
    if (!save()) return;
  }
  if (b.edge == config_.cell && b.from_cell < config_.cells &&
      b.sequence > state_.acked[b.from_cell]) {
    state_.acked[b.from_cell] = b.sequence;
    if (!save()) return;
  }
  (void)d.ack();
}

void Link::take_acks() {
  std::string error;
  (void)js_->fetch(
      acks_in_, fetch_batch, fetch_wait_ms, [&](Delivery& d) { on_ack(d); }, &error);
}

// --- Leases --------------------------------------------------------------------------------

void Link::scan_leases() {
  std::unique_ptr<journal::Env> env;
  if (!domains::open_view_read_only(config_.data_dir, Domain::product, env).ok()) return;
  journal::ReadTxn txn;
  if (!env->begin_read(txn).ok()) return;
  scan_lease_out(*env, txn);
  watch_stock(*env, txn);
}

// The product domain's lease_out rows (to cell, sequence) not in the outbox yet and not
// confirmed by their cell: they go out in sequence order, and stay until confirmed.
void Link::scan_lease_out(const journal::Env& env, const journal::ReadTxn& txn) {
  for (std::uint32_t to = 0; to < config_.cells; ++to) {
    if (to == config_.cell) continue;
    const std::uint64_t from = std::max(lease_scanned_[to], state_.lease_acked[to]) + 1;
    const auto key = journal::key_u64_u64(to, from);
    (void)txn.scan(env.table("lease_out"), journal::as_bytes(key), lease_scan_max,
                   [&](journal::Bytes k, journal::Bytes value) {
                     if (k.size() != 16 || journal::u64_from_key(k, 0) != to) return false;
                     Message m;
                     if (!journal::from_bytes(value, m)) return false;
                     const std::uint64_t seq = journal::u64_from_key(k, 8);
                     lease_scanned_[to] = seq;
                     lease_outbox_[to].push_back({seq, m, 0});
                     return true;
                   });
  }
}

// Another home's products this cell sells: below the low-water mark it asks for a lease; once
// the lease has expired it returns what is unsold (the product domain decides what that is).
void Link::watch_stock(const journal::Env& env, const journal::ReadTxn& txn) {
  const std::int64_t now = mono_now_ns();
  const std::int64_t wall = wall_now_ns();
  ipc::Deployment& deployment = client_->deployment();
  (void)txn.scan(
      env.table("products"), {}, catalog_scan_max, [&](journal::Bytes key, journal::Bytes value) {
        domains::ProductRow row{};
        if (key.size() != 8 || !journal::from_bytes(value, row)) return true;
        const std::uint32_t home = engine::home_cell(row.id, config_.cells);
        if (home == config_.cell || row.id >= deployment.geometry().products_max) return true;
        domains::LeaseRow lease{};
        const bool leased = txn.get_as(env.table("leases"),
                                       journal::as_bytes(journal::key_u64_u64(row.id, home)), lease)
                                .ok();
        const std::int64_t available =
            deployment.stock(static_cast<std::uint32_t>(row.id)).available.load();
        Asked& a = asked_[row.id];
        if (leased && lease.expires_ns != 0 && wall >= lease.expires_ns && available > 0) {
          if (now - a.returned_ns < lease_return_every_ns) return true;
          a.returned_ns = now;
          ipc::LeaseReturnBody r{row.id, home, config_.cell, 0, 0, lease.epoch};
          const engine::CommandOutcome out = client_->run(
              Domain::product,
              ipc::make_message(MessageType::lease_return, Domain::port, Domain::product, r));
          if (!out.ok() && !out.timed_out)
            say(config_,
                "a lease return refused: " + std::string(ipc::command_result_name(out.result)));
          return true;
        }
        if (available > lease_low_water) return true;
        if (a.granted_seen == lease.granted && now - a.at_ns < lease_ask_again_ns) return true;
        a.granted_seen = lease.granted;
        a.at_ns = now;
        ask_for_lease(row.id, home, lease.granted);
        return true;
      });
}

// Advisory, not sequenced: Nats-Msg-Id leasereq<cell>-<product>:<wall ns>; the home grants
// only if granted_seen is what it granted so far, so a duplicate grants nothing.
void Link::ask_for_lease(std::uint64_t product, std::uint32_t home, std::int64_t granted_seen) {
  ipc::LeaseRequestBody b{product, home, config_.cell, lease_want, granted_seen};
  Message m = ipc::make_message(MessageType::lease_request, Domain::product, Domain::product, b);
  ipc::seal(m);
  const std::string id = "leasereq" + std::to_string(config_.cell) + "-" + std::to_string(product) +
                         ":" + std::to_string(wall_now_ns());
  std::string error;
  if (js_->publish("fs.lease." + std::to_string(home), &m, sizeof m, id, &error)) {
    ++lease_requests_sent_;
  } else if (error != last_error_) {
    say(config_, error + " (will ask again)");
    last_error_ = error;
  }
}

void Link::send_leases() {
  const std::int64_t now = mono_now_ns();
  for (std::uint32_t to = 0; to < config_.cells; ++to) {
    if (to == config_.cell) continue;
    std::deque<Outgoing>& box = lease_outbox_[to];
    while (!box.empty() && box.front().sequence <= state_.lease_acked[to])
      box.pop_front();  // end-to-end ack
    const std::string subject = "fs.lease." + std::to_string(to);
    for (Outgoing& o : box) {
      if (o.sent_ns != 0 && now - o.sent_ns < resend_after_ns) continue;
      const std::string id = "lease" + std::to_string(config_.cell) + "-" + std::to_string(to) +
                             ":" + std::to_string(o.sequence);
      std::string error;
      if (!js_->publish(subject, &o.message, sizeof o.message, id, &error)) {
        if (error != last_error_) say(config_, error + " (will retry)");
        last_error_ = error;
        break;  // in order: nothing after an unsent message
      }
      o.sent_ns = now;
      ++lease_messages_sent_;
    }
  }
}

void Link::confirm_lease(std::uint32_t from) {
  ipc::CellAckBody b{lease_edge_base + from, config_.cell, state_.lease_inbox[from]};
  Message m = ipc::make_message(MessageType::cell_ack, Domain::product, Domain::product, b);
  m.header.sequence = state_.lease_inbox[from];
  ipc::seal(m);
  const std::string id = "leaseack" + std::to_string(config_.cell) + "-" + std::to_string(from) +
                         ":" + std::to_string(state_.lease_inbox[from]);
  std::string error;
  if (!js_->publish("fs.ack." + std::to_string(from), &m, sizeof m, id, &error))
    say(config_, error);
}

void Link::on_lease_request(Delivery& d, const Message& m) {
  const auto b = ipc::body_as<ipc::LeaseRequestBody>(m);
  Message command = ipc::make_message(MessageType::lease_request, Domain::port, Domain::product, b);
  (void)client_->run(Domain::product, command);  // a request not served is asked again
  (void)d.ack();
}

// A grant (from its home) or a return (from a cell): in edge order, applied by the product
// domain, then the inbox cursor is saved, then the message acked, then the sender told.
void Link::on_lease(Delivery& d) {
  Message m;
  if (d.size() != sizeof m) {
    (void)d.ack();
    return;
  }
  std::memcpy(&m, d.data(), sizeof m);
  const auto type = static_cast<MessageType>(m.header.type);
  if (ipc::validate(m) != ipc::MessageError::ok ||
      (type != MessageType::lease_request && type != MessageType::lease_grant &&
       type != MessageType::lease_return)) {
    say(config_, "dropping a malformed lease message");
    (void)d.ack();
    return;
  }
  if (type == MessageType::lease_request) return on_lease_request(d, m);
  const std::uint32_t from = type == MessageType::lease_grant
                                 ? ipc::body_as<ipc::LeaseGrantBody>(m).home_cell
                                 : ipc::body_as<ipc::LeaseReturnBody>(m).from_cell;
  if (from >= config_.cells || from == config_.cell) {
    (void)d.ack();
    return;
  }
  const std::uint64_t seq = m.header.sequence;
  if (seq <= state_.lease_inbox[from]) {  // a duplicate: already committed
    if (d.ack()) confirm_lease(from);
    return;
  }
  if (seq != state_.lease_inbox[from] + 1)
    return;  // a gap: JetStream redelivers the missing one first
  Message command = m;
  command.header.source = static_cast<std::uint8_t>(Domain::port);
  command.header.sequence = 0;
  ipc::seal(command);
  const engine::CommandOutcome out = client_->run(Domain::product, command);
  if (!out.ok()) {
    if (out.timed_out || out.result == ipc::CommandResult::unavailable ||
        out.result == ipc::CommandResult::not_found)
      return;  // retried on redelivery
    say(config_, std::string(ipc::message_type_name(type)) + " from cell " + std::to_string(from) +
                     " refused: " + std::string(ipc::command_result_name(out.result)));
  }
  state_.lease_inbox[from] = seq;
  ++lease_messages_applied_;
  if (!save()) return;
  if (d.ack()) confirm_lease(from);
}

void Link::take_leases() {
  std::string error;
  (void)js_->fetch(
      leases_in_, fetch_batch, fetch_wait_ms, [&](Delivery& d) { on_lease(d); }, &error);
}

}  // namespace

int run_cell_link(const engine::Config& config) {
  ::signal(SIGTERM, on_stop);
  ::signal(SIGINT, on_stop);
  sigset_t unblock;
  sigemptyset(&unblock);
  sigaddset(&unblock, SIGTERM);
  sigaddset(&unblock, SIGINT);
  sigprocmask(SIG_UNBLOCK, &unblock, nullptr);
  if (config.cells <= 1 || config.nats_servers.empty()) {
    say(config, "not a cluster cell (run with --cluster FILE --cell N)");
    return 2;
  }
  // The cell's domains and NATS may still be starting: retry for a while.
  std::unique_ptr<Link> link;
  std::string error;
  for (int attempt = 0; attempt < start_attempts_max && !stop_flag.load(); ++attempt) {
    link = std::make_unique<Link>(config);
    if (link->start(&error)) break;
    link.reset();
    if (attempt % 10 == 0) say(config, error + " (retrying)");
    pause_ns(start_retry_ns);
  }
  if (!link) {
    say(config, "giving up: " + error);
    return 1;
  }
  say(config, "linked to NATS JetStream");
  while (!stop_flag.load()) link->round();
  link->summary();
  return 0;
}

}  // namespace flashsaga::cells
