"""mkdocs hooks of the docs site (mkdocs.yml, ``hooks:``).

The KPI catalogue page (catalogue.md) is generated from ``sk.catalog()`` and ``sk.presets()`` at
every build, so it lists exactly the KPIs of the socialkpi being documented.

mkdocs resolves and checks the links of Markdown pages, but mkdocs-jupyter hands the
tutorial's HTML over as it is: a link written ``kpis.md`` (which works in Jupyter and on a
clone) would point at a Markdown file the site does not have. This hook points each relative
link of a notebook page at the page it names, and fails the build on a link to no page.
"""

from __future__ import annotations

import html as _html
import posixpath
import re
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page
from mkdocs.utils import get_relative_url

CATALOGUE = "catalogue.md"


def _text(value: str) -> str:
    """Catalogue text as Markdown that shows it as written (``<``, ``>``, ``*`` are literal)."""
    return _html.escape(value, quote=False).replace("*", "\\*")


def catalogue_page() -> str:
    import socialkpi as sk

    catalog = sk.catalog()
    lines = [
        "# KPI catalogue",
        "",
        "Every built-in KPI, generated from `sk.catalog()` when this site is built. The rules are",
        "those of the [KPI reference](kpis.md#rules-that-hold-for-every-kpi); `sk.explain(name)`",
        "gives the same text at run time, and [the formula language](formulas.md) says how to read",
        "the formulas.",
        "",
        "## Goal presets",
        "",
        "A goal's name in `kpis=` asks for its KPIs; those whose inputs are missing are left out",
        "and reported in `compute_details(...).warnings`.",
        "",
        "| goal | KPIs |",
        "| --- | --- |",
    ]
    for goal, names in sk.presets().items():
        lines.append(f"| {goal} | {', '.join(f'[`{n}`](#{n})' for n in names)} |")
    # the goals in the presets' order, then any goal no preset names
    for goal in dict.fromkeys([*sk.presets(), *catalog["goal"]]):
        lines += ["", f"## {goal.capitalize()}", ""]
        for row in catalog.filter(goal=goal).iter_rows(named=True):
            definition = row["definition"][:1].upper() + row["definition"][1:]
            reads = ", ".join(f"`{c}`" for c in row["inputs"]) or "the posts table's rows"
            lines += [
                f"### `{row['name']}` {{#{row['name']}}}",
                "",
                f"{_text(definition)}.",
                "",
                f"- Formula: `{row['formula']}`",
                f"- Unit: {row['unit']}; reads: {reads}",
                f"- Rule: {_text(row['rule'])}",
                "",
            ]
    return "\n".join(lines)


def on_files(files: Files, config: Any) -> Files:
    if files.get_file_from_path(CATALOGUE) is not None:
        raise PluginError(f"docs/{CATALOGUE} is generated at build time: remove the file")
    files.append(File.generated(config, CATALOGUE, content=catalogue_page()))
    return files


_LINK = re.compile(r'href="(?![a-z][a-z0-9+.-]*:|#|/)([^"#]+)(#[^"]*)?"')


def on_page_content(html: str, page: Page, config: Any, files: Files) -> str:
    if not page.file.src_uri.endswith(".ipynb"):
        return html
    base = posixpath.dirname(page.file.src_uri)

    def replace(m: re.Match[str]) -> str:
        target, anchor = m.group(1), m.group(2) or ""
        if target == posixpath.basename(page.file.src_uri):
            return m.group(0)  # the notebook's own download link
        file = files.get_file_from_path(posixpath.normpath(posixpath.join(base, target)))
        if file is None or not file.is_documentation_page():
            raise PluginError(f"{page.file.src_uri} links to '{target}', which is no page of the docs")
        return f'href="{get_relative_url(file.url, page.url)}{anchor}"'

    return _LINK.sub(replace, html)
