//! Getting tables in: Arrow C streams from Python, files scanned by the core, and the checks
//! and coercions of column types (counts to Int64/Float64, times to days in the report zone).

pub mod columns;
pub mod csv;
mod headers;
pub mod mapping;
pub mod parquet;
pub mod presets;
pub mod read;
pub mod values;

use crate::error::{raised, Error, Result};
use crate::error::{InputCode, SchemaCode};
use polars::prelude::*;
use polars_arrow::array::PrimitiveArray;
use polars_arrow::ffi::{ArrowArrayStream, ArrowArrayStreamReader};
use polars_core::query_result::QueryResult;

/// Collects a plan with the streaming engine (bounded memory for files larger than RAM).
pub fn collect(lf: LazyFrame) -> Result<DataFrame> {
    match lf.collect_with_engine(Engine::Streaming)? {
        QueryResult::Single(df) => Ok(df),
        QueryResult::Multiple(mut dfs) => dfs
            .pop()
            .ok_or_else(|| Error::Internal("query returned no frame".into())),
    }
}

/// Streams the batches of `lf` (in input order when `ordered`) through `add` into `state`, and
/// gives the state back; the first error of `add` stops the stream and is returned.
pub fn sink_into<S: Send + 'static>(
    lf: LazyFrame,
    ordered: bool,
    state: S,
    add: impl Fn(&mut S, DataFrame) -> Result<()> + Send + Sync + 'static,
) -> Result<S> {
    use std::sync::{Arc, Mutex};
    let shared = Arc::new(Mutex::new((state, None::<Error>)));
    let sink = Arc::clone(&shared);
    let callback = move |batch: DataFrame| -> PolarsResult<bool> {
        let mut held = sink
            .lock()
            .map_err(|_| PolarsError::ComputeError("a batch failed earlier".into()))?;
        let (state, error) = &mut *held;
        if error.is_some() {
            return Ok(true);
        }
        if let Err(e) = add(state, batch) {
            *error = Some(e);
            return Ok(true);
        }
        Ok(false)
    };
    let callback = PlanCallback::Rust(SpecialEq::new(Arc::new(callback)));
    collect(lf.sink_batches(callback, ordered, std::num::NonZeroUsize::new(1 << 20))?)?;
    let (state, error) = Arc::try_unwrap(shared)
        .map_err(|_| Error::Internal("a stream's state is still shared".into()))?
        .into_inner()
        .map_err(|_| Error::Internal("a stream's batch failed".into()))?;
    error.map_or(Ok(state), Err)
}

/// A table as the caller handed it over.
pub enum Table {
    /// Columns already in memory (imported zero-copy through the Arrow C stream interface).
    Frame(DataFrame),
    /// Paths or globs of Parquet / CSV files, scanned by the core with projection pushdown.
    Files(Vec<String>),
}

/// Imports one column from an Arrow C stream, taking ownership of the stream.
///
/// # Safety
/// `stream` must point to a valid, unreleased `ArrowArrayStream` (the pointer of an
/// `arrow_array_stream` PyCapsule). It is left released (moved out), as the protocol asks.
pub unsafe fn series_from_stream(name: &str, stream: *mut ArrowArrayStream) -> Result<Series> {
    // SAFETY: the caller guarantees a valid stream; replacing moves it out so that the
    // capsule's destructor sees a released stream and does nothing.
    let owned = unsafe { std::ptr::replace(stream, ArrowArrayStream::empty()) };
    // types the core is built without (Decimal, 128-bit integers, ...) make polars panic
    let imported = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> Result<Series> {
        // SAFETY: the stream follows the C stream interface (guaranteed by the caller).
        let mut reader = unsafe { ArrowArrayStreamReader::try_new(Box::new(owned)) }?;
        let dtype = DataType::from_arrow_field(reader.field());
        let mut chunks = Vec::new();
        // SAFETY: arrays come from the same valid stream.
        while let Some(array) = unsafe { reader.next() } {
            chunks.push(array?);
        }
        if chunks.is_empty() {
            return Ok(Series::new_empty(name.into(), &dtype));
        }
        Ok(Series::try_from((PlSmallStr::from(name), chunks))?)
    }));
    imported.unwrap_or_else(|_| {
        Err(Error::schema(
            SchemaCode::UnsupportedType,
            format!(
                "column '{name}' has a type socialkpi cannot read (such as fixed-size arrays or objects); cast it first, e.g. pl.col('{name}').cast(pl.String)"
            ),
        ))
    })
}

