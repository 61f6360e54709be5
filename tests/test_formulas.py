"""KPIs as formulas: the built-in catalogue redefined through the language, custom KPIs against
direct arithmetic, definition files, vendor presets, and formula errors."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import jsonschema
import numpy as np
import polars as pl
import pytest
import socialkpi as sk
import tomllib
from conftest import make_tables
from polars.testing import assert_frame_equal
from test_money import make_money_tables

BUILTIN = sk.load_kpis("socialkpi")


def as_float(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(pl.Int64, pl.Int32, pl.UInt32, pl.UInt64).cast(pl.Float64))


def same(got: pl.DataFrame, expected: pl.DataFrame) -> None:
    assert got.columns == expected.columns
    assert_frame_equal(as_float(got), as_float(expected), rel_tol=1e-12, abs_tol=1e-12)


@pytest.fixture(scope="module")
def everything() -> dict[str, pl.DataFrame]:
    """All five tables: sample posts and snapshots (with mentions), funnel traffic, events and
    contracts."""
    posts, accounts = make_tables()  # the core oracle's data (tests/test_oracle.py)
    rng = np.random.default_rng(5)
    accounts = accounts.with_columns(
        mentions=pl.Series(rng.poisson(3, accounts.height)).cast(pl.Int64),
    )
    traffic, events, contracts = sk.datasets.funnel(
        posts, n_traffic=800, n_events=300, n_contracts=30, seed=2
    )
    return {
        "posts": posts,
        "accounts": accounts,
        "traffic": traffic,
        "conversions": events,
        "contracts": contracts,
    }


def compare_builtin(name: str, tables: dict[str, pl.DataFrame], by: list[str], every: str | None) -> bool:
    """The catalogue's formula for `name`, as a KPI of its own, against the built-in KPI."""
    formula = BUILTIN[name].formula
    custom = sk.KPI(f"formula_{name}", formula)
    try:
        expected = sk.compute(**tables, kpis=[name], by=by, every=every)
    except sk.KpiError as built_in_error:
        with pytest.raises(sk.KpiError) as info:
            sk.compute(**tables, kpis=[custom], by=by, every=every)
        assert info.value.code == built_in_error.code
        return False
    got = sk.compute(**tables, kpis=[custom], by=by, every=every)
    same(got.rename({f"formula_{name}": name}), expected)
    return True


def test_the_catalogue_file_defines_every_builtin():
    assert sorted(BUILTIN.names()) == sorted(sk.catalog()["name"].to_list())
    assert BUILTIN.engagement == {"default": ("likes|reactions", "comments", "shares", "saves")}


@pytest.mark.parametrize("every", [None, "1mo", "1w"])
@pytest.mark.parametrize("by", [[], ["platform"], ["account_id"]])
@pytest.mark.parametrize("name", BUILTIN.names())
def test_every_builtin_redefined_through_the_language_is_exact(everything, name, by, every):
    compare_builtin(name, everything, by, every)


@pytest.mark.parametrize("every", [None, "1mo"])
@pytest.mark.parametrize("by", [[], ["account_id"], ["campaign"]])
@pytest.mark.parametrize(
    "name", ["cost", "cpm", "cpc", "cpe", "cpa", "roas", "roi", "conversions", "conversion_rate", "revenue"]
)
def test_money_builtins_from_the_posts_own_columns_are_exact(name, by, every):
    posts, contracts = make_money_tables()
    computed = compare_builtin(name, {"posts": posts, "contracts": contracts}, by, every)
    assert computed or by == ["campaign"]


def test_builtin_redefinitions_computed_together_are_exact(everything):
    tables = {k: everything[k] for k in ("posts", "accounts")}
    names = [
        "posts", "engagements", "engagement_rate", "frequency", "avg_engagement_rate_per_post",
        "engagement_rate_followers", "followers", "follower_growth_rate", "ctr",
    ]  # fmt: skip
    custom = [sk.KPI(f"f_{n}", BUILTIN[n].formula) for n in names]
    got = sk.compute(**tables, kpis=custom, by=["platform"], every="1mo")
    expected = sk.compute(**tables, kpis=names, by=["platform"], every="1mo")
    same(got.rename({f"f_{n}": n for n in names}), expected)


