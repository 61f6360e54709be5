"""The docs stand on their own: the API reference covers the public API, every relative link of
the README and the docs names a file of the repository (none outside it), and the getting-started
page's code runs. `make docs` (mkdocs --strict) checks the site's own links and references."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import socialkpi as sk

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md")), DOCS / "tutorial.ipynb"]
# pages the docs build writes (tools/mkdocs_hooks.py); mkdocs --strict checks links to them
GENERATED = {"catalogue.md"}
# a Markdown link's target, in text or in a notebook's JSON source
LINK = re.compile(r"\]\(([^)\s]+)\)")


def documented_objects() -> list[str]:
    # the top-level names (socialkpi.dask and socialkpi.spark are modules of their own)
    return re.findall(r"^::: socialkpi\.(\w+)\s*$", (DOCS / "api.md").read_text(encoding="utf-8"), re.M)


def test_api_reference_covers_exactly_the_public_api():
    documented = documented_objects()
    assert len(documented) == len(set(documented)), "an object is documented twice"
    assert sorted(documented) == sorted(sk.__all__)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_stay_inside_the_repository(page):
    text = page.read_text(encoding="utf-8")
    for target in LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a web address or an anchor of the page itself
        if page.parent == DOCS and target.split("#")[0] in GENERATED:
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.is_relative_to(ROOT), f"{page.name} links outside the repository: {target}"
        assert path.exists(), f"{page.name} links to a missing file: {target}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_page_refers_to_files_beside_the_repository(page):
    # a clone has nothing beside it: no path in the text, link or not, may climb out of it
    for path in re.findall(r"(?:\.\./)+[\w./-]+", page.read_text(encoding="utf-8")):
        named = (page.parent / path.rstrip(".")).resolve()
        assert named.is_relative_to(ROOT) and named.exists(), f"{page.name} names {path}"


def test_getting_started_code_runs(tmp_path, monkeypatch):
    (code,) = re.findall(r"```python\n(.*?)```", (DOCS / "index.md").read_text(encoding="utf-8"), re.S)
    monkeypatch.chdir(tmp_path)  # it writes report.html
    scope: dict[str, object] = {}
    exec(compile(code, "docs/index.md", "exec"), scope)
    assert (tmp_path / "report.html").stat().st_size > 0
    assert (tmp_path / "trend.png").read_bytes().startswith(b"\x89PNG")
    monthly = scope["monthly"]
    assert monthly.columns[:2] == ["account_id", "period_start"]  # type: ignore[attr-defined]


def test_catalogue_page_lists_every_kpi_with_its_formula():
    # the page the docs build generates (tools/mkdocs_hooks.py), from the catalogue under test
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from mkdocs_hooks import catalogue_page
    finally:
        sys.path.remove(str(ROOT / "tools"))
    page = catalogue_page()
    headings = re.findall(r"^### `(\w+)` \{#(\w+)\}$", page, re.M)
    catalog = sk.catalog()
    assert sorted(name for name, _ in headings) == sorted(catalog["name"])  # each KPI once
    assert all(name == anchor for name, anchor in headings)
    for row in catalog.iter_rows(named=True):
        assert f"- Formula: `{row['formula']}`" in page, row["name"]
    for goal, names in sk.presets().items():
        assert f"| {goal} | " + ", ".join(f"[`{n}`](#{n})" for n in names) + " |" in page
