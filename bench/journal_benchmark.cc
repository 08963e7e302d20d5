// Journal append throughput beside raw LMDB.
//
// Each benchmark iteration is one batch: begin a write transaction, append `batch` records of
// 64-byte payloads, commit. "journal" goes through journal::WriteTxn::append (header, CRC32C,
// wall clock, MDB_APPEND|MDB_RESERVE); "raw_lmdb" calls mdb_put with MDB_APPEND on the same
// 96 value bytes (header + payload, prepared once) with the same environment flags and batch.
// At the end a table gives records/s, payload MB/s and the journal/raw ratio per mode and batch.
//
// The environments live in a fresh directory under $FLASHSAGA_BENCH_DIR, else /tmp; a tmpfs
// there is refused (fsync would be free and sync mode meaningless), falling back to the
// current directory.
//
//   build/journal-rel/bench/journal_benchmark [--benchmark_filter=nosync]
#include <benchmark/benchmark.h>
#include <lmdb.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "engine/crc32c.h"
#include "journal/journal.h"

namespace {

namespace fs = std::filesystem;
namespace journal = flashsaga::journal;

constexpr std::size_t payload_size_bytes = 64;
constexpr std::size_t map_size_bytes = std::size_t{8} << 30;  // never the limit here
constexpr std::int64_t batch_sizes[] = {1, 64, 1024, 16384};
constexpr double min_time_s = 0.3;
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

// A fresh directory for one benchmark run, removed afterwards.
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
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::vector<std::byte> payload() {
  std::vector<std::byte> p(payload_size_bytes);
  for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<std::byte>(i * 7);
  return p;
}

void set_rates(benchmark::State& state, std::int64_t batch) {
  const std::int64_t records = static_cast<std::int64_t>(state.iterations()) * batch;
  state.SetItemsProcessed(records);
  state.SetBytesProcessed(records * static_cast<std::int64_t>(payload_size_bytes));
}

void journal_append(benchmark::State& state, journal::Durability durability,
                    std::int64_t batch) {
  RunDir dir;
  journal::Options o;
  o.dir = dir.path() / "order";
  o.domain = "order";
  o.durability = durability;
  o.map_size_bytes = map_size_bytes;
  o.map_size_max_bytes = map_size_bytes;
  std::unique_ptr<journal::Env> env;
  if (auto s = journal::Env::open(o, env); !s.ok()) {
    state.SkipWithError(s.message().c_str());
    return;
  }
  const auto p = payload();
  std::uint64_t order_id = 0;
  for (auto _ : state) {
    journal::WriteTxn txn;
    if (!env->begin_write(txn).ok()) {
      state.SkipWithError("begin_write failed");
      break;
    }
    for (std::int64_t i = 0; i < batch; ++i) {
      if (!txn.append(1, ++order_id, p).ok()) {
        state.SkipWithError("append failed");
        break;
      }
    }
    if (auto s = txn.commit(); !s.ok()) {
      state.SkipWithError(s.message().c_str());
      break;
    }
  }
  set_rates(state, batch);
}

void raw_append(benchmark::State& state, journal::Durability durability, std::int64_t batch) {
  RunDir dir;
  MDB_env* env = nullptr;
  unsigned flags = MDB_NOTLS;
  if (durability == journal::Durability::nosync) flags |= MDB_NOSYNC;
  MDB_dbi dbi = 0;
  MDB_txn* txn = nullptr;
  if (mdb_env_create(&env) != 0 || mdb_env_set_maxdbs(env, journal::tables_max + 2) != 0 ||
      mdb_env_set_mapsize(env, map_size_bytes) != 0 ||
      mdb_env_open(env, dir.path().c_str(), flags, 0600) != 0 ||
      mdb_txn_begin(env, nullptr, 0, &txn) != 0 ||
      mdb_dbi_open(txn, "journal", MDB_CREATE, &dbi) != 0 || mdb_txn_commit(txn) != 0) {
    state.SkipWithError("raw LMDB setup failed");
    if (env != nullptr) mdb_env_close(env);
    return;
  }
  // The same bytes the journal stores: a sealed header, then the payload.
  const auto p = payload();
  journal::RecordHeader h{};
  h.magic = journal::journal_magic;
  h.version = journal::journal_layout_version;
  h.type = 1;
  h.payload_size = payload_size_bytes;
  std::vector<std::byte> value(sizeof h + p.size());
  h.checksum = flashsaga::crc32c(&h, sizeof h);
  h.checksum = flashsaga::crc32c(p.data(), p.size(), h.checksum);
  std::memcpy(value.data(), &h, sizeof h);
  std::memcpy(value.data() + sizeof h, p.data(), p.size());

  std::uint64_t sequence = 0;
  for (auto _ : state) {
    if (mdb_txn_begin(env, nullptr, 0, &txn) != 0) {
      state.SkipWithError("mdb_txn_begin failed");
      break;
    }
    for (std::int64_t i = 0; i < batch; ++i) {
      auto key = journal::key_u64(++sequence);
      MDB_val k{key.size(), key.data()};
      MDB_val v{value.size(), value.data()};
      if (mdb_put(txn, dbi, &k, &v, MDB_APPEND) != 0) {
        state.SkipWithError("mdb_put failed");
        break;
      }
    }
    if (mdb_txn_commit(txn) != 0) {
      state.SkipWithError("mdb_txn_commit failed");
      break;
    }
  }
  mdb_env_close(env);
  set_rates(state, batch);
}

// Keeps each run's rates for the closing ratio table, and prints runs as usual.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  RatioReporter() : ConsoleReporter(::isatty(STDOUT_FILENO) != 0 ? OO_Defaults : OO_Tabular) {}