/// The frame with every column cut at the same row boundaries, so that it leaves as Arrow
/// record batches without copying: each column is sliced (zero-copy) at the boundaries of the
/// first column with several non-empty chunks. Rechunking instead would copy every text column
/// of a large read; it is the fallback when the slices do not line up.
pub fn align_chunks(df: DataFrame) -> Result<DataFrame> {
    let lengths = |s: &Series| -> Vec<usize> { s.chunks().iter().map(|a| a.len()).collect() };
    let non_empty = |s: &Series| -> Vec<usize> { lengths(s).into_iter().filter(|&n| n > 0).collect() };
    let Some(layout) = df
        .columns()
        .iter()
        .map(|c| non_empty(c.as_materialized_series()))
        .find(|l| l.len() > 1)
    else {
        let mut df = df;
        df.rechunk_mut();
        return Ok(df);
    };
    let height = df.height();
    let mut out = Vec::with_capacity(df.width());
    for c in df.columns() {
        let s = c.as_materialized_series();
        if lengths(s) == layout {
            out.push(c.clone());
            continue;
        }
        let mut pieces: Vec<ArrayRef> = Vec::with_capacity(layout.len());
        let mut offset = 0i64;
        for &len in &layout {
            let piece = s.slice(offset, len).rechunk();
            offset += len as i64;
            pieces.extend(piece.chunks().iter().cloned());
        }
        // SAFETY: the pieces are the chunks of slices of `s` itself, so they have its dtype
        let aligned = unsafe { Series::from_chunks_and_dtype_unchecked(s.name().clone(), pieces, s.dtype()) };
        out.push(aligned.into_column());
    }
    let mut df = DataFrame::new(height, out)?;
    let aligned = df
        .columns()
        .iter()
        .all(|c| lengths(c.as_materialized_series()) == layout);
    if !aligned {
        df.rechunk_mut();
    }
    Ok(df)
}

fn is_glob(p: &str) -> bool {
    p.contains(['*', '?', '['])
}

/// Lazily scans files; the file type comes from the extension. Parquet files (named, or the
/// files a glob matches) are read by socialkpi with owned reads (`parquet::ParquetSource`),
/// never memory-mapped; CSV files are scanned by polars.
pub fn scan(paths: &[String]) -> Result<LazyFrame> {
    let paths = &expand_parquet_globs(paths)?;
    for p in paths {
        if !is_glob(p) && !std::path::Path::new(p).exists() {
            return Err(Error::input(
                InputCode::FileNotFound,
                format!("file '{p}' does not exist"),
            ));
        }
        if std::path::Path::new(p).is_dir() {
            return Err(Error::input(
                InputCode::NotAFile,
                format!("'{p}' is a folder, not a file; pass the files in it (a glob such as '{p}/*.parquet') or read it with sk.read_posts"),
            ));
        }
    }
    if !paths.is_empty() && paths.iter().all(|p| is_parquet(p)) {
        let files = paths.iter().map(|p| open_parquet(p)).collect::<Result<Vec<_>>>()?;
        return Ok(std::sync::Arc::new(parquet::ParquetSource::new(files)?).lazy(None));
    }
    let mut frames = Vec::with_capacity(paths.len());
    for p in paths {
        let lf = if is_parquet(p) {
            // (globs of Parquet files were expanded: this is one file, beside CSV files)
            std::sync::Arc::new(parquet::ParquetSource::new(vec![open_parquet(p)?])?).lazy(None)
        } else if csv::is_csv(p) {
            csv::reader(p).finish()?
        } else {
            return Err(Error::input(
                InputCode::UnsupportedFile,
                format!("'{p}' is not a Parquet (.parquet) or CSV (.csv, .tsv) file; read it into a DataFrame and pass that instead"),
            ));
        };
        frames.push(lf);
    }
    match frames.len() {
        0 => Err(Error::input(InputCode::FileNotFound, "no files were given")),
        1 => Ok(frames.remove(0)),
        _ => {
            let mut schemas = Vec::with_capacity(frames.len());
            for (p, lf) in paths.iter().zip(frames.iter_mut()) {
                schemas.push(lf.collect_schema().map_err(|e| {
                    Error::input(
                        InputCode::UnreadableFile,
                        format!("could not read the schema of '{p}': {e}"),
                    )
                })?);
            }
            same_schemas(paths, &schemas.iter().map(|s| s.as_ref()).collect::<Vec<_>>())?;
            Ok(concat(frames, UnionArgs::default())?)
        }
    }
}

