//! Reading exports into canonical tables, and the pages a read keeps.

use super::*;
use socialkpi_engine::error::QueryCode;

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
                    QueryCode::InvalidArgument,
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
    guard: std::sync::Mutex<Option<socialkpi_engine::pages::KeptPages>>,
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
            *g = Some(socialkpi_engine::pages::KeptPages::new());
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
