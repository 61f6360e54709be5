"""The ``socialkpi`` command: KPIs, reads, the catalogue and a demo from a terminal.

Built on the standard library's argparse rather than click or typer: the command is installed
with the package, and the package's core needs only polars and tqdm; argparse gives the
subcommands, a complete ``--help`` for each and a usage error (exit code 2) for a bad argument,
which is all this command asks of a CLI library, with no dependency to pin.

Exit codes: 0 on success, 1 for a :class:`~socialkpi.KpiError` (printed as ``error [code]:
message``) or a file that cannot be written, 2 for a bad argument, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import polars as pl

_OUTPUTS = (".csv", ".parquet", ".json", ".ndjson", ".jsonl")


class _UsageError(Exception):
    """A bad argument found after parsing (exit code 2, like argparse's own)."""


def _names(values: Sequence[str] | None) -> list[str]:
    """``--kpis a,b c`` -> ``[a, b, c]``."""
    out: list[str] = []
    for v in values or ():
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return out


def _formulas(values: Sequence[str] | None) -> list[Any]:
    import socialkpi as sk

    out = []
    for v in values or ():
        name, sep, formula = v.partition("=")
        if not sep or not name.strip() or not formula.strip():
            raise _UsageError(f"--formula takes NAME=FORMULA (like er=eng/reach), not {v!r}")
        out.append(sk.KPI(name.strip(), formula.strip()))
    return out


def _pairs(values: Sequence[str] | None, option: str, shape: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values or ():
        key, sep, value = v.partition("=")
        if not sep or not key:
            raise _UsageError(f"{option} takes {shape}, not {v!r}")
        out[key] = value
    return out


def _write(frame: pl.DataFrame, path: str) -> None:
    ext = os.path.splitext(path)[1].lower()
    if ext == ".csv":
        frame.write_csv(path)
    elif ext == ".parquet":
        frame.write_parquet(path)
    elif ext == ".json":
        frame.write_json(path)
    else:
        frame.write_ndjson(path)


def _check_output(path: str | None) -> None:
    if path is not None and os.path.splitext(path)[1].lower() not in _OUTPUTS:
        raise _UsageError(f"-o {path}: write a table to one of {', '.join(_OUTPUTS)}")


def _common_inputs(args: argparse.Namespace) -> dict[str, Any]:
    """The tables beside posts and accounts, and the arguments, that `compute` and `report`
    both take from the command line."""
    return {
        "contracts": args.contracts,
        "traffic": args.traffic,
        "conversions": args.conversions,
        "tz": args.tz,
        "definitions": args.definitions,
    }


def _compute(args: argparse.Namespace) -> int:
    import socialkpi as sk

    _check_output(args.output)
    kpis: list[Any] = [*_names(args.kpis), *_formulas(args.formula)]
    if not kpis:
        raise _UsageError("--kpis needs at least one KPI name or preset (see `socialkpi catalog`)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", sk.TargetWarning)
        result = sk.compute_details(
            args.posts,
            args.accounts,
            **_common_inputs(args),
            kpis=kpis,
            by=_names(args.by),
            every=args.every,
            dedupe=args.dedupe,
            compare=_names(args.compare) or None,
            window=args.window,
            targets=args.targets,
            start=args.start,
            end=args.end,
            fill=args.fill,
            week_start=args.week_start,
            fiscal_year_start=args.fiscal_year_start,
        )
    _print_target_warnings(caught)
    if args.output is None:
        print(sk.table(result, currency=args.currency, max_rows=args.max_rows).to_text())
        return 0
    _write(result.frame, args.output)
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"wrote {result.frame.height:,} rows to {args.output}", file=sys.stderr)
    return 0


def _print_target_warnings(caught: list[warnings.WarningMessage]) -> None:
    """Target warnings as ``warning:`` lines on stderr; other warnings raised again as they were."""
    import socialkpi as sk

    for caught_warning in caught:
        if issubclass(caught_warning.category, sk.TargetWarning):
            print(f"warning: {caught_warning.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(
                caught_warning.message,
                caught_warning.category,
                caught_warning.filename,
                caught_warning.lineno,
            )


def _read(args: argparse.Namespace) -> int:
    import socialkpi as sk

    _check_output(args.output)
    reader = {"posts": sk.read_posts, "accounts": sk.read_accounts, "traffic": sk.read_traffic}[args.table]
    frame = reader(
        args.files,
        preset=args.preset,
        columns=_pairs(args.column, "--column", "HEADER=COLUMN"),
        defaults=_pairs(args.default, "--default", "COLUMN=VALUE"),
        encoding=args.encoding,
        year=args.year,
        snapshot=args.snapshot,
    )
    report = sk.read_report(frame)
    print(repr(report))
    if args.output is None:
        print(frame.head(args.max_rows))
    else:
        _write(frame, args.output)
        print(f"wrote {frame.height:,} rows to {args.output}")
    return 0


def _catalog(args: argparse.Namespace) -> int:
    import socialkpi as sk

    cat = sk.catalog()
    if args.goal:
        cat = cat.filter(pl.col("goal") == args.goal)
        if cat.height == 0:
            goals = ", ".join(sorted(sk.catalog()["goal"].unique()))
            raise _UsageError(f"--goal {args.goal}: no KPI has that goal; the goals are {goals}")
    if args.format == "csv":
        print(cat.with_columns(pl.col("inputs").list.join(" ")).write_csv(), end="")
    elif args.format == "json":
        print(cat.write_json())
    else:
        rows = cat.select("name", "goal", "unit", "definition").rows()
        widths = [max(len(str(r[i])) for r in [("name", "goal", "unit", ""), *rows]) for i in range(3)]
        print("  ".join(h.ljust(w) for h, w in zip(("name", "goal", "unit"), widths)) + "  definition")
        for r in rows:
            print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)) + "  " + r[3])
        print("\nGoal presets: " + "; ".join(f"{p}: {', '.join(k)}" for p, k in sk.presets().items()))
    return 0


