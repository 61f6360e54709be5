//! The Python surface: argument forwarding, Arrow capsules in and out, no KPI logic.

use crate::catalog;
use crate::error::Error;
use crate::exec;
use crate::ingest::{self, Table};
use crate::plan::{self, Dedupe, Request};
use polars::prelude::*;
use polars_arrow::array::{Array, StructArray};
use polars_arrow::datatypes::{ArrowDataType, Field as ArrowField};
use polars_arrow::ffi::{export_iterator, ArrowArrayStream};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyDict, PyList};
use std::ffi::CStr;

const STREAM: &CStr = c"arrow_array_stream";

/// Column kinds as Python names them (`_tables._kind`): number, bool, text, time, other.
fn typed(kinds: Vec<(String, String)>) -> Vec<(String, plan::ColumnType)> {
    use plan::ColumnType as T;
    kinds
        .into_iter()
        .map(|(n, k)| {
            let t = match k.as_str() {
                "number" => T::Number,
                "bool" => T::Bool,
                "text" => T::Text,
                "time" => T::Time,
                _ => T::Other,
            };
            (n, t)
        })
        .collect()
}

/// A table argument: a list of paths, or a frame wrapper with `columns`, `height` and
/// `export(names) -> list[capsule]` (see python/socialkpi/_tables.py).
enum Arg<'py> {
    Files(Vec<String>),
    Frame(Bound<'py, PyAny>),
}

impl<'py> Arg<'py> {
    fn from_py(obj: Option<Bound<'py, PyAny>>) -> PyResult<Option<Self>> {
        let Some(obj) = obj else { return Ok(None) };
        if let Ok(paths) = obj.extract::<Vec<String>>() {
            return Ok(Some(Arg::Files(paths)));
        }
        Ok(Some(Arg::Frame(obj)))
    }

    fn columns(&self) -> PyResult<Vec<String>> {
        match self {
            Arg::Files(paths) => {
                let mut lf = ingest::scan(paths)?;
                Ok(ingest::column_names(&mut lf)?)
            }
            Arg::Frame(obj) => obj.getattr("columns")?.extract(),
        }
    }

    /// What each column holds (formulas are checked against it).
    fn types(&self) -> PyResult<Vec<(String, plan::ColumnType)>> {
        use plan::ColumnType as T;
        match self {
            Arg::Files(paths) => {
                let mut lf = ingest::scan(paths)?;
                let schema = lf.collect_schema().map_err(Error::from)?;
                Ok(schema
                    .iter()
                    .map(|(n, t)| {
                        let kind = if t.is_primitive_numeric() {
                            T::Number
                        } else if t.is_bool() {
                            T::Bool
                        } else if t.is_string() || t.is_categorical() {
                            T::Text
                        } else if t.is_temporal() {
                            T::Time
                        } else {
                            T::Other
                        };
                        (n.to_string(), kind)
                    })
                    .collect())
            }
            Arg::Frame(obj) => {
                let kinds: Vec<(String, String)> = obj.call_method0("kinds")?.extract()?;
                Ok(typed(kinds))
            }
        }
    }

    /// Imports only `needed` columns (zero-copy for frames) or scans the files.
    fn into_table(self, needed: &[String]) -> PyResult<Table> {
        match self {
            Arg::Files(paths) => Ok(Table::Files(paths)),
            Arg::Frame(obj) => {
                let capsules = obj.call_method1("export", (needed.to_vec(),))?;
                let capsules = capsules.cast::<PyList>()?;
                // asked after export: a LazyFrame knows its height only once collected
                let height: usize = obj.getattr("height")?.extract()?;
                let mut columns = Vec::with_capacity(needed.len());
                for (name, capsule) in needed.iter().zip(capsules.iter()) {
                    let capsule = capsule.cast::<PyCapsule>()?;
                    let ptr = capsule.pointer_checked(Some(STREAM))?;
                    // SAFETY: a capsule named "arrow_array_stream" holds an ArrowArrayStream
                    // (Arrow PyCapsule interface); series_from_stream moves it out.
                    let series = unsafe { ingest::series_from_stream(name, ptr.as_ptr().cast::<ArrowArrayStream>()) }?;
                    columns.push(series.into_column());
                }
                let df = DataFrame::new(height, columns).map_err(Error::from)?;
                Ok(Table::Frame(df))
            }
        }
    }
}

