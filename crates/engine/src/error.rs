//! One error enum for the engine, one Python exception hierarchy, stable codes.
//!
//! Engine modules return `Result<_, Error>` and never see Python; the bindings (the
//! `socialkpi` cdylib) map each kind onto its exception class and attach the stable `code`
//! that tests and users match on.

pub use crate::codes::{DefinitionCode, EngineCode, InputCode, QueryCode, SchemaCode};
pub use socialkpi_formula::FormulaCode;

/// Any stable code, with the kind of error (and so the Python exception) it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    Schema(SchemaCode),
    Definition(DefinitionCode),
    Formula(FormulaCode),
    Input(InputCode),
    Query(QueryCode),
    Engine(EngineCode),
}

impl ErrorCode {
    /// Every code, kind by kind: the list `sk.error_codes()` and docs/errors.md show.
    pub fn all() -> Vec<ErrorCode> {
        let mut all = Vec::new();
        all.extend(SchemaCode::ALL.iter().map(|&c| Self::Schema(c)));
        all.extend(DefinitionCode::ALL.iter().map(|&c| Self::Definition(c)));
        all.extend(FormulaCode::ALL.iter().map(|&c| Self::Formula(c)));
        all.extend(InputCode::ALL.iter().map(|&c| Self::Input(c)));
        all.extend(QueryCode::ALL.iter().map(|&c| Self::Query(c)));
        all.extend(EngineCode::ALL.iter().map(|&c| Self::Engine(c)));
        all
    }

    /// The stable code (`err.code` in Python).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schema(c) => c.as_str(),
            Self::Definition(c) => c.as_str(),
            Self::Formula(c) => c.as_str(),
            Self::Input(c) => c.as_str(),
            Self::Query(c) => c.as_str(),
            Self::Engine(c) => c.as_str(),
        }
    }

    /// What the code means, in one line.
    pub fn description(self) -> &'static str {
        match self {
            Self::Schema(c) => c.description(),
            Self::Definition(c) => c.description(),
            Self::Formula(c) => c.description(),
            Self::Input(c) => c.description(),
            Self::Query(c) => c.description(),
            Self::Engine(c) => c.description(),
        }
    }

    /// The name of the Python exception class an error of this code is raised as.
    pub fn exception(self) -> &'static str {
        match self {
            Self::Schema(_) => "SchemaError",
            Self::Definition(_) | Self::Formula(_) => "DefinitionError",
            Self::Input(_) => "InputError",
            Self::Query(QueryCode::InvalidArgument) => "ArgumentError",
            Self::Query(_) => "QueryError",
            Self::Engine(EngineCode::Interrupted) => "KeyboardInterrupt",
            Self::Engine(_) => "EngineError",
        }
    }
}

/// Where a formula error is: a `DefinitionError` with `.formula`, `.kpi`, `.position` and
/// `.suggestions` in Python.
#[derive(Debug)]
pub struct FormulaDetails {
    pub code: FormulaCode,
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
    Schema { code: SchemaCode, message: String },
    /// A KPI name or definition is unknown or cannot be computed as asked.
    #[error("{message}")]
    Definition { code: DefinitionCode, message: String },
    /// A formula that does not parse or check: where it is, and the closest names.
    #[error("{}", .0.message)]
    Formula(Box<FormulaDetails>),
    /// The data breaks a rule of docs/kpis.md (negative counts, duplicate posts, ...).
    #[error("{message}")]
    Input { code: InputCode, message: String },
    /// The arguments of the call are invalid (grain, time zone, dimension, missing table).
    #[error("{message}")]
    Query { code: QueryCode, message: String },
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
    pub fn schema(code: SchemaCode, message: impl Into<String>) -> Self {
        Self::Schema {
            code,
            message: message.into(),
        }
    }
    pub fn definition(code: DefinitionCode, message: impl Into<String>) -> Self {
        Self::Definition {
            code,
            message: message.into(),
        }
    }
    pub fn input(code: InputCode, message: impl Into<String>) -> Self {
        Self::Input {
            code,
            message: message.into(),
        }
    }
    pub fn query(code: QueryCode, message: impl Into<String>) -> Self {
        Self::Query {
            code,
            message: message.into(),
        }
    }

