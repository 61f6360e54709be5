//! One error enum for the engine, one Python exception hierarchy, stable codes.
//!
//! Engine modules return `Result<_, Error>` and never see Python; the bindings (the
//! `socialkpi` cdylib) map each kind onto its exception class and attach the stable `code`
//! that tests and users match on.

/// Where a formula error is: a `DefinitionError` with `.formula`, `.kpi`, `.position` and
/// `.suggestions` in Python.
#[derive(Debug)]
pub struct FormulaDetails {
    pub code: &'static str,
    /// The message with the position and a caret under the formula.
    pub message: String,
    pub formula: String,
    pub kpi: String,
    pub line: usize,
    pub column: usize,
    pub suggestions: Vec<String>,
}

/// What went wrong, in the user's terms. The `code` of each variant is stable.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A table lacks a column, or a column has the wrong type.
    #[error("{message}")]
    Schema { code: &'static str, message: String },
    /// A KPI name or definition is unknown or cannot be computed as asked.
    #[error("{message}")]
    Definition { code: &'static str, message: String },
    /// A formula that does not parse or check: where it is, and the closest names.
    #[error("{}", .0.message)]
    Formula(Box<FormulaDetails>),
    /// The data breaks a rule of docs/kpis.md (negative counts, duplicate posts, ...).
    #[error("{message}")]
    Input { code: &'static str, message: String },
    /// The arguments of the call are invalid (grain, time zone, dimension, missing table).
    #[error("{message}")]
    Query { code: &'static str, message: String },
    /// Polars failed while executing a plan.
    #[error("the engine failed: {0}")]
    Polars(polars::prelude::PolarsError),
    /// The user pressed Ctrl-C while a query ran.
    #[error("interrupted")]
    Interrupted,
    /// A bug in socialkpi (for example a caught panic).
    #[error("internal error in socialkpi (please report it): {0}")]
    Internal(String),
}

impl Error {
    pub fn schema(code: &'static str, message: impl Into<String>) -> Self {
        Self::Schema {
            code,
            message: message.into(),
        }
    }
    pub fn definition(code: &'static str, message: impl Into<String>) -> Self {
        Self::Definition {
            code,
            message: message.into(),
        }
    }
    pub fn input(code: &'static str, message: impl Into<String>) -> Self {
        Self::Input {
            code,
            message: message.into(),
        }
    }
    pub fn query(code: &'static str, message: impl Into<String>) -> Self {
        Self::Query {
            code,
            message: message.into(),
        }
    }

    /// The stable code users match on (`err.code` in Python).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Formula(f) => f.code,
            Self::Schema { code, .. }
            | Self::Definition { code, .. }
            | Self::Input { code, .. }
            | Self::Query { code, .. } => code,
            Self::Polars(_) => "engine_error",
            Self::Internal(_) => "internal_error",
            Self::Interrupted => "interrupted",
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Marks a typed error raised inside a polars expression (a checked computation), which
/// polars carries as its own error: `raised` writes it, `From<PolarsError>` reads it back.
const RAISED: char = '\u{1}';
const RAISED_END: char = '\u{3}';

/// The codes an expression may raise (`Error` holds static codes).
const RAISED_CODES: [&str; 4] = [
    "integer_overflow",
    "value_out_of_range",
    "date_out_of_range",
    "unreadable_file",
];

/// A typed input error raised inside a polars expression; `code` is one of `RAISED_CODES`.
pub fn raised(code: &'static str, message: &str) -> polars::prelude::PolarsError {
    polars::prelude::PolarsError::ComputeError(format!("{RAISED}{code}{RAISED}{message}{RAISED_END}").into())
}

impl From<polars::prelude::PolarsError> for Error {
    fn from(err: polars::prelude::PolarsError) -> Self {
        let text = err.to_string();
        let typed = text.split_once(RAISED).and_then(|(_, rest)| {
            let (code, rest) = rest.split_once(RAISED)?;
            let (message, _) = rest.split_once(RAISED_END)?;
            let code = RAISED_CODES.into_iter().find(|c| *c == code)?;
            Some(Error::input(code, message))
        });
        typed.or_else(|| user_error(&err, &text)).unwrap_or(Error::Polars(err))
    }
}

/// The polars errors that a user's input causes, in the user's terms: what is wrong and how
/// to fix it (the rest stay `engine_error`).
fn user_error(err: &polars::prelude::PolarsError, text: &str) -> Option<Error> {
    use polars::prelude::PolarsError as P;
    let mut root = err;
    while let P::Context { error, .. } | P::ExprContext { error, .. } = root {
        root = error;
    }
    // polars' first line says what; its hints after it are about polars' own arguments
    let first = text.lines().next().unwrap_or(text);
    match root {
        P::ComputeError(m) if m.contains("could not parse") => Some(Error::input(
            "unparseable_file",
            format!("{first}: a file's column holds a value that does not read as the type its first rows gave the column (text in a column of numbers, say); read the file with sk.read_posts (or read_accounts, read_traffic), which parses every cell, and pass the frame, or fix the file"),
        )),
        P::SchemaMismatch(m) if m.contains("mismatch") => Some(Error::input(
            "mismatched_files",
            format!("{first}: the files of one table must have the same columns with the same types; cast the column alike in every file, or read the files into frames, pl.concat(..., how='diagonal_relaxed') them and pass the frame"),
        )),
        P::IO { .. } => Some(Error::input(
            "unreadable_file",
            format!("a file could not be read ({first}); check that it exists, is complete and is not being written to"),
        )),
        P::InvalidOperation(m) if m.contains("cannot cast List") => Some(Error::schema(
            "unsupported_type",
            format!("{first}: a column of lists cannot be a dimension, an id or a key; explode it or join its values into text first (pl.col(...).list.join(','))"),
        )),
        _ => None,
    }
}

pub use socialkpi_formula::{did_you_mean, suggest};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names() {
        let s = suggest("like", ["likes", "comments", "shares"]);
        assert_eq!(s, vec!["likes".to_string()]);
        assert_eq!(suggest("Reach", ["reach", "impressions"]), vec!["reach".to_string()]);
        assert!(suggest("zzzzzz", ["likes"]).is_empty());
    }

    #[test]
    fn codes_are_stable() {
        assert_eq!(Error::schema("missing_column", "x").code(), "missing_column");
        assert_eq!(Error::Internal("x".into()).code(), "internal_error");
    }
}
