//! socialkpi's Rust core. The engine (`catalog`, `plan`, `exec`, `ingest`) never touches
//! Python; `bindings` and `error` are the only modules that do.

pub mod catalog;
pub mod error;
pub mod exec;
pub mod ingest;
pub mod pages;
pub mod plan;
pub mod sources;

mod bindings;

// mimalloc, with pages of socialkpi's own (see pages.rs)
#[global_allocator]
static ALLOCATOR: pages::Allocator = pages::Allocator;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    quiet_panics();
    polars_error::abort::register_polars_abort_mechanism();
    error::register(m)?;
    m.add_function(wrap_pyfunction!(bindings::compute, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::contract_status, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::catalog_rows, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::presets, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::source_table, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::explain, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::read_table, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::parse_values, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::reader_presets, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::check_formula, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::parse_definitions, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::vendor_definitions, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::vendor_names, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::plan_kpis, m)?)?;
    m.add_class::<bindings::KeptPages>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

/// Panics inside the core are caught and raised as `EngineError` carrying the panic message;
/// printing them to stderr as well would only put a Rust backtrace in the user's notebook.
/// Set `SOCIALKPI_DEBUG=1` to see them.
fn quiet_panics() {
    if std::env::var_os("SOCIALKPI_DEBUG").is_none() {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::env::var_os("SOCIALKPI_DEBUG").is_some() {
                default(info);
            }
        }));
    }
}
