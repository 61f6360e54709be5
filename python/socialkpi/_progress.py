"""The progress bar of a computation's pass over the posts (tqdm): slices of about a million
posts (whole Parquet row groups), or blocks of some 64 MB of CSV rows, done out of all."""

from __future__ import annotations

import sys
from typing import Any


class Progress:
    """Called by the core between slices of posts with ``(done, slices)``.

    ``wanted``: True shows the bar at once; None shows it only in a terminal or a notebook
    and only once the pass has run two seconds (short computations stay quiet).
    """

    def __init__(self, wanted: bool | None) -> None:
        self._wanted = wanted
        self._bar: Any = None

    def __call__(self, done: int, slices: int) -> None:
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(
                total=slices,
                desc="socialkpi: posts",
                unit="slice",
                file=sys.stderr,
                delay=0 if self._wanted else 2,
                leave=bool(self._wanted),
            )
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.update(self._bar.total - self._bar.n)
            self._bar.close()


def _attached() -> bool:
    """Whether someone watches: a terminal, or a notebook kernel."""
    if "ipykernel" in sys.modules:
        return True
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def progress_for(progress: object) -> Progress | None:
    """The callback of ``progress=`` (True, False or None); None when no bar is wanted."""
    from socialkpi.exceptions import invalid_argument

    if progress is not None and not isinstance(progress, bool):
        raise invalid_argument(f"progress={progress!r} is not supported; use True, False or None (automatic)")
    # (no one watches: no bar, and tqdm is not even imported)
    if progress is False or (progress is None and not _attached()):
        return None
    return Progress(progress)