fn export_frame(py: Python<'_>, df: DataFrame) -> PyResult<Bound<'_, PyCapsule>> {
    let df = ingest::align_chunks(df)?;
    let schema = df.schema().to_arrow(CompatLevel::newest());
    let fields: Vec<ArrowField> = schema.iter_values().cloned().collect();
    let dtype = ArrowDataType::Struct(fields);
    let batches: Vec<Box<dyn Array>> = df
        .iter_chunks(CompatLevel::newest(), false)
        .map(|batch| {
            let len = batch.height();
            Box::new(StructArray::new(dtype.clone(), len, batch.into_arrays(), None)) as Box<dyn Array>
        })
        .collect();
    let field = ArrowField::new("".into(), dtype, false);
    let stream = export_iterator(Box::new(batches.into_iter().map(Ok)), field);
    PyCapsule::new_with_value(py, stream, STREAM)
}

/// Runs the engine with panics turned into `EngineError` and Ctrl-C into `KeyboardInterrupt`
/// (polars' abort mechanism stops a running query when SIGINT arrives).
fn catch<T>(f: impl FnOnce() -> crate::error::Result<T>) -> crate::error::Result<T> {
    let caught = polars_error::abort::catch_polars_abort(std::panic::AssertUnwindSafe(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
    }));
    match caught {
        Err(_) => Err(Error::Interrupted),
        Ok(Ok(r)) => r,
        Ok(Err(panic)) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            if msg.contains("__POLARS_ABORT_KEYBOARD_INTERRUPT") {
                return Err(Error::Interrupted);
            }
            Err(Error::Internal(msg))
        }
    }
}

/// A run that Ctrl-C stopped raises Python's own pending KeyboardInterrupt (so that it is
/// raised once, not once by us and again by Python's handler); other results pass.
/// `raised`: the exception a signal handler raised while the run asked (Ctrl-C's
/// KeyboardInterrupt, or whatever a user's handler raises), which is raised as it is.
fn settle<T>(py: Python<'_>, result: crate::error::Result<T>, raised: Option<PyErr>) -> PyResult<T> {
    match result {
        Err(Error::Interrupted) => {
            if let Some(err) = raised {
                return Err(err);
            }
            py.check_signals()?;
            Err(Error::Interrupted.into())
        }
        other => Ok(other?),
    }
}

/// The coverage frame as rows: (table, account_id, first, last), dates as days since 1970-01-01.
type CoverageRow = (String, Option<String>, Option<i32>, Option<i32>);

fn coverage_rows(df: &DataFrame) -> crate::error::Result<Vec<CoverageRow>> {
    let text = |name: &str| -> crate::error::Result<Vec<Option<String>>> {
        Ok(df.column(name)?.str()?.iter().map(|v| v.map(str::to_string)).collect())
    };
    let days = |name: &str| -> crate::error::Result<Vec<Option<i32>>> {
        Ok(df.column(name)?.cast(&DataType::Int32)?.i32()?.iter().collect())
    };
    let (tables, accounts, first, last) = (text("table")?, text("account_id")?, days("first")?, days("last")?);
    Ok(tables
        .into_iter()
        .zip(accounts)
        .zip(first.into_iter().zip(last))
        .map(|((t, a), (f, l))| (t.unwrap_or_default(), a, f, l))
        .collect())
}

