// store: the gateway's read-only view of the six domain journals.
//
// Requires: the deployment's config (journal directories); the domains create their journals
//   (a journal that does not exist yet is opened lazily, on a later request).
// Guarantees: each environment is opened at most once per process, read-only, never created;
//   snapshots are short (one request's reads) so no writer's file grows because of us.
//   Any thread may call anything here.
//
// Example:
//   Snapshot s;
//   if (!store.begin(ipc::Domain::user, s)) return unavailable();
//   UserRow row{};
//   switch (s.get(s.table("users"), journal::key_u64(id), row)) { ... }
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "engine/config.h"
#include "ipc/message.h"
#include "journal/journal.h"

namespace flashsaga::gateway {

enum class Lookup : std::uint8_t { found = 0, missing = 1, unavailable = 2 };

// One read snapshot of one domain's view (its rows); record_header() reads its journal.
class Snapshot {
 public:
  journal::TableId table(std::string_view name) const { return env_->table(name); }
  bool has_table(std::string_view name) const;
  const journal::ReadTxn& txn() const noexcept { return txn_; }

  template <typename T>
  Lookup get(journal::TableId table, journal::Bytes key, T& out) const {
    journal::Status s = txn_.get_as(table, key, out);
    if (s.ok()) return Lookup::found;
    return s.code() == journal::ErrorCode::not_found ? Lookup::missing : Lookup::unavailable;
  }
  // The journal record with this sequence (its header: order id, time). The journal holds
  // every record a view row was made from (the journal commits before the view).
  bool record_header(std::uint64_t sequence, journal::RecordHeader& out) const;

 private:
  friend class Store;
  const journal::Env* env_ = nullptr;
  const journal::Env* journal_ = nullptr;
  journal::ReadTxn txn_;
  mutable journal::ReadTxn journal_txn_;  // begun by the first record_header()
};

class Store {
 public:
  explicit Store(const engine::Config& config) : config_(config) {}
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Begins a snapshot of a domain's view; false if it cannot be opened (yet) or read.
  bool begin(ipc::Domain d, Snapshot& out);
  // Whether the environment is open (for /healthz and /metrics).
  bool is_open(ipc::Domain d) const noexcept;
  const journal::Env* env(ipc::Domain d);
  // The last problem opening or reading a journal, for log lines and 503 messages.
  std::string last_error() const;

 private:
  const journal::Env* open(ipc::Domain d);
  const journal::Env* journal(ipc::Domain d);

  const engine::Config& config_;
  static constexpr std::size_t slots = domain_count + 1;
  std::array<std::unique_ptr<journal::Env>, slots> envs_;  // views
  std::array<std::unique_ptr<journal::Env>, slots> journals_;
  std::array<std::atomic<const journal::Env*>, slots> ready_{};
  std::array<std::atomic<const journal::Env*>, slots> journal_ready_{};
  std::array<std::int64_t, slots> last_attempt_ns_{};
  std::array<std::int64_t, slots> journal_attempt_ns_{};
  // A view a domain set aside and rebuilt (engine/runtime/view_open.h) is a new file: the
  // inode each view was opened at, and when it was last compared.
  std::array<std::uint64_t, slots> view_inode_{};
  std::array<std::atomic<std::int64_t>, slots> view_checked_ns_{};
  std::vector<std::unique_ptr<journal::Env>> retired_;  // replaced views, kept for live snapshots
  void reopen_if_replaced(std::size_t i);
  mutable std::mutex mutex_;
  std::string last_error_;
};

}  // namespace flashsaga::gateway
