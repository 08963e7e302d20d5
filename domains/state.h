// state: a domain's working state — typed tables in memory, every change journaled.
//
// Each table mirrors one table of the domain's view (its read model: an LMDB environment the
// gateway and the tools read). A put() or del() changes the row in memory at once and adds a
// state entry (tag = the table's index, key, row image) to the batch's journal value; the
// runtime applies the entries to the view after the batch is durable. The view is therefore
// always a prefix of what memory holds, and rebuildable from the journal.
//
// What stays in memory:
//   DenseTable<Row>   rows keyed by a dense id (1, 2, ...): all of them, loaded at start-up.
//                     users, wallets, point accounts, products, templates, coupons.
//   WindowTable<Row>  rows keyed by order id: the most recent `window` ids in a ring, plus any
//                     older row changed since the view last caught up; older rows are read from
//                     the view on demand. orders, payments, steps.
//   KeyedTable<Row>   rows keyed by (u64, u64): all of them (Memory::all) or only those changed
//                     since the view caught up (Memory::recent, the rest read from the view).
//   LogTable<Row>     rows the domain writes and never reads back (histories).
//   LogKeys           (u64, u64) keys with an empty value, written and never read back
//                     (indexes such as coupon's by_user).
//   TextTable<Row>    rows keyed by a short string (e-mail addresses): all of them; a put
//                     allocates, so commands only, never the saga's hot path.
//   Counter           one named u64 in the view's "counters" table.
// A row leaves memory only once the view holds its last change (viewed(batch) tells the
// tables how far the view is), so a read that misses memory and goes to the view is current.
//
// Requires: the business thread only; bind() before use (DomainLogic::load).
// Guarantees: get() after put() in any batch returns the put row; no allocation in steady
//   state (containers grow, then stay).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "domains/logic.h"
#include "engine/base/assert.h"
#include "engine/base/open_map.h"
#include "journal/journal.h"

namespace flashsaga::domains {

// The own view failed to read (I/O error or corruption): the domain cannot decide anything
// correctly, so the process stops with the reason; the supervisor restarts it and recovery
// rebuilds the view from the journal.
[[noreturn]] void state_read_failed(std::string_view table, const journal::Status& s);

// How many (batch, key) notes a table keeps to forget rows the view caught up with.
inline constexpr std::size_t state_forget_notes_max = 1u << 22;

// The largest id a DenseTable may hold (its rows are a vector indexed by id).
inline constexpr std::uint64_t dense_ids_max = std::uint64_t{1} << 27;
static_assert(user_ids_max <= dense_ids_max);

template <typename Row>
class DenseTable {
  static_assert(is_row_v<Row>);

 public:
  void bind(std::uint16_t tag, journal::TableId view_table) noexcept {
    tag_ = tag;
    table_ = view_table;
  }
  journal::Status load(const journal::ReadTxn& view) {
    rows_.clear();
    present_.clear();
    reserve_to_last(view);
    journal::Status bad;
    journal::Status s =
        view.scan(table_, {}, SIZE_MAX, [&](journal::Bytes key, journal::Bytes value) {
          Row row{};
          if (key.size() != 8 || !journal::from_bytes(value, row)) {
            bad = journal::Status(journal::ErrorCode::corrupt, 0, "a view row of another size");
            return false;
          }
          store(journal::u64_from_key(key), row);
          return true;
        });
    return s.ok() ? bad : s;
  }
  const Row* find(std::uint64_t id) const noexcept {
    return id < present_.size() && present_[id] ? &rows_[id] : nullptr;
  }
  bool contains(std::uint64_t id) const noexcept { return find(id) != nullptr; }
  // The row, or a zero row when absent (a wallet nobody deposited into is empty).
  Row get(std::uint64_t id) const noexcept {
    const Row* r = find(id);
    return r != nullptr ? *r : Row{};
  }
  void put(Batch& b, std::uint64_t id, const Row& row) {
    store(id, row);
    if (!coalesce_) {
      b.state_put(tag_, journal::as_bytes(journal::key_u64(id)), journal::as_bytes(row));
      return;
    }
    if (present_[id] == 2) return;  // already dirty in this batch: flush() writes its last state
    present_[id] = 2;
    dirty_.push_back(id);
  }
  // Coalescing: put() only marks the row, flush() (DomainLogic::end_batch) writes one entry per
  // changed row. For rows that change many times a batch (a hot product's counters).
  void set_coalescing(bool on) noexcept { coalesce_ = on; }
  void flush(Batch& b) {
    for (std::uint64_t id : dirty_) {
      present_[id] = 1;
      b.state_put(tag_, journal::as_bytes(journal::key_u64(id)), journal::as_bytes(rows_[id]));
    }
    dirty_.clear();
  }
  std::uint64_t max_id() const noexcept { return present_.empty() ? 0 : present_.size() - 1; }
  template <typename Fn>
  void for_each(Fn&& fn) const {
    for (std::size_t id = 0; id < present_.size(); ++id)
      if (present_[id]) fn(static_cast<std::uint64_t>(id), rows_[id]);
  }

