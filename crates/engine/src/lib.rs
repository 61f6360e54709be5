//! The socialkpi engine: the KPI catalogue, plans, partial states and their execution over
//! polars, and the readers of exports. It never touches Python (the crate does not depend on
//! pyo3); the `socialkpi` cdylib at the repository's root holds the bindings.
//!
//! The modules are layered; each uses only those on the lines above it:
//!
//! - `codes`, `error` (with `codes`); `sources`, `pages`, `schema` (the state columns)
//! - `catalog` (what a KPI is), `expr` (expressions over columns), `ids` (repeated ids),
//!   `overflow` (integer sums that never wrap)
//! - `ingest` (reading tables: `ids`, `sources`)
//! - `plan` (a request checked into data: `catalog`, `expr`, `schema`, `ingest`'s presets)
//! - `periods` (days into periods: `plan`'s period and calendar)
//! - `states` (partial states: merge, rollup, files)
//! - `exec` (tables into states, states into KPIs)
//!
//! The plan is data that execution reads: nothing below `exec` calls into it (the test
//! `layers_do_not_reach_up` checks the sources).

pub mod catalog;
pub mod codes;
pub mod error;
pub mod exec;
pub mod expr;
pub mod ids;
pub mod ingest;
pub mod overflow;
pub mod pages;
pub mod periods;
pub mod plan;
pub mod schema;
pub mod sources;
pub mod states;

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// Each module, and the modules above it that it must not use.
    const LAYERS: [(&str, &[&str]); 11] = [
        (
            "schema",
            &["catalog", "expr", "ids", "ingest", "plan", "periods", "states", "exec"],
        ),
        ("catalog", &["ingest", "plan", "periods", "states", "exec"]),
        ("expr", &["catalog", "ingest", "plan", "periods", "states", "exec"]),
        ("ids", &["catalog", "ingest", "plan", "periods", "states", "exec"]),
        ("overflow", &["catalog", "ingest", "plan", "periods", "states", "exec"]),
        ("sources", &["catalog", "ingest", "plan", "periods", "states", "exec"]),
        ("error", &["catalog", "ingest", "plan", "periods", "states", "exec"]),
        ("ingest", &["catalog", "plan", "periods", "states", "exec"]),
        ("plan", &["periods", "states", "exec"]),
        ("periods", &["states", "exec"]),
        ("states", &["exec"]),
    ];

    fn sources(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        if path.is_dir() {
            for entry in std::fs::read_dir(path)? {
                sources(&entry?.path(), out)?;
            }
        } else if path.is_file() && path.extension().is_some_and(|e| e == "rs") {
            out.push(path.to_path_buf());
        }
        Ok(())
    }

    /// The top modules a line names through `crate::` (`crate::a::b`, `crate::{a, b::c}`).
    fn used_modules(line: &str) -> Vec<&str> {
        let mut out = Vec::new();
        for (at, _) in line.match_indices("crate::") {
            let rest = &line[at + "crate::".len()..];
            let paths: Vec<&str> = match rest.strip_prefix('{') {
                Some(group) => group.split('}').next().unwrap_or("").split(',').collect(),
                None => vec![rest],
            };
            for path in paths {
                let path = path.trim();
                let end = path
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(path.len());
                out.push(&path[..end]);
            }
        }
        out
    }

    #[test]
    fn uses_are_found_in_paths_and_groups() {
        assert_eq!(used_modules("use crate::exec::ENG;"), ["exec"]);
        assert_eq!(used_modules("use crate::{catalog, exec::x};"), ["catalog", "exec"]);
        assert_eq!(
            used_modules("let a = crate::plan::f(crate::states::g);"),
            ["plan", "states"]
        );
        assert!(used_modules("use super::exec;").is_empty());
    }

    #[test]
    fn layers_do_not_reach_up() -> std::io::Result<()> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut found = Vec::new();
        for (module, above) in LAYERS {
            let mut files = Vec::new();
            sources(&root.join(module), &mut files)?;
            sources(&root.join(format!("{module}.rs")), &mut files)?;
            assert!(!files.is_empty(), "module {module} has no sources");
            for file in files {
                let text = std::fs::read_to_string(&file)?;
                for line in text.lines().map(str::trim).filter(|l| !l.starts_with("//")) {
                    let reaches_up = used_modules(line).iter().any(|m| above.contains(m));
                    if reaches_up {
                        found.push(format!("{}: {line}", file.display()));
                    }
                }
            }
        }
        assert!(found.is_empty(), "a module uses one above it:\n{}", found.join("\n"));
        Ok(())
    }
}
