//! The Python surface, split by topic: argument forwarding, Arrow capsules in and out, no KPI
//! logic. This file holds what every topic shares: table arguments, result export, and the
//! run guard that turns panics and Ctrl-C into Python's terms.

pub mod compute;
pub mod definitions;
pub mod readers;
pub mod states;

use crate::errors::Fallible as PyResult;
use polars::prelude::*;
use polars_arrow::array::{Array, StructArray};
use polars_arrow::datatypes::{ArrowDataType, Field as ArrowField};
use polars_arrow::ffi::{export_iterator, ArrowArrayStream};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyDict, PyList};
use socialkpi_engine::catalog;
use socialkpi_engine::error::Error;
use socialkpi_engine::exec;
use socialkpi_engine::ingest::{self, Table};
use socialkpi_engine::plan::{self, Dedupe, Request};
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
            Arg::Frame(obj) => Ok(obj.getattr("columns")?.extract()?),
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
    Ok(PyCapsule::new_with_value(py, stream, STREAM)?)
}

/// Runs the engine with panics turned into `EngineError` and Ctrl-C into `KeyboardInterrupt`
/// (polars' abort mechanism stops a running query when SIGINT arrives).
fn catch<T>(f: impl FnOnce() -> socialkpi_engine::error::Result<T>) -> socialkpi_engine::error::Result<T> {
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
fn settle<T>(py: Python<'_>, result: socialkpi_engine::error::Result<T>, raised: Option<PyErr>) -> PyResult<T> {
    match result {
        Err(Error::Interrupted) => {
            if let Some(err) = raised {
                return Err(err.into());
            }
            py.check_signals()?;
            Err(Error::Interrupted.into())
        }
        other => Ok(other?),
    }
}