 private:
  // One allocation for the whole load: the highest id in the view (keys are big-endian ids, so
  // the last key) sizes the table before the scan.
  void reserve_to_last(const journal::ReadTxn& view) {
    journal::Bytes key, value;
    if (!view.last(table_, key, value).ok() || key.size() != 8) return;
    const std::uint64_t last = journal::u64_from_key(key);
    if (last >= dense_ids_max) return;
    rows_.reserve(last + 1);
    present_.reserve(last + 1);
  }
  void store(std::uint64_t id, const Row& row) {
    // Ids come from the domain itself or are checked against their bound (user_ids_max,
    // products_max) before a put: a dense table never grows to an id a request made up.
    FS_ASSERT(id < dense_ids_max);
    if (id >= present_.size()) {
      rows_.resize(id + 1);
      present_.resize(id + 1, 0);
    }
    rows_[id] = row;
    if (present_[id] == 0) present_[id] = 1;
  }

  std::uint16_t tag_ = 0;
  journal::TableId table_ = 0;
  std::vector<Row> rows_;
  std::vector<std::uint8_t> present_;  // 0 absent, 1 present, 2 present and dirty (coalescing)
  bool coalesce_ = false;
  std::vector<std::uint64_t> dirty_;
};

// Remembers which keys changed in which batch, so a table can forget them once viewed.
class ForgetNotes {
 public:
  void note(std::uint64_t batch, const Key2& key) {
    FS_ASSERT(notes_.size() < state_forget_notes_max);
    notes_.push_back({batch, key});
  }
  // Calls fn(key, batch) for every note of a batch <= viewed, oldest first, and drops them.
  template <typename Fn>
  void forget(std::uint64_t viewed, Fn&& fn) {
    for (std::size_t n = 0; n < state_forget_notes_max && !notes_.empty(); ++n) {
      if (notes_.front().batch > viewed) break;
      fn(notes_.front().key, notes_.front().batch);
      notes_.pop_front();
    }
  }
  void clear() noexcept { notes_.clear(); }

 private:
  struct Note {
    std::uint64_t batch;
    Key2 key;
  };
  std::deque<Note> notes_;
};

template <typename Row>
class KeyedTable {
  static_assert(is_row_v<Row>);

 public:
  enum class Memory : std::uint8_t { all, recent };
  explicit KeyedTable(Memory memory) : memory_(memory) {}

