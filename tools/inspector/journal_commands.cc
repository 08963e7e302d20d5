// `flashsaga journal ls|show|tail|verify|stats|export`.
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
constexpr std::size_t verify_problems_max = 1000;  // per journal; the rest are counted
constexpr std::size_t stats_minutes_max = 1440;    // rate rows shown (the last day)
constexpr std::int64_t ns_per_minute = 60'000'000'000;

constexpr std::size_t idx(Domain d) {
  return static_cast<std::size_t>(d);
}

void write(std::ostream& out, fmt::memory_buffer& buf) {
  out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
  buf.clear();
}

std::string time_or_dash(TimeFormatter& tf, std::int64_t ns, bool present) {
  return present ? tf.format(ns) : std::string("-");
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

// --- ls ----------------------------------------------------------------------------------------

int journal_ls(const InspectContext& ctx, std::ostream& out, std::ostream& err) {
  if (std::string p = data_dir_problem(ctx.data_dir); !p.empty()) {
    err << "flashsaga journal ls: " << p << '\n';
    return 2;
  }
  Table table(
      {"DOMAIN", "RECORDS", "FIRST", "LAST", "FIRST TIME", "LAST TIME", "SIZE", "MAP USE", "DURABILITY", "READERS"},
      {false, true, true, true, false, false, true, true, false, true});
  TimeFormatter tf;
  std::size_t present = 0;
  for (Domain d : journal_domains) {
    std::unique_ptr<journal::Env> env;
    journal::Status s = domains::open_journal_read_only(ctx.data_dir, d, env);
    if (!s.ok()) {
      if (s.code() != journal::ErrorCode::not_found) {
        err << "flashsaga journal ls: " << s.message() << '\n';
        return 2;
      }
      table.add({std::string(ipc::domain_name(d)), "-", "-", "-", "-", "-", "-", "-", "-", "(no journal yet)"});
      continue;
    }
    ++present;
    const journal::EnvStats st = env->stats();
    journal::ReadTxn txn;
    std::int64_t first_ns = 0, last_ns = 0;
    std::uint64_t first_seq = 0;
    if (env->begin_read(txn).ok()) {
      (void)txn.records(1, 1, [&](const journal::RecordView& r) {
        first_seq = r.sequence;
        first_ns = r.header.time_ns;
        return false;
      });
      if (st.last_sequence != 0)
        (void)txn.records(st.last_sequence, 1, [&](const journal::RecordView& r) {
          last_ns = r.header.time_ns;
          return false;
        });
    }
    std::error_code ec;
    const auto size = std::filesystem::file_size(ctx.data_dir / ipc::domain_name(d) / "data.mdb", ec);
    const double use = st.map_size_bytes == 0
                           ? 0.0
                           : 100.0 * static_cast<double>(st.used_bytes) / static_cast<double>(st.map_size_bytes);
    table.add(
        {std::string(ipc::domain_name(d)), fmt::format("{}", st.journal_records),
         first_seq ? fmt::format("{}", first_seq) : "-", st.last_sequence ? fmt::format("{}", st.last_sequence) : "-",
         time_or_dash(tf, first_ns, first_seq != 0), time_or_dash(tf, last_ns, st.last_sequence != 0),
         ec ? std::string("-") : format_bytes(size), fmt::format("{:.1f}% of {}", use, format_bytes(st.map_size_bytes)),
         std::string(journal::durability_name(st.durability)), fmt::format("{}/{}", st.readers_used, st.readers_max)});
  }
  if (present == 0) {
    err << fmt::format(
        "flashsaga journal ls: {} holds no flashsaga journals (expected user/, point/, product/, "
        "coupon/, order/, payment/; check --data)\n",
        ctx.data_dir.string());
    return 2;
  }
  out << ctx.style.bold() << "journals in " << ctx.data_dir.string() << ctx.style.reset() << '\n';
  table.print(out, ctx.style);
  return 0;
}

// --- show --------------------------------------------------------------------------------------

int journal_show(const InspectContext& ctx, const ShowOptions& o, std::ostream& out, std::ostream& err) {
  std::vector<Domain> ds;
  if (!resolve_domains(o.domain, false, ds, err, "journal show")) return 2;
  std::vector<bool> wanted;
  if (!o.types.empty()) {
    wanted.assign(0x10000, false);
    for (const std::string& t : o.types) {
      std::uint16_t type = 0;
      if (!parse_record_type(t, type)) {
        err << fmt::format("flashsaga journal show: unknown record type '{}' (one of: {})\n", t, record_type_names());
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
    err << fmt::format("flashsaga journal show: {} journal: {}\n", ipc::domain_name(ds[0]), s.message());
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

}  // namespace

int journal_tail(const InspectContext& ctx, const TailOptions& o, std::ostream& out, std::ostream& err) {
  std::vector<Domain> ds;
  if (!resolve_domains(o.domain, true, ds, err, "journal tail")) return 2;
  if (std::string p = data_dir_problem(ctx.data_dir); !p.empty()) {
    err << "flashsaga journal tail: " << p << '\n';
    return 2;
  }
  std::array<std::unique_ptr<journal::Env>, 7> envs;
  std::array<std::uint64_t, 7> next{};  // next sequence to show, per domain
  const bool with_domain = ds.size() > 1;
  TimeFormatter tf;
  DecodedRecord d;
  // A journal that does not exist yet (a deployment starting) is looked for again each poll.
  auto open = [&](Domain dom, bool report) -> bool {
    if (envs[idx(dom)]) return true;
    journal::Status s = domains::open_journal_read_only(ctx.data_dir, dom, envs[idx(dom)]);
    if (s.ok()) return true;
    if (s.code() != journal::ErrorCode::not_found || report) {
      err << "flashsaga journal tail: " << s.message() << '\n';
      return false;
    }
    return true;
  };
  auto render = [&](Domain dom, const journal::RecordView& r) {
    fmt::memory_buffer b;
    decode_record(dom, r, d);
    if (o.json)
      append_json_line(b, d, tf);
    else
      append_text_line(b, d, tf, with_domain, ctx.style);
    b.push_back('\n');
    return Pending{r.header.time_ns, dom, r.sequence, fmt::to_string(b)};
  };
  auto by_time = [](const Pending& a, const Pending& b) {
    return std::tie(a.time_ns, a.domain, a.sequence) < std::tie(b.time_ns, b.domain, b.sequence);
  };

  // The last N records first, interleaved by time.
  std::vector<Pending> first;
  for (Domain dom : ds) {
    if (!open(dom, !o.follow && ds.size() == 1)) return 2;
    if (!envs[idx(dom)]) continue;
    journal::ReadTxn txn;
    journal::Status s = envs[idx(dom)]->begin_read(txn);
    if (!s.ok()) {
      err << "flashsaga journal tail: " << s.message() << '\n';
      return 2;
    }
    const std::uint64_t last = txn.last_sequence();
    next[idx(dom)] = last + 1;
    if (o.last == 0 || last == 0) continue;
    const std::uint64_t start = last >= o.last ? last - o.last + 1 : 1;
    s = txn.records(start, o.last, [&](const journal::RecordView& r) {
      first.push_back(render(dom, r));
      return true;
    });
    if (!s.ok()) {
      err << fmt::format("flashsaga journal tail: {} journal: {}\n", ipc::domain_name(dom), s.message());
      return 2;
    }
  }
  if (!o.follow && std::none_of(envs.begin(), envs.end(), [](const auto& e) { return e != nullptr; })) {
    err << fmt::format("flashsaga journal tail: {} holds no flashsaga journals yet (check --data)\n",
                       ctx.data_dir.string());
    return 2;
  }
  std::sort(first.begin(), first.end(), by_time);
  const std::size_t skip = first.size() > o.last ? first.size() - o.last : 0;
  for (std::size_t k = skip; k < first.size(); ++k) out << first[k].line;
  out.flush();
  if (!o.follow) return 0;

  SigintScope sigint;
  std::uint64_t followed = 0;
  auto stopping = [&] {
    return g_interrupted.load(std::memory_order_relaxed) || (o.stop && o.stop->load(std::memory_order_relaxed)) ||
           (o.max_records != 0 && followed >= o.max_records);
  };
  while (!stopping()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(o.poll_ms));
    std::vector<Pending> batch;
    for (Domain dom : ds) {
      if (!envs[idx(dom)]) {
        if (!open(dom, false)) return 2;
        if (!envs[idx(dom)]) continue;
        next[idx(dom)] = 1;  // a journal created while we watched: everything in it is new
      }
      journal::ReadTxn txn;  // a fresh snapshot each poll: nothing pinned between polls
      journal::Status s = envs[idx(dom)]->begin_read(txn);
      if (!s.ok()) {
        err << "flashsaga journal tail: " << s.message() << '\n';
        return 2;
      }
      s = txn.records(next[idx(dom)], scan_chunk_records, [&](const journal::RecordView& r) {
        batch.push_back(render(dom, r));
        next[idx(dom)] = r.sequence + 1;
        return true;
      });
      if (!s.ok()) {
        err << fmt::format("flashsaga journal tail: {} journal: {}\n", ipc::domain_name(dom), s.message());
        return 2;
      }
    }
    std::sort(batch.begin(), batch.end(), by_time);
    for (const Pending& p : batch) {
      if (o.max_records != 0 && followed >= o.max_records) break;
      out << p.line;
      ++followed;
    }
    out.flush();
  }
  return 0;
}

// --- verify ------------------------------------------------------------------------------------

namespace {

struct VerifyResult {
  std::uint64_t records = 0;
  std::uint64_t first = 0, last = 0;
  std::uint64_t problems = 0;
  std::uint64_t clock_steps_back = 0;
};

void verify_one(const journal::Env& env, Domain dom, std::ostream& out, const Style& st, VerifyResult& v) {
  journal::ReadTxn txn;
  journal::Status s = env.begin_read(txn);
  auto problem = [&](std::uint64_t seq, const std::string& what) {
    if (v.problems++ < verify_problems_max)
      out << fmt::format("{}{} seq {}{}: {}\n", st.red(), ipc::domain_name(dom), seq, st.reset(), what);
  };
  if (!s.ok()) {
    problem(0, s.message());
    return;
  }
  const std::uint64_t last = txn.last_sequence();
  v.last = last;
  std::uint64_t expected = 1;
  std::int64_t last_time = std::numeric_limits<std::int64_t>::min();
  std::uint64_t next = 1;
  while (next <= last) {
    std::uint64_t visited = 0;
    s = txn.records(next, scan_chunk_records, [&](const journal::RecordView& r) {
      ++visited;
      ++v.records;
      if (v.first == 0) v.first = r.sequence;
      if (r.sequence != expected)
        problem(r.sequence, r.sequence > expected
                                ? fmt::format("sequence gap: records {}..{} are missing", expected, r.sequence - 1)
                                : fmt::format("sequence goes back (expected {})", expected));
      expected = r.sequence + 1;
      next = r.sequence + 1;
      if (r.header.time_ns < last_time) ++v.clock_steps_back;
      last_time = r.header.time_ns;
      const auto type = static_cast<RecordType>(r.header.type);
      if (!record_type_known(r.header.type)) {
        problem(r.sequence,
                fmt::format("record type {} is unknown to this flashsaga (a newer writer?)", r.header.type));
        return true;
      }
      if (!payload_size_ok(type, r.payload.size())) {
        problem(r.sequence, fmt::format("{} carries {} payload bytes, its type has {}", domains::record_type_name(type),
                                        r.payload.size(), payload_size_for(type)));
        return true;
      }
      const Domain owner = domains::record_domain(type);
      if (owner != dom && owner != Domain::none)
        problem(r.sequence,
                fmt::format("{} belongs in the {} journal", domains::record_type_name(type), ipc::domain_name(owner)));
      if (record_carries_event(type)) {
        domains::Event e;
        std::memcpy(&e, r.payload.data(), sizeof e);
        for (std::uint8_t b : e.reserved)
          if (b != 0) {
            problem(r.sequence, "reserved bytes of its Event are not zero");
            break;
          }
      }
      if (type == RecordType::order_pending) {
        domains::OrderRow o;
        std::memcpy(&o, r.payload.data(), sizeof o);
        if (o.id != r.header.order_id)
          problem(r.sequence,
                  fmt::format("order_pending for order {} carries the row of order {}", r.header.order_id, o.id));
      }
      return true;
    });
    if (!s.ok()) {
      const std::uint64_t bad = sequence_in_message(s.message());
      problem(bad, s.message());
      if (bad == 0 || bad < next) break;  // cannot tell where it is: stop here
      const bool gap = s.message().find("sequence gap") != std::string::npos;
      if (gap) {
        problem(bad, fmt::format("sequence gap: records {}..{} are missing", expected, bad - 1));
        next = bad;  // the record after the gap is itself fine: check it
        expected = bad;
      } else {
        next = bad + 1;  // skip the corrupt record, check the rest
        expected = bad + 1;
      }
      (void)env.begin_read(txn);
      continue;
    }
    if (visited < scan_chunk_records) break;
    if (!env.begin_read(txn).ok()) break;
  }
}

}  // namespace

int journal_verify(const InspectContext& ctx, const std::string& domain, std::ostream& out, std::ostream& err) {
  std::vector<Domain> ds;
  if (!resolve_domains(domain, true, ds, err, "journal verify")) return 2;
  if (std::string p = data_dir_problem(ctx.data_dir); !p.empty()) {
    err << "flashsaga journal verify: " << p << '\n';
    return 2;
  }
  std::uint64_t problems = 0;
  Table table({"DOMAIN", "RECORDS", "SEQUENCES", "PROBLEMS", "CLOCK STEPS BACK"}, {false, true, false, true, true});
  for (Domain dom : ds) {
    std::unique_ptr<journal::Env> env;
    if (!open_or_report(ctx, dom, env, err, "journal verify")) return 2;
    VerifyResult v;
    verify_one(*env, dom, out, ctx.style, v);
    if (v.problems > verify_problems_max)
      out << fmt::format("{}: ... and {} more problems\n", ipc::domain_name(dom), v.problems - verify_problems_max);
    problems += v.problems;
    table.add({std::string(ipc::domain_name(dom)), fmt::format("{}", v.records),
               v.last == 0 ? std::string("-") : fmt::format("{}..{}", v.first, v.last),
               v.problems == 0 ? fmt::format("{}ok{}", ctx.style.green(), ctx.style.reset())
                               : fmt::format("{}{}{}", ctx.style.red(), v.problems, ctx.style.reset()),
               fmt::format("{}", v.clock_steps_back)});
  }
  table.print(out, ctx.style);
  out << (problems == 0 ? "every record is sound\n"
                        : fmt::format("{} problem{} found\n", problems, problems == 1 ? "" : "s"));
  return problems == 0 ? 0 : 1;
}

// --- stats -------------------------------------------------------------------------------------

namespace {

bool is_compensation(RecordType t) {
  switch (t) {
    case RecordType::stock_released:
    case RecordType::coupon_released:
    case RecordType::points_refunded:
    case RecordType::points_reward_revoked:
    case RecordType::payment_refunded:
    case RecordType::payment_voided:
    case RecordType::stock_cancelled_before_apply:
    case RecordType::coupon_cancelled_before_apply:
    case RecordType::points_cancelled_before_apply:
    case RecordType::payment_cancelled_before_apply: return true;
    default: return false;
  }
}

}  // namespace

int journal_stats(const InspectContext& ctx, const std::string& domain, std::ostream& out, std::ostream& err) {
  std::vector<Domain> ds;
  if (!resolve_domains(domain, true, ds, err, "journal stats")) return 2;
  std::map<std::pair<Domain, std::uint16_t>, std::pair<std::uint64_t, std::int64_t>> by_type;  // count, amount
  std::map<std::int64_t, std::array<std::uint64_t, 7>> minutes;
  std::uint64_t total = 0;
  std::int64_t first_ns = std::numeric_limits<std::int64_t>::max(), last_ns = std::numeric_limits<std::int64_t>::min();
  for (Domain dom : ds) {
    std::unique_ptr<journal::Env> env;
    if (!open_or_report(ctx, dom, env, err, "journal stats")) return 2;
    journal::Status s =
        scan_records(*env, 1, std::numeric_limits<std::uint64_t>::max(), [&](const journal::RecordView& r) {
          auto& slot = by_type[{dom, r.header.type}];
          ++slot.first;
          if (record_type_known(r.header.type) && record_carries_event(static_cast<RecordType>(r.header.type)) &&
              r.payload.size() == sizeof(domains::Event)) {
            domains::Event e;
            std::memcpy(&e, r.payload.data(), sizeof e);
            slot.second += e.amount;
          }
          std::int64_t minute = r.header.time_ns / ns_per_minute;
          if (r.header.time_ns < 0 && r.header.time_ns % ns_per_minute != 0) --minute;
          minutes[minute][idx(dom)] += 1;
          first_ns = std::min(first_ns, r.header.time_ns);
          last_ns = std::max(last_ns, r.header.time_ns);
          ++total;
          return true;
        });
    if (!s.ok()) {
      err << fmt::format("flashsaga journal stats: {} journal: {}\n", ipc::domain_name(dom), s.message());
      return 2;
    }
  }
  const Style& st = ctx.style;
  TimeFormatter tf;
  out << st.bold() << "records by type" << st.reset() << '\n';
  Table types({"DOMAIN", "TYPE", "RECORDS", "SHARE"}, {false, false, true, true});
  for (const auto& [key, v] : by_type) {
    const bool known = record_type_known(key.second);
    types.add(
        {std::string(ipc::domain_name(key.first)),
         known ? std::string(domains::record_type_name(static_cast<RecordType>(key.second)))
               : fmt::format("unknown({})", key.second),
         fmt::format("{}", v.first),
         fmt::format("{:.1f}%", total == 0 ? 0.0 : 100.0 * static_cast<double>(v.first) / static_cast<double>(total))});
  }
  types.print(out, st);
  out << '\n' << st.bold() << "compensations" << st.reset() << '\n';
  Table comp({"DOMAIN", "KIND", "RECORDS", "UNITS/POINTS/MONEY"}, {false, false, true, true});
  for (const auto& [key, v] : by_type) {
    const auto t = static_cast<RecordType>(key.second);
    if (!record_type_known(key.second) || !is_compensation(t)) continue;
    const std::string_view name = domains::record_type_name(t);
    const bool gate = name.find("cancelled_before_apply") != std::string_view::npos;
    comp.add({std::string(ipc::domain_name(key.first)),
              gate ? fmt::format("{} (gate closed, nothing to undo)", name) : std::string(name),
              fmt::format("{}", v.first),
              gate || t == RecordType::coupon_released ? std::string("-") : fmt::format("{}", v.second)});
  }
  if (comp.rows() == 0)
    out << "none\n";
  else
    comp.print(out, st);
  out << '\n' << st.bold() << "records per second, by minute" << st.reset() << '\n';
  std::vector<std::string> head = {"MINUTE (UTC)"};
  for (Domain dom : ds) head.emplace_back(ipc::domain_name(dom));
  head.emplace_back("TOTAL");
  head.emplace_back("REC/S");
  std::vector<bool> right(head.size(), true);
  right[0] = false;
  Table rates(head, right);
  std::size_t skipped = minutes.size() > stats_minutes_max ? minutes.size() - stats_minutes_max : 0;
  std::size_t k = 0;
  for (const auto& [minute, counts] : minutes) {
    if (k++ < skipped) continue;
    std::uint64_t sum = 0;
    std::vector<std::string> row = {tf.format(minute * ns_per_minute).substr(0, 16)};
    for (Domain dom : ds) {
      row.push_back(fmt::format("{}", counts[idx(dom)]));
      sum += counts[idx(dom)];
    }
    // A partial first or last minute is divided by the seconds it covers, not by 60.
    const std::int64_t lo = std::max(minute * ns_per_minute, first_ns);
    const std::int64_t hi = std::min((minute + 1) * ns_per_minute, last_ns + 1);
    const double seconds = std::max(1.0, static_cast<double>(hi - lo) / 1e9);
    row.push_back(fmt::format("{}", sum));
    row.push_back(fmt::format("{:.1f}", static_cast<double>(sum) / seconds));
    rates.add(std::move(row));
  }
  if (skipped != 0) out << fmt::format("({} earlier minutes not shown)\n", skipped);
  if (minutes.empty())
    out << "no records\n";
  else
    rates.print(out, st);
  out << fmt::format("\n{} records", total);
  if (total != 0) out << fmt::format(" from {} to {}", tf.format(first_ns), tf.format(last_ns));
  out << '\n';
  return 0;
}

// --- export ------------------------------------------------------------------------------------

int journal_export(const InspectContext& ctx, const ExportOptions& o, std::ostream& out, std::ostream& err) {
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
    journal::Status s =
        scan_records(*envs[k], 1, std::numeric_limits<std::uint64_t>::max(), [&](const journal::RecordView& r) {
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
      err << fmt::format("flashsaga journal export: {} journal: {}\n", ipc::domain_name(ds[k]), s.message());
      return 2;
    }
  }
  write(out, buf);
  out.flush();
  return 0;
}

}  // namespace flashsaga::tools