/// Computes KPIs; returns (Arrow stream capsule of the result, details dict).
#[pyfunction]
#[pyo3(signature = (kpis, by, every, tz, dedupe, posts=None, accounts=None, contracts=None, traffic=None, conversions=None, sources=Vec::new(), custom=Vec::new(), engagement=Vec::new(), max_staleness=Some(plan::MAX_STALENESS_DAYS)))]
#[allow(clippy::too_many_arguments)]
pub fn compute<'py>(
    py: Python<'py>,
    kpis: Vec<String>,
    by: Vec<String>,
    every: Option<String>,
    tz: String,
    dedupe: Option<String>,
    posts: Option<Bound<'py, PyAny>>,
    accounts: Option<Bound<'py, PyAny>>,
    contracts: Option<Bound<'py, PyAny>>,
    traffic: Option<Bound<'py, PyAny>>,
    conversions: Option<Bound<'py, PyAny>>,
    sources: Vec<(String, String)>,
    custom: Vec<DefinitionRow>,
    engagement: Vec<(String, Vec<String>)>,
    max_staleness: Option<u32>,
) -> PyResult<(Bound<'py, PyCapsule>, Bound<'py, PyDict>)> {
    let dedupe = match dedupe.as_deref() {
        None => Dedupe::Error,
        Some("last") => Dedupe::Last,
        Some(other) => {
            return Err(Error::query(
                "invalid_argument",
                format!("dedupe={other:?} is not supported; use None (repeats are an error) or 'last'"),
            )
            .into())
        }
    };
    let mut request = Request::new(kpis, by, every, tz, dedupe);
    request.sources = sources;
    request.custom = custom.into_iter().map(definition).collect();
    request.engagement = engagement;
    request.max_staleness = max_staleness;
    let posts = Arg::from_py(posts)?;
    let accounts = Arg::from_py(accounts)?;
    if !request.custom.is_empty() {
        request.posts_types = posts.as_ref().map(Arg::types).transpose()?.unwrap_or_default();
        request.accounts_types = accounts.as_ref().map(Arg::types).transpose()?.unwrap_or_default();
    }
    let contracts = Arg::from_py(contracts)?;
    let posts_cols = posts.as_ref().map(Arg::columns).transpose()?;
    let accounts_cols = accounts.as_ref().map(Arg::columns).transpose()?;
    let contracts_cols = contracts.as_ref().map(Arg::columns).transpose()?;
    let traffic = Arg::from_py(traffic)?;
    let traffic_cols = traffic.as_ref().map(Arg::columns).transpose()?;
    let events = Arg::from_py(conversions)?;
    let events_cols = events.as_ref().map(Arg::columns).transpose()?;
    let plan = plan::build(
        &request,
        posts_cols.as_deref(),
        accounts_cols.as_deref(),
        contracts_cols.as_deref(),
        traffic_cols.as_deref(),
        events_cols.as_deref(),
    )?;
    let started = std::time::Instant::now();
    let posts = match (posts, &plan.posts) {
        (Some(arg), Some(pp)) => Some(arg.into_table(&pp.columns)?),
        _ => None,
    };
    let accounts = match (accounts, &plan.accounts) {
        (Some(arg), Some(ap)) => Some(arg.into_table(&ap.columns)?),
        _ => None,
    };
    let contracts = match (contracts, &plan.contracts) {
        (Some(arg), Some(cp)) => Some(arg.into_table(&cp.crossing_columns())?),
        _ => None,
    };
    let traffic = match (traffic, &plan.traffic) {
        (Some(arg), Some(tp)) => Some(arg.into_table(&tp.columns)?),
        _ => None,
    };
    let events = match (events, &plan.events) {
        (Some(arg), Some(ep)) => Some(arg.into_table(&ep.columns)?),
        _ => None,
    };
    let crossing = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    let raised: std::sync::Mutex<Option<PyErr>> = std::sync::Mutex::new(None);
    let output = py.detach(|| {
        // freed pages stay for the next batches, and go back when the last run ends (pages.rs)
        let _kept = crate::pages::KeptPages::new();
        catch(|| {
            let posts_parquet = posts.as_ref().and_then(Table::parquet_files);
            let inputs = exec::Inputs {
                posts_slices: posts.as_ref().and_then(|t| t.slices(posts_parquet.as_deref())),
                posts_parquet,
                posts: posts.map(Table::into_lazy).transpose()?,
                accounts: accounts.map(Table::into_lazy).transpose()?,
                contracts: contracts.map(Table::into_lazy).transpose()?,
                traffic: traffic.map(Table::into_lazy).transpose()?,
                events: events.map(Table::into_lazy).transpose()?,
            };
            // Ctrl-C: Python's signal handlers run when asked, between batches of posts
            let interrupted = || {
                Python::attach(|py| match py.check_signals() {
                    Ok(()) => false,
                    Err(err) => {
                        if let Ok(mut slot) = raised.lock() {
                            *slot = Some(err);
                        }
                        true
                    }
                })
            };
            exec::run(&plan, inputs, &interrupted)
        })
    });
    let raised = raised.into_inner().ok().flatten();
    let output = settle(py, output, raised)?;
    let engine = started.elapsed().as_secs_f64();
    let details = PyDict::new(py);
    let timings = PyDict::new(py);
    timings.set_item("crossing_s", crossing)?;
    timings.set_item("engine_s", engine)?;
    for (stage, seconds) in &output.rows.stages {
        timings.set_item(stage, seconds)?;
    }
    details.set_item("timings", timings)?;
    details.set_item("engagement_components", output.components)?;
    details.set_item("platform_components", output.platform_components)?;
    details.set_item("rows_read", output.rows.read)?;
    details.set_item("rows_dropped", output.rows.dropped)?;
    details.set_item("warnings", output.warnings)?;
    details.set_item("origins", output.origins)?;
    details.set_item("coverage", coverage_rows(&output.coverage)?)?;
    let definitions = PyDict::new(py);
    let formulas = PyDict::new(py);
    for k in &plan.outputs {
        match k {
            plan::OutputKpi::Builtin(k) => {
                definitions.set_item(k.name, k.definition)?;
                formulas.set_item(k.name, catalog::formula(k.name).unwrap_or(""))?;
            }
            plan::OutputKpi::Custom(c) => {
                let d = &c.definition;
                let text = if d.description.is_empty() {
                    &d.formula
                } else {
                    &d.description
                };
                definitions.set_item(&d.name, text)?;
                formulas.set_item(&d.name, &d.formula)?;
            }
        }
    }
    details.set_item("definitions", definitions)?;
    details.set_item("formulas", formulas)?;
    Ok((export_frame(py, output.frame)?, details))
}