  void bind(std::uint16_t tag, journal::TableId view_table) noexcept {
    tag_ = tag;
    table_ = view_table;
  }
  // Memory::all loads every row; Memory::recent starts empty.
  journal::Status load(const journal::ReadTxn& view) {
    rows_.clear();
    notes_.clear();
    if (memory_ == Memory::recent) return {};
    journal::Status bad;
    journal::Status s =
        view.scan(table_, {}, SIZE_MAX, [&](journal::Bytes key, journal::Bytes value) {
          Entry e{};
          if (key.size() != 16 || !journal::from_bytes(value, e.row)) {
            bad = journal::Status(journal::ErrorCode::corrupt, 0, "a view row of another size");
            return false;
          }
          e.present = true;
          rows_.upsert(Key2{journal::u64_from_key(key, 0), journal::u64_from_key(key, 8)}) = e;
          return true;
        });
    return s.ok() ? bad : s;
  }
  // Copies the row into out; false when there is none.
  bool get(const Batch& b, const Key2& key, Row& out) const {
    if (const Entry* e = rows_.find(key)) {
      if (e->present) out = e->row;
      return e->present;
    }
    if (memory_ == Memory::all || b.own_view() == nullptr) return false;
    journal::Status s = b.own_view()->get_as(table_, journal::as_bytes(view_key(key)), out);
    if (s.ok()) return true;
    if (s.code() != journal::ErrorCode::not_found) state_read_failed("keyed table", s);
    return false;
  }
  void put(Batch& b, const Key2& key, const Row& row) {
    change(b, key, Entry{row, true, b.id()});
    b.state_put(tag_, journal::as_bytes(view_key(key)), journal::as_bytes(row));
  }
  void del(Batch& b, const Key2& key) {
    change(b, key, Entry{Row{}, false, b.id()});
    b.state_del(tag_, journal::as_bytes(view_key(key)));
  }
  void viewed(std::uint64_t batch) {
    if (memory_ == Memory::all) {
      // Deleted keys need no tombstone once the view has the delete.
      notes_.forget(batch, [&](const Key2& key, std::uint64_t noted) {
        const Entry* e = rows_.find(key);
        if (e != nullptr && !e->present && e->batch == noted) rows_.erase(key);
      });
      return;
    }
    notes_.forget(batch, [&](const Key2& key, std::uint64_t noted) {
      const Entry* e = rows_.find(key);
      if (e != nullptr && e->batch == noted) rows_.erase(key);  // not changed again since
    });
  }
  std::size_t memory_rows() const noexcept { return rows_.size(); }
  template <typename Fn>
  void for_each(Fn&& fn) const {
    rows_.for_each([&](const Key2& k, const Entry& e) {
      if (e.present) fn(k, e.row);
    });
  }

 private:
  struct Entry {
    Row row;
    bool present;
    std::uint64_t batch;
  };
  static std::array<std::byte, 16> view_key(const Key2& k) noexcept {
    return journal::key_u64_u64(k.a, k.b);
  }
  void change(Batch& b, const Key2& key, const Entry& e) {
    rows_.upsert(key) = e;
    if (memory_ == Memory::recent || !e.present) notes_.note(b.id(), key);
  }

  Memory memory_;
  std::uint16_t tag_ = 0;
  journal::TableId table_ = 0;
  OpenMap<Entry> rows_;
  ForgetNotes notes_;
};

template <typename Row>
class WindowTable {
  static_assert(is_row_v<Row>);

 public:
  // window_slots: a power of two; how many of the most recent ids stay in memory.
  explicit WindowTable(std::size_t window_slots) : slots_(window_slots), mask_(window_slots - 1) {
    FS_ASSERT(window_slots >= 2);
    FS_ASSERT((window_slots & mask_) == 0);
  }
  void bind(std::uint16_t tag, journal::TableId view_table) noexcept {
    tag_ = tag;
    table_ = view_table;
  }
  // Loads the rows of the last `window` ids of the view.
  journal::Status load(const journal::ReadTxn& view);
  std::uint64_t high_id() const noexcept { return high_; }

  bool get(const Batch& b, std::uint64_t id, Row& out) const {
    if (id == 0 || id > high_) return false;
    if (in_window(id)) {
      const Slot& s = slots_[id & mask_];
      if (s.id != id) return false;
      out = s.row;
      return true;
    }
    if (const Slot* s = old_.find(Key2{id, 0})) {
      out = s->row;
      return true;
    }
    if (b.own_view() == nullptr) return false;
    journal::Status st = b.own_view()->get_as(table_, journal::as_bytes(journal::key_u64(id)), out);
    if (st.ok()) return true;
    if (st.code() != journal::ErrorCode::not_found) state_read_failed("window table", st);
    return false;
  }
  // At start-up, before any batch: memory, else the view snapshot given.
  bool get(const journal::ReadTxn& view, std::uint64_t id, Row& out) const {
    if (id == 0 || id > high_) return false;
    if (in_window(id)) {
      const Slot& s = slots_[id & mask_];
      if (s.id == id) out = s.row;
      return s.id == id;
    }
    journal::Status st = view.get_as(table_, journal::as_bytes(journal::key_u64(id)), out);
    if (st.ok()) return true;
    if (st.code() != journal::ErrorCode::not_found) state_read_failed("window table", st);
    return false;
  }
  void put(Batch& b, std::uint64_t id, const Row& row);
  void viewed(std::uint64_t batch) {
    viewed_ = batch;
    old_notes_.forget(batch, [&](const Key2& key, std::uint64_t noted) {
      const Slot* s = old_.find(key);
      if (s != nullptr && s->batch == noted) old_.erase(key);
    });
  }
  std::size_t memory_rows() const noexcept { return slots_.size() + old_.size(); }
  // Visits the rows of the window in id order (for load-time scans such as timers).
  template <typename Fn>
  void for_each_recent(Fn&& fn) const {
    const std::uint64_t low = high_ >= slots_.size() ? high_ - slots_.size() + 1 : 1;
    for (std::uint64_t id = low; id != 0 && id <= high_; ++id) {
      const Slot& s = slots_[id & mask_];
      if (s.id == id) fn(id, s.row);
    }
  }

