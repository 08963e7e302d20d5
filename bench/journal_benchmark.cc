// Journal append throughput beside raw LMDB, measured in pairs.
//
// A batch is: begin a write transaction, append `batch` records with 64-byte payloads, commit.
// "journal" goes through journal::WriteTxn::append (header, CRC32C, MDB_APPEND|MDB_RESERVE);
// "raw" calls mdb_put with MDB_APPEND on the same 96 value bytes (header + payload, prepared
// once), in an environment opened with the same flags, and commits the same batch. Each
// benchmark iteration runs one batch of each, alternating which goes first, and times each
// side separately; rates come from each side's median batch time. Pairing, and medians rather
// than sums, keep the ratio honest on a machine whose load changes while the benchmark runs
// (a descheduled batch or a slow fsync moves one sample, not the result). The table at the end
// gives records/s, payload MB/s and journal/raw per mode and batch (median of repetitions).
//
// The environments live in fresh directories under $FLASHSAGA_BENCH_DIR, else /tmp; a tmpfs
// there is refused (fsync would be free and sync mode meaningless), falling back to the
// current directory.
//
//   build/journal-rel/bench/journal_benchmark [--benchmark_filter=nosync]
#include <benchmark/benchmark.h>
#include <lmdb.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "engine/base/crc32c.h"
#include "journal/journal.h"