/// A catalogue row: (name, goal, definition, formula, unit, inputs, rule).
type CatalogRow = (String, String, String, String, String, Vec<String>, String);

/// A KPI definition as it crosses: (name, formula, goal, unit, description).
type DefinitionRow = (String, String, String, String, String);

fn definition((name, formula, goal, unit, description): DefinitionRow) -> plan::Definition {
    plan::Definition {
        name,
        formula,
        goal,
        unit,
        description,
    }
}

fn definition_row(d: &plan::Definition) -> DefinitionRow {
    (
        d.name.clone(),
        d.formula.clone(),
        d.goal.clone(),
        d.unit.clone(),
        d.description.clone(),
    )
}

/// A definition set as it crosses: (name, description, source, engagement, kpis).
type DefinitionsRow = (String, String, String, Vec<(String, Vec<String>)>, Vec<DefinitionRow>);

fn definitions_row(d: catalog::files::Definitions) -> DefinitionsRow {
    let kpis = d.kpis.iter().map(definition_row).collect();
    (d.name, d.description, d.source, d.engagement, kpis)
}

/// Checks a formula's syntax (sk.KPI reports it at once; columns are checked at compute).
#[pyfunction]
pub fn check_formula(name: &str, formula: &str) -> PyResult<()> {
    Ok(plan::check_syntax(name, formula)?)
}

