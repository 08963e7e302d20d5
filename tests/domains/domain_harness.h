// domain_harness: drives one DomainLogic directly over a real journal, the way the runtime
// does, without rings or processes: each input is sealed and validated like a wire message,
// applied in its own batch and committed; what the batch staged (sends, replies) is returned.
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
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "domains/rows.h"
#include "domains/logic.h"
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

// What one batch staged for after its commit.
struct Output {
  std::vector<Batch::Send> sends;
  std::vector<ipc::Message> replies;
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

class Harness {
 public:
  explicit Harness(DomainLogic& logic) : logic_(&logic) {
    journal::Options opt;
    opt.dir = dir_.path() / "env";
    opt.domain = std::string(ipc::domain_name(logic.domain()));
    opt.durability = journal::Durability::nosync;
    opt.map_size_bytes = std::size_t{32} << 20;
    opt.tables = logic.tables();
    for (const std::string& t : runtime_tables()) opt.tables.push_back(t);
    must(journal::Env::open(opt, env_), "open");
    recover(logic);
  }
  ~Harness() { env_.reset(); }

  // Runs recover() of `logic` (a new instance over the same journal is a restart).
  void recover(DomainLogic& logic) {
    logic_ = &logic;
    journal::ReadTxn txn;
    must(env_->begin_read(txn), "begin_read");
    must(logic.recover(*env_, txn), "recover");
  }

  Output apply(const ipc::Message& m, std::int64_t now_ns = t0_ns) {
    return run(now_ns, [&](Batch& b) { must(logic_->apply(b, m), "apply"); });
  }

  Output tick(std::int64_t now_ns, std::size_t* work = nullptr) {
    std::size_t local = 0;
    Output out = run(now_ns, [&](Batch& b) { must(logic_->tick(b, &local), "tick"); });
    if (work != nullptr) *work = local;
    return out;
  }

  template <typename T>
  bool get(std::string_view table, journal::Bytes key, T& out) const {
    journal::ReadTxn txn;
    must(env_->begin_read(txn), "begin_read");
    journal::Status s = txn.get_as(env_->table(table), key, out);
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
    must(env_->begin_read(txn), "begin_read");
    journal::Bytes v;
    journal::Status s = txn.get(env_->table(table), key, v);
    if (s.code() == journal::ErrorCode::not_found) return false;
    must(s, "get");
    return true;
  }
  // Writes a row behind the domain's back (to set up states the domain never writes).
  template <typename T>
  void put(std::string_view table, journal::Bytes key, const T& value) {
    journal::WriteTxn txn;
    must(env_->begin_write(txn), "begin_write");
    must(txn.put_as(env_->table(table), key, value), "put");
    must(txn.commit(), "commit");
  }
  std::size_t count(std::string_view table) const {
    journal::ReadTxn txn;
    must(env_->begin_read(txn), "begin_read");
    std::size_t n = 0;
    must(txn.scan(env_->table(table), {}, SIZE_MAX,
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
    must(env_->begin_read(txn), "begin_read");
    std::vector<std::pair<std::uint64_t, T>> out;
    auto from = journal::key_u64_u64(first, 0);
    must(txn.scan(env_->table(table), from, SIZE_MAX,
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
    must(env_->begin_read(txn), "begin_read");
    std::vector<Record> out;
    must(txn.records(after + 1, SIZE_MAX,
                     [&](const journal::RecordView& r) {
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
    must(env_->begin_read(txn), "begin_read");
    return txn.last_sequence();
  }

 private:
  template <typename Fn>
  Output run(std::int64_t now_ns, Fn&& fn) {
    journal::WriteTxn txn;
    must(env_->begin_write(txn), "begin_write");
    batch_.begin(txn, now_ns);
    fn(batch_);
    must(txn.commit(), "commit");
    return Output{batch_.sends(), batch_.replies()};
  }

  TempDir dir_;
  DomainLogic* logic_;
  std::unique_ptr<journal::Env> env_;
  Batch batch_;
};

// A sealed message that passes the wire validator, as the runtime would hand it over.
template <typename Body>
ipc::Message message(ipc::MessageType type, ipc::Domain from, ipc::Domain to, const Body& body,
                     std::uint64_t order_id = 0) {
  static std::uint64_t sequence = 0;
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
