"""A Parquet file cut short (truncated, or still being written) when `sk.compute` starts: the
core reads its footer itself before polars maps the file, so the run is a typed error and the
process lives (polars' own footer reader panicked on such a file, and a mapped file that is
short of what its footer says kills the process with SIGBUS).

The case runs in a child process (a crash fails the test through its exit status)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import socialkpi as sk

PACKAGE = str(Path(sk.__file__).resolve().parents[1])

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import polars as pl
    import socialkpi as sk

    path = sys.argv[1]
    posts, _ = sk.datasets.sample(n_accounts=30, n_posts=400_000, seed=3)
    posts.write_parquet(path, row_group_size=20_000)
    size = os.path.getsize(path)
    # oracle: polars over the frame written
    want = {
        r["account_id"]: (r["posts"], r["likes"])
        for r in posts.group_by("account_id")
        .agg(
            pl.col("post_id").n_unique().alias("posts"),
            # unknown is null: an account whose likes are all missing has no sum
            pl.when(pl.col("likes").count() > 0).then(pl.col("likes").sum()).alias("likes"),
        )
        .iter_rows(named=True)
    }

    os.truncate(path, size // 2)
    outcomes = []
    try:
        got = sk.compute(path, kpis=["posts", "likes"], by=["account_id"])
        rows = {r["account_id"]: (r["posts"], r["likes"]) for r in got.iter_rows(named=True)}
        outcomes.append("correct" if rows == want else f"wrong: {rows}")
    except sk.KpiError as e:
        outcomes.append(e.code)
    except BaseException as e:  # noqa: BLE001 - reported to the test, which fails on it
        outcomes.append(f"{type(e).__name__}: {e}")
    print(json.dumps(outcomes))
    """
)


def run(tmp_path: Path, batch_rows: str) -> list[str]:
    env = dict(os.environ, PYTHONPATH=PACKAGE, SOCIALKPI_BATCH_ROWS=batch_rows)
    path = str(tmp_path / "posts.parquet")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, path],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr[-3000:]}"
    outcomes: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return outcomes


def test_file_truncated_before_compute_is_a_typed_error(tmp_path: Path) -> None:
    assert run(tmp_path, "40000") == ["unreadable_file"]