/// Parses a definition file's text (`format`: yaml, toml or json; `origin` names it).
#[pyfunction]
pub fn parse_definitions(py: Python<'_>, text: &str, format: &str, origin: &str) -> PyResult<DefinitionsRow> {
    // other Python threads run while a large file is read
    let parsed = py.detach(|| catalog::files::parse(text, format, origin))?;
    Ok(definitions_row(parsed))
}

/// A vendor preset's definitions, or the built-in catalogue's (`"socialkpi"`).
#[pyfunction]
pub fn vendor_definitions(name: &str) -> PyResult<DefinitionsRow> {
    if name == "socialkpi" {
        return Ok(definitions_row(catalog::files::builtin().clone()));
    }
    Ok(definitions_row(catalog::files::vendor(name)?))
}

/// The vendor presets' names.
#[pyfunction]
pub fn vendor_names() -> Vec<&'static str> {
    catalog::files::VENDORS.iter().map(|(n, _)| *n).collect()
}

/// Checks and plans KPIs against column types without data (sk.plan_kpis): the time to
/// parse, check and compile a catalogue, and its errors.
#[pyfunction]
#[pyo3(signature = (kpis, custom, posts_types, accounts_types=Vec::new(), engagement=Vec::new()))]
pub fn plan_kpis(
    kpis: Vec<String>,
    custom: Vec<DefinitionRow>,
    posts_types: Vec<(String, String)>,
    accounts_types: Vec<(String, String)>,
    engagement: Vec<(String, Vec<String>)>,
) -> PyResult<usize> {
    let mut request = Request::new(kpis, Vec::new(), None, "UTC".into(), Dedupe::Error);
    request.custom = custom.into_iter().map(definition).collect();
    request.engagement = engagement;
    request.posts_types = typed(posts_types);
    request.accounts_types = typed(accounts_types);
    let pcols: Vec<String> = request.posts_types.iter().map(|(n, _)| n.clone()).collect();
    let acols: Vec<String> = request.accounts_types.iter().map(|(n, _)| n.clone()).collect();
    let accounts = (!acols.is_empty()).then_some(acols.as_slice());
    let plan = plan::build(&request, Some(&pcols), accounts, None, None, None)?;
    Ok(plan.outputs.len())
}

/// One row per contract: what it agreed, delivered up to `as_of` (days since 1970-01-01),
/// what remains, and what the delivered posts earned.
#[pyfunction]
pub fn contract_status<'py>(
    py: Python<'py>,
    posts: Bound<'py, PyAny>,
    contracts: Bound<'py, PyAny>,
    as_of: i32,
    tz: String,
) -> PyResult<Bound<'py, PyCapsule>> {
    let tz = plan::report_zone(&tz)?;
    let (Some(posts), Some(contracts)) = (Arg::from_py(Some(posts))?, Arg::from_py(Some(contracts))?) else {
        return Err(Error::Internal("contract_status without tables".into()).into());
    };
    let contracts_cols = contracts.columns()?;
    let posts_plan = plan::status_plan(&posts.columns()?, &contracts_cols)?;
    let posts = posts.into_table(&posts_plan.columns)?;
    let contracts = contracts.into_table(&contracts_cols)?;
    let frame = py.detach(|| {
        let _kept = crate::pages::KeptPages::new();
        catch(|| {
            exec::contract_status(
                &posts_plan,
                posts.into_lazy()?,
                contracts.into_lazy()?,
                as_of,
                tz.as_deref(),
            )
        })
    });
    let frame = settle(py, frame, None)?;
    export_frame(py, frame)
}

/// The catalogue as rows: (name, goal, definition, unit, inputs, rule).
#[pyfunction]
pub fn catalog_rows() -> Vec<CatalogRow> {
    catalog::KPIS
        .iter()
        .map(|k| {
            (
                k.name.into(),
                k.goal.into(),
                k.definition.into(),
                catalog::formula(k.name).unwrap_or("").into(),
                k.unit.into(),
                k.inputs.iter().map(|s| s.to_string()).collect(),
                k.rule.into(),
            )
        })
        .collect()
}