 private:
  struct Slot {
    std::uint64_t id = 0;
    std::uint64_t batch = 0;
    Row row{};
  };
  bool in_window(std::uint64_t id) const noexcept { return id + slots_.size() > high_; }
  void advance_to(const Batch& b, std::uint64_t id);

  std::vector<Slot> slots_;
  std::size_t mask_;
  std::uint64_t high_ = 0;
  std::uint64_t viewed_ = 0;
  std::uint16_t tag_ = 0;
  journal::TableId table_ = 0;
  OpenMap<Slot> old_;  // rows older than the window changed in batches the view may not have
  ForgetNotes old_notes_;
};

template <typename Row>
class LogTable {
  static_assert(is_row_v<Row>);

 public:
  void bind(std::uint16_t tag, journal::TableId view_table) noexcept {
    tag_ = tag;
    table_ = view_table;
  }
  void put(Batch& b, const Key2& key, const Row& row) {
    b.state_put(tag_, journal::as_bytes(journal::key_u64_u64(key.a, key.b)),
                journal::as_bytes(row));
  }

 private:
  std::uint16_t tag_ = 0;
  journal::TableId table_ = 0;
};

// A set of ids the domain writes and reads back only at start-up (e.g. its pending orders).
class IdSet {
 public:
  void bind(std::uint16_t tag, journal::TableId view_table) noexcept {
    tag_ = tag;
    table_ = view_table;
  }
  void put(Batch& b, std::uint64_t id) {
    b.state_put(tag_, journal::as_bytes(journal::key_u64(id)), {});
  }
  void del(Batch& b, std::uint64_t id) {
    b.state_del(tag_, journal::as_bytes(journal::key_u64(id)));
  }
  // Every id in the view, in order.
  journal::Status load(const journal::ReadTxn& view, std::vector<std::uint64_t>& out) const {
    out.clear();
    return view.scan(table_, {}, SIZE_MAX, [&](journal::Bytes key, journal::Bytes) {
      if (key.size() == 8) out.push_back(journal::u64_from_key(key));
      return true;
    });
  }

 private:
  std::uint16_t tag_ = 0;
  journal::TableId table_ = 0;
};

class LogKeys {
 public:
  void bind(std::uint16_t tag, journal::TableId view_table) noexcept {
    tag_ = tag;
    table_ = view_table;
  }
  void put(Batch& b, const Key2& key) {
    b.state_put(tag_, journal::as_bytes(journal::key_u64_u64(key.a, key.b)), {});
  }

 private:
  std::uint16_t tag_ = 0;
  journal::TableId table_ = 0;
};

template <typename Row>
class TextTable {
  static_assert(is_row_v<Row>);