namespace {

namespace fs = std::filesystem;
namespace journal = flashsaga::journal;

constexpr std::size_t payload_size_bytes = 64;
constexpr std::size_t map_size_bytes = std::size_t{8} << 30;  // never the limit here
constexpr std::int64_t batch_sizes[] = {1, 64, 1024, 16384};
constexpr double min_time_s = 0.5;
// Other work on the machine disturbs single runs; the table uses the median of these.
constexpr int repetitions = 3;

fs::path bench_root() {
  const char* env = std::getenv("FLASHSAGA_BENCH_DIR");
  fs::path base = env != nullptr && *env != '\0' ? fs::path(env) : fs::path("/tmp");
  struct statfs sfs {};
  if (::statfs(base.c_str(), &sfs) == 0 && sfs.f_type == TMPFS_MAGIC) {
    std::fprintf(stderr, "%s is tmpfs; using the current directory instead\n", base.c_str());
    base = fs::current_path();
  }
  return base;
}

// A fresh directory for one side of one run, removed afterwards.
class RunDir {
 public:
  RunDir() {
    std::string pattern = (bench_root() / "flashsaga_journal_bench.XXXXXX").string();
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~RunDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  RunDir(const RunDir&) = delete;
  RunDir& operator=(const RunDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::vector<std::byte> payload() {
  std::vector<std::byte> p(payload_size_bytes);
  for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<std::byte>(i * 7);
  return p;
}

std::int64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// The journal side: one Env, batches through WriteTxn::append.
class JournalSide {
 public:
  explicit JournalSide(journal::Durability durability) : payload_(payload()) {
    journal::Options o;
    o.dir = dir_.path() / "order";
    o.domain = "order";
    o.durability = durability;
    o.map_size_bytes = map_size_bytes;
    o.map_size_max_bytes = map_size_bytes;
    if (auto s = journal::Env::open(o, env_); !s.ok()) error_ = s.message();
  }
  const std::string& error() const { return error_; }

  bool run_batch(std::int64_t batch) {
    journal::WriteTxn txn;
    if (!env_->begin_write(txn).ok()) return false;
    for (std::int64_t i = 0; i < batch; ++i) {
      if (!txn.append(1, ++order_id_, payload_).ok()) return false;
    }
    return txn.commit().ok();
  }

 private:
  RunDir dir_;
  std::vector<std::byte> payload_;
  std::unique_ptr<journal::Env> env_;
  std::uint64_t order_id_ = 0;
  std::string error_;
};

// The raw side: LMDB directly, same flags, same value bytes, same batch.
class RawSide {
 public:
  explicit RawSide(journal::Durability durability) {
    unsigned flags = MDB_NOTLS;
    if (durability == journal::Durability::nosync) flags |= MDB_NOSYNC;
    MDB_txn* txn = nullptr;
    if (mdb_env_create(&env_) != 0 || mdb_env_set_maxdbs(env_, journal::tables_max + 2) != 0 ||
        mdb_env_set_mapsize(env_, map_size_bytes) != 0 ||
        mdb_env_open(env_, dir_.path().c_str(), flags, 0600) != 0 ||
        mdb_txn_begin(env_, nullptr, 0, &txn) != 0 ||
        mdb_dbi_open(txn, "journal", MDB_CREATE, &dbi_) != 0 || mdb_txn_commit(txn) != 0) {
      error_ = "raw LMDB setup failed";
    }
    // The bytes the journal stores for the same payload: a sealed header, then the payload.
    const auto p = payload();
    journal::RecordHeader h{};
    h.magic = journal::journal_magic;
    h.version = journal::journal_layout_version;
    h.type = 1;
    h.payload_size = payload_size_bytes;
    h.checksum = flashsaga::crc32c(&h, sizeof h);
    h.checksum = flashsaga::crc32c(p.data(), p.size(), h.checksum);
    value_.resize(sizeof h + p.size());
    std::memcpy(value_.data(), &h, sizeof h);
    std::memcpy(value_.data() + sizeof h, p.data(), p.size());
  }
  ~RawSide() {
    if (env_ != nullptr) mdb_env_close(env_);
  }
  RawSide(const RawSide&) = delete;
  RawSide& operator=(const RawSide&) = delete;
  const std::string& error() const { return error_; }

  bool run_batch(std::int64_t batch) {
    MDB_txn* txn = nullptr;
    if (mdb_txn_begin(env_, nullptr, 0, &txn) != 0) return false;
    for (std::int64_t i = 0; i < batch; ++i) {
      auto key = journal::key_u64(++sequence_);
      MDB_val k{key.size(), key.data()};
      MDB_val v{value_.size(), value_.data()};
      if (mdb_put(txn, dbi_, &k, &v, MDB_APPEND) != 0) {
        mdb_txn_abort(txn);
        return false;
      }
    }
    return mdb_txn_commit(txn) == 0;
  }

 private:
  RunDir dir_;
  MDB_env* env_ = nullptr;
  MDB_dbi dbi_ = 0;
  std::vector<std::byte> value_;
  std::uint64_t sequence_ = 0;
  std::string error_;
};

void append_pair(benchmark::State& state, journal::Durability durability, std::int64_t batch) {
  JournalSide ours(durability);
  RawSide raw(durability);
  if (!ours.error().empty() || !raw.error().empty()) {
    state.SkipWithError((ours.error() + raw.error()).c_str());
    return;
  }
  std::vector<std::int64_t> ours_ns;
  std::vector<std::int64_t> raw_ns;
  bool ours_first = true;
  for (auto _ : state) {
    for (int side = 0; side < 2; ++side) {
      const bool run_ours = (side == 0) == ours_first;
      const std::int64_t start = mono_ns();
      const bool ok = run_ours ? ours.run_batch(batch) : raw.run_batch(batch);
      (run_ours ? ours_ns : raw_ns).push_back(mono_ns() - start);  // outside the timed span
      if (!ok) {
        state.SkipWithError(run_ours ? "journal batch failed" : "raw batch failed");
        return;
      }
    }
    ours_first = !ours_first;
  }
  const auto median = [](std::vector<std::int64_t>& v) {
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return static_cast<double>(v[v.size() / 2]);
  };
  const double ours_rate = static_cast<double>(batch) / (median(ours_ns) / 1e9);
  const double raw_rate = static_cast<double>(batch) / (median(raw_ns) / 1e9);
  state.counters["journal_rec/s"] = ours_rate;
  state.counters["raw_rec/s"] = raw_rate;
  state.counters["journal_MB/s"] = ours_rate * payload_size_bytes / 1e6;
  state.counters["raw_MB/s"] = raw_rate * payload_size_bytes / 1e6;
  state.counters["ratio"] = ours_rate / raw_rate;
}

std::string bench_name(journal::Durability d, std::int64_t batch) {
  return "append/" + std::string(journal::durability_name(d)) + "/batch:" + std::to_string(batch);
}

// Keeps each benchmark's counters for the closing table, and prints runs as usual.
class TableReporter : public benchmark::ConsoleReporter {
 public:
  TableReporter() : ConsoleReporter(::isatty(STDOUT_FILENO) != 0 ? OO_Defaults : OO_Tabular) {}

  // The median of the repetitions, or the single run if repetitions are turned down to 1.
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      if (run.run_type != Run::RT_Iteration && !median) continue;
      const std::string& key = run.run_name.function_name;  // as registered
      if (median || has_median_.count(key) == 0) {
        auto& row = rows_[key];
        for (const auto& [name, counter] : run.counters) row[name] = counter.value;
      }
      if (median) has_median_.insert(key);
    }
    ConsoleReporter::ReportRuns(runs);
  }

  void print_table() const {
    std::printf("\n%-7s %6s %14s %14s %12s %10s %7s\n", "mode", "batch", "journal rec/s",
                "raw rec/s", "journal MB/s", "raw MB/s", "ratio");
    for (const auto d : {journal::Durability::sync, journal::Durability::nosync}) {
      for (const std::int64_t batch : batch_sizes) {
        const auto it = rows_.find(bench_name(d, batch));
        if (it == rows_.end()) continue;
        const auto& row = it->second;
        const auto get = [&](const char* name) {
          const auto c = row.find(name);
          return c == row.end() ? 0.0 : c->second;
        };
        // The ratio of the rates shown, so the row reads consistently.
        const double ratio = get("raw_rec/s") > 0 ? get("journal_rec/s") / get("raw_rec/s") : 0;
        std::printf("%-7s %6lld %14.0f %14.0f %12.2f %10.2f %7.2f\n",
                    std::string(journal::durability_name(d)).c_str(), static_cast<long long>(batch),
                    get("journal_rec/s"), get("raw_rec/s"), get("journal_MB/s"), get("raw_MB/s"),
                    ratio);
      }
    }
  }

 private:
  std::map<std::string, std::map<std::string, double>> rows_;
  std::set<std::string> has_median_;
};

}  // namespace

int main(int argc, char** argv) {
  for (const auto d : {journal::Durability::sync, journal::Durability::nosync}) {
    for (const std::int64_t batch : batch_sizes) {
      benchmark::RegisterBenchmark(bench_name(d, batch).c_str(),
                                   [d, batch](benchmark::State& s) { append_pair(s, d, batch); })
          ->UseRealTime()
          ->MinTime(min_time_s)
          ->Repetitions(repetitions)
          ->Unit(benchmark::kMicrosecond);
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  TableReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_table();
  benchmark::Shutdown();
  return 0;
}
