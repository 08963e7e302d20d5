#!/usr/bin/env python3
"""Turns bench/peers/run.sh's results.jsonl into results.md (markdown table) and results.json.

Each peer row is compared with the flashsaga run of the same scenario and the same durability
class ("pair"): sync, fsync before the answer (flashsaga sync, Redis AOF always, PostgreSQL
synchronous_commit on); interval, a power loss loses at most about the last second (flashsaga
interval, Redis AOF everysec, PostgreSQL synchronous_commit off); nosync, nothing is flushed by
the system itself (flashsaga nosync, Redis without persistence). The ratio is flashsaga / peer:
above 1, flashsaga is faster.
"""
import argparse
import json
import os
import sys

DOES = {
    "flashsaga": "whole saga: 6 domain processes, 6 LMDB journals, CAS stock at the door; driven by the "
                 "client library in the driver's process over shared memory (no network)",
    "flashsaga-http": "the same, driven over HTTP/JSON on loopback TCP through its gateway",
    "redis-stock": "stock check+decrement only (no user/coupon/points/wallet/order)",
    "redis-order": "whole order in one Lua script (stock, limit, user, coupon, points, wallet, order, payment, reward)",
    "postgres-app": "whole order, ONE transaction, 10-13 statements sent one by one (stock first)",
    "postgres-fn": "whole order, ONE transaction, one plpgsql call (same statements server-side)",
}


def fmt_rate(x):
    return f"{x:,.0f}" if x else "-"


def cpu(x):
    return f"{x:.3f}" if x is not None else "-"


def ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "-"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--param", action="append", default=[])
    args = ap.parse_args()
    params = dict(p.split("=", 1) for p in args.param)
    rows = [json.loads(line) for line in open(args.results) if line.strip()]

    scenarios = []
    for r in rows:
        if r["scenario"] not in scenarios:
            scenarios.append(r["scenario"])
    refs = {}
    for r in rows:
        if r["system"] in ("flashsaga", "flashsaga-http") and not r.get("failed"):
            refs[(r["system"], r["scenario"], r["pair"])] = r
    has_http = any(k[0] == "flashsaga-http" for k in refs)

    lines = []
    lines.append("# flashsaga and its peers, one run\n")
    lines.append(
        f"attempts per run {params.get('orders')}, buyers {params.get('buyers')}, flash-sale stock "
        f"{params.get('flash_stock')} (1 SKU), catalog {params.get('skus')} SKUs (never sold out), Zipf s="
        f"{params.get('zipf')} for catalog-zipf, coupon share {params.get('coupon_share')}, points share "
        f"{params.get('points_share')}; {params.get('nproc')} cores, load average at the end "
        f"{params.get('loadavg')}; {params.get('seconds_total')} s in all.\n")
    lines.append(
        "ratio = flashsaga / peer, against the flashsaga run of the same scenario and durability class "
        "(sync: fsync before the answer; interval: a power loss loses about the last second; nosync: no "
        "flush of its own); above 1 flashsaga is faster. completed/s is "
        "measured over the selling period (first to last completed order), attempts/s over the whole run."
        + (" The `http` ratios use flashsaga driven over HTTP on loopback TCP, like the peers." if has_http else "")
        + "\n")
    for sc in scenarios:
        lines.append(f"\n## {sc}\n")
        head = ("| system | durability | attempts/s | completed/s | completed | CPU s/1k attempts | vs | "
                "ratio attempts/s | ratio completed/s | CPU ratio (peer/flashsaga) |")
        sep = "|---|---|--:|--:|--:|--:|---|--:|--:|--:|"
        if has_http:
            head += " http ratio attempts/s | http ratio completed/s |"
            sep += "--:|--:|"
        lines.append(head + " check |")
        lines.append(sep + "---|")
        for r in [r for r in rows if r["scenario"] == sc]:
            if r.get("failed"):
                lines.append(f"| {r['system']} | {r['durability']} | FAILED |" + " |" * (9 + 2 * has_http))
                continue
            cells = []
            refs_used = [("flashsaga", "")] + ([("flashsaga-http", "http ")] if has_http else [])
            cmp_to = "-"
            for ref_name, _ in refs_used:
                ref = refs.get((ref_name, sc, r["pair"]))
                if r["system"].startswith("flashsaga") or not ref:
                    cells += ["-", "-", "-"] if ref_name == "flashsaga" else ["-", "-"]
                    continue
                if ref_name == "flashsaga":
                    cmp_to = f"flashsaga {r['pair']}"
                rc = ratio(ref["completed_per_s"], r["completed_per_s"])
                if r["system"] == "redis-stock":
                    rc += " (reservations)"
                cells += [ratio(ref["attempts_per_s"], r["attempts_per_s"]), rc]
                if ref_name == "flashsaga":
                    cells.append(ratio(r.get("cpu_s_per_1k_attempts"), ref.get("cpu_s_per_1k_attempts")))
            lines.append(
                f"| {r['system']} | {r['durability']} | {fmt_rate(r['attempts_per_s'])} | "
                f"{fmt_rate(r['completed_per_s'])} | {r['completed']:,} | {cpu(r.get('cpu_s_per_1k_attempts'))} | {cmp_to} | " + " | ".join(cells)
                + f" | {r.get('check', '')} |")
    lines.append("\n### What each row does\n")
    for k, v in DOES.items():
        if any(r["system"] == k for r in rows):
            lines.append(f"- **{k}**: {v}")
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(text)
    out_rows = []
    for r in rows:
        r = dict(r)
        if not r["system"].startswith("flashsaga") and not r.get("failed"):
            for ref_name, key in (("flashsaga", "ratio"), ("flashsaga-http", "http_ratio")):
                ref = refs.get((ref_name, r["scenario"], r["pair"]))
                if not ref:
                    continue
                r[key + "_compared_with"] = f"{ref_name} {r['pair']}"
                r[key + "_attempts_per_s"] = ref["attempts_per_s"] / r["attempts_per_s"] if r["attempts_per_s"] else None
                r[key + "_completed_per_s"] = ref["completed_per_s"] / r["completed_per_s"] if r["completed_per_s"] else None
                if key == "ratio" and r.get("cpu_s_per_1k_attempts") and ref.get("cpu_s_per_1k_attempts"):
                    r["cpu_ratio_peer_over_flashsaga"] = r["cpu_s_per_1k_attempts"] / ref["cpu_s_per_1k_attempts"]
        out_rows.append(r)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"params": params, "rows": out_rows}, f, indent=1)
    sys.stdout.write(f"\nwritten: {os.path.join(args.out, 'results.md')}, {os.path.join(args.out, 'results.json')}\n")


if __name__ == "__main__":
    main()