 public:
  void bind(std::uint16_t tag, journal::TableId view_table) noexcept {
    tag_ = tag;
    table_ = view_table;
  }
  // Sizes the hash table for `rows` rows (a caller that knows how many the load will bring).
  void reserve(std::size_t rows) { rows_.reserve(rows); }
  journal::Status load(const journal::ReadTxn& view) {
    rows_.clear();
    journal::Status bad;
    auto one = [&](journal::Bytes key, journal::Bytes value) {
      Row row{};
      if (key.size() > journal::entry_key_size_max_bytes || !journal::from_bytes(value, row)) {
        bad = journal::Status(journal::ErrorCode::corrupt, 0, "a view row of another size");
        return false;
      }
      const auto* chars = reinterpret_cast<const char*>(key.data());
      rows_.insert_or_assign(std::string(chars, key.size()), row);
      return true;
    };
    journal::Status s = view.scan(table_, {}, SIZE_MAX, one);
    return s.ok() ? bad : s;
  }
  const Row* find(std::string_view key) const {
    const auto it = rows_.find(key);
    return it == rows_.end() ? nullptr : &it->second;
  }
  void put(Batch& b, std::string_view key, const Row& row) {
    FS_ASSERT(!key.empty() && key.size() <= journal::entry_key_size_max_bytes);
    rows_.insert_or_assign(std::string(key), row);
    b.state_put(tag_, journal::as_bytes(key), journal::as_bytes(row));
  }
  void del(Batch& b, std::string_view key) {
    if (const auto it = rows_.find(key); it != rows_.end()) rows_.erase(it);
    b.state_del(tag_, journal::as_bytes(key));
  }
  std::size_t size() const noexcept { return rows_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  std::uint16_t tag_ = 0;
  journal::TableId table_ = 0;
  std::unordered_map<std::string, Row, Hash, std::equal_to<>> rows_;
};

class Counter {
 public:
  explicit Counter(std::string_view name) : name_(name) {}
  journal::Status load(const journal::Env& view, const journal::ReadTxn& txn);
  std::uint64_t value() const noexcept { return value_; }
  void set(Batch& b, std::uint64_t value) {
    value_ = value;
    b.state_put(state_tag_counters, journal::as_bytes(std::string_view(name_)),
                journal::as_bytes(value));
  }

 private:
  std::string name_;
  std::uint64_t value_ = 0;
};

// --- WindowTable, out of line ----------------------------------------------------------------

template <typename Row>
journal::Status WindowTable<Row>::load(const journal::ReadTxn& view) {
  for (Slot& s : slots_) s = Slot{};
  old_.clear();
  old_notes_.clear();
  high_ = 0;
  journal::Status bad;
  // The last id first, then the window before it.
  journal::Bytes last_key;
  journal::Bytes last_value;
  journal::Status s = view.last(table_, last_key, last_value);
  if (s.code() == journal::ErrorCode::not_found) return {};
  if (!s.ok()) return s;
  if (last_key.size() != 8)
    return journal::Status(journal::ErrorCode::corrupt, 0, "a view key of another size");
  const std::uint64_t last = journal::u64_from_key(last_key);
  const std::uint64_t from = last > slots_.size() ? last - slots_.size() + 1 : 1;
  s = view.scan(table_, journal::as_bytes(journal::key_u64(from)), SIZE_MAX,
                [&](journal::Bytes key, journal::Bytes value) {
                  Slot slot{};
                  if (key.size() != 8 || !journal::from_bytes(value, slot.row)) {
                    bad = journal::Status(journal::ErrorCode::corrupt, 0,
                                          "a view row of another size");
                    return false;
                  }
                  slot.id = journal::u64_from_key(key);
                  slots_[slot.id & mask_] = slot;
                  high_ = std::max(high_, slot.id);
                  return true;
                });
  return s.ok() ? bad : s;
}

template <typename Row>
void WindowTable<Row>::advance_to(const Batch& b, std::uint64_t id) {
  // Ids high_+1 .. id take over slots that held ids `window` lower; each such row must be in
  // the view before its slot is reused (at most one full turn of the ring to clear).
  const std::uint64_t turn = std::min<std::uint64_t>(id - high_, slots_.size());
  for (std::uint64_t k = 0; k < turn; ++k) {
    const Slot& s = slots_[(id - k) & mask_];
    if (s.id != 0 && s.batch > std::max(viewed_, b.viewed_batch())) b.wait_for_view(s.batch);
  }
  high_ = id;
}

template <typename Row>
void WindowTable<Row>::put(Batch& b, std::uint64_t id, const Row& row) {
  FS_ASSERT(id != 0);
  if (id > high_) advance_to(b, id);
  if (in_window(id)) {
    slots_[id & mask_] = Slot{id, b.id(), row};
  } else {
    old_.upsert(Key2{id, 0}) = Slot{id, b.id(), row};
    old_notes_.note(b.id(), Key2{id, 0});
  }
  b.state_put(tag_, journal::as_bytes(journal::key_u64(id)), journal::as_bytes(row));
}

}  // namespace flashsaga::domains
