#include "engine/gateway/store.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>

#include "domains/journal_open.h"
#include "domains/rows.h"
#include "engine/base/clock.h"

namespace flashsaga::gateway {
namespace {

// A journal that could not be opened is tried again at most this often.
constexpr std::int64_t reopen_interval_ns = 200'000'000;
// How often a view's file is compared with the one that is open.
constexpr std::int64_t replaced_check_interval_ns = 500'000'000;

std::uint64_t inode_of(const std::filesystem::path& dir) {
  struct stat st {};
  return ::stat((dir / "data.mdb").c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_ino) : 0;
}

}  // namespace

bool Snapshot::has_table(std::string_view name) const {
  const auto& t = env_->options().tables;
  return std::find(t.begin(), t.end(), name) != t.end();
}

bool Snapshot::record_header(std::uint64_t sequence, journal::RecordHeader& out) const {
  if (journal_ == nullptr) return false;
  if (!journal_txn_.live() && !journal_->begin_read(journal_txn_).ok()) return false;
  bool found = false;
  journal::Status s = journal_txn_.records(sequence, 1, [&](const journal::RecordView& r) {
    if (r.sequence == sequence) {
      out = r.header;
      found = true;
    }
    return false;
  });
  return s.ok() && found;
}

Store::~Store() = default;

bool Store::is_open(ipc::Domain d) const noexcept {
  return ready_[static_cast<std::size_t>(d)].load(std::memory_order_acquire) != nullptr;
}

const journal::Env* Store::env(ipc::Domain d) {
  const journal::Env* e = ready_[static_cast<std::size_t>(d)].load(std::memory_order_acquire);
  return e ? e : open(d);
}

std::string Store::last_error() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return last_error_;
}

const journal::Env* Store::open(ipc::Domain d) {
  const auto i = static_cast<std::size_t>(d);
  if (i == 0 || i >= slots) return nullptr;
  std::lock_guard<std::mutex> lock(mutex_);
  if (envs_[i]) return envs_[i].get();
  const std::int64_t now = mono_now_ns();
  if (last_attempt_ns_[i] != 0 && now - last_attempt_ns_[i] < reopen_interval_ns) return nullptr;
  last_attempt_ns_[i] = now;
  std::unique_ptr<journal::Env> env;
  const journal::Status s = domains::open_view_read_only(config_.data_dir, d, env);
  if (s.ok()) {
    view_inode_[i] = inode_of(env->options().dir);
    view_checked_ns_[i].store(now, std::memory_order_relaxed);
    envs_[i] = std::move(env);
    ready_[i].store(envs_[i].get(), std::memory_order_release);
    return envs_[i].get();
  }
  last_error_ = std::string(ipc::domain_name(d)) + " view: " + s.message();
  return nullptr;
}

const journal::Env* Store::journal(ipc::Domain d) {
  const auto i = static_cast<std::size_t>(d);
  if (i == 0 || i >= slots) return nullptr;
  if (const journal::Env* e = journal_ready_[i].load(std::memory_order_acquire)) return e;
  std::lock_guard<std::mutex> lock(mutex_);
  if (journals_[i]) return journals_[i].get();
  const std::int64_t now = mono_now_ns();
  if (journal_attempt_ns_[i] != 0 && now - journal_attempt_ns_[i] < reopen_interval_ns)
    return nullptr;
  journal_attempt_ns_[i] = now;
  std::unique_ptr<journal::Env> env;
  const journal::Status s = domains::open_journal_read_only(config_.data_dir, d, env);
  if (!s.ok()) {
    last_error_ = std::string(ipc::domain_name(d)) + " journal: " + s.message();
    return nullptr;
  }
  journals_[i] = std::move(env);
  journal_ready_[i].store(journals_[i].get(), std::memory_order_release);
  return journals_[i].get();
}

void Store::reopen_if_replaced(std::size_t i) {
  const std::int64_t now = mono_now_ns();
  if (now - view_checked_ns_[i].load(std::memory_order_relaxed) < replaced_check_interval_ns)
    return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (!envs_[i] ||
      now - view_checked_ns_[i].load(std::memory_order_relaxed) < replaced_check_interval_ns)
    return;
  view_checked_ns_[i].store(now, std::memory_order_relaxed);
  const std::uint64_t inode = inode_of(envs_[i]->options().dir);
  if (inode == 0 || inode == view_inode_[i]) return;
  // Snapshots of the old view may still be live in other threads: keep it until the process
  // ends (a rebuild happens once per unclean restart of a domain).
  ready_[i].store(nullptr, std::memory_order_release);
  retired_.push_back(std::move(envs_[i]));
  last_attempt_ns_[i] = 0;
}

bool Store::begin(ipc::Domain d, Snapshot& out) {
  const auto i = static_cast<std::size_t>(d);
  if (i != 0 && i < slots) reopen_if_replaced(i);
  const journal::Env* e = env(d);
  if (!e) return false;
  out.env_ = e;
  out.journal_ = journal(d);
  journal::Status s = e->begin_read(out.txn_);
  if (!s.ok()) {
    std::lock_guard<std::mutex> lock(mutex_);
    last_error_ = std::string(ipc::domain_name(d)) + " journal: " + s.message();
    return false;
  }
  return true;
}

}  // namespace flashsaga::gateway
