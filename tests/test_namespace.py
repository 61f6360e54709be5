"""The top-level namespace is the public API: no helper modules or typing names leak into it."""

from __future__ import annotations

import subprocess
import sys
import types

import socialkpi as sk


def test_dir_is_the_public_api() -> None:
    public = {n for n in dir(sk) if not n.startswith("_")}
    # besides __all__, only socialkpi's own submodules (bound by importing them)
    extra = {n for n in public - set(sk.__all__) if not (isinstance(getattr(sk, n), types.ModuleType)
             and getattr(sk, n).__name__ == f"socialkpi.{n}")}  # fmt: skip
    assert extra == set()
    assert all(hasattr(sk, n) for n in sk.__all__)
    for leaked in (
        "pl",
        "os",
        "dt",
        "annotations",
        "dataclass",
        "field",
        "Any",
        "Literal",
        "as_table",
        "resolve",
    ):
        assert not hasattr(sk, leaked), leaked


def test_a_fresh_import_binds_only_the_public_api() -> None:
    code = (
        "import socialkpi as sk, types\n"
        "extra = sorted(n for n in dir(sk) if not n.startswith('_') and n not in sk.__all__)\n"
        "print(' '.join(extra))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["display", "exceptions", "formulas", "readers"]
