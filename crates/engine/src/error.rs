//! One error enum for the engine, one Python exception hierarchy, stable codes.
//!
//! Engine modules return `Result<_, Error>` and never see Python; the bindings (the
//! `socialkpi` cdylib) map each kind onto its exception class and attach the stable `code`
//! that tests and users match on.

use socialkpi_formula::error_codes;
pub use socialkpi_formula::FormulaCode;

error_codes! {
    /// A table lacks a column, or a column has the wrong type (`SchemaError`).
    pub enum SchemaCode {
        MissingColumn = "missing_column": "a table lacks a column that a KPI, a dimension, a key or a reader's mapping needs",
        NotNumeric = "not_numeric": "a column that is summed holds values that are not numbers",
        NotTemporal = "not_temporal": "a date column holds neither dates nor date-times",
        NotBoolean = "not_boolean": "a yes/no column (sponsored) holds values that are neither booleans nor 0/1",
        NotAFlag = "not_a_flag": "a reader's yes/no column holds values of a type that cannot be yes or no",
        UnsupportedType = "unsupported_type": "a column has a type the core cannot read (a list as an id, key or dimension, say)",
        DuplicateColumn = "duplicate_column": "a table has two columns of one name (raised from Python)",
        InvalidColumnName = "invalid_column_name": "a table's column name holds a lone surrogate, which is not text (raised from Python)",
        MixedTypes = "mixed_types": "a pandas object column mixes numbers and text, and a KPI reads it (raised from Python)",
        UnparseableDates = "unparseable_dates": "no value of a reader's date column reads as a date",
        UnparseableFlags = "unparseable_flags": "no value of a reader's yes/no column reads as yes or no",
        UnparseableDefault = "unparseable_default": "a reader's default value does not read as its column's type",
        UnknownCanonical = "unknown_canonical": "a reader's columns= or defaults= names a column the table does not have",
        DuplicateMapping = "duplicate_mapping": "a reader's columns= maps two headers to one column",
        UnknownHeader = "unknown_header": "an export's headers match no preset and no columns= mapping",
        AmbiguousPreset = "ambiguous_preset": "an export's headers match more than one preset equally well",
        MissingKeys = "missing_keys": "an export maps none of the columns that tell its rows apart (an id or a date)",
    }
}

error_codes! {
    /// A KPI name or definition is unknown or cannot be computed as asked (`DefinitionError`).
    pub enum DefinitionCode {
        InvalidArgument = "invalid_argument": "definitions=, a KPI's name or its formula is not text or a path (raised from Python)",
        UnknownKpi = "unknown_kpi": "a KPI name is neither built in nor defined",
        NoKpis = "no_kpis": "kpis= names no KPI, or none that the tables given can compute",
        InvalidName = "invalid_name": "a KPI name is not letters, digits and _, starts with a digit, is a keyword or is a column of the result",
        DuplicateKpi = "duplicate_kpi": "a KPI is defined twice with different formulas",
        TooManyKpis = "too_many_kpis": "more than 10,000 KPIs are defined in one file or one call",
        UnknownDefinitions = "unknown_definitions": "a named set of definitions (a vendor preset) does not exist",
        InvalidDefinitions = "invalid_definitions": "a definition file does not parse, or holds a field of the wrong shape",
        UnknownFormat = "unknown_format": "a definition file is not YAML, TOML or JSON",
        FileTooLarge = "file_too_large": "a definition file is larger than 4 MiB (32 MiB once YAML aliases are expanded)",
    }
}

