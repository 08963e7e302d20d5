#include "bench/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace flashsaga::bench {
namespace {

// --- Report ---------------------------------------------------------------------------------------

std::string ms(std::uint64_t ns) {
  return fmt::format("{:.3f}", static_cast<double>(ns) / 1e6);
}
std::string num(double v, int decimals = 0) {
  return std::isfinite(v) ? fmt::format("{:.{}f}", v, decimals) : "0";
}

std::string json_escape(std::string_view s) {
  std::string out;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(ch));
    } else {
      out += ch;
    }
  }
  return out;
}

// A JSON object built field by field (values are JSON already).
class JsonObject {
 public:
  JsonObject& raw(std::string_view key, std::string_view value) {
    text_ += text_.empty() ? "{" : ",";
    text_ += fmt::format("\"{}\":{}", json_escape(key), value);
    return *this;
  }
  JsonObject& str(std::string_view key, std::string_view value) {
    std::string quoted(1, '"');  // appended: "\"" + a temporary trips GCC 12's -Wrestrict at -O3
    quoted += json_escape(value);
    quoted += '"';
    return raw(key, quoted);
  }
  JsonObject& num(std::string_view key, double value, int decimals = 3) {
    return raw(key, std::isfinite(value) ? fmt::format("{:.{}f}", value, decimals) : "0");
  }
  JsonObject& integer(std::string_view key, std::uint64_t value) {
    return raw(key, std::to_string(value));
  }
  JsonObject& boolean(std::string_view key, bool value) {
    return raw(key, value ? "true" : "false");
  }
  std::string done() const { return text_.empty() ? "{}" : text_ + "}"; }

 private:
  std::string text_;
};

std::string latency_json(const LatencyHistogram& h) {
  return JsonObject()
      .integer("count", h.count())
      .integer("p50", h.quantile(0.5))
      .integer("p90", h.quantile(0.9))
      .integer("p99", h.quantile(0.99))
      .integer("p999", h.quantile(0.999))
      .integer("max", h.max())
      .done();
}

std::string run_json(const BenchOptions& opt, const RunFigures& f) {
  JsonObject reasons, status, cpu, peaks;
  for (const auto& [reason, n] : f.facts.cancel_reasons) reasons.integer(reason, n);
  for (const auto& [key, n] : f.http_status) status.integer(key, n);
  for (const auto& [name, s] : f.cpu_by_process) cpu.num(name, s);
  for (const auto& [name, n] : f.depth_peak_by_domain) peaks.integer(name, n);
  const std::uint64_t done = f.orders_done();
  const bool sync = f.plan.durability == "sync";
  JsonObject j;
  j.str("scenario", opt.scenario)
      .str("durability", f.plan.durability)
      .str("driver", opt.driver)
      .str("views", opt.views)
      .str("label", f.plan.label)
      .str("loop", f.plan.rate > 0 ? "open" : "closed")
      .num("rate", f.plan.rate, 1)
      .integer(opt.driver == "http" ? "connections" : "window",
               opt.driver == "http" ? opt.connections : opt.window)
      .integer("pipeline", opt.driver == "http" ? opt.pipeline : 1)
      .integer("attempts", f.attempts)
      .integer("admitted", f.accepted)
      .integer("sold_out", f.sold_out)
      .integer("not_on_sale", f.not_on_sale)
      .integer("rejected", f.rejected)
      .integer("unavailable", f.unavailable)
      .integer("overloaded", f.overloaded)
      .integer("lost", f.lost)
      .integer("completed", f.facts.completed)
      .integer("cancelled", f.facts.cancelled)
      .raw("cancelled_by_reason", reasons.done())
      .num("attempts_per_s", per(f.attempts, f.send_s), 1)
      .num("admitted_per_s", per(f.accepted, f.admit_s), 1)
      .num("completed_per_s", f.completed_per_s(), 1)
      .num("sold_out_per_s", f.sold_out_per_s(), 1)
      .raw("latency_ns", latency_json(f.facts.latency));
  if (f.plan.rate > 0) j.raw("admission_latency_ns", latency_json(f.admission));
  if (opt.driver == "http")
    j.raw("http",
          JsonObject().raw("status", status.done()).raw("latency_ns", latency_json(f.http)).done());
  j.num("cpu_s", f.cpu_s)
      .num("cpu_s_per_1k_attempts", ratio(f.cpu_s, f.attempts) * 1000, 4)
      .num("cpu_s_per_1k_orders", ratio(f.cpu_s, f.accepted) * 1000, 4)
      .num("cpu_s_per_1k_orders_deployment", ratio(f.cpu_s - f.driver_cpu_s, f.accepted) * 1000, 4)
      .num("disk_bytes_per_order", ratio(static_cast<double>(f.disk_bytes), f.accepted), 0)
      .raw("cpu_s_by_process", cpu.done())
      .integer("journal_bytes", f.journal_bytes)
      .num("journal_bytes_per_order", ratio(static_cast<double>(f.journal_bytes), done), 1)
      .integer("commits", f.commits)
      .num("commits_per_order", ratio(static_cast<double>(f.commits), done), 4)
      .num("fsyncs_per_order", sync ? ratio(static_cast<double>(f.commits), done) : 0.0, 4)
      .raw("ring_depth_peak", peaks.done())
      .raw("phases_s", JsonObject()
                           .num("load", f.load_s)
                           .num("sent", f.send_s)
                           .num("answered", f.admit_s)
                           .num("ended", f.done_s)
                           .num("sagas", f.saga_s)
                           .done())
      .raw("check", JsonObject()
                        .boolean("clean", f.clean)
                        .integer("violations", f.violations)
                        .str("verdict", f.check_text)
                        .done())
      .boolean("check_clean", f.clean);
  if (!f.error.empty()) j.str("error", f.error);
  return j.done();
}