    /// The stable code users match on (`err.code` in Python), with its kind.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Self::Formula(f) => ErrorCode::Formula(f.code),
            Self::Schema { code, .. } => ErrorCode::Schema(*code),
            Self::Definition { code, .. } => ErrorCode::Definition(*code),
            Self::Input { code, .. } => ErrorCode::Input(*code),
            Self::Query { code, .. } => ErrorCode::Query(*code),
            Self::Polars(_) => ErrorCode::Engine(EngineCode::EngineError),
            Self::Internal(_) => ErrorCode::Engine(EngineCode::InternalError),
            Self::Interrupted => ErrorCode::Engine(EngineCode::Interrupted),
        }
    }

    /// The stable code as text (`err.code` in Python).
    pub fn code(&self) -> &'static str {
        self.error_code().as_str()
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Marks a typed error raised inside a polars expression (a checked computation), which
/// polars carries as its own error: `raised` writes it, `From<PolarsError>` reads it back.
const RAISED: char = '\u{1}';
const RAISED_END: char = '\u{3}';

/// A typed input error raised inside a polars expression.
pub fn raised(code: InputCode, message: &str) -> polars::prelude::PolarsError {
    let code = code.as_str();
    polars::prelude::PolarsError::ComputeError(format!("{RAISED}{code}{RAISED}{message}{RAISED_END}").into())
}

impl From<polars::prelude::PolarsError> for Error {
    fn from(err: polars::prelude::PolarsError) -> Self {
        let text = err.to_string();
        let typed = text.split_once(RAISED).and_then(|(_, rest)| {
            let (code, rest) = rest.split_once(RAISED)?;
            let (message, _) = rest.split_once(RAISED_END)?;
            let code = InputCode::ALL.iter().copied().find(|c| c.as_str() == code)?;
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
            InputCode::UnparseableFile,
            format!("{first}: a file's column holds a value that does not read as the type its first rows gave the column (text in a column of numbers, say); read the file with sk.read_posts (or read_accounts, read_traffic), which parses every cell, and pass the frame, or fix the file"),
        )),
        P::SchemaMismatch(m) if m.contains("mismatch") => Some(Error::input(
            InputCode::MismatchedFiles,
            format!("{first}: the files of one table must have the same columns with the same types; cast the column alike in every file, or read the files into frames, pl.concat(..., how='diagonal_relaxed') them and pass the frame"),
        )),
        P::IO { .. } => Some(Error::input(
            InputCode::UnreadableFile,
            format!("a file could not be read ({first}); check that it exists, is complete and is not being written to"),
        )),
        P::InvalidOperation(m) if m.contains("cannot cast List") => Some(Error::schema(
            SchemaCode::UnsupportedType,
            format!("{first}: a column of lists cannot be a dimension, an id or a key; explode it or join its values into text first (pl.col(...).list.join(','))"),
        )),
        _ => None,
    }
}

pub use socialkpi_formula::{did_you_mean, suggest};

/// A formula error as the engine's error, with the position rendered under the formula.
pub fn formula_error(e: socialkpi_formula::FormulaError) -> Error {
    let (line, column) = e.position();
    Error::Formula(Box::new(FormulaDetails {
        code: e.code,
        message: e.render(),
        formula: e.formula.clone(),
        kpi: e.kpi.clone().unwrap_or_default(),
        line,
        column,
        suggestions: e.suggestions.clone(),
    }))
}

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
        assert_eq!(Error::schema(SchemaCode::MissingColumn, "x").code(), "missing_column");
        assert_eq!(Error::Internal("x".into()).code(), "internal_error");
    }

    #[test]
    fn codes_are_listed_once_per_kind_and_described() {
        let all = ErrorCode::all();
        let mut seen = std::collections::HashSet::new();
        for code in &all {
            let text = code.as_str();
            assert!(
                !text.is_empty() && text.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{text}"
            );
            assert!(!code.description().is_empty(), "{text}");
            assert!(
                seen.insert((text, code.exception())),
                "{text} is listed twice as {}",
                code.exception()
            );
        }
        assert!(all.contains(&Error::Interrupted.error_code()));
    }

    #[test]
    fn raised_codes_come_back_typed() {
        let err = Error::from(raised(InputCode::IntegerOverflow, "too big"));
        assert_eq!(err.error_code(), ErrorCode::Input(InputCode::IntegerOverflow));
        assert_eq!(err.to_string(), "too big");
    }
}
