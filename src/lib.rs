//! socialkpi's Rust core. The engine (`catalog`, `plan`, `exec`, `ingest`) never touches
//! Python; `bindings` and `error` are the only modules that do.

pub mod catalog;
pub mod error;
pub mod exec;
pub mod ingest;
pub mod plan;

mod bindings;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    error::register(m)?;
    m.add_function(wrap_pyfunction!(bindings::compute, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::catalog_rows, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::presets, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::explain, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