std::string half_json(const BenchOptions& opt, const DurabilityResult& r) {
  const std::uint64_t target = static_cast<std::uint64_t>(opt.target_p99_ms * 1e6);
  const std::uint64_t p99 = r.half.facts.latency.quantile(0.99);
  return JsonObject()
      .num("peak_completed_per_s", r.peak.completed_per_s(), 1)
      .num("rate", r.half_rate, 1)
      .integer("p99_ns", p99)
      .integer("target_p99_ns", target)
      .boolean("met", r.met() && p99 <= target)
      .raw("run", run_json(opt, r.half))
      .done();
}

std::string durability_json(const BenchOptions& opt, const DurabilityResult& r) {
  std::string peak = run_json(opt, r.peak);
  if (r.has_half) peak.insert(peak.size() - 1, ",\"half_peak\":" + half_json(opt, r));
  return peak;
}

// The comparison table: one row per figure, one column per run.
class Table {
 public:
  explicit Table(const std::vector<const RunFigures*>& runs) : runs_(runs) {}
  const std::vector<const RunFigures*>& runs() const { return runs_; }
  template <class Cell>
  void row(std::string label, Cell cell) {
    std::vector<std::string> cells;
    for (const RunFigures* f : runs_) cells.push_back(cell(*f));
    rows_.push_back({std::move(label), std::move(cells)});
  }
  void print(const BenchOptions& opt) const;

 private:
  const std::vector<const RunFigures*>& runs_;
  std::vector<std::pair<std::string, std::vector<std::string>>> rows_;
};

template <class Map>
std::string count_of(const Map& m, const std::string& key) {
  const auto it = m.find(key);
  return std::to_string(it == m.end() ? 0 : it->second);
}

// The keys that any run has, so every run gets a row for each.
struct RunKeys {
  std::set<std::string> reasons, statuses, consumers;
  std::vector<std::string> processes;  // in the order the runs list them
};

RunKeys keys_of(const std::vector<const RunFigures*>& runs) {
  RunKeys k;
  for (const RunFigures* f : runs) {
    for (const auto& [r, n] : f->facts.cancel_reasons) k.reasons.insert(r);
    for (const auto& [st, n] : f->http_status) k.statuses.insert(st);
    for (const auto& [p, s] : f->cpu_by_process)
      if (std::find(k.processes.begin(), k.processes.end(), p) == k.processes.end())
        k.processes.push_back(p);
    for (const auto& [d, n] : f->depth_peak_by_domain) k.consumers.insert(d);
  }
  return k;
}

