"""A Parquet file cut short, rewritten or replaced before or while `sk.compute` reads it (issue 14).

polars memory-maps the local files it scans, and a mapped file that another program truncates
kills the process with SIGBUS. socialkpi reads Parquet files itself, each column chunk into a
buffer of its own (never mapped) and a slice of row groups at a time, and checks after every
read that the file is as its footer was read: the run gives a typed `unreadable_file` error or
the right numbers, and the process lives. Memory holds a slice of the file, not the file.

Each case runs in a child process (a crash fails the test through its exit status); the
expected numbers come from polars over the frame written, not from the engine."""

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
    import json, os, sys, threading, time
    import polars as pl
    import socialkpi as sk

    path, mode = sys.argv[1], sys.argv[2]
    posts, _ = sk.datasets.sample(n_accounts=30, n_posts=400_000, seed=3)
    other, _ = sk.datasets.sample(n_accounts=30, n_posts=300_000, seed=4)

    def write(frame):
        frame.write_parquet(path, row_group_size=20_000)

    write(posts)
    size = os.path.getsize(path)
    # oracle: polars over the frame written
    want = {
        r["account_id"]: (r["posts"], r["likes"], r["reach"])
        for r in posts.group_by("account_id")
        .agg(
            pl.col("post_id").n_unique().alias("posts"),
            # unknown is null: an account whose likes are all missing has no sum
            pl.when(pl.col("likes").count() > 0).then(pl.col("likes").sum()).alias("likes"),
            pl.when(pl.col("reach").count() > 0).then(pl.col("reach").sum()).alias("reach"),
        )
        .iter_rows(named=True)
    }

    def change(delay, how):
        time.sleep(delay)
        if how == "truncate":
            os.truncate(path, size // 2)
        elif how == "shrink_to_header":
            os.truncate(path, 4)
        elif how == "rewrite":  # in place with other posts (truncated, then written again)
            write(other)
        else:  # another file renamed over it
            other.write_parquet(path + ".new", row_group_size=20_000)
            os.replace(path + ".new", path)

    outcomes = []
    if mode == "before":
        change(0, "truncate")
        runs = [(None, None)]
    else:
        delays = [0.0, 0.001, 0.003, 0.01, 0.02, 0.05, 0.1, 0.3]
        runs = [(d, how) for how in ("truncate", "shrink_to_header", "rewrite", "replace") for d in delays]
    for delay, how in runs:
        if delay is not None:
            write(posts)
            cut = threading.Thread(target=change, args=(delay, how))
            cut.start()
        try:
            got = sk.compute(path, kpis=["posts", "likes", "reach"], by=["account_id"])
            rows = {
                r["account_id"]: (r["posts"], r["likes"], r["reach"]) for r in got.iter_rows(named=True)
            }
            outcomes.append("correct" if rows == want else f"wrong: {rows}")
        except sk.KpiError as e:
            outcomes.append(e.code)
        except BaseException as e:  # noqa: BLE001 - reported to the test, which fails on it
            outcomes.append(f"{type(e).__name__}: {e}")
        if delay is not None:
            cut.join()
    print(json.dumps(outcomes))
    """
)


def run(tmp_path: Path, mode: str, batch_rows: str) -> list[str]:
    env = dict(os.environ, PYTHONPATH=PACKAGE, SOCIALKPI_BATCH_ROWS=batch_rows)
    path = str(tmp_path / "posts.parquet")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, path, mode],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr[-3000:]}"
    outcomes: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return outcomes


def test_file_truncated_before_compute_is_a_typed_error(tmp_path: Path) -> None:
    assert run(tmp_path, "before", "40000") == ["unreadable_file"]


def test_file_changed_during_compute_gives_an_error_or_the_right_numbers(tmp_path: Path) -> None:
    # small slices (many reads, the change lands between them) and the default (one slice)
    for batch_rows in ("20000", "1000000"):
        outcomes = run(tmp_path, "during", batch_rows)
        assert len(outcomes) == 32, outcomes
        assert all(o in ("correct", "unreadable_file") for o in outcomes), outcomes


WRITE = textwrap.dedent(
    """
    import json, sys
    import polars as pl
    import socialkpi as sk

    posts, _ = sk.datasets.sample(n_accounts=50, n_posts=3_000_000, seed=5)
    # a caption the KPIs do not read makes most of the file's bytes
    i = pl.int_range(pl.len())
    posts = posts.with_columns(caption=pl.concat_str([i.hash(s).cast(pl.String) for s in range(6)]))
    posts.write_parquet(sys.argv[1], row_group_size=50_000)
    # unknown is null: an account whose likes are all missing has no sum
    likes = posts.group_by("account_id").agg(
        pl.when(pl.col("likes").count() > 0).then(pl.col("likes").sum()).alias("likes")
    )
    print(json.dumps(dict(likes.iter_rows())))
    """
)

COMPUTE = textwrap.dedent(
    """
    import json, os, sys
    import socialkpi as sk

    def status(field):
        for line in open("/proc/self/status"):
            if line.startswith(field):
                return int(line.split()[1]) * 1024

    # (VmHWM, not ru_maxrss, which counts the parent process's memory at the fork)
    before = status("VmRSS:")
    got = sk.compute(sys.argv[1], kpis=["likes", "reach"], by=["account_id"])
    peak = status("VmHWM:")
    likes = dict(got.select("account_id", "likes").iter_rows())
    print(json.dumps([os.path.getsize(sys.argv[1]), before, peak, likes]))
    """
)


def test_reading_a_large_file_holds_a_slice_not_the_file(tmp_path: Path) -> None:
    if not os.path.exists("/proc/self/status"):
        return
    env = dict(os.environ, PYTHONPATH=PACKAGE, SOCIALKPI_BATCH_ROWS="50000")
    path = str(tmp_path / "large.parquet")
    steps = []
    for script in (WRITE, COMPUTE):
        done = subprocess.run(
            [sys.executable, "-c", script, path], capture_output=True, text=True, timeout=600, env=env
        )
        assert done.returncode == 0, f"exit {done.returncode}\n{done.stderr[-3000:]}"
        steps.append(json.loads(done.stdout.strip().splitlines()[-1]))
    want, (size, before, peak, got) = steps
    assert got == want
    # the run reads 50,000 rows at a time: what it adds to memory stays far below the file
    assert peak - before < size / 2, (peak - before, size)


def test_a_folder_or_glob_of_parquet_files_is_read_and_checked(tmp_path: Path) -> None:
    import polars as pl

    posts, _ = sk.datasets.sample(n_accounts=12, n_posts=30_000, seed=8)
    posts[:20_000].write_parquet(tmp_path / "a.parquet", row_group_size=3_000)
    posts[20_000:].write_parquet(tmp_path / "b.parquet", row_group_size=3_000)
    # oracle: polars over the frame written
    want = {
        r["account_id"]: r["likes"]
        for r in posts.group_by("account_id")
        .agg(pl.when(pl.col("likes").count() > 0).then(pl.col("likes").sum()).alias("likes"))
        .iter_rows(named=True)
    }
    for given in (tmp_path, str(tmp_path / "*.parquet")):
        got = sk.compute(given, kpis=["likes"], by=["account_id"])
        assert {r["account_id"]: r["likes"] for r in got.iter_rows(named=True)} == want
    # one of the files cut short: the glob's read says so
    data = (tmp_path / "b.parquet").read_bytes()
    (tmp_path / "b.parquet").write_bytes(data[: len(data) // 2])
    try:
        sk.compute(str(tmp_path / "*.parquet"), kpis=["likes"], by=["account_id"])
        raise AssertionError("a file cut short was read")
    except sk.KpiError as e:
        assert e.code == "unreadable_file"
