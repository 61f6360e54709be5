//! The Python module `socialkpi._core`: thin bindings over the engine (`crates/engine`, which
//! never touches Python) and the mapping of its errors onto the exception hierarchy.

mod bindings;
mod errors;

// mimalloc, with pages of socialkpi's own (see crates/engine/src/pages.rs)
#[global_allocator]
static ALLOCATOR: socialkpi_engine::pages::Allocator = socialkpi_engine::pages::Allocator;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    quiet_panics();
    polars_error::abort::register_polars_abort_mechanism();
    errors::register(m)?;
    m.add_function(wrap_pyfunction!(bindings::compute::compute, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::compute::contract_status, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::compute::states_every, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::definitions::catalog_rows, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::definitions::presets, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::definitions::source_table, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::definitions::explain, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::definitions::kpi_kind, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::readers::read_table, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::readers::parse_values, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::readers::reader_presets, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::definitions::check_formula, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::definitions::parse_definitions, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::definitions::vendor_definitions, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::definitions::vendor_names, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::definitions::plan_kpis, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::states::partial, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::states::check_post_ids, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::states::shared_post_ids, m)?)?;
    m.add_function(wrap_pyfunction!(bindings::states::post_id_hashes, m)?)?;
    m.add_class::<bindings::states::StatesObject>()?;
    m.add_class::<bindings::states::AccountsMemoObject>()?;
    m.add_class::<bindings::readers::KeptPages>()?;
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
