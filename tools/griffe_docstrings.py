"""A griffe extension for the API reference: socialkpi's numpy docstrings carry Sphinx roles
(``:func:`compute```) and doctests (``>>> ...``) that Markdown would show as stray text and
nested quotes. Before mkdocstrings renders them, roles become links to the documented object
(or code, when the reference does not document it) and doctests become ``pycon`` code blocks.
The docstrings in the source stay as they are (the doctests run in tests/test_api.py).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:func|class|data|attr|meth|mod|exc|obj):`(~?)([\w.]+)`")
_HEADER_RULE = re.compile(r"^\s*-{3,}\s*$")
# The modules whose public names (``__all__``) docs/api.md renders, besides the package's own.
_DOCUMENTED_MODULES = ("plot", "datasets")


def _documented(pkg: griffe.Module) -> set[str]:
    """The paths of the objects the API reference renders (and autorefs can link to)."""
    paths = {f"{pkg.path}.{name}" for name in pkg.exports or ()}
    for module in _DOCUMENTED_MODULES:
        sub = pkg.members[module]
        exports = sub.exports or [
            n for n, m in sub.members.items() if not n.startswith("_") and m.is_function
        ]
        paths |= {f"{sub.path}.{name}" for name in exports}
    return paths


def _resolve(target: str, module: str, pkg: str, documented: set[str]) -> str | None:
    for path in (target, f"{pkg}.{target}", f"{module}.{target}"):
        if path in documented:
            return path
    return None


def _roles(text: str, module: str, pkg: str, documented: set[str]) -> str:
    def replace(m: re.Match[str]) -> str:
        short, target = m.group(1), m.group(2)
        label = target.rsplit(".", 1)[-1] if short else target
        path = _resolve(target, module, pkg, documented)
        return f"[`{label}`][{path}]" if path else f"`{label}`"

    return _ROLE.sub(replace, text)


def _fence_doctests(text: str) -> str:
    """Wraps each run of ``>>>`` lines and their output in a ``pycon`` fence, except inside a
    numpy ``Examples`` section, which the docstring parser already reads as code."""
    lines = text.splitlines()
    out: list[str] = []
    section = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if i + 1 < len(lines) and line.strip() and _HEADER_RULE.match(lines[i + 1]):
            section = line.strip()
        if line.lstrip().startswith(">>>") and section != "Examples":
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}```pycon")
            while i < len(lines) and lines[i].strip():
                out.append(lines[i])
                i += 1
            out.append(f"{indent}```")
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


class SphinxRolesAndDoctests(griffe.Extension):
    """Rewrites the package's docstrings once it is loaded (see the module's docstring)."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        documented = _documented(pkg)
        seen: set[str] = set()

        def visit(obj: griffe.Object) -> None:
            if obj.path in seen:
                return
            seen.add(obj.path)
            if obj.docstring is not None:
                text = _fence_doctests(obj.docstring.value)
                obj.docstring.value = _roles(text, obj.module.path, pkg.path, documented)
            for member in obj.members.values():
                if not member.is_alias:
                    visit(member)  # type: ignore[arg-type]

        visit(pkg)
