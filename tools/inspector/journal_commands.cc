// `flashsaga journal show|tail|export`: records, decoded (ls and stats: ls_stats.cc; verify:
// verify.cc).
#include <fmt/format.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <thread>

#include "domains/journal_open.h"
#include "engine/base/clock.h"
#include "tools/check/check.h"
#include "tools/inspector/decode.h"
#include "tools/inspector/inspector.h"
#include "tools/inspector/reading.h"

namespace flashsaga::tools {

using domains::RecordType;
using ipc::Domain;

namespace {

constexpr std::size_t out_flush_bytes = std::size_t{1} << 16;

constexpr std::size_t idx(Domain d) {
  return static_cast<std::size_t>(d);
}

void write(std::ostream& out, fmt::memory_buffer& buf) {
  out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
  buf.clear();
}

// SIGINT stops `tail -f`; the previous handler is restored afterwards.
std::atomic<bool> g_interrupted{false};
extern "C" void on_sigint(int) {
  g_interrupted.store(true, std::memory_order_relaxed);
}

class SigintScope {
 public:
  SigintScope() {
    g_interrupted.store(false);
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &old_);
  }
  ~SigintScope() { ::sigaction(SIGINT, &old_, nullptr); }
  SigintScope(const SigintScope&) = delete;
  SigintScope& operator=(const SigintScope&) = delete;

 private:
  struct sigaction old_ {};
};

}  // namespace

// --- show --------------------------------------------------------------------------------------

int journal_show(const InspectContext& ctx, const ShowOptions& o, std::ostream& out,
                 std::ostream& err) {
  std::vector<Domain> ds;
  if (!resolve_domains(o.domain, false, ds, err, "journal show")) return 2;
  std::vector<bool> wanted;
  if (!o.types.empty()) {
    wanted.assign(0x10000, false);
    for (const std::string& t : o.types) {
      std::uint16_t type = 0;
      if (!parse_record_type(t, type)) {
        err << fmt::format("flashsaga journal show: unknown record type '{}' (one of: {})\n", t,
                           record_type_names());
        return 2;
      }
      wanted[type] = true;
    }
  }
  std::unique_ptr<journal::Env> env;
  if (!open_or_report(ctx, ds[0], env, err, "journal show")) return 2;
  std::uint64_t from = o.from;
  if (o.since_ns != std::numeric_limits<std::int64_t>::min()) {
    journal::ReadTxn txn;
    if (env->begin_read(txn).ok()) from = std::max(from, first_sequence_at(txn, o.since_ns));
  }
  fmt::memory_buffer buf;
  TimeFormatter tf;
  DecodedRecord d;
  std::uint64_t shown = 0;
  journal::Status s = scan_records(*env, from, o.to, [&](const journal::RecordView& r) {
    if (!wanted.empty() && !wanted[r.header.type]) return true;
    if (o.order_id != 0 && r.header.order_id != o.order_id) return true;
    if (r.header.time_ns < o.since_ns) return true;
    decode_record(ds[0], r, d);
    if (o.json)
      append_json_line(buf, d, tf);
    else
      append_text_line(buf, d, tf, false, ctx.style);
    buf.push_back('\n');
    flush_if(buf, out, out_flush_bytes);
    ++shown;
    return o.limit == 0 || shown < o.limit;
  });
  write(out, buf);
  if (!s.ok()) {
    err << fmt::format("flashsaga journal show: {} journal: {}\n", ipc::domain_name(ds[0]),
                       s.message());
    return 2;
  }
  return shown == 0 ? 1 : 0;
}

// --- tail --------------------------------------------------------------------------------------

namespace {

struct Pending {
  std::int64_t time_ns;
  Domain domain;
  std::uint64_t sequence;
  std::string line;
};

bool by_time(const Pending& a, const Pending& b) {
  return std::tie(a.time_ns, a.domain, a.sequence) < std::tie(b.time_ns, b.domain, b.sequence);
}

// One `journal tail` run: the journals it watches, where each stands, and how lines look.
class Tail {
 public:
  Tail(const InspectContext& ctx, const TailOptions& o, std::vector<Domain> ds, std::ostream& err)
      : ctx_(ctx), o_(o), ds_(std::move(ds)), err_(err), with_domain_(ds_.size() > 1) {}

  bool first(std::ostream& out);   // the last N records, interleaved by time
  bool follow(std::ostream& out);  // then new ones as they commit
  bool any_open() const {
    return std::any_of(envs_.begin(), envs_.end(), [](const auto& e) { return e != nullptr; });
  }

 private:
  bool open(Domain dom, bool report);
  Pending render(Domain dom, const journal::RecordView& r);
  bool poll(std::vector<Pending>& batch);

