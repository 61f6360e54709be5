"""The tutorial notebook (docs/tutorial.ipynb) runs top to bottom against the socialkpi under
test, in a kernel of its own (a child process, shut down afterwards whatever happens), and
shows what its text promises. `make docs` runs it again to render the site's figures."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
import socialkpi as sk
from nbclient import NotebookClient

DOCS = Path(__file__).resolve().parent.parent / "docs"
NOTEBOOK = DOCS / "tutorial.ipynb"
CELL_TIMEOUT_S = 120  # a hung cell fails the test instead of the whole CI run


@pytest.fixture(scope="module")
def stored() -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK, as_version=4)


@pytest.fixture(scope="module")
def executed(stored: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(stored)
    env = dict(os.environ)
    # the kernel imports this socialkpi (a source tree's or the installed one), not another
    package_root = str(Path(sk.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    env["JUPYTER_PLATFORM_DIRS"] = "1"  # jupyter_core's current paths, without its warning
    client = NotebookClient(
        nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(DOCS)}}
    )
    try:
        client.execute(env=env)  # raises CellExecutionError on the first cell that fails
    finally:
        assert client.km is None or not client.km.has_kernel, "the notebook's kernel was left running"
    return nb


def code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code"]


def cell_with(nb: nbformat.NotebookNode, text: str) -> nbformat.NotebookNode:
    (cell,) = [c for c in code_cells(nb) if text in c.source]
    return cell


def data(cell: nbformat.NotebookNode, mime: str) -> str:
    found = [o["data"][mime] for o in cell.outputs if mime in o.get("data", {})]
    assert found, f"no {mime} output from: {cell.source}"
    return str(found[-1])


def stdout(cell: nbformat.NotebookNode) -> str:
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


def test_notebook_is_stored_without_outputs(stored):
    # the docs build renders the outputs; the repository keeps only the source
    for cell in code_cells(stored):
        assert cell.outputs == [] and cell.execution_count is None, cell.source


def test_every_cell_runs_without_error_or_warning(executed):
    for cell in code_cells(executed):
        assert cell.execution_count is not None, cell.source
        for out in cell.outputs:
            assert out.output_type != "error", cell.source
            # a warning (or anything else on stderr) in the tutorial is a bug of the tutorial
            assert not (out.output_type == "stream" and out.name == "stderr"), (cell.source, out.text)


def test_tables_show_formatted_values(executed):
    html = data(cell_with(executed, "sk.compute_details(posts, accounts, kpis=core"), "text/html")
    assert "%" in html and "<details" in html  # ratios as percentages, notes collapsed
    funnel = data(cell_with(executed, 'sk.table(funnel, currency="EUR")'), "text/html")
    assert "€" in funnel
    text = stdout(cell_with(executed, "print(sk.table(best"))
    assert "engagement_rate" in text and "%" in text


def test_charts_render_as_pictures(executed):
    for call in (
        "sk.plot.trend(",
        "sk.plot.compare(",
        "sk.plot.heatmap(",
        "sk.plot.contracts(",
        "sk.plot.funnel(",
    ):
        assert data(cell_with(executed, call), "image/svg+xml").lstrip().startswith("<svg"), call


def test_formula_error_is_shown_with_its_code(executed):
    out = stdout(cell_with(executed, "except sk.DefinitionError"))
    assert out.splitlines()[0] == "unknown_name"
    assert "did you mean 'likes'?" in out


def test_real_export_and_reports(executed):
    report = data(cell_with(executed, "sk.read_report(videos)"), "text/plain")
    assert "rows read 7,998" in report
    sizes = stdout(cell_with(executed, "sk.report("))
    assert [line.split(":")[0] for line in sizes.splitlines()] == ["report.html", "report.xlsx"]