error_codes! {
    /// The data breaks a rule of docs/kpis.md, or a file cannot be read (`InputError`).
    pub enum InputCode {
        NegativeValue = "negative_value": "a count that cannot be negative (likes, reach, followers, fees, ...) is negative",
        DuplicatePostId = "duplicate_post_id": "a post_id appears more than once (pass dedupe='last' to keep the last)",
        DuplicateSnapshot = "duplicate_snapshot": "an account has two follower snapshots for one day",
        ContractDates = "contract_dates": "a contract ends before it starts",
        ContractSpan = "contract_span": "contracts split by every= make more than 5,000,000 (contract, period) pieces",
        MixedCurrency = "mixed_currency": "a money column holds more than one currency",
        IntegerOverflow = "integer_overflow": "a sum of integers could pass 2^63",
        ValueOutOfRange = "value_out_of_range": "an unsigned integer does not fit in a signed 64-bit integer",
        DateOutOfRange = "date_out_of_range": "a date or timestamp is too far from 1970 to compute with",
        FileNotFound = "file_not_found": "a path, glob or folder matches no file, or no file was given",
        NotAFile = "not_a_file": "a path names a folder where a file is needed",
        UnsupportedFile = "unsupported_file": "a table passed as a path names a file that is neither Parquet nor CSV (sk.read_posts reads more kinds)",
        UnreadableFile = "unreadable_file": "a file cannot be read: missing, incomplete or being written",
        UnparseableFile = "unparseable_file": "a file's column holds a value that does not read as the column's type",
        MismatchedFiles = "mismatched_files": "the files of one table have different columns or types",
        UnreadableTable = "unreadable_table": "a table cannot be read (a LazyFrame that fails when it is collected)",
        NotATable = "not_a_table": "a file cannot be read as a table: binary, not valid text, or not a workbook (raised from Python)",
        SheetTooLarge = "sheet_too_large": "an Excel sheet holds more than 25,000,000 cells or 2 GiB of XML (raised from Python)",
        MissingDependency = "missing_dependency": "reading a file needs a package that is not installed (fastexcel for Excel; raised from Python)",
        UnsupportedTable = "unsupported_table": "a table is of a type socialkpi does not take (raised from Python)",
        OverlappingPosts = "overlapping_posts": "states merged contain the same post (states must come from disjoint posts)",
        OverlappingStates = "overlapping_states": "states merged share some, not all, of the tables a block was made from",
        NotAStatesFile = "not_a_states_file": "a file or frame loaded as states was not written by States.save / States.frame",
        StatesVersion = "states_version": "states of another schema version",
        UnwritableFile = "unwritable_file": "a file cannot be written (States.save)",
    }
}

error_codes! {
    /// The arguments of a call are invalid (`QueryError`; `invalid_argument` is an
    /// `ArgumentError`, a `QueryError` that is also a `TypeError` and a `ValueError`).
    pub enum QueryCode {
        InvalidArgument = "invalid_argument": "an argument has the wrong type or value",
        MissingTable = "missing_table": "a KPI or a function needs a table that was not passed",
        UnknownDimension = "unknown_dimension": "by= names a column that none of the tables the KPIs read has",
        DimensionNotInTable = "dimension_not_in_table": "by= names a column that the table of one of the KPIs asked for does not have",
        RepeatedDimension = "repeated_dimension": "by= names a column twice",
        ReservedDimension = "reserved_dimension": "by= names period_start, the result's period column (use every=)",
        TimeDimension = "time_dimension": "by= names published_at, the posts' time column (use every=)",
        InvalidColumnName = "invalid_column_name": "by= names a column whose name holds a NUL character",
        UnknownGrain = "unknown_grain": "every= is not a grain socialkpi knows",
        UnknownTimeZone = "unknown_time_zone": "tz= is empty or not an IANA time zone",
        MissingYear = "missing_year": "an export's dates lack the year and no year= is given",
        UnknownEncoding = "unknown_encoding": "a reader's encoding= is not an encoding Python knows (raised from Python)",
        UnknownPreset = "unknown_preset": "a reader's preset= names no preset of that table",
        StatesMismatch = "states_mismatch": "states made for different requests are merged or updated (the message names the part that differs)",
        NotInStates = "not_in_states": "finalizing a KPI, a dimension or a period that the states cannot give",
        UnknownCompare = "unknown_compare": "compare= names no comparison socialkpi knows (previous, last_year, last_year_weekday)",
        UnknownWindow = "unknown_window": "window= is not a trailing window (\"28d\", \"4w\") or a to-date window (wtd, mtd, qtd, ytd)",
    }
}

error_codes! {
    /// The engine itself failed (`EngineError`), or the user stopped it.
    pub enum EngineCode {
        EngineError = "engine_error": "polars failed in a way socialkpi does not explain; the message says why",
        InternalError = "internal_error": "a bug in socialkpi (please report it)",
        Interrupted = "interrupted": "Ctrl-C stopped a query (raised as KeyboardInterrupt, which carries no code)",
    }
}

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
