//! The Python side of the engine's one error enum: the exception hierarchy and the mapping of
//! each `Error` kind onto its class, with the stable `code` that tests and users match on.

use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::{create_exception, PyErr};
use socialkpi_engine::error::{Error, ErrorCode, QueryCode};

/// A failure of a binding: the engine's typed error or one Python raised. Bindings return it
/// so that `?` works on both (the orphan rule forbids `From<Error> for PyErr` outside pyo3).
pub enum Failure {
    Engine(Error),
    Python(PyErr),
}

/// What bindings return.
pub type Fallible<T> = std::result::Result<T, Failure>;

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Self::Engine(err)
    }
}

impl From<PyErr> for Failure {
    fn from(err: PyErr) -> Self {
        Self::Python(err)
    }
}

impl From<pyo3::CastError<'_, '_>> for Failure {
    fn from(err: pyo3::CastError<'_, '_>) -> Self {
        Self::Python(err.into())
    }
}

impl From<Failure> for PyErr {
    fn from(failure: Failure) -> PyErr {
        match failure {
            Failure::Engine(err) => raise(err),
            Failure::Python(err) => err,
        }
    }
}

create_exception!(
    socialkpi,
    KpiError,
    PyException,
    "Base class of every socialkpi error; `.code` is stable."
);
create_exception!(
    socialkpi,
    SchemaError,
    KpiError,
    "A table lacks a column or a column has the wrong type."
);
create_exception!(
    socialkpi,
    DefinitionError,
    KpiError,
    "A KPI is unknown or cannot be computed as asked."
);
create_exception!(
    socialkpi,
    InputError,
    KpiError,
    "The data breaks a rule of the KPI contract."
);
create_exception!(
    socialkpi,
    QueryError,
    KpiError,
    "The arguments of the call are invalid."
);
create_exception!(
    socialkpi,
    EngineError,
    KpiError,
    "The engine failed; the message says why."
);

/// The exception of an engine error, carrying its code (and a formula error's location).
pub fn raise(err: Error) -> PyErr {
    {
        let code = err.code();
        let message = err.to_string();
        if let Error::Interrupted = err {
            return pyo3::exceptions::PyKeyboardInterrupt::new_err("socialkpi query interrupted");
        }
        let mut located = None;
        let py_err = match err {
            Error::Schema { .. } => SchemaError::new_err(message),
            Error::Definition { .. } => DefinitionError::new_err(message),
            Error::Formula(f) => {
                let f = *f;
                located = Some((f.formula, f.kpi, f.line, f.column, f.suggestions));
                DefinitionError::new_err(message)
            }
            Error::Input { .. } => InputError::new_err(message),
            Error::Query {
                code: QueryCode::InvalidArgument,
                ..
            } => argument_error(message),
            Error::Query { .. } => QueryError::new_err(message),
            Error::Polars(_) | Error::Internal(_) | Error::Interrupted => EngineError::new_err(message),
        };
        Python::attach(|py| {
            // Setting an attribute on a fresh exception instance cannot fail in practice;
            // if it did, the exception without its code is still the right one to raise.
            let value = py_err.value(py);
            let _ = value.setattr("code", code);
            if let Some((formula, kpi, line, column, suggestions)) = located {
                let _ = value.setattr("formula", formula);
                let _ = value.setattr("kpi", kpi);
                let _ = value.setattr("position", (line, column));
                let _ = value.setattr("suggestions", suggestions);
            }
        });
        py_err
    }
}

/// An `invalid_argument` error: `socialkpi.exceptions.ArgumentError`, declared in Python
/// because it is also a `TypeError` and a `ValueError` (a `QueryError` if it cannot be found).
fn argument_error(message: String) -> PyErr {
    Python::attach(|py| {
        let class = py
            .import("socialkpi.exceptions")
            .and_then(|m| m.getattr("ArgumentError"))
            .and_then(|c| c.cast_into::<pyo3::types::PyType>().map_err(PyErr::from));
        match class {
            Ok(class) => PyErr::from_type(class, message),
            Err(_) => QueryError::new_err(message),
        }
    })
}

/// Every stable error code as (code, exception class name, description): the one list that
/// `sk.error_codes()` and docs/errors.md show.
#[pyfunction]
pub fn error_codes() -> Vec<(&'static str, &'static str, &'static str)> {
    ErrorCode::all()
        .into_iter()
        .map(|c| (c.as_str(), c.exception(), c.description()))
        .collect()
}

/// Registers the exception classes and the list of codes on the native module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("KpiError", py.get_type::<KpiError>())?;
    m.add("SchemaError", py.get_type::<SchemaError>())?;
    m.add("DefinitionError", py.get_type::<DefinitionError>())?;
    m.add("InputError", py.get_type::<InputError>())?;
    m.add("QueryError", py.get_type::<QueryError>())?;
    m.add("EngineError", py.get_type::<EngineError>())?;
    m.add_function(wrap_pyfunction!(error_codes, m)?)?;
    Ok(())
}
