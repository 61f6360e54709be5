"""Benchmark: the core report (bench/run.py's account x month report of 24 KPIs) at 20 million,
100 million and, on request, a billion posts, against the floor (one polars scan with one
group-by at the output grain), with each run's peak memory.

The big inputs are the 20 million posts of bench/run.py repeated as files of their own, each
copy with ids of its own (`p<n>`, n counting on across the copies), so no post repeats: 100
million posts are 5 files, a billion 50 (about 24 GB of Parquet). They are written under
`--dir` (default ~/.cache/socialkpi-bench), outside the repository, and kept for the next run.
`--format csv` writes them as CSV instead (under `--dir`/csv, some 2 GB a copy) and the floor
reads them with polars' `scan_csv`. Each tool runs in its own process, tools alternating between
rounds; peak memory is the process's VmHWM.

    python bench/scale.py [--sizes 20000000,100000000] [--rounds 2] [--memory-limit 1GB]
    python bench/scale.py --posts 1000000000 --rounds 1
    python bench/scale.py --format csv
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import peak_mb  # noqa: E402

COPY = 20_000_000


def generate(folder: Path) -> tuple[str, str]:
    """The base file of COPY posts (5,000 accounts over a year) and the accounts, as bench/run.py
    makes them, under `folder`."""
    posts, accounts = folder / f"posts_{COPY}_5000.parquet", folder / "accounts_5000.parquet"
    if not posts.exists() or not accounts.exists():
        import socialkpi as sk

        folder.mkdir(parents=True, exist_ok=True)
        p, a = sk.datasets.sample(n_accounts=5_000, n_posts=COPY, seed=42)
        p.write_parquet(posts, row_group_size=1_000_000)
        a.write_parquet(accounts)
    return str(posts), str(accounts)


def copies(n_posts: int, base: str, folder: Path, fmt: str = "parquet") -> list[str]:
    """The files of `n_posts` posts: copies of `base` (COPY posts) with ids of their own, as
    Parquet (`base` itself is the first) or as CSV (every copy written, under `folder`/csv)."""
    import polars as pl

    if n_posts % COPY:
        raise SystemExit(f"--posts must be a multiple of {COPY:,}")
    out_dir = folder / ("copies" if fmt == "parquet" else "csv")
    out_dir.mkdir(parents=True, exist_ok=True)
    out = [base] if fmt == "parquet" else []
    for k in range(1 if fmt == "parquet" else 0, n_posts // COPY):
        path = out_dir / f"posts_{k:03d}.{fmt}"
        if not path.exists():
            # a CSV copy is some 4 times its Parquet source
            need = (4 if fmt == "parquet" else 6) * Path(base).stat().st_size
            free = shutil.disk_usage(folder).free
            if free < need:
                raise SystemExit(f"only {free / 1e9:.1f} GB free under {folder}: not writing copy {k}")
            t = time.perf_counter()
            number = pl.col("post_id").str.slice(1).cast(pl.Int64) + k * COPY
            tmp = path.with_suffix(".tmp")
            lf = pl.scan_parquet(base).with_columns(
                pl.concat_str(pl.lit("p"), number.cast(pl.String)).alias("post_id")
            )
            if fmt == "parquet":
                lf.sink_parquet(tmp, row_group_size=1_000_000)
            else:
                lf.sink_csv(tmp)
            tmp.rename(path)
            print(
                f"wrote copy {k} ({path.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - t:.0f} s",
                flush=True,
            )
        out.append(str(path))
    return out


def floor_csv(files: list[str]) -> object:
    """The floor over CSV files: bench/peers.py's one scan and one group-by, through `scan_csv`
    (times parsed as socialkpi parses them)."""
    import polars as pl
    from peers import METRICS

    month = pl.col("published_at").dt.truncate("1mo").cast(pl.Date).alias("period_start")
    return (
        pl.scan_csv(files, try_parse_dates=True)
        .group_by("account_id", month)
        .agg(pl.len(), *[pl.col(c).sum() for c in METRICS])
        .collect(engine="streaming")
    )


def worker(tool: str, files: list[str], accounts: str, memory_limit: str | None) -> None:
    from peers import KPIS, run_floor

    t = time.perf_counter()
    if tool == "floor" and files[0].endswith(".csv"):
        frame = floor_csv(files)
    elif tool == "floor":
        frame = run_floor(files, accounts)
    else:
        import socialkpi as sk

        kw = {} if memory_limit is None else {"memory_limit": memory_limit}
        frame = sk.compute(files, accounts, kpis=KPIS, by=["account_id"], every="1mo", **kw)
    out = {"seconds": time.perf_counter() - t, "rows": len(frame), "peak_mb": peak_mb()}
    print(json.dumps(out))


def run_once(tool: str, files: list[str], accounts: str, memory_limit: str | None) -> dict[str, float] | None:
    args = [sys.executable, __file__, "--worker", tool, "--accounts-file", accounts, "--files", *files]
    if memory_limit is not None:
        args += ["--memory-limit", memory_limit]
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"{tool} failed: {done.stderr.strip().splitlines()[-1:]}", flush=True)
        return None
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="20000000,100000000", help="numbers of posts, comma-separated")
    ap.add_argument("--posts", type=int, help="one size only (e.g. 1000000000)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--memory-limit", help="socialkpi's memory_limit= (default: its own)")
    ap.add_argument("--format", choices=["parquet", "csv"], default="parquet", help="the posts' files")
    ap.add_argument("--dir", default=str(Path.home() / ".cache" / "socialkpi-bench"))
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--files", nargs="+", help=argparse.SUPPRESS)
    ap.add_argument("--accounts-file", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.files, args.accounts_file, args.memory_limit)
        return

    sizes = [args.posts] if args.posts else [int(s) for s in args.sizes.split(",")]
    base, accounts = generate(Path(args.dir))
    print(
        f"core report (account x month, 24 KPIs), {COPY:,}-post {args.format} files repeated with ids of their own"
    )
    print(f"{'posts':>15}{'files':>7}{'floor s':>9}{'sk s':>8}{'x floor':>9}{'floor MB':>10}{'sk MB':>8}")
    for n in sizes:
        files = copies(n, base, Path(args.dir), args.format)
        runs: dict[str, list[dict[str, float]]] = {"floor": [], "socialkpi": []}
        for r in range(args.rounds):
            for tool in ["floor", "socialkpi"] if r % 2 == 0 else ["socialkpi", "floor"]:
                result = run_once(tool, files, accounts, args.memory_limit)
                if result is not None:
                    runs[tool].append(result)
        if not runs["floor"] or not runs["socialkpi"]:
            continue
        floor = statistics.median(x["seconds"] for x in runs["floor"])
        sk_s = statistics.median(x["seconds"] for x in runs["socialkpi"])
        floor_mb = max(x["peak_mb"] for x in runs["floor"])
        sk_mb = max(x["peak_mb"] for x in runs["socialkpi"])
        print(
            f"{n:>15,}{len(files):>7}{floor:>9.1f}{sk_s:>8.1f}{sk_s / floor:>9.2f}{floor_mb:>10.0f}{sk_mb:>8.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