/// Paths with the globs of Parquet files expanded as polars expands them (the files that
/// match, not folders or empty files, in sorted order), so that socialkpi reads those files
/// itself. Other paths are kept as they are.
fn expand_parquet_globs(paths: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::with_capacity(paths.len());
    for p in paths {
        if is_glob(p) && is_parquet(p) {
            out.extend(expand_glob(p)?);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// The files a glob matches, as polars expands it (not folders or empty files, sorted).
fn expand_glob(p: &str) -> Result<Vec<String>> {
    let bad = |why: String| {
        Error::input(
            InputCode::FileNotFound,
            format!("the pattern '{p}' cannot be read: {why}"),
        )
    };
    let mut found = Vec::new();
    for entry in glob::glob(p).map_err(|e| bad(e.to_string()))? {
        let path = entry.map_err(|e| bad(e.to_string()))?;
        let meta = path.metadata().map_err(|e| bad(e.to_string()))?;
        if !meta.is_dir() && meta.len() > 0 {
            found.push(path.to_string_lossy().into_owned());
        }
    }
    if found.is_empty() {
        return Err(Error::input(InputCode::FileNotFound, format!("no file matches '{p}'")));
    }
    found.sort_unstable();
    Ok(found)
}

fn is_parquet(p: &str) -> bool {
    let lower = p.to_lowercase();
    lower.ends_with(".parquet") || lower.ends_with(".pq")
}

/// A Parquet file opened with its footer read, or `unreadable_file`.
fn open_parquet(p: &str) -> Result<ParquetFile> {
    if let Err(e) = std::fs::File::open(p) {
        return Err(Error::input(
            InputCode::UnreadableFile,
            format!("'{p}' could not be opened: {e}"),
        ));
    }
    ParquetFile::open(p).ok_or_else(|| {
        Error::input(
            InputCode::UnreadableFile,
            format!("'{p}' is not a whole Parquet file (it does not end with its footer: truncated, or still being written); read it again once it is written"),
        )
    })
}

/// Files read as one table must have the same columns of the same types: the first that does
/// not is an error that names it and the column.
pub(crate) fn same_schemas(paths: &[String], schemas: &[&Schema]) -> Result<()> {
    let Some(want) = schemas.first() else {
        return Ok(());
    };
    for (p, schema) in paths.iter().zip(schemas).skip(1) {
        let differs = want
            .iter()
            .find(|(name, dtype)| schema.get(name.as_str()) != Some(*dtype))
            .map(|(name, dtype)| match schema.get(name.as_str()) {
                Some(other) => format!("column '{name}' is {other} there but {dtype} in '{}'", paths[0]),
                None => format!("it has no column '{name}', which '{}' has", paths[0]),
            })
            .or_else(|| {
                schema
                    .iter_names()
                    .find(|name| want.get(name.as_str()).is_none())
                    .map(|name| format!("it has a column '{name}' that '{}' lacks", paths[0]))
            });
        if let Some(what) = differs {
            return Err(Error::input(
                InputCode::MismatchedFiles,
                format!("the files read as one table differ: in '{p}', {what}. Give the files the same columns and types, or read them into frames, pl.concat(..., how='diagonal_relaxed') them and pass the frame"),
            ));
        }
    }
    Ok(())
}

/// The column names of a table (for files: read from their schema).
pub fn column_names(lf: &mut LazyFrame) -> Result<Vec<String>> {
    let schema = lf.collect_schema().map_err(|e| {
        Error::input(
            InputCode::UnreadableFile,
            format!("could not read the table's schema: {e}"),
        )
    })?;
    Ok(schema.iter_names().map(|n| n.to_string()).collect())
}

/// Rows read per batch when a table is read slice by slice (`SOCIALKPI_BATCH_ROWS` overrides
/// it: tests use tiny batches to run every cross-batch path on small tables).
fn slice_rows() -> usize {
    std::env::var("SOCIALKPI_BATCH_ROWS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1 << 20)
}

pub use parquet::ParquetFile;

impl Table {
    /// The table's Parquet files with their metadata; None unless the table is files, all of
    /// them Parquet (no globs) and readable.
    pub fn parquet_files(&self) -> Option<Vec<ParquetFile>> {
        let Table::Files(paths) = self else {
            return None;
        };
        let paths = expand_parquet_globs(paths).ok()?;
        let mut out = Vec::with_capacity(paths.len());
        for p in &paths {
            if is_glob(p) || !is_parquet(p) {
                return None;
            }
            out.push(ParquetFile::open(p)?);
        }
        Some(out)
    }

    /// The table's CSV files (globs expanded), read a block at a time (`csv::CsvBlocks`) with
    /// the schema of the table's scan (`lf`, from `into_lazy`); None unless the table is files,
    /// all of them CSV, each readable (otherwise polars' scan reads them).
    pub fn csv_files(&self, lf: &mut LazyFrame) -> Option<Vec<csv::CsvFile>> {
        let Table::Files(paths) = self else {
            return None;
        };
        let mut found = Vec::with_capacity(paths.len());
        for p in paths {
            if !csv::is_csv(p) {
                return None;
            }
            if is_glob(p) {
                found.extend(expand_glob(p).ok()?);
            } else {
                found.push(p.clone());
            }
        }
        // (the scan checked that listed files agree; the files of a glob are read with the
        // first one's schema, as polars reads them)
        let schema = lf.collect_schema().ok()?;
        let files = found.iter().map(|p| csv::CsvFile::open(p, schema.clone()));
        files.collect::<Option<Vec<_>>>().filter(|f| !f.is_empty())
    }

    /// Row ranges (offset, length) to read the table by, each about a million rows and, for
    /// Parquet (`parquet`, from `parquet_files`), whole row groups; None when a slice cannot be
    /// read alone cheaply (CSV, globs).
    pub fn slices(&self, parquet: Option<&[ParquetFile]>) -> Option<Vec<(i64, usize)>> {
        let sizes: Vec<usize> = match self {
            Table::Frame(df) => vec![df.height()],
            Table::Files(_) => parquet?
                .iter()
                .flat_map(|f| f.metadata.row_groups.iter().map(|g| g.num_rows()))
                .collect(),
        };
        // whole row groups (or a frame's rows) gathered into slices of at least `rows`
        let rows = slice_rows();
        let mut out = Vec::new();
        let (mut offset, mut start, mut len) = (0usize, 0usize, 0usize);
        for size in sizes {
            let mut size = size;
            while size > 0 {
                let take = if matches!(self, Table::Frame(_)) {
                    size.min(rows - len)
                } else {
                    size
                };
                len += take;
                offset += take;
                size -= take;
                if len >= rows {
                    out.push((start as i64, len));
                    start = offset;
                    len = 0;
                }
            }
        }
        if len > 0 {
            out.push((start as i64, len));
        }
        Some(out)
    }

    pub fn into_lazy(self) -> Result<LazyFrame> {
        match self {
            Table::Frame(df) => Ok(df.lazy()),
            Table::Files(paths) => scan(&paths),
        }
    }

    /// The table as `into_lazy` gives it, the table kept (a frame's columns are shared).
    pub fn lazy(&self) -> Result<LazyFrame> {
        match self {
            Table::Frame(df) => Ok(df.clone().lazy()),
            Table::Files(paths) => scan(paths),
        }
    }
}

/// A count column as a number (Int64 or Float64); text is an error that says how to parse it.
/// Float NaN (pandas' missing marker) becomes null.
pub fn count_expr(name: &str, dtype: &DataType, table: &str) -> Result<Expr> {
    let c = col(name);
    if matches!(dtype, DataType::UInt64) {
        Ok(unsigned(c, name, table))
    } else if dtype.is_integer() || dtype.is_bool() {
        Ok(c.cast(DataType::Int64))
    } else if dtype.is_float() {
        Ok(c.cast(DataType::Float64).fill_nan(lit(NULL)))
    } else if matches!(dtype, DataType::Null) {
        Ok(c.cast(DataType::Int64))
    } else {
        Err(Error::schema(
            SchemaCode::NotNumeric,
            format!(
                "column '{name}' of {table} holds {dtype} values, not numbers; parse it first, e.g. pl.col('{name}').str.replace_all(',', '').cast(pl.Int64), or read the file with sk.read_posts, which parses humanised counts"
            ),
        ))
    }
}

/// An unsigned 64-bit column as Int64 (exactly), or `value_out_of_range` when a value is
/// above the Int64 range (polars' cast would make it null and leave it uncounted).
fn unsigned(c: Expr, name: &str, table: &str) -> Expr {
    let what = format!("column '{name}' of {table}");
    c.map(
        move |c: Column| {
            let s = c.as_materialized_series();
            let ca = s.u64()?;
            if ca.max().is_some_and(|m| m > i64::MAX as u64) {
                let above: usize = ca
                    .downcast_iter()
                    .map(|a| a.iter().flatten().filter(|&&v| v > i64::MAX as u64).count())
                    .sum();
                return Err(raised(
                    InputCode::ValueOutOfRange,
                    &format!(
                        "{what} holds {above} values above 9,223,372,036,854,775,807, the largest Int64 that socialkpi adds counts in; values that large are usually a data error: fix them, or cast the column to Float64 to add it approximately"
                    ),
                ));
            }
            Ok(s.cast(&DataType::Int64)?.into_column())
        },
        |_: &Schema, f: &Field| Ok(Field::new(f.name().clone(), DataType::Int64)),
    )
}

/// The local calendar day of `published_at` in the report time zone (naive times are UTC).
pub fn day_expr(name: &str, dtype: &DataType, tz: Option<&str>, table: &str) -> Result<Expr> {
    let c = col(name);
    let utc = || TimeZone::UTC;
    let report = |z: &str| TimeZone::opt_try_new(Some(z)).ok().flatten().unwrap_or_else(utc);
    let datetime = match dtype {
        DataType::Date => return Ok(c),
        DataType::Datetime(_, None) => c,
        DataType::Datetime(_, Some(_)) => c,
        // text that is no datetime becomes null: the row is dropped and counted by the caller
        DataType::String => c.str().to_datetime(
            Some(TimeUnit::Microseconds),
            None,
            StrptimeOptions { strict: false, ..Default::default() },
            lit("raise"),
        ),
        other => {
            return Err(Error::schema(
                SchemaCode::NotTemporal,
                format!("column '{name}' of {table} holds {other} values, not datetimes; convert it, e.g. pl.col('{name}').str.to_datetime()"),
            ))
        }
    };
    let naive = !matches!(dtype, DataType::Datetime(_, Some(_)));
    // a time zone's calendar (chrono) ends about 262,000 years from 1970
    let datetime = match (tz, dtype) {
        (Some(_), DataType::Datetime(unit, _)) => zoned_range(datetime, *unit, name, table),
        _ => datetime,
    };
    let unit = match dtype {
        DataType::Datetime(unit, _) => *unit,
        _ => TimeUnit::Microseconds,
    };
    Ok(match (tz, naive) {
        // naive times are UTC, and zoned ones are stored as UTC instants
        (None, _) => utc_days(datetime, unit),
        (Some(z), true) => datetime
            .dt()
            .replace_time_zone(Some(utc()), lit("raise"), NonExistent::Raise)
            .dt()
            .convert_time_zone(report(z))
            .dt()
            .date(),
        (Some(z), false) => datetime.dt().convert_time_zone(report(z)).dt().date(),
    })
}

/// The UTC calendar day of timestamps, in one pass (polars' `dt.date()` divides into a
/// 64-bit column, then narrows it in another). A day past the 32-bit range is clamped to it:
/// the pass then refuses it as out of its calendar (`periods::days`).
fn utc_days(c: Expr, unit: TimeUnit) -> Expr {
    fn days<const PER_DAY: i64>(ca: &Int64Chunked) -> Int32Chunked {
        let chunks: Vec<PrimitiveArray<i32>> = ca
            .downcast_iter()
            .map(|arr| {
                let days: Vec<i32> = arr
                    .values()
                    .iter()
                    .map(|t| t.div_euclid(PER_DAY).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32)
                    .collect();
                PrimitiveArray::from_vec(days).with_validity(arr.validity().cloned())
            })
            .collect();
        Int32Chunked::from_chunk_iter(ca.name().clone(), chunks)
    }
    c.map(
        move |c: Column| {
            let s = c.as_materialized_series().to_physical_repr();
            let ca = s.i64()?;
            let days = match unit {
                TimeUnit::Nanoseconds => days::<86_400_000_000_000>(ca),
                TimeUnit::Microseconds => days::<86_400_000_000>(ca),
                TimeUnit::Milliseconds => days::<86_400_000>(ca),
            };
            Ok(days.into_date().into_column())
        },
        |_: &Schema, f: &Field| Ok(Field::new(f.name().clone(), DataType::Date)),
    )
}

/// Timestamps as they are, or `date_out_of_range` for one more than 250,000 years from 1970
/// (converting it to a time zone would fail inside polars).
fn zoned_range(c: Expr, unit: TimeUnit, name: &str, table: &str) -> Expr {
    const SECONDS: i64 = 250_000 * 31_557_600;
    let limit = match unit {
        TimeUnit::Nanoseconds => i64::MAX,
        TimeUnit::Microseconds => SECONDS * 1_000_000,
        TimeUnit::Milliseconds => SECONDS * 1_000,
    };
    let what = format!("column '{name}' of {table}");
    c.map(
        move |c: Column| {
            let s = c.as_materialized_series();
            let physical = s.to_physical_repr();
            let ca = physical.i64()?;
            let outside = ca.min().is_some_and(|m| m < -limit) || ca.max().is_some_and(|m| m > limit);
            if outside {
                return Err(raised(
                    InputCode::DateOutOfRange,
                    &format!("{what} holds a time more than 250,000 years from 1970, which cannot be converted to the report's time zone; such times are usually a placeholder or a unit error: fix or filter them"),
                ));
            }
            Ok(c)
        },
        |_: &Schema, f: &Field| Ok(f.clone()),
    )
}

/// A snapshot `date` column as a Date (datetimes from pandas keep their calendar day).
pub fn date_expr(name: &str, dtype: &DataType, table: &str) -> Result<Expr> {
    let c = col(name);
    match dtype {
        DataType::Date => Ok(c),
        DataType::Datetime(_, _) => Ok(c.dt().date()),
        // ISO dates, and datetimes whose date part is read (`2026-01-31T23:45:00Z`); text that
        // is no date becomes null and is counted by the caller
        DataType::String => {
            let lenient = StrptimeOptions {
                strict: false,
                ..Default::default()
            };
            Ok(coalesce(&[
                c.clone().str().to_date(lenient.clone()),
                c.str()
                    .to_datetime(Some(TimeUnit::Microseconds), None, lenient, lit("raise"))
                    .dt()
                    .date(),
            ]))
        }
        other => Err(Error::schema(
            SchemaCode::NotTemporal,
            format!("column '{name}' of {table} holds {other} values, not dates; convert it, e.g. pl.col('{name}').str.to_date()"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parquet_file_cut_short_is_unreadable_not_a_panic() -> std::result::Result<(), Box<dyn std::error::Error>> {
        let path = std::env::temp_dir().join(format!("sk-footer-{}.parquet", std::process::id()));
        let mut df = df!("post_id" => ["a", "b", "c"], "likes" => [1_i64, 2, 3])?;
        ParquetWriter::new(std::fs::File::create(&path)?).finish(&mut df)?;
        let p = path.to_string_lossy().to_string();
        let whole = std::fs::read(&path)?;
        assert_eq!(ParquetFile::open(&p).map(|f| f.metadata.num_rows), Some(3));
        for cut in [whole.len() - 1, whole.len() - 8, whole.len() / 2, 4] {
            std::fs::write(&path, &whole[..cut])?;
            assert!(ParquetFile::open(&p).is_none());
            assert_eq!(
                scan(std::slice::from_ref(&p)).err().map(|e| e.code()),
                Some("unreadable_file")
            );
        }
        std::fs::remove_file(&path)?;
        Ok(())
    }

    #[test]
    fn parquet_globs_expand_to_their_files_in_order() -> std::result::Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("sk-glob-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub.parquet"))?;
        let mut df = df!("post_id" => ["a", "b"], "likes" => [1_i64, 2])?;
        for name in ["b.parquet", "a.parquet"] {
            ParquetWriter::new(std::fs::File::create(dir.join(name))?).finish(&mut df)?;
        }
        std::fs::write(dir.join("empty.parquet"), b"")?;
        let pattern = format!("{}/*.parquet", dir.display());
        let found = expand_parquet_globs(&[pattern.clone(), "x.csv".into()])?;
        let want = [dir.join("a.parquet"), dir.join("b.parquet")].map(|p| p.display().to_string());
        assert_eq!(found, [&want[..], &["x.csv".to_string()]].concat());
        let none = expand_parquet_globs(&[format!("{}/*.pq", dir.display())]);
        assert_eq!(none.err().map(|e| e.code()), Some("file_not_found"));
        let rows = scan(&[pattern])?.select([len()]).collect()?;
        assert_eq!(rows.column("len")?.get(0)?, AnyValue::UInt32(4));
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn text_counts_are_rejected_with_a_hint() {
        let err = count_expr("likes", &DataType::String, "posts")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("'likes'") && err.contains("cast(pl.Int64)"));
    }

    #[test]
    fn unsigned_values_above_the_range_are_an_error() -> Result<()> {
        let df = df!("u" => [1_u64, u64::MAX])?;
        let err = df.clone().lazy().select([unsigned(col("u"), "u", "posts")]).collect();
        assert_eq!(err.err().map(|e| Error::from(e).code()), Some("value_out_of_range"));
        let ok = df!("u" => [1_u64, i64::MAX as u64])?
            .lazy()
            .select([unsigned(col("u"), "u", "posts")])
            .collect()?;
        assert_eq!(ok.column("u")?.i64()?.get(1), Some(i64::MAX));
        Ok(())
    }

    #[test]
    fn days_follow_the_report_zone() -> Result<()> {
        // 2024-01-31 23:30 UTC is already 1 February in Berlin.
        let ts = Series::new("published_at".into(), [1_706_743_800_000_000_i64])
            .cast(&DataType::Datetime(TimeUnit::Microseconds, None))?;
        let df = DataFrame::new(1, vec![ts.into()])?;
        let dtype = df.schema().get("published_at").cloned().unwrap_or(DataType::Null);
        let utc = df
            .clone()
            .lazy()
            .select([day_expr("published_at", &dtype, None, "posts")?])
            .collect()?;
        let berlin = df
            .lazy()
            .select([day_expr("published_at", &dtype, Some("Europe/Berlin"), "posts")?])
            .collect()?;
        let day = |d: &DataFrame| d.columns()[0].get(0).map(|v| v.to_string()).unwrap_or_default();
        assert_eq!(day(&utc), "2024-01-31");
        assert_eq!(day(&berlin), "2024-02-01");
        Ok(())
    }

    #[test]
    fn utc_days_equal_polars_dates_in_every_unit() -> Result<()> {
        // before and after 1970, at midnight and a tick before it, missing, and past the
        // 32-bit range of days (clamped: the pass refuses it then)
        const DAY_US: i64 = 86_400_000_000;
        let micros = [
            Some(0),
            Some(-1),
            Some(-DAY_US),
            Some(-DAY_US - 1),
            Some(DAY_US - 1),
            None,
            Some(1_706_743_800_000_000),
        ];
        for (unit, per_us) in [
            (TimeUnit::Milliseconds, 1_000),
            (TimeUnit::Microseconds, 1),
            (TimeUnit::Nanoseconds, -1_000),
        ] {
            let scale = |t: i64| if per_us > 0 { t.div_euclid(per_us) } else { t * -per_us };
            let values: Vec<Option<i64>> = micros.iter().map(|t| t.map(scale)).collect();
            let df = DataFrame::new(
                values.len(),
                vec![Column::new("t".into(), values).cast(&DataType::Datetime(unit, Some(TimeZone::UTC)))?],
            )?;
            let days = df.clone().lazy().select([utc_days(col("t"), unit)]).collect()?;
            let dates = df.lazy().select([col("t").dt().date()]).collect()?;
            assert_eq!(days.columns()[0].dtype(), &DataType::Date);
            assert!(days.equals_missing(&dates), "{unit:?}: {days} {dates}");
        }
        let far = DataFrame::new(
            1,
            vec![Column::new("t".into(), [i64::MAX]).cast(&DataType::Datetime(TimeUnit::Milliseconds, None))?],
        )?;
        let days = far
            .lazy()
            .select([utc_days(col("t"), TimeUnit::Milliseconds)])
            .collect()?;
        assert_eq!(days.columns()[0].date()?.physical().get(0), Some(i32::MAX));
        Ok(())
    }
}