void outcome_rows(Table& t, const RunKeys& k) {
  auto row = [&t](std::string label, auto cell) { t.row(std::move(label), cell); };
  row("loop", [](const RunFigures& f) {
    return f.plan.rate > 0 ? fmt::format("open {:.0f}/s", f.plan.rate) : std::string("closed");
  });
  row("attempts", [](const RunFigures& f) { return std::to_string(f.attempts); });
  row("attempts/s (sent)", [](const RunFigures& f) { return num(per(f.attempts, f.send_s)); });
  row("admitted (202)", [](const RunFigures& f) { return std::to_string(f.accepted); });
  row("admitted/s", [](const RunFigures& f) { return num(per(f.accepted, f.admit_s)); });
  row("sold out (at the door)", [](const RunFigures& f) { return std::to_string(f.sold_out); });
  row("sold-out answers/s (once sold out)",
      [](const RunFigures& f) { return num(f.sold_out_per_s()); });
  row("rejected/unavail./overload/lost", [](const RunFigures& f) {
    return fmt::format("{}/{}/{}/{}", f.rejected, f.unavailable, f.overloaded, f.lost);
  });
  row("completed", [](const RunFigures& f) { return std::to_string(f.facts.completed); });
  row("completed/s (first 202->last end)",
      [](const RunFigures& f) { return num(f.completed_per_s()); });
  row("cancelled", [](const RunFigures& f) { return std::to_string(f.facts.cancelled); });
  for (const std::string& reason : k.reasons)
    row("  cancelled: " + reason,
        [&](const RunFigures& f) { return count_of(f.facts.cancel_reasons, reason); });
}

void latency_rows(Table& t, const BenchOptions& opt, const RunKeys& k) {
  auto row = [&t](std::string label, auto cell) { t.row(std::move(label), cell); };
  const std::vector<const RunFigures*>& runs = t.runs();
  row("saga latency ms (journal), orders",
      [](const RunFigures& f) { return std::to_string(f.facts.latency.count()); });
  for (const auto& [name, q] :
       {std::pair{"  p50", 0.5}, {"  p90", 0.9}, {"  p99", 0.99}, {"  p99.9", 0.999}})
    row(name, [q = q](const RunFigures& f) { return ms(f.facts.latency.quantile(q)); });
  row("  max", [](const RunFigures& f) { return ms(f.facts.latency.max()); });
  bool open = false;
  for (const RunFigures* f : runs) open = open || f->plan.rate > 0;
  if (open) {
    row("admission ms (intended->answer)", [](const RunFigures&) { return std::string(); });
    for (const auto& [name, q] : {std::pair{"  p50", 0.5}, {"  p99", 0.99}, {"  p99.9", 0.999}})
      row(name, [q = q](const RunFigures& f) {
        return f.plan.rate > 0 ? ms(f.admission.quantile(q)) : "-";
      });
    row("  max", [](const RunFigures& f) { return f.plan.rate > 0 ? ms(f.admission.max()) : "-"; });
  }
  if (opt.driver == "http") {
    row("HTTP latency ms (send->answer)", [](const RunFigures&) { return std::string(); });
    for (const auto& [name, q] :
         {std::pair{"  p50", 0.5}, {"  p90", 0.9}, {"  p99", 0.99}, {"  p99.9", 0.999}})
      row(name, [q = q](const RunFigures& f) { return ms(f.http.quantile(q)); });
    row("  max", [](const RunFigures& f) { return ms(f.http.max()); });
    row("HTTP answers", [](const RunFigures&) { return std::string(); });
    for (const std::string& s : k.statuses)
      row("  " + s, [&](const RunFigures& f) { return count_of(f.http_status, s); });
  }
}

