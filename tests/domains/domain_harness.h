// domain_harness: drives one DomainLogic through the real runtime stages (Agent, Committer,
// recovery) over a real journal and view, with a test transport instead of rings: each input
// is sealed and validated like a wire message, applied in its own batch, journaled, viewed and
// published; what the batch let out (sends, replies, effects) is returned.
//
// Example:
//   PointDomain logic;
//   Harness h(logic);
//   auto out = h.apply(message(MessageType::accrue_points, Domain::port, Domain::point, body));
//   EXPECT_EQ(reply_of(out).result, 0);
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domains/logic.h"
#include "domains/rows.h"
#include "engine/runtime/agent.h"
#include "engine/runtime/committer.h"
#include "engine/runtime/recovery.h"
#include "engine/runtime/transport.h"
#include "ipc/message.h"
#include "journal/journal.h"

namespace flashsaga::domains::harness {

// A fixed wall clock for batches, so expiry tests say exactly what they mean.
inline constexpr std::int64_t t0_ns = 1'700'000'000'000'000'000;
inline constexpr std::int64_t ms_ns = 1'000'000;

inline void must(const journal::Status& s, std::string_view what) {
  if (!s.ok()) throw std::runtime_error(std::string(what) + ": " + s.message());
}

class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "flashsaga-leaf-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

// What one batch let out once durable.
struct Send {
  ipc::Domain to;
  ipc::Message message;
};
struct Output {
  std::vector<Send> sends;
  std::vector<ipc::Message> replies;
  std::vector<Effect> effects;
};

// A journal record, copied out of its transaction.
struct Record {
  std::uint64_t sequence = 0;
  RecordType type{};
  std::uint64_t order_id = 0;
  std::vector<std::byte> payload;
  template <typename T>
  T as() const {
    T out{};
    if (!journal::from_bytes(journal::Bytes(payload), out))
      throw std::runtime_error("payload size");
    return out;
  }
};

// The test's side of the runtime seam: one input the test pushes messages into, an output to
// every other domain, and what the committer let out.
class HarnessTransport final : public runtime::Transport {
 public:
  explicit HarnessTransport(ipc::Domain self) {
    inputs_.push_back(runtime::InputInfo{0, ipc::Domain::order, 0});
    for (std::uint8_t d = 1; d <= domain_count; ++d)
      if (static_cast<ipc::Domain>(d) != self)
        outputs_.push_back(runtime::OutputInfo{100 + d, static_cast<ipc::Domain>(d)});
    published_.assign(outputs_.size(), 0);
  }
  std::span<const runtime::InputInfo> inputs() const noexcept override { return inputs_; }
  std::span<const runtime::OutputInfo> outputs() const noexcept override { return outputs_; }
  std::int64_t port_epoch() const noexcept override { return 0; }
  std::size_t readable(std::size_t) noexcept override { return queue_.size() - read_; }
  const ipc::Message& peek(std::size_t, std::size_t k) noexcept override {
    return queue_[read_ + k];
  }
  void advance(std::size_t, std::size_t n) noexcept override { read_ += n; }
  std::uint64_t read_position(std::size_t) const noexcept override { return read_; }
  void release(std::size_t, std::uint64_t, std::uint64_t) noexcept override {}
  std::size_t publish(std::size_t o, std::span<const ipc::Message> ms) noexcept override {
    for (const ipc::Message& m : ms) {
      out_.sends.push_back({outputs_[o].to, m});
      published_[o] = m.header.sequence;
    }
    return ms.size();
  }
  std::uint64_t acked(std::size_t o) const noexcept override { return published_[o]; }
  bool reply(const ipc::Message& m) noexcept override {
    out_.replies.push_back(m);
    return true;
  }
  void apply(const Effect& e) noexcept override { out_.effects.push_back(e); }

  void push(const ipc::Message& m) { queue_.push_back(m); }
  Output take() { return std::exchange(out_, Output{}); }

 private:
  std::vector<runtime::InputInfo> inputs_;
  std::vector<runtime::OutputInfo> outputs_;
  std::deque<ipc::Message> queue_;
  std::size_t read_ = 0;
  std::vector<std::uint64_t> published_;
  Output out_;
};

class Harness {
 public:
  explicit Harness(DomainLogic& logic) : transport_(logic.domain()) {
    const std::string name(ipc::domain_name(logic.domain()));
    journal::Options j;
    j.dir = dir_.path() / "journal";
    j.domain = name;
    j.durability = journal::Durability::nosync;
    j.map_size_bytes = std::size_t{32} << 20;
    j.tables = {std::string(cursors_table_name)};
    must(journal::Env::open(j, journal_), "open journal");
    journal::Options v = j;
    v.dir = dir_.path() / "view";
    v.tables = logic.tables();
    v.tables.emplace_back(view_counters_table_name);
    must(journal::Env::open(v, view_), "open view");
    recover(logic);
  }
  ~Harness() {
    agent_.reset();
    committer_.reset();
    view_.reset();
    journal_.reset();
  }