/// The default source table: (source or host, platform).
#[pyfunction]
pub fn source_table() -> Vec<(String, String)> {
    crate::sources::DEFAULT
        .iter()
        .map(|(s, p)| (s.to_string(), p.to_string()))
        .collect()
}

/// Goal presets: name -> KPI names.
#[pyfunction]
pub fn presets() -> Vec<(String, Vec<String>)> {
    catalog::PRESETS
        .iter()
        .map(|(p, ks)| (p.to_string(), ks.iter().map(|s| s.to_string()).collect()))
        .collect()
}

/// The definition of one KPI in words.
#[pyfunction]
pub fn explain(name: &str) -> PyResult<String> {
    match catalog::find(name) {
        Some(k) => Ok(catalog::explain(k)),
        None => {
            let names = catalog::KPIS.iter().map(|k| k.name);
            Err(Error::definition(
                "unknown_kpi",
                format!(
                    "unknown KPI '{name}'{}; sk.catalog() lists every KPI",
                    crate::error::did_you_mean(&crate::error::suggest(name, names))
                ),
            )
            .into())
        }
    }
}

/// (path, preset, rows read, header map) of one file read.
type FileRow = (String, Option<String>, usize, Vec<(String, String)>);
/// (preset, table, platform, describes, canonical, headers)
type PresetRow = (String, String, Option<String>, String, String, Vec<String>);

/// Reads exports into a canonical table: `files` are (label, frame wrapper) pairs as the
/// Python readers made them; returns (Arrow stream capsule, report dict).
#[pyfunction]
#[pyo3(signature = (kind, files, preset=None, columns=Vec::new(), defaults=Vec::new(), snapshot=None, year=None, repeats="unstated", day=None))]
#[allow(clippy::too_many_arguments)]
pub fn read_table<'py>(
    py: Python<'py>,
    kind: &str,
    files: Vec<(String, Bound<'py, PyAny>)>,
    preset: Option<String>,
    columns: Vec<(String, String)>,
    defaults: Vec<(String, String)>,
    snapshot: Option<String>,
    year: Option<i32>,
    repeats: &str,
    day: Option<String>,
) -> PyResult<(Bound<'py, PyCapsule>, Bound<'py, PyDict>)> {
    // "unstated", "snapshots" (daily=False) or "daily" (daily=True, or `day` its header)
    let repeats = match repeats {
        "snapshots" => ingest::read::Repeats::Snapshots,
        "daily" => ingest::read::Repeats::Daily(day),
        _ => ingest::read::Repeats::Unstated,
    };
    let kind = ingest::presets::Kind::parse(kind)
        .ok_or_else(|| Error::Internal(format!("read_table of unknown table '{kind}'")))?;
    let mut raw = Vec::with_capacity(files.len());
    for (label, obj) in files {
        let arg = Arg::Frame(obj);
        let names = arg.columns()?;
        let Table::Frame(frame) = arg.into_table(&names)? else {
            return Err(Error::Internal("a read file arrived as paths".into()).into());
        };
        raw.push(ingest::read::RawFile { label, frame });
    }
    let opts = ingest::read::Options {
        kind,
        preset,
        columns,
        defaults,
        snapshot,
        year,
        repeats,
    };
    let result = py.detach(|| catch(|| ingest::read::read(raw, &opts)));
    let (frame, report) = settle(py, result, None)?;
    let cap = export_frame(py, frame)?;
    let details = PyDict::new(py);
    let files: Vec<FileRow> = report
        .files
        .into_iter()
        .map(|f| (f.label, f.preset, f.rows_read, f.header_map))
        .collect();
    details.set_item("files", files)?;
    details.set_item("rows_read", report.rows_read)?;
    details.set_item("rows_kept", report.rows_kept)?;
    details.set_item("rows_dropped", report.dropped)?;
    details.set_item("cells_nulled", report.nulled)?;
    details.set_item("warnings", report.warnings)?;
    details.set_item("repeats", report.repeats)?;
    Ok((cap, details))
}