void cost_rows(Table& t, const RunKeys& k) {
  auto row = [&t](std::string label, auto cell) { t.row(std::move(label), cell); };
  row("CPU s per 1k orders (all procs)",
      [](const RunFigures& f) { return num(ratio(f.cpu_s, f.accepted) * 1000, 3); });
  row("CPU s per 1k orders (deployment)", [](const RunFigures& f) {
    return num(ratio(f.cpu_s - f.driver_cpu_s, f.accepted) * 1000, 3);
  });
  row("CPU s per 1k attempts (all procs)",
      [](const RunFigures& f) { return num(ratio(f.cpu_s, f.attempts) * 1000, 3); });
  for (const std::string& p : k.processes)
    row("  CPU s: " + p, [&](const RunFigures& f) {
      for (const auto& [name, s] : f.cpu_by_process)
        if (name == p) return num(s, 2);
      return std::string("-");
    });
  row("journal bytes per order", [](const RunFigures& f) {
    return num(ratio(static_cast<double>(f.journal_bytes), f.orders_done()));
  });
  row("disk bytes written per order", [](const RunFigures& f) {
    return num(ratio(static_cast<double>(f.disk_bytes), f.accepted));
  });
  row("journal commits per order", [](const RunFigures& f) {
    return num(ratio(static_cast<double>(f.commits), f.orders_done()), 3);
  });
  row("fsyncs per order", [](const RunFigures& f) {
    if (f.plan.durability == "interval") return std::string("1 per interval");
    return f.plan.durability == "sync"
               ? num(ratio(static_cast<double>(f.commits), f.orders_done()), 3)
               : std::string("0 (nosync)");
  });
}

void ring_and_check_rows(Table& t, const RunKeys& k) {
  auto row = [&t](std::string label, auto cell) { t.row(std::move(label), cell); };
  row("ring depth peak (input), slots", [](const RunFigures&) { return std::string(); });
  for (const std::string& d : k.consumers)
    row("  " + d, [&](const RunFigures& f) { return count_of(f.depth_peak_by_domain, d); });
  row("phases s: sent/answered/ended", [](const RunFigures& f) {
    return fmt::format("{:.1f}/{:.1f}/{:.1f}", f.send_s, f.admit_s, f.done_s);
  });
  row("check", [](const RunFigures& f) {
    if (f.check_text.starts_with("skipped")) return std::string("skipped");
    return f.clean ? std::string("clean") : std::string("NOT CLEAN");
  });
}

void Table::print(const BenchOptions& opt) const {
  std::size_t width = 16;
  for (const RunFigures* f : runs_) width = std::max(width, f->plan.label.size() + 2);
  for (const auto& [label, cells] : rows_)
    for (const std::string& c : cells) width = std::max(width, c.size() + 2);
  fmt::print("\nflashsaga bench: scenario {}, driver {}, {} ({}), {} attempts, views in {}\n",
             opt.scenario, opt.driver,
             opt.driver == "http"
                 ? fmt::format("{} connections, pipeline {}", opt.connections, opt.pipeline)
                 : fmt::format("window {}", opt.window),
             opt.durability == "both" ? "sync and nosync" : opt.durability, opt.orders, opt.views);
  std::string header = fmt::format("  {:<36}", "");
  for (const RunFigures* f : runs_) header += fmt::format("{:>{}}", f->plan.label, width);
  fmt::print("{}\n", header);
  for (const auto& [label, cells] : rows_) {
    std::string line = fmt::format("  {:<36}", label);
    for (const std::string& c : cells) line += fmt::format("{:>{}}", c, width);
    fmt::print("{}\n", line);
  }
  for (const RunFigures* f : runs_) {
    fmt::print("  {}: busiest rings {}\n", f->plan.label,
               f->top_edges.empty() ? "-" : f->top_edges);
    fmt::print("  {}: check: {}\n", f->plan.label, f->check_text);
  }
}

void print_table(const BenchOptions& opt, const std::vector<const RunFigures*>& runs) {
  Table t(runs);
  const RunKeys k = keys_of(runs);
  outcome_rows(t, k);
  latency_rows(t, opt, k);
  cost_rows(t, k);
  ring_and_check_rows(t, k);
  t.print(opt);
}

