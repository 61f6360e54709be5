"""Property tests: generated formulas, computed by the engine, against a direct evaluation in
polars written from docs/formulas.md (sums, rule-3 additions, rule-1 ratios, filters, means and
counts), group by group."""

from __future__ import annotations

import math
from typing import Any, Union

import numpy as np
import polars as pl
import socialkpi as sk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

COLUMNS = ["likes", "comments", "shares", "reach", "impressions"]
PLATFORMS = ["instagram", "tiktok", "x"]


def make_posts() -> pl.DataFrame:
    rng = np.random.default_rng(17)
    n = 90
    data: dict[str, Any] = {
        "post_id": [f"p{i}" for i in range(n)],
        "account_id": [f"a{i % 7}" for i in range(n)],
        "platform": [PLATFORMS[i % 3] for i in range(n)],
        "sponsored": (rng.random(n) < 0.3).tolist(),
    }
    for c in COLUMNS:
        values = rng.integers(0, 50, n).astype(object)
        values[rng.random(n) < 0.2] = None  # not reported
        values[rng.random(n) < 0.1] = 0
        data[c] = pl.Series(c, values.tolist(), dtype=pl.Int64)
    # one platform never reports shares: sums of it are null, not 0
    frame = pl.DataFrame(data)
    return frame.with_columns(
        pl.when(pl.col("platform") == "x").then(None).otherwise(pl.col("shares")).alias("shares")
    )


POSTS = make_posts()
EVERY_POST = pl.col("post_id").is_not_null()

# ---- formulas as trees ---------------------------------------------------------------------

Tree = Union[tuple, str]  # noqa: UP007 (py39)

numbers = st.sampled_from([0, 1, 2, 3, 10, 0.5])
columns = st.sampled_from(COLUMNS)
conds = st.recursive(
    st.one_of(
        st.tuples(st.just("cmp"), columns, st.sampled_from([">", "<=", "=="]), st.integers(0, 40)),
        st.tuples(st.just("platform"), st.sampled_from(PLATFORMS + ["linkedin"])),
        st.just(("sponsored",)),
    ),
    lambda inner: st.one_of(st.tuples(st.just("not"), inner), st.tuples(st.just("and"), inner, inner)),
    max_leaves=3,
)
rows = st.recursive(
    st.one_of(st.tuples(st.just("col"), columns), st.tuples(st.just("num"), numbers)),
    lambda inner: st.one_of(
        st.tuples(st.just("bin"), st.sampled_from("+-*/"), inner, inner),
        st.tuples(st.just("coalesce"), columns, numbers),
    ),
    max_leaves=4,
)
aggs = st.recursive(
    st.one_of(
        st.tuples(st.just("col"), columns),
        st.tuples(st.just("sum"), rows, st.one_of(st.none(), conds)),
        st.tuples(st.just("count"), st.one_of(st.none(), conds)),
        st.tuples(st.just("countx"), columns),
        st.tuples(st.just("mean"), rows),
        st.tuples(st.just("num"), numbers),
    ),
    lambda inner: st.tuples(st.just("bin"), st.sampled_from("+-*/"), inner, inner),
    max_leaves=5,
)


def text_cond(c: Tree) -> str:
    kind = c[0]
    if kind == "cmp":
        return f"{c[1]} {c[2]} {c[3]}"
    if kind == "platform":
        return f"platform == '{c[1]}'"
    if kind == "sponsored":
        return "sponsored"
    if kind == "not":
        return f"not ({text_cond(c[1])})"
    return f"({text_cond(c[1])}) and ({text_cond(c[2])})"


def text_row(r: Tree) -> str:
    if r[0] == "col":
        return r[1]
    if r[0] == "num":
        return str(r[1])
    if r[0] == "coalesce":
        return f"coalesce({r[1]}, {r[2]})"
    return f"({text_row(r[2])} {r[1]} {text_row(r[3])})"


def text(a: Tree) -> str:
    kind = a[0]
    if kind == "col":
        return a[1]
    if kind == "num":
        return str(a[1])
    if kind == "sum":
        where = f" where {text_cond(a[2])}" if a[2] is not None else ""
        return f"sum({text_row(a[1])}{where})"
    if kind == "count":
        return f"count(where {text_cond(a[1])})" if a[1] is not None else "count()"
    if kind == "countx":
        return f"count({a[1]})"
    if kind == "mean":
        return f"mean({text_row(a[1])})"
    return f"({text(a[2])} {a[1]} {text(a[3])})"


# ---- direct evaluation in polars, from the language's documentation ------------------------


def cond_expr(c: Tree) -> pl.Expr:
    kind = c[0]
    if kind == "cmp":
        x = pl.col(c[1])
        e = {">": x > c[3], "<=": x <= c[3], "==": x == c[3]}[c[2]]
    elif kind == "platform":
        e = pl.col("platform") == c[1]
    elif kind == "sponsored":
        e = pl.col("sponsored")
    elif kind == "not":
        return ~cond_expr(c[1])
    else:
        return cond_expr(c[1]) & cond_expr(c[2])
    return e.fill_null(False)


