//! The stable error codes, one enum per kind of error, each code with its text and a
//! description. Plain Rust with no engine dependencies, so that the fuzz targets that include
//! engine files by path can include it too (as their `error` module).

use socialkpi_formula::error_codes;

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
        UnwritableFile = "unwritable_file": "a file cannot be written (States.save, or the post_id check's temporary files past memory_limit)",
        DuplicateTarget = "duplicate_target": "targets= gives two targets for one KPI, group and period, or two whose days overlap (raised from Python)",
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
        UnknownWeekStart = "unknown_week_start": "week_start= is not a day of the week (monday ... sunday)",
        UnknownFiscalYearStart = "unknown_fiscal_year_start": "fiscal_year_start= is not a month (1 to 12, or a month's name)",
        InvalidTargets = "invalid_targets": "targets= is not a table of targets as docs/time.md describes: a column that is not a by column of the report, dates that are not dates, periods the report cannot match (raised from Python)",
        TargetNotRequested = "target_not_requested": "targets= names a KPI that the call does not ask for (raised from Python)",
        StartAfterEnd = "start_after_end": "start= is a day after end= (the range runs from start to end, both included)",
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