// Timeline per 100 ms: admitted/s and completed/s from the journal's own times, saga p50/p99.
std::string timeline_csv(const std::vector<const RunFigures*>& runs) {
  std::ostringstream series;
  series << "run,t_s,admitted_per_s,completed_per_s,sold_out_per_s,p50_ms,p99_ms\n";
  for (const RunFigures* f : runs) {
    std::map<std::int64_t, std::vector<std::int64_t>> ends;
    std::map<std::int64_t, std::uint64_t> starts;
    const std::int64_t t0 = f->sale_start_wall_ns;
    for (const auto& [t, l] : f->facts.terminal_times)
      ends[std::max<std::int64_t>(0, t - t0) / timeline_bucket_ns].push_back(l);
    for (const std::int64_t t : f->facts.pending_times)
      ++starts[std::max<std::int64_t>(0, t - t0) / timeline_bucket_ns];
    std::set<std::int64_t> buckets;
    for (const auto& [b, v] : ends) buckets.insert(b);
    for (const auto& [b, v] : starts) buckets.insert(b);
    for (std::size_t b = 0; b < f->sold_out_timeline.size(); ++b)
      buckets.insert(static_cast<std::int64_t>(b));
    const double scale = 1e9 / static_cast<double>(timeline_bucket_ns);
    for (const std::int64_t b : buckets) {
      std::vector<std::int64_t>& ls = ends[b];
      std::sort(ls.begin(), ls.end());
      const double p50 = ls.empty() ? 0 : static_cast<double>(ls[ls.size() / 2]) / 1e6;
      const double p99 = ls.empty() ? 0 : static_cast<double>(ls[ls.size() * 99 / 100]) / 1e6;
      const std::uint64_t sold_out = static_cast<std::size_t>(b) < f->sold_out_timeline.size()
                                         ? f->sold_out_timeline[static_cast<std::size_t>(b)]
                                         : 0;
      series << fmt::format("{},{:.1f},{:.0f},{:.0f},{:.0f},{:.3f},{:.3f}\n", f->plan.label,
                            static_cast<double>(b) / scale, static_cast<double>(starts[b]) * scale,
                            static_cast<double>(ls.size()) * scale,
                            static_cast<double>(sold_out) * scale, p50, p99);
    }
  }
  return series.str();
}

std::string file_label(std::string s) {
  for (char& ch : s)
    if (ch == ' ') ch = '-';
  return s;
}

