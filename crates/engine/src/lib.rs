//! The socialkpi engine: the KPI catalogue, plans, partial states and their execution over
//! polars, and the readers of exports. It never touches Python (the crate does not depend on
//! pyo3); the `socialkpi` cdylib at the repository's root holds the bindings.

pub mod catalog;
pub mod codes;
pub mod error;
pub mod exec;
pub mod expr;
pub mod ids;
pub mod ingest;
pub mod pages;
pub mod plan;
pub mod sources;
pub mod states;