  // Starts `logic` over this journal the way a restarted process does (recovery.h).
  void recover(DomainLogic& logic) {
    logic_ = &logic;
    tables_ = runtime::ViewTables{};
    for (const std::string& t : logic.tables()) tables_.by_tag.push_back(view_->table(t));
    tables_.counters = view_->table(view_counters_table_name);
    runtime::Recovered r;
    must(runtime::recover(*journal_, *view_, tables_, logic, transport_, r), "recover");
    agent_ =
        std::make_unique<runtime::Agent>(logic, transport_, view_.get(), nullptr, drain_count_max);
    agent_->resume(r.agent);
    committer_ =
        std::make_unique<runtime::Committer>(*journal_, *view_, transport_, tables_, nullptr);
    committer_->resume(std::move(r.committer));
    agent_->set_view_progress(committer_->viewed_counter());
  }

  Output apply(const ipc::Message& m, std::int64_t now_ns = t0_ns) {
    transport_.push(m);
    return run(now_ns);
  }
  Output tick(std::int64_t now_ns, std::size_t* work = nullptr) {
    std::size_t done = 0;
    Output out = run(now_ns, &done);
    if (work != nullptr) *work = done;
    return out;
  }

  template <typename T>
  bool get(std::string_view table, journal::Bytes key, T& out) const {
    journal::ReadTxn txn;
    must(view_->begin_read(txn), "begin_read");
    journal::Status s = txn.get_as(view_->table(table), key, out);
    if (s.code() == journal::ErrorCode::not_found) return false;
    must(s, "get");
    return true;
  }
  template <typename T>
  T row(std::string_view table, journal::Bytes key) const {
    T out{};
    if (!get(table, key, out)) throw std::runtime_error("no row in " + std::string(table));
    return out;
  }
  bool exists(std::string_view table, journal::Bytes key) const {
    journal::ReadTxn txn;
    must(view_->begin_read(txn), "begin_read");
    journal::Bytes v;
    journal::Status s = txn.get(view_->table(table), key, v);
    if (s.code() == journal::ErrorCode::not_found) return false;
    must(s, "get");
    return true;
  }
  // Writes a view row behind the domain's back (to set up states the domain never writes),
  // then restarts the logic so its memory holds it too.
  template <typename T>
  void put(std::string_view table, journal::Bytes key, const T& value) {
    {
      journal::WriteTxn txn;
      must(view_->begin_write(txn), "begin_write");
      must(txn.put_as(view_->table(table), key, value), "put");
      must(txn.commit(), "commit");
    }
    recover(*logic_);
  }
  std::size_t count(std::string_view table) const {
    journal::ReadTxn txn;
    must(view_->begin_read(txn), "begin_read");
    std::size_t n = 0;
    must(txn.scan(view_->table(table), {}, SIZE_MAX,
                  [&](journal::Bytes, journal::Bytes) {
                    ++n;
                    return true;
                  }),
         "scan");
    return n;
  }
  // Entries of a table whose 16-byte key starts with `first`, as (second key half, value).
  template <typename T>
  std::vector<std::pair<std::uint64_t, T>> under(std::string_view table,
                                                 std::uint64_t first) const {
    journal::ReadTxn txn;
    must(view_->begin_read(txn), "begin_read");
    std::vector<std::pair<std::uint64_t, T>> out;
    auto from = journal::key_u64_u64(first, 0);
    must(txn.scan(view_->table(table), from, SIZE_MAX,
                  [&](journal::Bytes k, journal::Bytes v) {
                    if (journal::u64_from_key(k) != first) return false;
                    T value{};
                    if (!journal::from_bytes(v, value)) throw std::runtime_error("value size");
                    out.emplace_back(journal::u64_from_key(k, 8), value);
                    return true;
                  }),
         "scan");
    return out;
  }

