"""mkdocs hooks of the docs site (mkdocs.yml, ``hooks:``).

mkdocs resolves and checks the links of Markdown pages, but mkdocs-jupyter hands the
tutorial's HTML over as it is: a link written ``kpis.md`` (which works in Jupyter and on a
clone) would point at ``tutorial/kpis.md`` on the site. This hook points each relative link
of a notebook page at the page it names, and fails the build on a link to no page.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page
from mkdocs.utils import get_relative_url

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
