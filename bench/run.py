"""Benchmark: the account x month report of every core KPI in socialkpi and its peers.

Generates N posts (default 20 million, 5,000 accounts, a year of daily snapshots) as Parquet
once, then times each tool in its own process, alternating tools between rounds, and prints
medians, peak memory and ratios against the floor (one polars scan with a single group-by at
the output grain). It also measures what crossing the Python boundary costs for an in-memory
polars frame. Tests never assert timings; this is how we know.

    python bench/run.py [--posts 20000000] [--accounts 5000] [--rounds 3] [--tools ...]
    python bench/run.py --report funnel [--traffic 1000000] [--events 100000] [--contracts 20000]

The funnel report (platform x month over posts, traffic, conversion events and contracts) runs
socialkpi against its floor only (see bench/funnel.py).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"


def generate(n_posts: int, n_accounts: int) -> tuple[str, str]:
    posts = DATA / f"posts_{n_posts}_{n_accounts}.parquet"
    accounts = DATA / f"accounts_{n_accounts}.parquet"
    if not posts.exists() or not accounts.exists():
        import socialkpi as sk

        DATA.mkdir(exist_ok=True)
        t = time.perf_counter()
        p, a = sk.datasets.sample(n_accounts=n_accounts, n_posts=n_posts, seed=42)
        p.write_parquet(posts, row_group_size=1_000_000)
        a.write_parquet(accounts)
        print(
            f"generated {n_posts:,} posts and {a.height:,} snapshots in {time.perf_counter() - t:.0f} s",
            flush=True,
        )
    return str(posts), str(accounts)


def peak_mb() -> float:
    """This process's peak resident memory (VmHWM; ru_maxrss would include the parent's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# The libraries each tool uses beside polars (which every tool imports): imported before the
# clock starts, as a session has them imported already.
LIBRARIES = {
    "socialkpi": ["socialkpi"],
    "crossing": ["socialkpi"],
    "duckdb": ["duckdb"],
    "pandas": ["numpy", "pandas"],
}


def import_libraries(tool: str) -> None:
    """Imports what `tool` uses, so that a timing is the tool's work and not its imports."""
    import importlib

    for name in ["polars", *LIBRARIES.get(tool, [])]:
        importlib.import_module(name)


def worker(tool: str, posts: str, accounts: str, funnel: str | None = None) -> None:
    sys.path.insert(0, str(HERE))
    from peers import KPIS, TOOLS

    import_libraries(tool)

    if funnel:
        import funnel as report

        t = time.perf_counter()
        frame = report.TOOLS[tool](json.loads(funnel))
        out = {"seconds": time.perf_counter() - t, "rows": len(frame), "peak_mb": peak_mb()}
        print(json.dumps(out))
        return
    if tool == "crossing":
        import polars as pl
        import socialkpi as sk

        df = pl.read_parquet(posts)
        acc = pl.read_parquet(accounts)
        t = time.perf_counter()
        res = sk.compute_details(df, acc, kpis=KPIS, by=["account_id"], every="1mo")
        seconds = time.perf_counter() - t
        out = {
            "seconds": seconds,
            "crossing_ms": res.timings["crossing_s"] * 1000,
            "engine_s": res.timings["engine_s"],
        }
    else:
        t = time.perf_counter()
        frame = TOOLS[tool](posts, accounts)
        out = {"seconds": time.perf_counter() - t, "rows": len(frame)}
    out["peak_mb"] = peak_mb()
    print(json.dumps(out))


def alternate(
    tools: list[str], rounds: int, args_of: Callable[[str], list[str]]
) -> dict[str, list[dict[str, float]]]:
    """Runs each tool in its own process, `rounds` times, reversing the order every other round;
    a worker prints one JSON line (seconds, peak_mb, ...) last."""
    results: dict[str, list[dict[str, float]]] = {t: [] for t in tools}
    for r in range(rounds):
        for tool in tools if r % 2 == 0 else tools[::-1]:
            done = subprocess.run(
                [sys.executable, *args_of(tool)], capture_output=True, text=True, env=os.environ
            )
            if done.returncode != 0:
                print(f"{tool} failed: {done.stderr.strip().splitlines()[-1:]}", flush=True)
                continue
            results[tool].append(json.loads(done.stdout.strip().splitlines()[-1]))
    return results


