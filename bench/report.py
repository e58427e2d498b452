"""Turn one run's results.json into the Markdown table, the target verdicts and the plot."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

LABELS = {
    "floor_json": "floor (b): constant JSON",
    "floor_select1": "floor (c): SELECT 1 via the pool",
    "list100": "list, 100 joins (1M-row table)",
    "list100_small": "list, 100 joins (table of that tenant only)",
    "list5000": "list, 5,000 joins",
    "create": "create",
    "create_ref": "reference: the same row by a bare INSERT",
    "update": "update (name, status)",
    "delete": "delete",
    "mixed": "mixed: 90% list, 10% writes, 1,000 tenants",
}


def _find(rows: list[dict[str, Any]], scenario: str, conns: int) -> dict[str, Any] | None:
    return next((r for r in rows if r["scenario"] == scenario and r["connections"] == conns), None)


def _pg(rows: list[dict[str, Any]], tenant: str, clients: int) -> dict[str, Any] | None:
    return next((r for r in rows if r["tenant"] == tenant and r["clients"] == clients), None)


def ratio_c(http: list[dict[str, Any]], row: dict[str, Any]) -> float | None:
    """req/s ÷ floor (c): the median over rounds of each round's ratio to the floor measured
    right before it, else the ratio to the level's floor row."""
    if row.get("ratio_c") is not None:
        return row["ratio_c"]
    floor = _find(http, "floor_select1", row["connections"])
    return row["rps"] / floor["rps"] if floor else None


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue, per connection count: the measured ratio and whether it holds."""
    http, pg = results["http"], results["pgbench"]
    verdicts: list[dict[str, Any]] = []

    def add(target: str, conns: int, value: float | None, limit: float, at_least: bool) -> None:
        if value is None:
            return
        met = value >= limit if at_least else value <= limit
        verdicts.append({"target": target, "connections": conns, "value": value,
                         "limit": f"{'≥' if at_least else '≤'} {limit:g}", "met": met})

    levels = sorted({r["connections"] for r in http})
    for conns in levels:
        for scenario, limit in (("list100", 0.30), ("create", 0.5), ("update", 0.5)):
            row = _find(http, scenario, conns)
            ratio = ratio_c(http, row) if row else None
            if ratio is not None:
                add(f"{scenario} req/s ÷ floor (c)", conns, ratio, limit, True)
        big, small = _find(http, "list100", conns), _find(http, "list100_small", conns)
        if big and small:
            add("list100: small-table req/s ÷ 1M-table req/s", conns,
                small.get("small_over_big_rps") or small["rps"] / big["rps"], 1.3, False)
            add("list100: 1M-table p50 ÷ small-table p50", conns,
                small.get("big_over_small_p50") or big["p50_ms"] / small["p50_ms"], 1.3, False)
        row, bench = _find(http, "list5000", conns), _pg(pg, "t_list5000", conns)
        if row and bench:
            ratio = row.get("pgbench_p50_ratio") or row["p50_ms"] / bench["p50_ms"]
            add("list5000 p50 ÷ pgbench p50 (same clients)", conns, ratio, 2.0, False)
        mixed = _find(http, "mixed", conns)
        if mixed and mixed["worker_rss_mb"]:
            add("worker RSS after mixed (MB)", conns, max(mixed["worker_rss_mb"]), 80.0, False)
    traced = results.get("queries", {}).get("list100")
    if traced:
        lookups = traced["queries"].get("find_api_key", 0) / traced["requests"]
        add("list100: API-key lookups (find_api_key) per request", 8, lookups, 0.01, False)
    return verdicts


def markdown(results: dict[str, Any]) -> str:
    http, pg = results["http"], results["pgbench"]
    settings, machine, counts = results["settings"], results["machine"], results["counts"]
    out = [
        f"# schema-joins bench, {results['started']} (commit {results['commit']})",
        "",
        f"Command: `{results['command']}`  ",
        *([f"Service under test: the checkout in `BENCH_APP_DIR` ({results['app_dir']}), not this commit.  "]
          if results.get("app_dir") else []),
        f"Machine: {machine['cpus']} CPUs, Python {machine['python']}, load average before "
        f"{machine['load_before'][0]:.2f}, after {machine.get('load_after', [0])[0]:.2f}.  ",
        f"gunicorn: {settings['gunicorn_workers']} workers × {settings['gunicorn_threads']} threads (gthread), "
        f"the project's gunicorn.conf.py; wrk {settings['duration_s']:g} s per scenario after a "
        f"{settings['warmup_s']} s warm-up, {settings.get('rounds', 1)} rounds.  ",
        f"Data: {counts['big']['schema_joins']:,} joins, {counts['big']['data_schemas']:,} schemas, "
        f"{counts['big']['schema_fields']:,} fields, {counts['big']['api_keys']:,} keys; the small database "
        f"holds {counts['small']['schema_joins']:,} joins (the 100-join tenant only).",
        "",
        "## HTTP (wrk)",
        "",
        f"Each scenario ran {settings.get('rounds', 1)} times; numbers are medians over those rounds. "
        "÷ floor (c) is the median of each round's ratio to floor (c) measured on the same server, at the "
        "same connection count, in the seconds just before it (5 s); ÷ floor (b) divides by the level's "
        "floor (b) row. "
        "CPU ms/req: CPU time of the gunicorn workers (app) and of the PostgreSQL backends they are "
        "connected to (db), divided by the requests served.",
        "",
        "| scenario | conns | req/s | p50 ms | p99 ms | non-2xx | ÷ floor (b) | ÷ floor (c) "
        "| CPU ms/req app | CPU ms/req db | worker RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in sorted(http, key=lambda r: (r["connections"] == 1, r["connections"])):
        floor_b = _find(http, "floor_json", row["connections"])
        ratio = ratio_c(http, row)
        ratio_b = f"{row['rps'] / floor_b['rps']:.2f}" if floor_b else "–"
        ratio_c_text = f"{ratio:.2f}" if ratio is not None else "–"
        rss = "/".join(f"{m:.0f}" for m in row["worker_rss_mb"])
        out.append(f"| {LABELS.get(row['scenario'], row['scenario'])} | {row['connections']} | {row['rps']:,.0f} | "
                   f"{row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {row['non2xx'] + row['socket_errors']} | "
                   f"{ratio_b} | {ratio_c_text} | {row['app_cpu_ms']:.2f} | {row['db_cpu_ms']:.2f} | {rss} |")
    if pg:
        out += ["", "## Floor (a): the list SQL alone (pgbench -M prepared, same database, each round right "
                "after the HTTP list at the same concurrency; medians)", "",
                "| tenant | clients | tps | p50 ms | p99 ms |", "|---|---:|---:|---:|---:|"]
        for row in pg:
            out.append(f"| {row['tenant']} | {row['clients']} | {row['tps']:,.0f} | {row['p50_ms']:.2f} | "
                       f"{row['p99_ms']:.2f} |")
    traced = results.get("queries")
    if traced:
        out += ["", "## Queries per request, by query file (a separate gunicorn logging joins.store at DEBUG, "
                "8 connections)", "",
                "Query files executed, from the service's own log; the pool's connection check and "
                "transaction statements (if any) are not counted.", "",
                "| scenario | requests | queries per request |", "|---|---:|---|"]
        for name, row in traced.items():
            per = ", ".join(f"{query} {count / row['requests']:.3f}" for query, count in sorted(row["queries"].items()))
            out.append(f"| {LABELS.get(name, name)} | {row['requests']:,} | {per} |")
    verdicts = targets(results)
    if verdicts:
        out += ["", "## Targets", "", "| target | conns | measured | target | met |", "|---|---:|---:|---|---|"]
        for v in verdicts:
            shown = f"{v['value']:.1f}" if v["value"] >= 10 else f"{v['value']:.3f}"
            out.append(f"| {v['target']} | {v['connections']} | {shown} | {v['limit']} | "
                       f"{'yes' if v['met'] else '**no**'} |")
    references = [r for r in http if r["scenario"] == "create_ref" and r.get("create_over_ref_rps")]
    if references:
        out += ["", "## Reference for create (no target)", "",
                "The create's rows stored by `POST /bench/insert`: one bare `INSERT ... RETURNING` through "
                "the same pool, without credentials, marshmallow or the validation query (only the table's "
                "foreign keys check the fields), measured in the same rounds as create. It shows what part "
                "of floor (c) any create on this table reaches here.", "",
                "| conns | reference ÷ floor (c) | create ÷ floor (c) | create ÷ reference |",
                "|---:|---:|---:|---:|"]
        for ref in references:
            create = _find(http, "create", ref["connections"])
            out.append(f"| {ref['connections']} | {ratio_c(http, ref):.3f} | "
                       f"{ratio_c(http, create):.3f} | {ref['create_over_ref_rps']:.3f} |")
    return "\n".join(out) + "\n"


def plot(results: dict[str, Any], path: Path) -> None:
    """Throughput and p99 per scenario, one bar per connection count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    http = results["http"]
    scenarios = [s for s in LABELS if any(r["scenario"] == s for r in http)]
    levels = sorted({r["connections"] for r in http})
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 8), sharex=True)
    width = 0.8 / max(1, len(levels))
    for i, conns in enumerate(levels):
        xs, rps, p99 = [], [], []
        for j, scenario in enumerate(scenarios):
            row = _find(http, scenario, conns)
            if row:
                xs.append(j + (i - (len(levels) - 1) / 2) * width)
                rps.append(row["rps"])
                p99.append(row["p99_ms"])
        top.bar(xs, rps, width, label=f"{conns} connection{'s' if conns > 1 else ''}")
        bottom.bar(xs, p99, width, label=f"{conns} connection{'s' if conns > 1 else ''}")
    top.set_ylabel("requests/s")
    top.set_title(f"schema-joins under gunicorn, {results['started']}")
    top.legend()
    bottom.set_ylabel("p99 latency (ms, log)")
    bottom.set_yscale("log")
    bottom.set_xticks(range(len(scenarios)))
    bottom.set_xticklabels([LABELS[s].replace(": ", ":\n").replace(" (", "\n(") for s in scenarios],
                           rotation=0, fontsize=7)
    for axis in (top, bottom):
        axis.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    # Re-render a past run: python bench/report.py bench/results/<run>/results.json
    source = Path(sys.argv[1])
    data = json.loads(source.read_text())
    source.with_name("results.md").write_text(markdown(data))
    plot(data, source.with_name("results.png"))
    print(markdown(data))