/// Parses one text column as `kind` ("count", "number", "date", "datetime"); returns the
/// capsule of a one-column frame and the (cells that did not read, samples).
#[pyfunction]
#[pyo3(signature = (values, kind, year=None, day_first=None))]
pub fn parse_values<'py>(
    py: Python<'py>,
    values: Bound<'py, PyAny>,
    kind: &str,
    year: Option<i32>,
    day_first: Option<bool>,
) -> PyResult<(Bound<'py, PyCapsule>, usize, Vec<String>)> {
    let arg = Arg::Frame(values);
    let names = arg.columns()?;
    let Table::Frame(frame) = arg.into_table(&names)? else {
        return Err(Error::Internal("parse_values of paths".into()).into());
    };
    let Some(column) = frame.columns().first() else {
        return Err(Error::Internal("parse_values without a column".into()).into());
    };
    let series = column.as_materialized_series().clone();
    let order = match day_first {
        Some(false) => ingest::values::DayOrder::MonthFirst,
        _ => ingest::values::DayOrder::DayFirst,
    };
    let parsed = py.detach(|| {
        catch(|| {
            use ingest::columns::{Evidence, Locale};
            let own = match series.str() {
                Ok(ca) if kind == "number" => Evidence::of_amounts(ca),
                Ok(ca) => Evidence::of_dates(ca),
                Err(_) => Evidence::default(),
            };
            let decided = Locale::decide(own, Evidence::default(), order);
            // day_first given: the caller's order wins over the cells'
            let order = if day_first.is_some() { order } else { decided.order };
            match kind {
                "count" | "number" => ingest::columns::parse_numbers(&series, kind == "count", decided.decimal),
                "date" | "datetime" => {
                    ingest::columns::parse_times(&series, kind == "date", order, year, series.name(), "values")
                }
                other => Err(Error::query(
                    "invalid_argument",
                    format!("kind={other:?} is not supported; use 'count', 'number', 'date' or 'datetime'"),
                )),
            }
        })
    });
    let parsed = settle(py, parsed, None)?;
    let (series, bad, samples) = parsed.into_parts();
    let height = series.len();
    let frame = DataFrame::new(height, vec![series.into_column()]).map_err(Error::from)?;
    Ok((export_frame(py, frame)?, bad, samples))
}

/// The reader presets as rows: (preset, table, platform, describes, canonical, headers).
#[pyfunction]
pub fn reader_presets() -> Vec<PresetRow> {
    ingest::presets::PRESETS
        .iter()
        .flat_map(|p| {
            p.columns.iter().map(move |(canonical, headers)| {
                (
                    p.name.to_string(),
                    p.kind.name().to_string(),
                    p.platform.map(str::to_string),
                    p.describes.to_string(),
                    canonical.to_string(),
                    headers.iter().map(|h| h.to_string()).collect(),
                )
            })
        })
        .collect()
}

/// `with _KeptPages():` keeps the pages freed during the block and hands them back at its end
/// (see `pages`): the readers hold it over a whole read, Python polars' reads and the core's
/// parsing.
#[pyclass(frozen, name = "_KeptPages")]
pub struct KeptPages {
    guard: std::sync::Mutex<Option<crate::pages::KeptPages>>,
}

#[pymethods]
impl KeptPages {
    #[new]
    fn new() -> Self {
        KeptPages {
            guard: std::sync::Mutex::new(None),
        }
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        if let Ok(mut g) = slf.get().guard.lock() {
            *g = Some(crate::pages::KeptPages::new());
        }
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        // handing the pages back waits for the pool's threads: without the GIL
        let kept = self.guard.lock().ok().and_then(|mut g| g.take());
        py.detach(move || drop(kept));
        false
    }
}