def medians(results: dict[str, list[dict[str, float]]]) -> dict[str, float]:
    return {t: statistics.median(x["seconds"] for x in v) for t, v in results.items() if v}


def print_medians(tools: list[str], results: dict[str, list[dict[str, float]]]) -> None:
    """The table of medians, peak memory and ratios against the floor and socialkpi."""
    med = medians(results)
    floor = med.get("floor")
    print(f"\n{'tool':<12}{'median s':>10}{'x floor':>9}{'x socialkpi':>13}{'peak MB':>10}")
    for t in tools:
        if t not in med or t == "crossing":
            continue
        peak = max(x["peak_mb"] for x in results[t])
        vs_floor = f"{med[t] / floor:.2f}" if floor else "-"
        vs_sk = f"{med[t] / med['socialkpi']:.2f}" if "socialkpi" in med else "-"
        print(f"{t:<12}{med[t]:>10.2f}{vs_floor:>9}{vs_sk:>13}{peak:>10.0f}")


def check_agreement(posts: str, accounts: str) -> str:
    """socialkpi and the hand-written polars report must agree before speed means anything."""
    sys.path.insert(0, str(HERE))
    import polars as pl
    from peers import KPIS, run_polars, run_socialkpi

    a, b = run_socialkpi(posts, accounts), run_polars(posts, accounts)
    if a.shape != b.shape:
        return f"DISAGREE: shapes {a.shape} vs {b.shape}"
    worst = 0.0
    for k in KPIS:
        x, y = a[k].cast(pl.Float64), b[k].cast(pl.Float64)
        if not (x.is_null() == y.is_null()).all():
            return f"DISAGREE: nulls differ in {k}"
        d = ((x - y).abs() / y.abs().clip(lower_bound=1e-12)).max()
        worst = max(worst, d or 0.0)
    return f"agree (max relative difference {worst:.1e})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--posts", type=int, default=20_000_000)
    ap.add_argument("--accounts", type=int, default=5_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tools", default="floor,socialkpi,polars,duckdb,pandas,crossing")
    ap.add_argument("--report", choices=["core", "funnel"], default="core")
    ap.add_argument("--traffic", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--contracts", type=int, default=20_000)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--data", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--funnel-data", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, *args.data, funnel=args.funnel_data)
        return

    posts, accounts = generate(args.posts, args.accounts)
    funnel_data: str | None = None
    if args.report == "funnel":
        sys.path.insert(0, str(HERE))
        import funnel as report

        paths = report.generate(DATA, posts, args.traffic, args.events, args.contracts)
        funnel_data = json.dumps(paths)
        tools = [t for t in args.tools.split(",") if t in report.TOOLS]
        print(
            f"socialkpi funnel report: platform x month, {args.posts:,} posts, {args.traffic:,} traffic rows, "
            f"{args.events:,} conversion events, {args.contracts:,} contracts",
            flush=True,
        )
    else:
        tools = args.tools.split(",")
        print(
            f"socialkpi vs peers: account x month report of 24 KPIs, {args.posts:,} posts, {args.accounts:,} accounts"
        )
        print(check_agreement(posts, accounts), flush=True)
    extra = ["--funnel-data", funnel_data] if funnel_data else []
    results = alternate(
        tools, args.rounds, lambda tool: [__file__, "--worker", tool, "--data", posts, accounts, *extra]
    )
    print_medians(tools, results)
    if results.get("crossing"):
        cross = statistics.median(x["crossing_ms"] for x in results["crossing"])
        eng = statistics.median(x["engine_s"] for x in results["crossing"])
        print(f"\nin-memory polars frame: crossing the boundary {cross:.1f} ms (median), engine {eng:.2f} s")


if __name__ == "__main__":
    main()