// gnuplot PNGs: per run throughput and latency over time; one latency distribution of all runs.
void write_plots(const BenchOptions& opt, const std::vector<const RunFigures*>& runs) {
  std::error_code ec;
  std::filesystem::create_directories(opt.plot_dir, ec);
  const std::string dir = opt.plot_dir.string();
  std::string script =
      "set datafile separator ','\nset terminal pngcairo size 1000,600\nset grid\n"
      "set key outside bottom center horizontal\n";
  std::vector<std::string> pngs;
  for (const RunFigures* f : runs) {
    const std::string name = file_label(f->plan.label);
    const std::string data = dir + "/" + name + "-timeline.csv";
    std::ofstream(data) << timeline_csv({f});
    const std::string title =
        fmt::format("flashsaga {} ({}, {} driver)", opt.scenario, f->plan.label, opt.driver);
    script += fmt::format(
        "set output '{0}/{1}-throughput.png'\nset title '{2}: throughput'\nset xlabel 'seconds'\n"
        "set ylabel 'orders/s'\nset y2label 'sold-out answers/s'\nset y2tics\nset ytics nomirror\nunset logscale\n"
        "plot '{3}' using 2:3 skip 1 with lines title 'admitted/s', '' using 2:4 skip 1 with lines title 'completed/s', "
        "'' using 2:5 skip 1 axes x1y2 with lines title 'sold-out answers/s (right)'\n"
        "unset y2tics\nunset y2label\nset ytics mirror\n"
        "set output '{0}/{1}-latency.png'\nset title '{2}: saga latency (PENDING -> end) by end time'\nset ylabel 'ms'\n"
        "plot '{3}' using 2:6 skip 1 with lines title 'p50', '' using 2:7 skip 1 with lines title 'p99'\n",
        dir, name, title, data);
    pngs.push_back(dir + "/" + name + "-throughput.png");
    pngs.push_back(dir + "/" + name + "-latency.png");
  }
  // The latency distribution, HDR style: x = 1 / (1 - quantile) on a log scale.
  const std::string dist = dir + "/latency-distribution.csv";
  {
    std::ofstream d(dist);
    d << "# run,quantile,one_over_one_minus_q,latency_ms\n";
    for (const RunFigures* f : runs) {
      const LatencyHistogram& h = f->facts.latency;
      if (h.count() == 0) continue;
      for (int k = 0; k <= 64; ++k) {
        const double q = 1.0 - std::pow(10.0, -static_cast<double>(k) / 8.0);
        if (1.0 - q < 1.0 / static_cast<double>(h.count())) break;
        d << fmt::format("{},{:.6f},{:.3f},{:.3f}\n", f->plan.label, q, 1.0 / (1.0 - q),
                         static_cast<double>(h.quantile(q)) / 1e6);
      }
      d << "\n\n";  // gnuplot index separator: one block per run
    }
  }
  script += fmt::format(
      "set output '{0}/latency-distribution.png'\nset title 'flashsaga {1}: saga latency distribution'\n"
      "set xlabel 'percentile'\nset ylabel 'ms'\nset logscale x\n"
      "set xtics ('0%%' 1, '90%%' 10, '99%%' 100, '99.9%%' 1000, '99.99%%' 10000, '99.999%%' 100000)\nplot ",
      dir, opt.scenario);
  int block = 0;
  for (const RunFigures* f : runs) {
    if (f->facts.latency.count() == 0) continue;
    script += fmt::format("{}'{}' index {} using 3:4 with linespoints title '{}'",
                          block ? ", " : "", dist, block, f->plan.label);
    ++block;
  }
  script += block ? "\n" : "0 notitle\n";
  pngs.push_back(dir + "/latency-distribution.png");
  const std::string script_path = dir + "/plot.gp";
  std::ofstream(script_path) << script;
  if (std::system(("gnuplot " + script_path + " 2>/dev/null").c_str()) == 0)
    for (const std::string& p : pngs) fmt::print("  plot: {}\n", p);
  else
    fmt::print("  plot: gnuplot failed or is missing; the script is {}\n", script_path);
}

}  // namespace

int report(const BenchOptions& opt, const std::vector<std::unique_ptr<DurabilityResult>>& results,
           bool ran) {
  const bool ok = ran;
  std::vector<const RunFigures*> runs;
  bool clean = ok;
  for (const auto& r : results) {
    runs.push_back(&r->peak);
    clean = clean && r->peak.clean;
    if (r->has_half) {
      runs.push_back(&r->half);
      clean = clean && r->half.clean;
    }
  }
  print_table(opt, runs);
  for (const auto& r : results) {
    if (!r->has_half) continue;
    const std::uint64_t p99 = r->half.facts.latency.quantile(0.99);
    fmt::print(
        "  half peak ({}): closed-loop peak {:.0f} completed/s -> open loop at {:.0f}/s: saga p99 {} ms "
        "(target <= {:.1f} ms: {})\n",
        r->peak.plan.durability, r->peak.completed_per_s(), r->half_rate, ms(p99),
        opt.target_p99_ms,
        r->met() && static_cast<double>(p99) <= opt.target_p99_ms * 1e6 ? "met" : "NOT met");
  }
  fmt::print("  check: {}\n", !opt.check ? "skipped (--no-check)"
                              : clean    ? "clean (0 violations in every run)"
                                         : "NOT CLEAN (see above)");

  if (!opt.json_out.empty()) {
    std::string json;
    if (results.size() == 1) {
      json = durability_json(opt, *results[0]);
    } else {
      JsonObject j;
      j.str("scenario", opt.scenario).str("driver", opt.driver).str("durability", opt.durability);
      for (const auto& r : results) j.raw(r->peak.plan.durability, durability_json(opt, *r));
      j.boolean("check_clean", clean);
      json = j.done();
    }
    std::ofstream(opt.json_out) << json << "\n";
  }
  if (!opt.csv_out.empty()) std::ofstream(opt.csv_out) << timeline_csv(runs);
  if (!opt.plot_dir.empty()) write_plots(opt, runs);
  return clean ? 0 : 1;
}

}  // namespace flashsaga::bench
