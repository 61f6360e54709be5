"""The public surface: catalogue, explain, exports, docstring examples."""

from __future__ import annotations

import doctest

import socialkpi as sk
import socialkpi.dask
import socialkpi.datasets
import socialkpi.formulas
from socialkpi import _core

SCOPE = [
    "posts", "impressions", "reach", "frequency", "profile_visits", "followers", "followers_start",
    "follower_growth", "follower_growth_rate", "likes", "comments", "shares", "saves", "clicks",
    "engagements", "engagement_rate", "engagement_rate_impressions", "engagement_rate_followers",
    "avg_engagement_rate_per_post", "amplification_rate", "applause_rate", "conversation_rate",
    "virality_rate", "ctr", "conversions", "conversion_rate", "revenue", "cost", "cpm", "cpc", "cpe", "cpa",
    "roas", "roi", "posts_agreed", "delivery_rate", "mentions", "share_of_voice", "referral_traffic",
    "referral_share", "website_traffic", "leads", "lead_rate",
]  # fmt: skip


def test_catalog_lists_every_kpi_in_scope():
    cat = sk.catalog()
    assert cat.columns == ["name", "goal", "definition", "formula", "unit", "inputs", "rule"]
    assert sorted(cat["name"].to_list()) == sorted(SCOPE)
    assert set(sk.presets()) == {"awareness", "engagement", "traffic", "leads", "conversion", "content"}


def test_explain_gives_the_rule():
    text = sk.explain("followers")
    assert "last snapshot" in text and "rule 4" in text
    try:
        sk.explain("folowers")
    except sk.DefinitionError as err:
        assert err.code == "unknown_kpi" and "followers" in str(err)
    else:
        raise AssertionError("no error")


def test_every_native_export_is_wrapped():
    public = set(sk.__all__)
    for name in dir(_core):
        if name.startswith("_"):
            continue
        obj = getattr(_core, name)
        if isinstance(obj, type):
            assert name in public, f"exception {name} is not re-exported"
    wrapped = {
        "compute": sk.compute_details,
        "catalog_rows": sk.catalog,
        "presets": sk.presets,
        "explain": sk.explain,
        "kpi_kind": sk.explain,
        "contract_status": sk.contract_status,
        "source_table": sk.sources,
        "read_table": sk.read_posts,
        "parse_values": sk.parse_numbers,
        "reader_presets": sk.reader_presets,
        "check_formula": sk.KPI,
        "parse_definitions": sk.load_kpis,
        "vendor_definitions": sk.load_kpis,
        "vendor_names": sk.vendor_presets,
        "plan_kpis": sk.check_kpis,
        "partial": sk.partial,
        "error_codes": sk.error_codes,
        # the period of the parts' states on a cluster, and their post ids checked across parts
        "states_every": socialkpi.dask.compute,
        "check_post_ids": socialkpi.dask.compute,
        # the posts in more than one part, found and set aside
        "shared_post_ids": socialkpi.dask.compute,
        "post_id_hashes": socialkpi.dask.compute,
    }
    natives = {
        n
        for n in dir(_core)
        if not n.startswith("_") and callable(getattr(_core, n)) and not isinstance(getattr(_core, n), type)
    }
    assert natives == set(wrapped)


def test_docstring_examples_run():
    for module in (
        sk,
        socialkpi.datasets,
        socialkpi.readers,
        socialkpi.formulas,
        socialkpi.display,
        socialkpi.plot,
    ):
        failures, tried = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert tried > 0 and failures == 0