  const InspectContext& ctx_;
  const TailOptions& o_;
  std::vector<Domain> ds_;
  std::ostream& err_;
  bool with_domain_;
  std::array<std::unique_ptr<journal::Env>, 7> envs_;
  std::array<std::uint64_t, 7> next_{};  // next sequence to show, per domain
  TimeFormatter tf_;
  DecodedRecord d_;
};

// A journal that does not exist yet (a deployment starting) is looked for again each poll.
bool Tail::open(Domain dom, bool report) {
  if (envs_[idx(dom)]) return true;
  journal::Status s = domains::open_journal_read_only(ctx_.data_dir, dom, envs_[idx(dom)]);
  if (s.ok()) return true;
  if (s.code() != journal::ErrorCode::not_found || report)
    return report_open_problem(ctx_, dom, false, s, err_, "journal tail");
  return true;
}

Pending Tail::render(Domain dom, const journal::RecordView& r) {
  fmt::memory_buffer b;
  decode_record(dom, r, d_);
  if (o_.json)
    append_json_line(b, d_, tf_);
  else
    append_text_line(b, d_, tf_, with_domain_, ctx_.style);
  b.push_back('\n');
  return Pending{r.header.time_ns, dom, r.sequence, fmt::to_string(b)};
}

bool Tail::first(std::ostream& out) {
  std::vector<Pending> lines;
  for (Domain dom : ds_) {
    if (!open(dom, !o_.follow && ds_.size() == 1)) return false;
    if (!envs_[idx(dom)]) continue;
    journal::ReadTxn txn;
    journal::Status s = envs_[idx(dom)]->begin_read(txn);
    const std::uint64_t last = s.ok() ? txn.last_sequence() : 0;
    next_[idx(dom)] = last + 1;
    if (s.ok() && o_.last != 0 && last != 0) {
      const std::uint64_t start = last >= o_.last ? last - o_.last + 1 : 1;
      s = txn.records(start, o_.last, [&](const journal::RecordView& r) {
        lines.push_back(render(dom, r));
        return true;
      });
    }
    if (!s.ok()) {
      err_ << fmt::format("flashsaga journal tail: {} journal: {}\n", ipc::domain_name(dom),
                          s.message());
      return false;
    }
  }
  std::sort(lines.begin(), lines.end(), by_time);
  const std::size_t skip = lines.size() > o_.last ? lines.size() - o_.last : 0;
  for (std::size_t k = skip; k < lines.size(); ++k) out << lines[k].line;
  out.flush();
  return true;
}

// New records of every watched journal, each read in a fresh snapshot (nothing pinned between
// polls).
bool Tail::poll(std::vector<Pending>& batch) {
  for (Domain dom : ds_) {
    if (!envs_[idx(dom)]) {
      if (!open(dom, false)) return false;
      if (!envs_[idx(dom)]) continue;
      next_[idx(dom)] = 1;  // a journal created while we watched: everything in it is new
    }
    journal::ReadTxn txn;
    journal::Status s = envs_[idx(dom)]->begin_read(txn);
    if (s.ok())
      s = txn.records(next_[idx(dom)], scan_chunk_records, [&](const journal::RecordView& r) {
        batch.push_back(render(dom, r));
        next_[idx(dom)] = r.sequence + 1;
        return true;
      });
    if (!s.ok()) {
      err_ << fmt::format("flashsaga journal tail: {} journal: {}\n", ipc::domain_name(dom),
                          s.message());
      return false;
    }
  }
  std::sort(batch.begin(), batch.end(), by_time);
  return true;
}

bool Tail::follow(std::ostream& out) {
  SigintScope sigint;
  std::uint64_t followed = 0;
  auto stopping = [&] {
    return g_interrupted.load(std::memory_order_relaxed) ||
           (o_.stop && o_.stop->load(std::memory_order_relaxed)) ||
           (o_.max_records != 0 && followed >= o_.max_records);
  };
  while (!stopping()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(o_.poll_ms));
    std::vector<Pending> batch;
    if (!poll(batch)) return false;
    for (const Pending& p : batch) {
      if (o_.max_records != 0 && followed >= o_.max_records) break;
      out << p.line;
      ++followed;
    }
    out.flush();
  }
  return true;
}

}  // namespace

int journal_tail(const InspectContext& ctx, const TailOptions& o, std::ostream& out,
                 std::ostream& err) {
  std::vector<Domain> ds;
  if (!resolve_domains(o.domain, true, ds, err, "journal tail")) return 2;
  if (std::string p = data_dir_problem(ctx.data_dir); !p.empty()) {
    err << "flashsaga journal tail: " << p << '\n';
    return 2;
  }
  Tail tail(ctx, o, std::move(ds), err);
  if (!tail.first(out)) return 2;
  if (!o.follow && !tail.any_open()) {
    err << fmt::format(
        "flashsaga journal tail: {} holds no flashsaga journals yet (check --data)\n",
        ctx.data_dir.string());
    return 2;
  }
  if (!o.follow) return 0;
  return tail.follow(out) ? 0 : 2;
}

// --- export ------------------------------------------------------------------------------------

int journal_export(const InspectContext& ctx, const ExportOptions& o, std::ostream& out,
                   std::ostream& err) {
  const bool csv = o.format == "csv";
  if (!csv && o.format != "jsonl") {
    err << fmt::format("flashsaga journal export: unknown format '{}' (jsonl or csv)\n", o.format);
    return 2;
  }
  std::vector<Domain> ds;
  if (!resolve_domains(o.domain, true, ds, err, "journal export")) return 2;
  std::vector<std::unique_ptr<journal::Env>> envs;
  for (Domain dom : ds) {  // open every journal first: a bad directory exports nothing
    envs.emplace_back();
    if (!open_or_report(ctx, dom, envs.back(), err, "journal export")) return 2;
  }
  fmt::memory_buffer buf;
  TimeFormatter tf;
  DecodedRecord d;
  if (csv) {
    buf.append(csv_header());
    buf.push_back('\n');
  }
  for (std::size_t k = 0; k < ds.size(); ++k) {
    journal::Status s = scan_records(*envs[k], 1, std::numeric_limits<std::uint64_t>::max(),
                                     [&](const journal::RecordView& r) {
                                       decode_record(ds[k], r, d);
                                       if (csv)
                                         append_csv_line(buf, d, tf);
                                       else
                                         append_json_line(buf, d, tf);
                                       buf.push_back('\n');
                                       flush_if(buf, out, out_flush_bytes);
                                       return true;
                                     });
    if (!s.ok()) {
      write(out, buf);
      err << fmt::format("flashsaga journal export: {} journal: {}\n", ipc::domain_name(ds[k]),
                         s.message());
      return 2;
    }
  }
  write(out, buf);
  out.flush();
  return 0;
}

}  // namespace flashsaga::tools