  // The table uses the median of the repetitions, which a busy machine disturbs least (or
  // the single run, if repetitions are turned down to 1).
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      if (run.run_type != Run::RT_Iteration && !median) continue;
      const auto it = run.counters.find("items_per_second");
      if (it == run.counters.end()) continue;
      const std::string& key = run.run_name.function_name;  // as registered
      if (median || !has_median_.count(key)) rates_[key] = it->second.value;
      if (median) has_median_.insert(key);
    }
    ConsoleReporter::ReportRuns(runs);
  }

  void print_table() const {
    std::printf("\n%-7s %6s %14s %14s %10s %10s %9s\n", "mode", "batch", "journal rec/s",
                "raw rec/s", "journal MB/s", "raw MB/s", "ratio");
    for (const auto d : {journal::Durability::sync, journal::Durability::nosync}) {
      for (const std::int64_t batch : batch_sizes) {
        const double ours = rate("journal", d, batch);
        const double raw = rate("raw_lmdb", d, batch);
        if (ours <= 0 || raw <= 0) continue;
        std::printf("%-7s %6lld %14.0f %14.0f %10.2f %10.2f %9.2f\n",
                    std::string(journal::durability_name(d)).c_str(),
                    static_cast<long long>(batch), ours, raw, ours * payload_size_bytes / 1e6,
                    raw * payload_size_bytes / 1e6, ours / raw);
      }
    }
  }

  static std::string name(const char* kind, journal::Durability d, std::int64_t batch) {
    return std::string(kind) + "/" + std::string(journal::durability_name(d)) +
           "/batch:" + std::to_string(batch);
  }

 private:
  double rate(const char* kind, journal::Durability d, std::int64_t batch) const {
    const auto it = rates_.find(name(kind, d, batch));
    return it == rates_.end() ? 0 : it->second;
  }

  std::map<std::string, double> rates_;
  std::set<std::string> has_median_;
};

}  // namespace

int main(int argc, char** argv) {
  // Ours and raw run back to back per mode and batch, so both see the same disk state.
  for (const auto d : {journal::Durability::sync, journal::Durability::nosync}) {
    for (const std::int64_t batch : batch_sizes) {
      benchmark::RegisterBenchmark(RatioReporter::name("journal", d, batch).c_str(),
                                   [d, batch](benchmark::State& s) { journal_append(s, d, batch); })
          ->UseRealTime()
          ->MinTime(min_time_s)
          ->Repetitions(repetitions)
          ->Unit(benchmark::kMicrosecond);
      benchmark::RegisterBenchmark(RatioReporter::name("raw_lmdb", d, batch).c_str(),
                                   [d, batch](benchmark::State& s) { raw_append(s, d, batch); })
          ->UseRealTime()
          ->MinTime(min_time_s)
          ->Repetitions(repetitions)
          ->Unit(benchmark::kMicrosecond);
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_table();
  benchmark::Shutdown();
  return 0;
}