  std::vector<Record> records(std::uint64_t after = 0) const {
    journal::ReadTxn txn;
    must(journal_->begin_read(txn), "begin_read");
    std::vector<Record> out;
    must(txn.records(after + 1, SIZE_MAX,
                     [&](const journal::RecordView& r) {
                       if (static_cast<RecordType>(r.header.type) == RecordType::batch_note)
                         return true;
                       Record rec;
                       rec.sequence = r.sequence;
                       rec.type = static_cast<RecordType>(r.header.type);
                       rec.order_id = r.header.order_id;
                       rec.payload.assign(r.payload.begin(), r.payload.end());
                       out.push_back(std::move(rec));
                       return true;
                     }),
         "records");
    return out;
  }
  std::vector<RecordType> record_types(std::uint64_t after = 0) const {
    std::vector<RecordType> out;
    for (const Record& r : records(after)) out.push_back(r.type);
    return out;
  }
  std::uint64_t last_sequence() const {
    journal::ReadTxn txn;
    must(journal_->begin_read(txn), "begin_read");
    return txn.last_sequence();
  }

 private:
  Output run(std::int64_t now_ns, std::size_t* work = nullptr) {
    bool filled = false;
    const std::size_t done =
        agent_->run_batch(buffer_, committer_->viewed_batch(), true, now_ns, &filled);
    if (work != nullptr) *work = done;
    if (filled) {
      runtime::BatchBuffer* group[] = {&buffer_};
      must(committer_->write_journal(group), "commit journal");
      must(committer_->write_view(group), "commit view");
      committer_->publish(buffer_);
    }
    return transport_.take();
  }

  TempDir dir_;
  HarnessTransport transport_;
  DomainLogic* logic_ = nullptr;
  std::unique_ptr<journal::Env> journal_;
  std::unique_ptr<journal::Env> view_;
  runtime::ViewTables tables_;
  std::unique_ptr<runtime::Agent> agent_;
  std::unique_ptr<runtime::Committer> committer_;
  runtime::BatchBuffer buffer_;
};

// One sequence for every test message, so the runtime's (edge, sequence) dedup never drops one.
inline std::uint64_t& message_sequence() {
  static std::uint64_t sequence = 0;
  return sequence;
}

// A sealed message that passes the wire validator, as the runtime would hand it over.
template <typename Body>
ipc::Message message(ipc::MessageType type, ipc::Domain from, ipc::Domain to, const Body& body,
                     std::uint64_t order_id = 0) {
  std::uint64_t& sequence = message_sequence();
  ipc::Message m = ipc::make_message(type, from, to, body);
  m.header.sequence = ++sequence;
  m.header.order_id = order_id;
  m.header.correlation = 1000 + sequence;
  ipc::seal(m);
  const ipc::MessageError e = ipc::validate(m);
  if (e != ipc::MessageError::ok) {
    throw std::runtime_error("invalid test message: " + std::string(ipc::message_error_name(e)));
  }
  return m;
}

inline ipc::CommandReplyBody reply_of(const Output& out) {
  if (out.replies.size() != 1) throw std::runtime_error("expected exactly one reply");
  const ipc::Message& m = out.replies.front();
  if (m.header.type != static_cast<std::uint16_t>(ipc::MessageType::command_reply))
    throw std::runtime_error("reply is not a command_reply");
  return ipc::body_as<ipc::CommandReplyBody>(m);
}

inline ipc::CommandResult result_of(const Output& out) {
  return static_cast<ipc::CommandResult>(reply_of(out).result);
}

// The one message a batch sent to the order domain.
inline const ipc::Message& sent_to_order(const Output& out) {
  if (out.sends.size() != 1) throw std::runtime_error("expected exactly one message sent");
  if (out.sends.front().to != ipc::Domain::order) throw std::runtime_error("not sent to order");
  return out.sends.front().message;
}

inline ipc::MessageType type_of(const ipc::Message& m) {
  return static_cast<ipc::MessageType>(m.header.type);
}

// Saga inputs from the order domain, with one valid line item so they pass validation.
inline ipc::OrderPlacedBody order_placed(std::uint64_t user, std::uint64_t coupon,
                                         std::int64_t points, std::int64_t subtotal) {
  ipc::OrderPlacedBody b{};
  b.user_id = user;
  b.coupon_id = coupon;
  b.points_to_use = points;
  b.subtotal = subtotal;
  b.item_count = 1;
  b.items[0] = ipc::LineItem{1, 1, subtotal};
  return b;
}

inline ipc::OrderFinishedBody order_finished(std::uint64_t user, std::uint64_t coupon,
                                             std::int64_t paid, std::int64_t reward,
                                             ipc::OrderReason reason = ipc::OrderReason::none,
                                             bool was_completed = false) {
  ipc::OrderFinishedBody b{};
  b.user_id = user;
  b.coupon_id = coupon;
  b.paid = paid;
  b.reward_points = reward;
  b.reason = static_cast<std::uint8_t>(reason);
  b.was_completed = was_completed ? 1 : 0;
  b.item_count = 1;
  b.items[0] = ipc::LineItem{1, 1, paid};
  return b;
}

}  // namespace flashsaga::domains::harness
