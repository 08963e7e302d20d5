// The CLI11 wiring of `flashsaga check`, `flashsaga journal ...` and `flashsaga trace ORDER`.
// Each callback builds an InspectContext from the config the main binary passes (its global
// --data/--config), runs the command function and turns its result into the exit code.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <cctype>
#include <iostream>
#include <memory>

#include "engine/base/clock.h"
#include "tools/check/check.h"
#include "tools/inspector/inspector.h"

namespace flashsaga::tools {
namespace {

using ConfigFn = std::function<engine::Config()>;

InspectContext context_from(const std::function<engine::Config()>& config) {
  InspectContext ctx;
  ctx.data_dir = config().data_dir;
  ctx.style.color = stdout_wants_color();
  return ctx;
}

// Ends the command with its exit code: 0 returns normally; anything else unwinds through CLI11
// (RuntimeError carries the code and prints nothing), so destructors still run.
void finish(int code) {
  std::cout.flush();
  if (code != 0) throw CLI::RuntimeError(code);
}

// "2026-11-25T10:00:00Z", or a duration back from now: "90s", "15m", "2h", "1d".
bool parse_since(const std::string& text, std::int64_t& out) {
  if (parse_rfc3339(text, out)) return true;
  if (text.size() < 2) return false;
  std::int64_t n = 0;
  std::size_t k = 0;
  for (; k < text.size() && std::isdigit(static_cast<unsigned char>(text[k])); ++k)
    n = n * 10 + (text[k] - '0');
  if (k == 0 || k + 1 != text.size()) return false;
  std::int64_t unit = 0;
  switch (text[k]) {
    case 's':
      unit = 1'000'000'000;
      break;
    case 'm':
      unit = 60'000'000'000;
      break;
    case 'h':
      unit = 3'600'000'000'000;
      break;
    case 'd':
      unit = 86'400'000'000'000;
      break;
    default:
      return false;
  }
  out = wall_now_ns() - n * unit;
  return true;
}

}  // namespace

void add_check_command(CLI::App& app, std::function<engine::Config()> config) {
  auto opt = std::make_shared<CheckOptions>();
  auto grace_s = std::make_shared<double>(5.0);
  CLI::App* check =
      app.add_subcommand("check",
                         "prove the invariants (stock, coupons, points, wallets, saga gates, "
                         "money, views) from the six domains' journals and views");
  check->add_flag(
      "--require-terminal", opt->require_terminal,
      "invariant 5 strict: every order COMPLETED or CANCELLED, nothing still in flight, and "
      "(invariant 7) every view holding its whole journal");
  check
      ->add_option(
          "--grace", *grace_s,
          "seconds a completion or compensation may still be in flight before it counts as missing")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
  check->footer(
      "Reads every journal and view read-only, each domain in one pair of snapshots; safe while "
      "the\n"
      "deployment runs. An environment torn by a power loss is reported as corrupt (exit 2).\n"
      "Exit status: 0 every invariant holds, 1 violations (each printed with its order, journal "
      "and\n"
      "position), 2 the journals cannot be read, 3 no violation but steps of orders a power loss\n"
      "took from the order journal (LOST lines) for an operator to settle.\n\n"
      "Examples:\n"
      "  flashsaga check --data ./data                      prove invariants 1-6 on a live "
      "deployment\n"
      "  flashsaga check --data ./data --require-terminal   after a sale: every order must have "
      "finished");
  check->callback([opt, grace_s, config] {
    CheckOptions o = *opt;
    o.data_dir = config().data_dir;
    o.inflight_grace_ns = static_cast<std::int64_t>(*grace_s * 1e9);
    const CheckReport r = run_check(o);
    if (!r.error.empty()) {
      std::cerr << "flashsaga check: " << r.error << '\n';
      finish(2);
      return;
    }
    print_check(r, std::cout);
    finish(!r.violations.empty() ? 1 : r.lost.empty() ? 0 : check_exit_lost_orders);
  });
}

namespace {

void add_ls(CLI::App* journal, const ConfigFn& config) {
  CLI::App* ls = journal->add_subcommand(
      "ls",
      "each domain's journal and view: records, batches, first/last sequence "
      "and time, the view's position, disk and map use, durability, readers");
  ls->footer("Example:\n  flashsaga journal ls --data ./data");
  ls->callback([config] { finish(journal_ls(context_from(config), std::cout, std::cerr)); });
}

void add_show(CLI::App* journal, const ConfigFn& config) {
  auto show = std::make_shared<ShowOptions>();
  auto since = std::make_shared<std::string>();
  CLI::App* sh = journal->add_subcommand("show", "decoded records of one journal, one line each");
  sh->add_option("domain", show->domain, "user, point, product, coupon, order or payment")
      ->required();
  sh->add_option("--from", show->from, "first sequence");
  sh->add_option("--to", show->to, "last sequence");
  sh->add_option("--type", show->types, "only these record types (name or number; repeatable)")
      ->delimiter(',');
  sh->add_option("--order", show->order_id, "only records about this order");
  sh->add_option("--since", *since,
                 "only records at or after TIME (RFC 3339, or 90s/15m/2h/1d ago)");
  sh->add_option("--limit", show->limit, "at most N records");
  sh->add_flag("--json", show->json, "one JSON object per line");
  sh->footer(
      "Exit status: 0 records shown, 1 nothing matched, 2 the journal cannot be read.\n\n"
      "Examples:\n"
      "  flashsaga journal show order --data ./data\n"
      "  flashsaga journal show payment --type payment_refunded,payment_approved --data ./data\n"
      "  flashsaga journal show product --order 42 --json --data ./data\n"
      "  flashsaga journal show point --since 15m --data ./data\n"
      "  flashsaga journal show coupon --from 1000 --to 1100 --data ./data");
  sh->callback([show, since, config] {
    ShowOptions o = *show;
    if (!since->empty() && !parse_since(*since, o.since_ns)) {
      std::cerr << "flashsaga journal show: --since wants RFC 3339 (2026-11-25T10:00:00Z) or a "
                   "duration (15m)\n";
      finish(2);
      return;
    }
    finish(journal_show(context_from(config), o, std::cout, std::cerr));
  });
}

void add_tail(CLI::App* journal, const ConfigFn& config) {
  auto tail = std::make_shared<TailOptions>();
  CLI::App* tl =
      journal->add_subcommand("tail", "the last records, and with -f new ones as they commit");
  tl->add_option("domain", tail->domain, "a domain, or all (interleaved by time)")
      ->capture_default_str();
  tl->add_flag("-f,--follow", tail->follow, "keep following new records until Ctrl-C");
  tl->add_option("-n,--lines", tail->last, "show the last N records first")->capture_default_str();
  tl->add_option("--max-records", tail->max_records, "stop after following N records");
  tl->add_flag("--json", tail->json, "one JSON object per line");
  tl->footer(
      "Examples:\n"
      "  flashsaga journal tail -f all --data ./data         every domain, as the sale happens\n"
      "  flashsaga journal tail -n 50 payment --data ./data\n"
      "  flashsaga journal tail -f order --json --data ./data | jq .type");
  tl->callback(
      [tail, config] { finish(journal_tail(context_from(config), *tail, std::cout, std::cerr)); });
}

void add_verify(CLI::App* journal, const ConfigFn& config) {
  auto verify_domain = std::make_shared<std::string>("all");
  CLI::App* vf = journal->add_subcommand("verify",
                                         "check every batch and record (framing, checksums, "
                                         "sequence continuity, decodability) and each view's "
                                         "position; a torn environment is reported, not a crash");
  vf->add_option("domain", *verify_domain, "a domain, or all")->capture_default_str();
  vf->footer(
      "Exit status: 0 every record is sound, 1 problems (each with its journal and sequence, or a "
      "corrupt\n"
      "environment with its path), 2 unreadable.\n\n"
      "Examples:\n"
      "  flashsaga journal verify --data ./data\n"
      "  flashsaga journal verify order --data ./data");
  vf->callback([verify_domain, config] {
    finish(journal_verify(context_from(config), *verify_domain, std::cout, std::cerr));
  });
}

void add_stats(CLI::App* journal, const ConfigFn& config) {
  auto stats_domain = std::make_shared<std::string>("all");
  CLI::App* stt = journal->add_subcommand(
      "stats", "counts by record type, compensations, records per second by minute");
  stt->add_option("domain", *stats_domain, "a domain, or all")->capture_default_str();
  stt->footer(
      "Examples:\n"
      "  flashsaga journal stats --data ./data\n"
      "  flashsaga journal stats payment --data ./data");
  stt->callback([stats_domain, config] {
    finish(journal_stats(context_from(config), *stats_domain, std::cout, std::cerr));
  });
}

void add_export(CLI::App* journal, const ConfigFn& config) {
  auto exp = std::make_shared<ExportOptions>();
  CLI::App* ex = journal->add_subcommand("export", "every record as JSON lines or CSV");
  ex->add_option("domain", exp->domain, "a domain, or all")->capture_default_str();
  ex->add_option("--format", exp->format, "jsonl or csv")
      ->capture_default_str()
      ->check(CLI::IsMember({"jsonl", "csv"}));
  ex->footer(
      "Examples:\n"
      "  flashsaga journal export --data ./data > journals.jsonl\n"
      "  flashsaga journal export --format csv order --data ./data > order.csv");
  ex->callback(
      [exp, config] { finish(journal_export(context_from(config), *exp, std::cout, std::cerr)); });
}

void add_trace(CLI::App* app, const ConfigFn& config) {
  auto trace = std::make_shared<TraceOptions>();
  CLI::App* tr =
      app->add_subcommand("trace",
                          "one order's timeline across the six journals, with missing or empty "
                          "compensations marked");
  tr->add_option("order", trace->order_id, "the order id")->required();
  tr->footer(
      "Marks a compensation that undoes a step that never succeeded (EMPTY) and a cancelled "
      "order's\n"
      "succeeded step that was never undone (MISSING).\n"
      "Exit status: 0 shown, 1 no journal knows the order, 2 the journals cannot be read.\n\n"
      "Examples:\n"
      "  flashsaga trace 42 --data ./data\n"
      "  flashsaga check --data ./data   (each violation names the order to trace)");
  tr->callback(
      [trace, config] { finish(trace_order(context_from(config), *trace, std::cout, std::cerr)); });
}

}  // namespace

void add_inspector_commands(CLI::App& app, std::function<engine::Config()> config) {
  CLI::App* journal = app.add_subcommand(
      "journal", "inspect the six journals (read-only; safe while the deployment runs)");
  journal->require_subcommand(1);
  journal->footer(
      "Examples:\n"
      "  flashsaga journal ls --data ./data\n"
      "  flashsaga journal show order --order 42 --data ./data\n"
      "  flashsaga journal tail -f all --data ./data\n"
      "  flashsaga journal verify --data ./data\n"
      "  flashsaga journal stats --data ./data\n"
      "  flashsaga journal export --format csv payment --data ./data > payment.csv");

  add_ls(journal, config);
  add_show(journal, config);
  add_tail(journal, config);
  add_verify(journal, config);
  add_stats(journal, config);
  add_export(journal, config);
  add_trace(&app, config);
}

}  // namespace flashsaga::tools