def _explain(args: argparse.Namespace) -> int:
    import socialkpi as sk

    print(sk.explain(args.kpi, definitions=args.definitions))
    return 0


def _report(args: argparse.Namespace) -> int:
    import datetime as dt

    import socialkpi as sk

    if os.path.splitext(args.output)[1].lower() not in (".html", ".htm", ".xlsx"):
        raise _UsageError(f"-o {args.output}: the report is an .html or .xlsx file")
    as_of = None
    if args.as_of is not None:
        try:
            as_of = dt.date.fromisoformat(args.as_of)
        except ValueError:
            raise _UsageError(f"--as-of {args.as_of}: a day as YYYY-MM-DD") from None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", sk.TargetWarning)
        path = sk.report(
            args.posts,
            args.accounts,
            **_common_inputs(args),
            by=args.by,
            every=args.every,
            title=args.title,
            path=args.output,
            as_of=as_of,
            currency=args.currency,
            top=args.top,
            compare=args.compare,
            targets=args.targets,
            start=args.start,
            end=args.end,
        )
    _print_target_warnings(caught)
    print(f"wrote {path}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    import socialkpi as sk

    posts, accounts = sk.datasets.sample(n_accounts=args.accounts, n_posts=args.posts, seed=args.seed)
    print(
        f"Sample: {posts.height:,} posts from {posts['account_id'].n_unique():,} accounts on "
        f"{posts['platform'].n_unique()} platforms, {accounts.height:,} daily follower snapshots.\n"
    )
    result = sk.compute_details(
        posts,
        accounts,
        kpis=["posts", "reach", "engagements", "engagement_rate", "followers", "follower_growth_rate", "ctr"],
        by=["platform"],
    )
    print("KPIs by platform over the year (sk.compute_details(..., by=['platform'])):")
    print(sk.table(result).to_text())
    print("\nExplain a KPI with `socialkpi explain engagement_rate`; list them with `socialkpi catalog`.")
    return 0


def _count(text: str) -> int:
    """A whole number >= 1 (for sizes and row counts)."""
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def _parser() -> argparse.ArgumentParser:
    from socialkpi import __version__

    parser = argparse.ArgumentParser(
        prog="socialkpi",
        description="Exact social-media and influencer KPIs from post, account, traffic, conversion "
        "and contract tables (Parquet or CSV files).",
        epilog="Run `socialkpi COMMAND --help` for a command's options. Errors print their code "
        "(for example [missing_column]) and exit with status 1; a bad argument exits with 2.",
    )
    parser.add_argument("--version", action="version", version=f"socialkpi {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "compute",
        help="compute KPIs per group and period",
        description="Compute KPIs (sk.compute) from table files and print them formatted, or write them.",
        epilog="Example: socialkpi compute posts.parquet --kpis engagement --by platform --every 1mo -o out.csv",
    )
    p.add_argument("posts", nargs="?", help="the posts table: a Parquet or CSV file, a glob or a folder")
    p.add_argument("--accounts", help="daily account snapshots (followers, profile visits, mentions)")
    p.add_argument("--traffic", help="web analytics rows (date, source, sessions)")
    p.add_argument("--conversions", help="conversion events (timestamp, kind, value)")
    p.add_argument("--contracts", help="influencer contracts (account_id, start, end, posts_agreed, fee)")
    p.add_argument(
        "--kpis",
        nargs="+",
        default=[],
        metavar="KPI",
        help="KPI names and goal presets, space- or comma-separated (awareness, engagement, traffic, "
        "leads, conversion, content; see `socialkpi catalog`)",
    )
    p.add_argument(
        "--formula",
        action="append",
        metavar="NAME=FORMULA",
        help="a custom KPI, like er=eng/reach (repeatable)",
    )
    p.add_argument("--by", nargs="+", metavar="COLUMN", help="group columns (space- or comma-separated)")
    p.add_argument("--every", help="period length: 1d, 1w, 1mo, 1q, 1y (default: one period)")
    p.add_argument("--tz", default="UTC", help="IANA time zone of the report (default UTC)")
    p.add_argument("--dedupe", choices=["last"], help="keep the last row of a repeated post_id")
    p.add_argument(
        "--compare",
        nargs="+",
        metavar="WITH",
        help="add each KPI's value, change and change rate on an earlier period: previous, last_year, "
        "last_year_weekday (needs --every)",
    )
    p.add_argument(
        "--window",
        help="each period's KPIs over a trailing window (7d, 28d, 4w) or to date (wtd, mtd, qtd, ytd) "
        "ending on its last day; at --every 1w, 1mo, 1q, 1y windows of whole periods",
    )
    p.add_argument("--start", metavar="DATE", help="the report's first day, like 2026-01-01 (included)")
    p.add_argument("--end", metavar="DATE", help="the report's last day, like 2026-03-31 (included)")
    p.add_argument(
        "--fill",
        action="store_true",
        help="with --every: every group gets every period of the range (counts 0, ratios empty)",
    )
    p.add_argument(
        "--targets",
        metavar="FILE",
        help="a CSV or Parquet file of targets (kpi, target, by columns, period_start or start/end): "
        "adds each KPI's target and attainment",
    )
    p.add_argument(
        "--week-start", default="monday", help="the first day of a week (default monday: ISO weeks)"
    )
    p.add_argument(
        "--fiscal-year-start",
        default="1",
        help="the month quarters and years start in: 1-12 or a name (default 1, January)",
    )
    p.add_argument(
        "--definitions",
        help="a vendor preset (rivaliq, socialinsider, hypeauditor, later) or a definition file",
    )
    p.add_argument("--currency", help="the currency money KPIs are shown in (EUR, USD, ...)")
    p.add_argument("--max-rows", type=_count, default=100, help="rows printed to the terminal (default 100)")
    p.add_argument("-o", "--output", help="write the KPI table to this .csv, .parquet, .json or .ndjson file")
    p.set_defaults(run=_compute, parser=p)

    p = sub.add_parser(
        "read",
        help="read platform exports into a canonical table",
        description="Read exports (CSV, Excel, Parquet, JSON) into the canonical table and print the "
        "read report: rows read, kept and dropped, cells that did not read.",
        epilog="Example: socialkpi read export.csv --preset youtube_studio -o posts.parquet",
    )
    p.add_argument("files", nargs="+", help="files, globs or folders")
    p.add_argument(
        "--table",
        choices=["posts", "accounts", "traffic"],
        default="posts",
        help="the table read (default posts)",
    )
    p.add_argument("--preset", help="the export's header map (default: detected; see sk.reader_presets())")
    p.add_argument(
        "--column",
        action="append",
        metavar="HEADER=COLUMN",
        help="map a file header to a canonical column (repeatable)",
    )
    p.add_argument(
        "--default",
        action="append",
        metavar="COLUMN=VALUE",
        help="a value for a canonical column the files lack, like platform=youtube (repeatable)",
    )
    p.add_argument("--encoding", help="force an encoding instead of detecting it")
    p.add_argument("--year", type=int, help="the year of dates written without one")
    p.add_argument("--snapshot", help="the header of the column that says when each row was exported")
    p.add_argument(
        "--max-rows", type=_count, default=10, help="rows printed when no -o is given (default 10)"
    )
    p.add_argument(
        "-o", "--output", help="write the canonical table to this .parquet, .csv, .json or .ndjson file"
    )
    p.set_defaults(run=_read, parser=p)

    p = sub.add_parser(
        "report",
        help="write a self-contained HTML report (or an Excel workbook)",
        description="Write one HTML file (no network needed to open it): headline KPIs with their change "
        "on the previous period, trends, a comparison, top and bottom posts, contracts behind schedule, "
        "the funnel and the definitions used.",
        epilog="Example: socialkpi report posts.parquet --accounts accounts.parquet --by platform -o report.html",
    )
    p.add_argument("posts", help="the posts table: a Parquet or CSV file, a glob or a folder")
    p.add_argument("--accounts", help="daily account snapshots")
    p.add_argument("--traffic", help="web analytics rows")
    p.add_argument("--conversions", help="conversion events")
    p.add_argument("--contracts", help="influencer contracts")
    p.add_argument("--by", default="platform", help="the column compared (default platform)")
    p.add_argument("--every", default="1mo", help="the period of trends and comparisons (default 1mo)")
    p.add_argument("--title", default="Social media report", help="the report's title")
    p.add_argument(
        "--compare",
        choices=["previous", "last_year"],
        default="previous",
        help="what the headline compares the last period with (default previous)",
    )
    p.add_argument("--tz", default="UTC", help="IANA time zone of the report (default UTC)")
    p.add_argument(
        "--start", metavar="DATE", help="the report's first day, like 2026-01-01 (its period is shown whole)"
    )
    p.add_argument(
        "--end", metavar="DATE", help="the report's last day, like 2026-03-31 (its period is shown whole)"
    )
    p.add_argument(
        "--targets",
        metavar="FILE",
        help="a CSV or Parquet file of targets (kpi, target, the --by column or none, period_start or "
        "start/end): the headline and a table by group show the last period's target and attainment",
    )
    p.add_argument(
        "--as-of", help="the day contracts are judged on (YYYY-MM-DD; default: the end of the last period)"
    )
    p.add_argument("--definitions", help="a vendor preset or definition file")
    p.add_argument("--currency", help="the currency money KPIs are shown in")
    p.add_argument("--top", type=_count, default=10, help="top and bottom posts listed (default 10)")
    p.add_argument(
        "-o",
        "--output",
        default="report.html",
        help="the file written: .html, or .xlsx for an Excel workbook (default report.html)",
    )
    p.set_defaults(run=_report, parser=p)

    p = sub.add_parser(
        "catalog", help="list the KPIs", description="List the built-in KPIs and the goal presets."
    )
    p.add_argument("--goal", help="only the KPIs of this goal (awareness, engagement, traffic, ...)")
    p.add_argument(
        "--format", choices=["text", "csv", "json"], default="text", help="output format (default text)"
    )
    p.set_defaults(run=_catalog, parser=p)

    p = sub.add_parser("explain", help="explain a KPI", description="A KPI's definition, formula and rule.")
    p.add_argument("kpi", help="a KPI name (see `socialkpi catalog`)")
    p.add_argument("--definitions", help="a vendor preset or definition file whose KPI is explained")
    p.set_defaults(run=_explain, parser=p)

    p = sub.add_parser(
        "demo",
        help="KPIs of a generated sample",
        description="Compute KPIs by platform on a generated sample.",
    )
    p.add_argument("--accounts", type=_count, default=50, help="accounts in the sample (default 50)")
    p.add_argument("--posts", type=_count, default=10_000, help="posts in the sample (default 10,000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(run=_demo, parser=p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns its exit status."""
    from socialkpi.exceptions import KpiError

    parser = _parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.run(args)
        return status
    except _UsageError as exc:
        args.parser.error(str(exc))  # exits with status 2
    except KpiError as exc:
        print(f"socialkpi: error [{getattr(exc, 'code', 'error')}]: {exc}", file=sys.stderr)
    except OSError as exc:
        print(f"socialkpi: error [os_error]: {exc}", file=sys.stderr)
    except BrokenPipeError:
        # the reader went away (`socialkpi catalog | head`): nothing more to say to it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except KeyboardInterrupt:
        print("socialkpi: interrupted", file=sys.stderr)
        return 130
    return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
