"""KPI definitions and formulas cannot crash or exhaust the process: chains of references,
references that double, YAML aliases, huge files, NUL bytes and lone surrogates in names each
give a typed error (or the right number) in bounded time and memory, on the caller's thread
and on a thread of a 512 KiB stack. Crash-class cases run in a child process, which must exit
normally after printing what it saw. Limits: docs/formulas.md ("Limits")."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
import socialkpi as sk

PACKAGE = str(Path(sk.__file__).resolve().parents[1])

PRELUDE = textwrap.dedent(
    """
    import datetime as dt, json, sys, threading
    import polars as pl
    import socialkpi as sk

    posts = pl.DataFrame(dict(
        post_id=["a", "b", "c", "d"], account_id=["x", "x", "y", "y"],
        platform=["instagram"] * 4, published_at=[dt.datetime(2025, 1, 1)] * 4,
        likes=[1, 2, 3, 4], reach=[10, 20, 30, 50],
    ))

    def outcome(call):
        try:
            value = call()
        except sk.KpiError as e:
            return ["error", type(e).__name__, e.code]
        if isinstance(value, pl.DataFrame):
            return value.sort(value.columns[0]).to_dicts()
        return value

    def on_small_stack(call):
        # as on a polars or rayon worker, or a user's thread with a small stack
        box = []
        threading.stack_size(512 * 1024)
        worker = threading.Thread(target=lambda: box.append(outcome(call)))
        worker.start()
        worker.join()
        threading.stack_size(0)
        return box[0] if box else "no outcome (the thread raised something else)"

    def both(call):
        return [outcome(call), on_small_stack(call)]

    def report(**seen):
        print(json.dumps(seen), flush=True)
    """
)


def child(script: str, timeout: float = 240) -> dict:
    """Runs `script` after PRELUDE in a fresh interpreter; what it reported. The child must
    exit normally (a crash, an abort or an out-of-memory kill fails the test here)."""
    env = dict(os.environ, PYTHONPATH=PACKAGE)
    done = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr[-3000:]}"
    lines = done.stdout.strip().splitlines()
    assert lines, done.stderr[-3000:]
    seen: dict = json.loads(lines[-1])
    return seen


def posts_frame() -> pl.DataFrame:
    return pl.DataFrame(
        dict(
            post_id=["a", "b", "c", "d"],
            account_id=["x", "x", "y", "y"],
            platform=["instagram"] * 4,
            published_at=[dt.datetime(2025, 1, 1)] * 4,
            likes=[1, 2, 3, 4],
            reach=[10, 20, 30, 50],
        )
    )


def oracle() -> pd.DataFrame:
    """Σ likes and Σ reach per account, from the rows (KPIS.md: a flow is summed)."""
    rows = posts_frame().to_pandas()
    return rows.groupby("account_id")[["likes", "reach"]].sum().sort_index()


def too(kind: str) -> list:
    return ["error", "DefinitionError", kind]


# ---- chains of KPI references ------------------------------------------------------------


def test_a_chain_of_2000_kpi_references_is_too_deep_on_any_thread(tmp_path):
    path = tmp_path / "chain.yaml"
    lines = ["kpis:", "  - {name: k0, formula: likes}"]
    lines += [f"  - {{name: k{i}, formula: k{i - 1} + 1}}" for i in range(1, 2001)]
    path.write_text("\n".join(lines) + "\n")
    seen = child(
        f"""
        chain = [sk.KPI("k0", "likes")] + [sk.KPI(f"k{{i}}", f"k{{i - 1}} + 1") for i in range(1, 2001)]
        defs = sk.Definitions(name="chain", kpis=tuple(chain))
        report(
            # the last one alone: checking it walks the whole chain
            last=both(lambda: sk.compute(posts, kpis=["k2000"], definitions=defs)),
            # all of them, first to last (each reference is already checked)
            all=both(lambda: sk.compute(posts, kpis=chain)),
            file=both(lambda: sk.compute(posts, kpis=["k2000"], definitions={str(path)!r})),
            check=both(lambda: sk.check_kpis([chain[-1]], posts, definitions=defs)),
            aliases=both(lambda: sk.compute(posts, kpis=[sk.KPI("a0", "likes")]
                + [sk.KPI(f"a{{i}}", f"a{{i - 1}}") for i in range(1, 2001)])),
        )
        """
    )
    for case, outcomes in seen.items():
        assert outcomes == [too("too_deep")] * 2, case


def test_kpis_that_name_the_one_before_twice_are_too_large():
    seen = child(
        """
        def doubling(op, n):
            return [sk.KPI("k0", "likes")] + [sk.KPI(f"k{i}", f"k{i - 1} {op} k{i - 1}") for i in range(1, n + 1)]
        out = {}
        for op in "+*/":
            chain = doubling(op, 12)
            defs = sk.Definitions(name="d", kpis=tuple(chain))
            out[op] = both(lambda: sk.compute(posts, kpis=["k12"], definitions=defs))
            out[op + " all"] = both(lambda: sk.compute(posts, kpis=chain, by=["account_id"]))
        report(**out)
        """,
        timeout=120,
    )
    for case, outcomes in seen.items():
        assert outcomes == [too("too_large")] * 2, case


def test_the_longest_chains_allowed_are_exact_on_a_small_stack():
    seen = child(
        """
        plus = [sk.KPI("k0", "likes")] + [sk.KPI(f"k{i}", f"k{i - 1} + 1") for i in range(1, 61)]
        doubled = [sk.KPI("d0", "likes")] + [sk.KPI(f"d{i}", f"d{i - 1} + d{i - 1}") for i in range(1, 9)]
        ratios = [sk.KPI("r0", "likes / reach")] + [sk.KPI(f"r{i}", f"r{i - 1} + 1") for i in range(1, 61)]
        long = sk.KPI("long", " + ".join(["likes"] * 129))
        quotients = sk.KPI("quotients", "sum(" + " / ".join(["likes"] * 100) + ")")
        negated = [sk.KPI("n0", "likes / reach")] + [sk.KPI(f"n{i}", f"-n{i - 1}") for i in range(1, 61)]
        coalesced = [sk.KPI("c0", "likes / reach")] + [sk.KPI(f"c{i}", f"coalesce(c{i - 1}, 0)") for i in range(1, 61)]
        # each level a computed column of the posts that reads the one before
        alternating = [sk.KPI("m0", "likes")] + [sk.KPI(f"m{i}", f"likes - m{i - 1} * 2") for i in range(1, 43)]
        filtered = sk.KPI("filtered", "sum(likes where " + " and ".join(["likes > 0"] * 60) + ")")
        defs = sk.Definitions(name="deep", kpis=tuple(plus + doubled + ratios + negated + coalesced + alternating))
        report(result=on_small_stack(lambda: sk.compute(
            posts, kpis=["k60", "d8", "r60", "n60", "c60", "m42", long, quotients, filtered],
            definitions=defs, by=["account_id"])))
        """
    )
    got = pd.DataFrame(seen["result"]).set_index("account_id").sort_index()
    want = oracle()
    assert got["k60"].tolist() == (want["likes"] + 60).tolist()
    assert got["d8"].tolist() == (want["likes"] * 256).tolist()
    assert got["long"].tolist() == (want["likes"] * 129).tolist()
    rows = posts_frame().to_pandas()
    quotient = rows["likes"].astype(float)
    for _ in range(99):
        quotient = quotient / rows["likes"]
    want_quotients = quotient.groupby(rows["account_id"]).sum().sort_index()
    assert got["quotients"].tolist() == pytest.approx(want_quotients.tolist(), rel=1e-12)
    assert got["r60"].tolist() == pytest.approx((want["likes"] / want["reach"] + 60).tolist())
    assert got["n60"].tolist() == pytest.approx((want["likes"] / want["reach"]).tolist())
    assert got["c60"].tolist() == pytest.approx((want["likes"] / want["reach"]).tolist())
    assert got["filtered"].tolist() == want["likes"].tolist()
    # m_i = likes - 2 m_(i-1) per post, summed
    assert got["m42"].tolist() == (want["likes"] * ((1 + 2**43) // 3)).tolist()


def test_a_formula_too_tall_on_its_own_is_too_deep():
    with pytest.raises(sk.DefinitionError) as info:
        sk.KPI("long", " + ".join(["likes"] * 200))
    assert info.value.code == "too_deep"
    with pytest.raises(sk.DefinitionError) as info:
        sk.KPI("nested", "(" * 100 + "likes" + ")" * 100)
    assert info.value.code == "too_deep"


# ---- definition files --------------------------------------------------------------------


def test_yaml_aliases_of_one_large_mapping_are_refused_before_they_are_copied(tmp_path):
    big = tmp_path / "laughs.yaml"
    description = "x" * 1_000_000
    big.write_text(
        f'kpis:\n  - &k {{name: a, formula: likes, description: "{description}"}}\n' + "  - *k\n" * 3_000
    )
    few = tmp_path / "few.yaml"
    few.write_text(
        "engagement:\n  instagram: &c [likes, comments]\n  facebook: *c\n"
        "kpis:\n  - &k {name: a, formula: likes * 2}\n  - *k\n"
    )
    seen = child(
        f"""
        import resource, time
        started = time.perf_counter()
        report(
            load=both(lambda: sk.load_kpis({str(big)!r}) and "loaded"),
            compute=both(lambda: sk.compute(posts, kpis=["a"], definitions={str(big)!r})),
            few=outcome(lambda: [k.name for k in sk.load_kpis({str(few)!r})]),
            seconds=time.perf_counter() - started,
            peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        )
        """
    )
    assert seen["load"] == [too("file_too_large")] * 2
    assert seen["compute"] == [too("file_too_large")] * 2
    assert seen["few"] == ["a", "a"]
    assert seen["seconds"] < 30
    assert seen["peak_mb"] < 1_000


def test_a_huge_definitions_file_is_refused_quickly(tmp_path):
    huge = tmp_path / "huge.toml"
    with huge.open("w") as f:
        for i in range(600_000):
            f.write(f'[[kpis]]\nname = "k{i}"\nformula = "likes + {i}"\n')
    assert huge.stat().st_size > 32_000_000
    many = tmp_path / "many.yaml"
    many.write_text("kpis:\n" + "".join(f"  - {{name: k{i}, formula: likes}}\n" for i in range(10_001)))
    most = tmp_path / "most.json"
    most.write_text(
        json.dumps({"kpis": [{"name": f"k{i}", "formula": f"likes + {i}"} for i in range(10_000)]})
    )
    seen = child(
        f"""
        import time
        out = {{}}
        for name in ["huge.toml", "many.yaml", "most.json"]:
            started = time.perf_counter()
            out[name] = [outcome(lambda: len(sk.load_kpis({str(tmp_path)!r} + "/" + name))),
                         time.perf_counter() - started]
        report(**out)
        """
    )
    assert seen["huge.toml"][0] == too("file_too_large")
    assert seen["many.yaml"][0] == too("too_many_kpis")
    assert seen["most.json"][0] == 10_000
    for name, (_, seconds) in seen.items():
        assert seconds < 20, name


def test_the_core_refuses_a_text_past_the_file_limit():
    # the same limit as load_kpis's, for a text handed over without a file
    from socialkpi import _core
    from socialkpi.formulas import _MAX_FILE_BYTES

    with pytest.raises(sk.DefinitionError) as info:
        _core.parse_definitions(" " * (_MAX_FILE_BYTES + 1), "toml", "text")
    assert info.value.code == "file_too_large"
    assert _core.parse_definitions(" " * _MAX_FILE_BYTES, "toml", "text")[4] == []


def test_deeply_nested_files_are_invalid_on_a_small_stack(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    (tmp_path / "deep.yaml").write_text(f"kpis: {deep}\n")
    (tmp_path / "deep.json").write_text(f'{{"kpis": {deep}}}')
    (tmp_path / "deep.toml").write_text(f"name = {deep}\n")
    (tmp_path / "mapping.yaml").write_text("kpis:\n" + "".join("  " * i + "- a:\n" for i in range(5_000)))
    seen = child(
        f"""
        report(**{{name: both(lambda: sk.load_kpis({str(tmp_path)!r} + "/" + name))
                   for name in ["deep.yaml", "deep.json", "deep.toml", "mapping.yaml"]}})
        """
    )
    for name, outcomes in seen.items():
        assert outcomes == [too("invalid_definitions")] * 2, name


# ---- names the core cannot take ----------------------------------------------------------


def test_a_nul_byte_in_a_column_name_is_a_typed_error():
    seen = child(
        """
        odd = posts.with_columns(pl.col("platform").alias("team\\x00a"), pl.col("likes").alias("li\\x00kes"))
        report(
            by=both(lambda: sk.compute(odd, kpis=["likes"], by=["team\\x00a"])),
            formula=outcome(lambda: sk.compute(odd, kpis=[sk.KPI("x", "`li\\x00kes` / reach")])),
            unused=outcome(lambda: sk.compute(odd, kpis=["likes"], by=["account_id"])),
        )
        """
    )
    assert seen["by"] == [["error", "QueryError", "invalid_column_name"]] * 2
    assert seen["formula"] == too("syntax_error")
    assert seen["unused"] == [{"account_id": "x", "likes": 3}, {"account_id": "y", "likes": 7}]


def test_a_lone_surrogate_in_a_name_is_a_typed_error():
    posts = posts_frame()
    for make in [
        lambda: sk.KPI("er\ud800", "likes / reach"),
        lambda: sk.compute(posts, kpis=["likes\ud800"]),
    ]:
        with pytest.raises(sk.DefinitionError) as info:
            make()
        assert info.value.code == "invalid_name"
    with pytest.raises(sk.DefinitionError) as info:
        sk.KPI("er", "`likes\udcff` / reach")
    assert info.value.code == "syntax_error"
    with pytest.raises(sk.QueryError) as by:
        sk.compute(posts, kpis=["likes"], by=["account\ud800"])
    assert by.value.code == "invalid_column_name"
    frame = posts.to_pandas().rename(columns={"reach": "re\ud800ch"})
    with pytest.raises(sk.SchemaError) as column:
        sk.compute(frame, kpis=["likes"])
    assert column.value.code == "invalid_column_name"


# ---- codes -------------------------------------------------------------------------------


def test_a_kpi_that_reads_itself_is_circular_unless_it_names_a_known_column():
    posts = posts_frame()
    with pytest.raises(sk.DefinitionError) as info:
        sk.compute(posts, kpis=[sk.KPI("a", "a + 1")])
    assert info.value.code == "circular_reference"
    assert "a -> a" in str(info.value)
    with pytest.raises(sk.DefinitionError) as info:
        sk.compute(posts.drop("likes"), kpis=[sk.KPI("likes", "likes * 2")])
    assert info.value.code == "missing_column"
    got = sk.compute(posts, kpis=[sk.KPI("likes", "likes * 2")], by=["account_id"])
    assert got["likes"].to_list() == (oracle()["likes"] * 2).tolist()


@pytest.mark.parametrize("wrong", [5, 2.5, ["hypeauditor"], {"kpis": []}])
def test_definitions_of_the_wrong_type_are_a_definition_error(wrong):
    posts = posts_frame()
    for call in [
        lambda: sk.compute(posts, kpis=["likes"], definitions=wrong),
        lambda: sk.check_kpis(["likes"], posts, definitions=wrong),
        lambda: sk.explain("likes", definitions=wrong),
        lambda: sk.load_kpis(wrong),
    ]:
        with pytest.raises(sk.DefinitionError) as info:
            call()
        assert info.value.code == "invalid_argument"
        assert isinstance(info.value, sk.KpiError)


def test_a_kpi_name_or_formula_that_is_not_text_is_a_definition_error():
    for make in [lambda: sk.KPI(5, "likes"), lambda: sk.KPI("x", 5), lambda: sk.KPI("x", None)]:
        with pytest.raises(sk.DefinitionError) as info:
            make()
        assert info.value.code == "invalid_argument"