def row_expr(r: Tree) -> pl.Expr:
    if r[0] == "col":
        return pl.col(r[1]).cast(pl.Float64)
    if r[0] == "num":
        return pl.lit(float(r[1]))
    if r[0] == "coalesce":
        return pl.coalesce(pl.col(r[1]).cast(pl.Float64), pl.lit(float(r[2])))
    a, b = row_expr(r[2]), row_expr(r[3])
    return combine_rows(r[1], a, b)


def combine_rows(op: str, a: pl.Expr, b: pl.Expr) -> pl.Expr:
    if op in "+-":
        # rule 3: a missing side counts as 0 when the other is present
        value = a.fill_null(0) + b.fill_null(0) if op == "+" else a.fill_null(0) - b.fill_null(0)
        return pl.when(a.is_null() & b.is_null()).then(None).otherwise(value)
    if op == "*":
        return a * b
    return pl.when(b.is_null() | (b == 0)).then(None).otherwise(a / b)


class Summed:
    """A sum over posts not yet taken: the per-post values, the posts it ranges over, and the
    values it has as a side of a ratio (posts outside a filter count as 0 there)."""

    def __init__(self, row: pl.Expr, domain: pl.Expr, ratio_row: pl.Expr | None = None) -> None:
        self.row, self.domain = row, domain
        self.ratio_row = row if ratio_row is None else ratio_row

    def value(self, g: pl.DataFrame) -> float | None:
        out = g.select(
            rows=self.domain.sum(),
            n=self.row.filter(self.domain).count(),
            s=self.row.filter(self.domain).sum(),
        ).row(0)
        if out[0] == 0:
            return 0.0
        return None if out[1] == 0 else out[2]


Evaluated = Union[Summed, float, None]  # noqa: UP007


def evaluate(a: Tree, g: pl.DataFrame) -> Evaluated:
    kind = a[0]
    if kind == "col":
        return Summed(pl.col(a[1]).cast(pl.Float64), EVERY_POST)
    if kind == "num":
        return float(a[1])
    if kind == "sum":
        if a[2] is None:
            return Summed(row_expr(a[1]), EVERY_POST)
        c = cond_expr(a[2])
        return Summed(pl.when(c).then(row_expr(a[1])), c, pl.when(c).then(row_expr(a[1])).otherwise(0.0))
    if kind == "count":
        c = cond_expr(a[1]) if a[1] is not None else EVERY_POST
        return float(g.select(c.sum().alias("n")).item())
    if kind == "countx":
        return float(g.select(pl.col(a[1]).count().alias("n")).item())
    if kind == "mean":
        s, n = g.select(s=row_expr(a[1]).sum(), n=row_expr(a[1]).count()).row(0)
        return None if n == 0 else s / n
    op, x, y = a[1], evaluate(a[2], g), evaluate(a[3], g)
    if isinstance(x, Summed) and isinstance(y, Summed):
        if op in "+-":
            return Summed(
                combine_rows(op, x.row, y.row),
                x.domain | y.domain,
                combine_rows(op, x.ratio_row, y.ratio_row),
            )
        if op == "/":
            xr, yr = x.ratio_row, y.ratio_row
            both = xr.is_not_null() & yr.is_not_null()
            num, den = g.select(num=xr.filter(both).sum(), den=yr.filter(both).sum()).row(0)
            return None if den == 0 else num / den
    if op == "*" and isinstance(x, Summed) and a[3][0] == "num":
        return Summed(x.row * float(a[3][1]), x.domain, x.ratio_row * float(a[3][1]))
    if op == "*" and isinstance(y, Summed) and a[2][0] == "num":
        return Summed(y.row * float(a[2][1]), y.domain, y.ratio_row * float(a[2][1]))
    xv = x.value(g) if isinstance(x, Summed) else x
    yv = y.value(g) if isinstance(y, Summed) else y
    if xv is None or yv is None:
        return None
    if op == "+":
        return xv + yv
    if op == "-":
        return xv - yv
    if op == "*":
        return xv * yv
    return None if yv == 0 else xv / yv


def expected(tree: Tree) -> dict[str, float | None]:
    out = {}
    for (platform,), g in POSTS.group_by(["platform"]):
        v = evaluate(tree, g)
        out[str(platform)] = v.value(g) if isinstance(v, Summed) else v
    return out


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(aggs)
def test_generated_formulas_match_a_direct_evaluation(tree):
    formula = text(tree)
    got = sk.compute(POSTS, kpis=[sk.KPI("k", formula)], by=["platform"])
    engine = {p: (None if v is None else float(v)) for p, v in got.iter_rows()}
    want = expected(tree)
    assert set(engine) == set(want)
    for p in want:
        assert close(engine[p], want[p]), f"{formula} on {p}: engine {engine[p]}, direct {want[p]}"


@settings(max_examples=60, deadline=None)
@given(aggs, st.integers(2, 5))
def test_splitting_the_posts_does_not_change_a_formula(tree, pieces):
    formula = text(tree)
    kpi = sk.KPI("k", formula)
    whole = sk.compute(POSTS, kpis=[kpi], by=["platform"])
    chunks = pl.concat([POSTS.slice(i, 19) for i in range(0, POSTS.height, 19)], rechunk=False)
    split = sk.compute(chunks.sample(fraction=1.0, shuffle=True, seed=pieces), kpis=[kpi], by=["platform"])
    for (p, a), (q, b) in zip(whole.iter_rows(), split.iter_rows()):
        assert p == q and close(a, b), formula
