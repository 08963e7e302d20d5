#include "engine/gateway/store.h"

#include <algorithm>
#include <cstdio>

#include "domains/journal_open.h"
#include "domains/rows.h"
#include "engine/base/clock.h"

namespace flashsaga::gateway {
namespace {

// A journal that could not be opened is tried again at most this often.
constexpr std::int64_t reopen_interval_ns = 200'000'000;

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
  if (journal_attempt_ns_[i] != 0 && now - journal_attempt_ns_[i] < reopen_interval_ns) return nullptr;
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

bool Store::begin(ipc::Domain d, Snapshot& out) {
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