# ---- custom KPIs against direct arithmetic ------------------------------------------------


def rule3(frame: pl.DataFrame, columns: list[str]) -> pl.Series:
    """A row's sum of components: a null counts as 0 unless all are null (docs/kpis.md rule 3)."""
    values = frame.select(columns).to_numpy().astype(float)
    present = ~np.isnan(values)
    total = np.where(present, values, 0.0).sum(axis=1)
    return pl.Series(np.where(present.any(axis=1), total, np.nan)).fill_nan(None)


def test_linkedin_engagement_rate_is_a_ratio_of_sums_over_rows_with_both(everything):
    posts = everything["posts"].with_columns(
        follows=pl.when(pl.col("platform") == "linkedin").then(pl.col("clicks") // 7).otherwise(None)
    )
    er = sk.KPI("er_linkedin", "(clicks + reactions + comments + shares + follows) / impressions")
    got = sk.compute(posts, kpis=[er], by=["platform"]).sort("platform")

    num = rule3(posts, ["clicks", "reactions", "comments", "shares", "follows"])
    frame = posts.select("platform", "impressions").with_columns(num=num)
    both = frame.filter(pl.col("num").is_not_null() & pl.col("impressions").is_not_null())
    expected = (
        both.group_by("platform")
        .agg(n=pl.col("num").sum(), d=pl.col("impressions").sum())
        .select("platform", er_linkedin=pl.when(pl.col("d") > 0).then(pl.col("n") / pl.col("d")))
    )
    expected = frame.select("platform").unique().join(expected, on="platform", how="left").sort("platform")
    same(got, expected)


def test_a_ratio_over_the_engagements_divides_by_their_rule_3_sums(everything):
    # eng as the denominator: the engagements of the rows where likes and eng are both present
    posts = everything["posts"]
    share = sk.KPI("likes_share", "likes / eng")
    got = sk.compute(posts, kpis=[share], by=["platform"]).sort("platform")
    eng = rule3(posts, [c for c in ("likes", "comments", "shares", "saves") if c in posts.columns])
    frame = posts.select("platform", "likes").with_columns(eng=eng)
    both = frame.filter(pl.col("likes").is_not_null() & pl.col("eng").is_not_null())
    expected = (
        both.group_by("platform")
        .agg(n=pl.col("likes").sum(), d=pl.col("eng").sum())
        .select("platform", likes_share=pl.when(pl.col("d") > 0).then(pl.col("n") / pl.col("d")))
    )
    expected = frame.select("platform").unique().join(expected, on="platform", how="left").sort("platform")
    same(got, expected)


def test_filters_means_counts_and_references(everything):
    posts = everything["posts"]
    kpis = [
        sk.KPI("sponsored_likes", "sum(likes where sponsored)"),
        sk.KPI("organic_posts", "count(where not sponsored)"),
        sk.KPI("posts_with_saves", "count(saves)"),
        sk.KPI("mean_reach", "mean(reach)"),
        sk.KPI(
            "video_er", "sum(eng where content_type == 'video') / sum(reach where content_type == 'video')"
        ),
        sk.KPI("er_points", "engagement_rate * 100"),
        sk.KPI("reach_per_post", "reach / posts"),
        sk.KPI("sponsored_share", "sum(eng where sponsored) / eng"),
    ]
    got = sk.compute(posts, kpis=kpis, by=["account_id"]).sort("account_id")

    pd = posts.to_pandas()
    pd["eng"] = rule3(posts, ["likes", "comments", "shares", "saves"]).to_numpy()
    pd["eng"] = np.where(
        pd["likes"].isna(), rule3(posts, ["reactions", "comments", "shares", "saves"]), pd["eng"]
    )
    rows = []
    for account, g in pd.groupby("account_id"):
        spons = g[g["sponsored"]]
        video = g[(g["content_type"] == "video") & g["eng"].notna() & g["reach"].notna()]
        er_rows = g[g["eng"].notna() & g["reach"].notna()]
        rows.append(
            {
                "account_id": account,
                "sponsored_likes": (None if spons["likes"].notna().sum() == 0 else spons["likes"].sum())
                if len(spons)
                else 0,
                "organic_posts": int((~g["sponsored"]).sum()),
                "posts_with_saves": int(g["saves"].notna().sum()),
                "mean_reach": g["reach"].mean() if g["reach"].notna().any() else None,
                "video_er": video["eng"].sum() / video["reach"].sum() if video["reach"].sum() > 0 else None,
                "er_points": er_rows["eng"].sum() / er_rows["reach"].sum() * 100
                if er_rows["reach"].sum() > 0
                else None,
                "reach_per_post": g["reach"].sum() / len(g) if g["reach"].notna().any() else None,
                # posts outside the filter stay in the denominator
                "sponsored_share": spons["eng"].sum() / g["eng"].sum() if g["eng"].sum() > 0 else None,
            }
        )
    expected = pl.DataFrame(rows, schema_overrides={"sponsored_likes": pl.Float64}).sort("account_id")
    same(got, expected)


def test_a_custom_kpi_takes_the_place_of_a_builtin_and_reads_its_own_column(everything):
    posts = everything["posts"]
    mine = sk.KPI("likes", "likes * 2")
    got = sk.compute(posts, kpis=[mine, "comments"], by=[])
    assert got["likes"][0] == posts["likes"].sum() * 2
    assert got["comments"][0] == posts["comments"].sum()


# ---- definition files ----------------------------------------------------------------------

YAML = """
name: team
description: our own engagement
engagement:
  linkedin: [likes, comments, shares, clicks]
  default: [likes, comments]
kpis:
  - name: er
    formula: eng / reach
    goal: engagement
    unit: ratio
  - name: er_pct
    formula: er * 100
"""

TOML = """
name = "team"
description = "our own engagement"

[engagement]
linkedin = ["likes", "comments", "shares", "clicks"]
default = ["likes", "comments"]

[[kpis]]
name = "er"
formula = "eng / reach"
goal = "engagement"
unit = "ratio"

[[kpis]]
name = "er_pct"
formula = "er * 100"
"""

JSON = json.dumps(
    {
        "name": "team",
        "description": "our own engagement",
        "engagement": {
            "linkedin": ["likes", "comments", "shares", "clicks"],
            "default": ["likes", "comments"],
        },
        "kpis": [
            {"name": "er", "formula": "eng / reach", "goal": "engagement", "unit": "ratio"},
            {"name": "er_pct", "formula": "er * 100"},
        ],
    }
)


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    out = []
    for ext, text in (("yaml", YAML), ("toml", TOML), ("json", JSON)):
        path = tmp_path / f"kpis.{ext}"
        path.write_text(text)
        out.append(path)
    return out


def test_the_three_formats_define_the_same_set(files):
    sets = [sk.load_kpis(p) for p in files]
    assert sets[0] == sets[1] == sets[2]
    team = sets[0]
    assert team.names() == ["er", "er_pct"]
    assert team["er"].unit == "ratio" and team["er_pct"].goal == "custom"
    assert team["er_pct"].unit == "number"  # inferred: it neither divides nor averages
    assert dict(team.engagement) == {
        "linkedin": ("likes", "comments", "shares", "clicks"),
        "default": ("likes", "comments"),
    }


def test_per_platform_components_apply_and_are_stamped_on_the_result(everything, files):
    posts = everything["posts"]
    result = sk.compute_details(
        posts, kpis=["er", "er_pct", "engagements"], by=["platform"], definitions=files[0]
    )
    got = result.frame.sort("platform")
    linkedin = rule3(posts, ["likes", "comments", "shares", "clicks"])
    other = rule3(posts, ["likes", "comments"])
    eng = pl.Series(np.where(posts["platform"] == "linkedin", linkedin, other)).fill_nan(None)
    frame = posts.select("platform", "reach").with_columns(eng=eng)
    both = frame.filter(pl.col("eng").is_not_null() & pl.col("reach").is_not_null())
    er = both.group_by("platform").agg(
        er=pl.when(pl.col("reach").sum() > 0).then(pl.col("eng").sum() / pl.col("reach").sum())
    )
    engagements = frame.group_by("platform").agg(engagements=pl.col("eng").sum())
    expected = (
        er.join(engagements, on="platform")
        .select("platform", "er", er_pct=pl.col("er") * 100, engagements="engagements")
        .sort("platform")
    )
    same(got, expected)
    assert result.formulas == {"er": "eng / reach", "er_pct": "er * 100", "engagements": "sum(eng)"}
    assert result.engagement_components == ["likes", "comments"]
    assert result.platform_components == {"linkedin": ["likes", "comments", "shares", "clicks"]}


@pytest.mark.parametrize(
    ("ext", "text", "where"),
    [
        ("yaml", "kpis:\n  - name: a\n    formula: likes\n    colour: red\n", ":4:5:"),
        ("toml", '[[kpis]]\nname = "a"\nformula = "likes"\nunits = "x"\n', ":4:1:"),
        ("json", '{"kpis": [{"name": "a", "formula": "likes"}],\n "engagment": {}}', ":2:"),
    ],
)
def test_an_unknown_key_names_the_file_line_and_column(tmp_path, ext, text, where):
    path = tmp_path / f"bad.{ext}"
    path.write_text(text)
    with pytest.raises(sk.DefinitionError) as info:
        sk.load_kpis(path)
    assert info.value.code == "invalid_definitions"
    assert str(info.value).startswith(f"{path}{where}"), str(info.value)
    assert "unknown field" in str(info.value)


def test_a_definition_file_with_a_bad_formula_points_at_it(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("kpis:\n  - name: a\n    formula: (likes + \n")
    with pytest.raises(sk.DefinitionError) as info:
        sk.load_kpis(path)
    assert info.value.code == "syntax_error"
    assert info.value.kpi == "a"


def test_the_published_schema_describes_the_shipped_files_and_rejects_unknown_keys():
    folder = resources.files("socialkpi") / "definitions"
    schema = json.loads((folder / "schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    names = ["builtin", *sk.vendor_presets()]
    for name in names:
        jsonschema.validate(tomllib.loads((folder / f"{name}.toml").read_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"kpis": [{"name": "a", "formula": "x", "colour": 1}]}, schema)


# ---- vendor presets ------------------------------------------------------------------------


@pytest.fixture
def small() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Two accounts, worked by hand: followers at post are 1,000 then 2,000 for A, 500 for B."""
    posts = pl.DataFrame(
        {
            "post_id": ["p1", "p2", "p3", "p4"],
            "account_id": ["A", "A", "B", "B"],
            "platform": ["instagram", "instagram", "tiktok", "tiktok"],
            "published_at": ["2026-03-02 10:00", "2026-03-20 10:00", "2026-03-05 10:00", "2026-03-06 10:00"],
            "likes": [40, 100, 30, 10],
            "comments": [10, 20, 5, None],
            "shares": [5, 6, 15, 0],
            "saves": [3, 4, 1, 1],
            "reach": [800, 1500, 400, 100],
            "impressions": [1000, 2000, 600, 200],
            "video_views": [None, 3000, 1000, 250],
        }
    ).with_columns(pl.col("published_at").str.to_datetime())
    accounts = pl.DataFrame(
        {
            "account_id": ["A", "A", "B"],
            "date": [dt for dt in ("2026-03-01", "2026-03-15", "2026-03-01")],
            "followers": [1000, 2000, 500],
        }
    ).with_columns(pl.col("date").str.to_date())
    return posts, accounts


def test_vendor_presets_reproduce_their_published_formulas(small):
    posts, accounts = small
    er = {}
    for vendor in sk.vendor_presets():
        got = sk.compute(posts, accounts, kpis=["engagement_rate"], definitions=vendor, by=["account_id"])
        er[vendor] = dict(got.iter_rows())
    # HypeAuditor: mean over posts of (likes + comments) / followers × 100; TikTok adds shares
    assert er["hypeauditor"]["A"] == pytest.approx(((40 + 10) / 1000 + (100 + 20) / 2000) / 2 * 100)
    assert er["hypeauditor"]["B"] == pytest.approx(((30 + 5 + 15) / 500 + (10 + 0) / 500) / 2 * 100)
    # Rival IQ: Σ engagement / Σ followers at post × 100; Instagram likes + comments
    assert er["rivaliq"]["A"] == pytest.approx((50 + 120) / (1000 + 2000) * 100)
    assert er["rivaliq"]["B"] == pytest.approx((50 + 10) / (500 + 500) * 100)
    # Socialinsider: TikTok counts saves too
    assert er["socialinsider"]["B"] == pytest.approx((51 + 11) / 1000 * 100)
    # Later: Instagram likes + comments + saves + shares over reach
    assert er["later"]["A"] == pytest.approx((58 + 130) / (800 + 1500) * 100)
    views = sk.compute(
        posts, accounts, kpis=["engagement_rate_views"], definitions="hypeauditor", by=["account_id"]
    )
    assert dict(views.iter_rows())["B"] == pytest.approx(((30 + 5 + 15) / 1000 + 10 / 250) / 2 * 100)
    # a post without views is left out of the mean, not counted as zero
    assert dict(views.iter_rows())["A"] == pytest.approx((100 + 20) / 3000 * 100)


def test_a_vendor_preset_names_its_source_and_explains_its_formula():
    for vendor in sk.vendor_presets():
        d = sk.load_kpis(vendor)
        assert d.source.startswith("https://")
        assert "Formula: " in sk.explain("engagement_rate", definitions=vendor)
    assert "per_post(eng / followers_at_post) * 100" in sk.explain(
        "engagement_rate", definitions="hypeauditor"
    )
    with pytest.raises(sk.DefinitionError) as info:
        sk.load_kpis("hypeauditr")
    assert info.value.code == "unknown_definitions" and "hypeauditor" in str(info.value)


# ---- errors --------------------------------------------------------------------------------


def error_of(posts: pl.DataFrame, *kpis: sk.KPI | str, accounts: pl.DataFrame | None = None) -> sk.KpiError:
    with pytest.raises(sk.KpiError) as info:
        sk.compute(posts, accounts, kpis=list(kpis))
    return info.value


def test_an_unknown_column_points_at_it_with_a_caret_and_a_suggestion(everything):
    e = error_of(everything["posts"], sk.KPI("er", "(like + comments) / reach"))
    assert isinstance(e, sk.DefinitionError)
    assert e.code == "unknown_name"
    assert e.position == (1, 2)
    assert e.suggestions[0] == "likes"
    assert str(e).splitlines() == [
        "unknown column or KPI 'like' in KPI 'er' at 1:2; did you mean 'likes'?",
        "    (like + comments) / reach",
        "     ^^^^",
    ]


def test_syntax_errors_are_raised_when_the_kpi_is_made():
    with pytest.raises(sk.DefinitionError) as info:
        sk.KPI("x", "sum(likes +) / reach")
    assert info.value.code == "syntax_error"
    assert info.value.position == (1, 12)
    assert str(info.value).endswith("sum(likes +) / reach\n               ^")


@pytest.mark.parametrize(
    ("formula", "code"),
    [
        ("likes / platform", "not_numeric"),
        ("sum(likes + sum(comments))", "mixed_aggregate"),
        ("sum(engagements)", "mixed_aggregate"),
        ("summ(likes)", "unknown_function"),
        ("sum(likes where platform)", "not_a_condition"),
        ("likes > 10", "condition_outside_filter"),
        ("last(likes)", "wrong_arguments"),
        ("followers_at_post", "misplaced_followers_at_post"),
        ("sum(likes where platform == 3)", "type_mismatch"),
    ],
)
def test_bad_formulas_have_codes(everything, formula, code):
    e = error_of(everything["posts"], sk.KPI("bad", formula))
    assert isinstance(e, sk.DefinitionError)
    assert e.code == code
    assert "^" in str(e)


def test_circular_references_name_the_cycle(everything):
    e = error_of(everything["posts"], sk.KPI("a", "b + 1"), sk.KPI("b", "c * 2"), sk.KPI("c", "a / reach"))
    assert e.code == "circular_reference"
    assert "a -> b -> c -> a" in str(e)


def test_formula_errors_never_leave_the_tables_changed(everything):
    posts = everything["posts"]
    before = posts.clone()
    error_of(posts, sk.KPI("bad", "likes / platform"))
    assert posts.equals(before)


def test_a_goal_preset_takes_the_definitions_formulas(small):
    posts, accounts = small
    preset = sk.compute(posts, accounts, kpis=["engagement"], definitions="later", by=["account_id"])
    alone = sk.compute(posts, accounts, kpis=["engagement_rate"], definitions="later", by=["account_id"])
    assert preset.columns[:3] == ["account_id", "engagements", "likes"]
    assert preset["engagement_rate"].to_list() == alone["engagement_rate"].to_list()
    builtin = sk.compute(posts, accounts, kpis=["engagement_rate"], by=["account_id"])
    assert preset["engagement_rate"].to_list() != builtin["engagement_rate"].to_list()


def test_check_kpis_checks_without_computing(everything):
    posts = everything["posts"]
    sk.check_kpis([sk.KPI("er", "eng / reach"), "followers"], posts, everything["accounts"])
    with pytest.raises(sk.DefinitionError) as info:
        sk.check_kpis([sk.KPI("er", "eng / reech")], posts.schema)
    assert info.value.code == "unknown_name" and info.value.suggestions == ["reach"]
    with pytest.raises(sk.QueryError) as missing:
        sk.check_kpis(["followers"], posts)
    assert missing.value.code == "missing_table"


def test_constant_formulas_give_one_value_per_group(everything):
    got = sk.compute(everything["posts"], kpis=[sk.KPI("target", "0.05")], by=["platform"])
    assert got["target"].to_list() == [0.05] * got.height and got.height == 6


# ---- found by review (each failed before its fix) -------------------------------------------


def test_long_sums_and_nested_divisions_stay_linear(everything):
    posts = everything["posts"].head(50)
    long = sk.KPI("long", " + ".join(["likes"] * 40))
    nested = sk.KPI("nested", "likes / " + "(reach / " * 30 + "reach" + ")" * 30)
    got = sk.compute(posts, kpis=[long, nested, "likes"], by=[])
    assert got["long"][0] == 40 * got["likes"][0]
    assert got["nested"][0] is not None


def test_builtins_read_a_redefined_kpi(everything):
    tables = {k: everything[k] for k in ("posts", "accounts")}
    defs = sk.Definitions(
        name="x", kpis=(sk.KPI("reach", "sum(reach) * 2"), sk.KPI("followers", "last(followers) * 0"))
    )
    got = sk.compute(
        **tables,
        kpis=[
            "frequency",
            sk.KPI("fr", "impressions / reach"),
            "follower_growth",
            sk.KPI("g", "followers - followers_start"),
        ],
        definitions=defs,
    )
    assert got["frequency"][0] == pytest.approx(got["fr"][0])
    assert got["follower_growth"][0] == got["g"][0]
    builtin = sk.compute(**tables, kpis=["frequency"])
    assert got["frequency"][0] == pytest.approx(builtin["frequency"][0] / 2)


@pytest.mark.parametrize(
    ("kpi", "by", "every"),
    [("platform", ["platform"], None), ("period_start", [], "1mo"), ("and", [], None), ("1st", [], None)],
)
def test_kpi_names_that_cannot_be_columns_or_names_are_refused(everything, kpi, by, every):
    with pytest.raises(sk.DefinitionError) as info:
        sk.compute(everything["posts"], kpis=[sk.KPI(kpi, "likes")], by=by, every=every)
    assert info.value.code == "invalid_name"


def test_a_text_engagement_component_is_not_numeric(everything):
    defs = sk.Definitions(name="x", engagement={"default": ("platform", "comments")})
    with pytest.raises(sk.SchemaError) as info:
        sk.compute(everything["posts"], kpis=["engagements"], definitions=defs)
    assert info.value.code == "not_numeric"


def test_a_missing_column_is_named_as_missing(everything):
    posts = everything["posts"].drop("likes", "reactions")
    with pytest.raises(sk.DefinitionError) as info:
        sk.compute(posts, kpis=[sk.KPI("x", "likes / reach")])
    assert info.value.code == "missing_column" and "'likes'" in str(info.value)
    accounts = everything["accounts"].drop("mentions")
    with pytest.raises(sk.DefinitionError) as info:
        sk.compute(everything["posts"], accounts, kpis=[sk.KPI("x", "mentions / posts")])
    assert info.value.code == "missing_column"


def test_two_kpis_of_one_name_are_an_error(everything):
    with pytest.raises(sk.DefinitionError) as info:
        sk.compute(everything["posts"], kpis=[sk.KPI("x", "likes"), sk.KPI("x", "comments")])
    assert info.value.code == "duplicate_kpi"


def test_dates_in_a_formula_say_how_to_choose_periods(everything):
    with pytest.raises(sk.DefinitionError) as info:
        sk.compute(everything["posts"], kpis=[sk.KPI("x", "sum(likes where published_at > 3)")])
    assert info.value.code == "not_numeric" and "every=" in str(info.value)


def test_share_of_a_number_is_an_equal_part(everything):
    got = sk.compute(everything["posts"], kpis=[sk.KPI("c", "share(2)")], by=["platform"])
    assert got["c"].to_list() == pytest.approx([1 / 6] * 6)


def test_booleans_compare_with_true_and_false(everything):
    kpis = [sk.KPI("a", "sum(likes where sponsored == true)"), sk.KPI("b", "sum(likes where sponsored)")]
    got = sk.compute(everything["posts"], kpis=kpis, by=["platform"])
    assert got["a"].to_list() == got["b"].to_list()


def test_a_definition_file_that_is_not_utf8_is_a_definition_error(tmp_path):
    path = tmp_path / "latin.yaml"
    path.write_bytes("kpis:\n  - name: caf\xe9\n    formula: likes\n".encode("latin-1"))
    with pytest.raises(sk.DefinitionError) as info:
        sk.load_kpis(path)
    assert info.value.code == "invalid_definitions" and str(path) in str(info.value)


def test_platform_keys_are_lower_cased_and_components_counted_once(tmp_path, everything):
    path = tmp_path / "k.yaml"
    path.write_text("engagement:\n  Instagram: [likes, likes, comments]\nkpis: []\n")
    d = sk.load_kpis(path)
    assert dict(d.engagement) == {"instagram": ("likes", "comments")}


def test_an_all_null_column_reads_as_unreported_numbers(everything):
    posts = everything["posts"].with_columns(follows=pl.lit(None))
    got = sk.compute(posts, kpis=[sk.KPI("f", "sum(follows)"), "posts"], by=["platform"])
    assert got["f"].null_count() == got.height


def test_formulas_of_engine_measures_alone_read_no_posts():
    posts, contracts = make_money_tables()
    kpis = [sk.KPI("a", "cost()"), sk.KPI("b", "cost() * 2")]
    got = sk.compute(contracts=contracts, kpis=kpis, by=["account_id"], every="1mo")
    assert got["b"].to_list() == [None if a is None else a * 2 for a in got["a"].to_list()]
    assert posts.height > 0


def test_a_dimension_error_of_an_engine_measure_names_the_formula(everything):
    with pytest.raises(sk.QueryError) as info:
        sk.compute(
            everything["posts"],
            everything["accounts"],
            kpis=[sk.KPI("x", "likes / last(followers)")],
            by=["content_type"],
        )
    assert info.value.code == "dimension_not_in_table"
    assert "KPI 'x' (through its measure 'followers')" in str(info.value)
