"""The progress bar of a computation (issue 17): shown on request, quiet by default where no one
watches, never changing the numbers."""

from __future__ import annotations

import pytest
import socialkpi as sk

POSTS, ACCOUNTS = sk.datasets.sample(n_accounts=10, n_posts=5000, seed=4)
KW = {"kpis": ["posts", "reach", "engagement_rate"], "by": ["platform"], "every": "1mo"}


@pytest.fixture
def small_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    # slices of 1,000 posts, so that 5,000 posts make five
    monkeypatch.setenv("SOCIALKPI_BATCH_ROWS", "1000")


def test_a_bar_on_request_counts_the_slices(small_slices: None, capsys: pytest.CaptureFixture[str]) -> None:
    shown = sk.compute(POSTS, **KW, progress=True)  # type: ignore[arg-type]
    err = capsys.readouterr().err
    assert "socialkpi: posts" in err
    assert "5/5" in err
    assert shown.equals(sk.compute(POSTS, **KW, progress=False))  # type: ignore[arg-type]


def test_states_show_the_bar_too(small_slices: None, capsys: pytest.CaptureFixture[str]) -> None:
    sk.partial(POSTS, **KW, progress=True)  # type: ignore[arg-type]
    assert "5/5" in capsys.readouterr().err


def test_no_bar_unless_asked_where_no_one_watches(
    small_slices: None, capsys: pytest.CaptureFixture[str]
) -> None:
    sk.compute(POSTS, **KW)  # type: ignore[arg-type]
    sk.compute(POSTS, **KW, progress=False)  # type: ignore[arg-type]
    assert capsys.readouterr().err == ""


def test_progress_takes_true_false_or_none() -> None:
    with pytest.raises(sk.ArgumentError) as err:
        sk.compute(POSTS, **KW, progress="yes")  # type: ignore[arg-type]
    assert err.value.code == "invalid_argument"


def test_a_failing_bar_stops_the_run(small_slices: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # whatever the bar raises (a closed terminal, say) stops the pass and is raised as it is
    from socialkpi import _progress

    def broken(self: object, done: int, slices: int) -> None:
        raise OSError("stderr is gone")

    monkeypatch.setattr(_progress.Progress, "__call__", broken)
    with pytest.raises(OSError, match="stderr is gone"):
        sk.compute(POSTS, **KW, progress=True)  # type: ignore[arg-type]


def test_where_no_one_watches_tqdm_is_not_even_imported() -> None:
    # (its import takes some 15 ms of a script's run: a fresh process, stderr not a terminal)
    import subprocess
    import sys

    code = (
        "import sys, socialkpi as sk\n"
        "posts, accounts = sk.datasets.sample(n_accounts=5, n_posts=500, seed=1)\n"
        "sk.compute(posts, kpis=['posts'], by=['platform'])\n"
        "print('tqdm' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_in_a_terminal_the_bar_waits_two_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    from socialkpi import _progress

    monkeypatch.setattr(_progress, "_attached", lambda: True)
    bar = _progress.progress_for(None)
    assert bar is not None
    bar(1, 5)
    assert bar._bar.delay == 2 and not bar._bar.disable
    bar.close()
    monkeypatch.setattr(_progress, "_attached", lambda: False)
    assert _progress.progress_for(None) is None
