//! States as one frame and one Parquet file: every block's rows stacked with a `state_block`
//! column, and the spec with what each block holds in the file's key-value metadata
//! (docs/states.md describes both, so that other tools can read them).

use super::RowAccount;
use super::{Block, PartialStates, Source, Spec, StateColumn, States};
use crate::error::{Error, InputCode, Result};
use polars::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The version of the states' layout; a file of another version does not load.
/// 2: the states of formula KPIs over plain columns are the posts' own (`s:<column>`, ...).
pub const SCHEMA_VERSION: u32 = 2;
/// The key of the file's metadata that holds `Header`.
const KEY: &str = "socialkpi.states";
const BLOCK: &str = "state_block";
const POST_IDS: &str = "post_ids";
const POST_ID_HASH: &str = "post_id_hash";
const COVERAGE: &str = "coverage";
/// The coverage frame's columns, named apart from the blocks' keys.
const COVERAGE_COLUMNS: [(&str, &str); 4] = [
    ("table", "coverage_table"),
    ("account_id", "coverage_account_id"),
    ("first", "coverage_first"),
    ("last", "coverage_last"),
];

/// What the frame's rows are, beside them.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    schema_version: u32,
    spec: Spec,
    blocks: Vec<BlockHeader>,
    post_ids: bool,
    rows_read: Vec<(String, u64)>,
    rows_dropped: Vec<(String, String, u64)>,
    warnings: Vec<String>,
    components: Vec<String>,
    platform_components: Vec<(String, Vec<String>)>,
}

#[derive(Debug, Serialize, Deserialize)]
struct BlockHeader {
    source: String,
    /// As decimal text: other tools read JSON numbers as doubles.
    fingerprints: Vec<String>,
    columns: Vec<String>,
}

/// The states as one frame (each row a block's row, `state_block` naming the block), and the
/// header that says what the blocks hold, as JSON.
pub fn to_frame(states: &States) -> Result<(DataFrame, String)> {
    frame_of(states, true)
}

/// `to_frame` without the post ids' rows (the header says none are kept), for states that
/// travel with their ids apart (`States::post_ids`, 8 bytes a post, where a row of the frame
/// holds every column).
pub fn to_frame_without_ids(states: &States) -> Result<(DataFrame, String)> {
    frame_of(states, false)
}

fn frame_of(states: &States, with_ids: bool) -> Result<(DataFrame, String)> {
    let s = &states.states;
    let ids = s.post_ids.as_ref().filter(|_| with_ids);
    let mut parts: Vec<(String, DataFrame)> = s
        .blocks
        .iter()
        .map(|b| (b.source.name().to_string(), b.frame.clone()))
        .collect();
    if let Some(ids) = ids {
        let ids = ids.sorted();
        let ids = DataFrame::new(ids.len(), vec![Column::new(POST_ID_HASH.into(), ids)])?;
        parts.push((POST_IDS.to_string(), ids));
    }
    let mut coverage = s.coverage.clone();
    for (from, to) in COVERAGE_COLUMNS {
        coverage.rename(from, to.into())?;
    }
    parts.push((COVERAGE.to_string(), coverage));
    let header = Header {
        schema_version: SCHEMA_VERSION,
        spec: states.spec.clone(),
        blocks: s
            .blocks
            .iter()
            .map(|b| BlockHeader {
                source: b.source.name().to_string(),
                fingerprints: b.fingerprints.iter().map(u64::to_string).collect(),
                columns: b
                    .frame
                    .get_column_names_owned()
                    .into_iter()
                    .map(|c| c.to_string())
                    .collect(),
            })
            .collect(),
        post_ids: ids.is_some(),
        rows_read: s.rows.read.clone(),
        rows_dropped: s.rows.dropped.clone(),
        warnings: s.warnings.clone(),
        components: s.components.clone(),
        platform_components: s.platform_components.clone(),
    };
    let header = serde_json::to_string(&header).map_err(|e| Error::Internal(format!("states header: {e}")))?;
    Ok((union(parts)?, header))
}

/// Frames stacked under the union of their columns (a column two frames type differently
/// takes their common supertype), each row tagged with its frame's name.
fn union(parts: Vec<(String, DataFrame)>) -> Result<DataFrame> {
    let mut schema: Vec<(PlSmallStr, DataType)> = vec![(BLOCK.into(), DataType::String)];
    for (_, df) in &parts {
        for c in df.columns() {
            match schema.iter_mut().find(|(n, _)| n == c.name()) {
                Some((_, t)) => *t = polars_core::utils::try_get_supertype(t, c.dtype())?,
                None => schema.push((c.name().clone(), c.dtype().clone())),
            }
        }
    }
    let mut out: Option<DataFrame> = None;
    for (name, df) in parts {
        let n = df.height();
        let columns = schema
            .iter()
            .map(|(c, t)| -> Result<Column> {
                Ok(if c.as_str() == BLOCK {
                    Column::new_scalar(
                        c.clone(),
                        Scalar::new(DataType::String, AnyValue::StringOwned(name.as_str().into())),
                        n,
                    )
                } else {
                    match df.column(c) {
                        Ok(have) => have.cast(t)?,
                        Err(_) => Column::full_null(c.clone(), n, t),
                    }
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let df = DataFrame::new(n, columns)?;
        out = Some(match out {
            None => df,
            Some(mut all) => {
                all.vstack_mut(&df)?;
                all
            }
        });
    }
    out.ok_or_else(|| Error::Internal("states without blocks".into()))
}

/// Writes states to one Parquet file, through a file beside it that takes its place only
/// once whole (a failed save leaves the old file as it was). The file beside it is named for
/// this save alone, so saves at once (threads, processes, `x.json` and `x.parquet`) never
/// write into each other's.
pub fn save(states: &States, path: &str) -> Result<()> {
    static SAVES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let (mut frame, header) = to_frame(states)?;
    let target = std::path::Path::new(path);
    let save = SAVES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}-{save}.partial", std::process::id()));
    let partial = target.with_file_name(name);
    let unwritable =
        |e: &dyn std::fmt::Display| Error::input(InputCode::UnwritableFile, format!("cannot write {path}: {e}"));
    let written = (|| -> Result<()> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&partial)
            .map_err(|e| unwritable(&e))?;
        let metadata = polars::io::parquet::write::KeyValueMetadata::Static(vec![polars_parquet::write::KeyValue {
            key: KEY.to_string(),
            value: Some(header),
        }]);
        // (a full disk or a file size limit fails the write: the file cannot be written)
        ParquetWriter::new(file)
            .with_key_value_metadata(Some(metadata))
            .finish(&mut frame)
            .map_err(|e| unwritable(&e))?;
        std::fs::rename(&partial, target).map_err(|e| unwritable(&e))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written
}

/// Reads states that `save` wrote; any other file is a typed error.
pub fn load(path: &str) -> Result<States> {
    let not_states = |why: String| {
        Error::input(
            InputCode::NotAStatesFile,
            format!("{path} is not a socialkpi states file: {why}"),
        )
    };
    let file = std::fs::File::open(path)
        .map_err(|e| Error::input(InputCode::UnreadableFile, format!("cannot open {path}: {e}")))?;
    let mut reader = ParquetReader::new(file);
    let metadata = reader
        .get_metadata()
        .map_err(|e| not_states(format!("it does not read as Parquet ({e})")))?;
    let text = metadata
        .key_value_metadata()
        .as_ref()
        .and_then(|kv| kv.iter().find(|k| k.key == KEY))
        .and_then(|k| k.value.clone())
        .ok_or_else(|| not_states("it has no states header (it was not written by States.save)".into()))?;
    let header = read_header(&text, path)?;
    let frame = reader
        .finish()
        .map_err(|e| not_states(format!("its rows do not read ({e})")))?;
    from_frame(frame, header).map_err(|e| not_states(e.to_string()))
}

/// States from the frame and header of `to_frame` (states moved between processes as Arrow).
pub fn from_parts(frame: DataFrame, header: &str) -> Result<States> {
    const WHAT: &str = "the states' frame";
    let header = read_header(header, WHAT)?;
    from_frame(frame, header).map_err(|e| {
        Error::input(
            InputCode::NotAStatesFile,
            format!("{WHAT} does not read as states: {e}"),
        )
    })
}

/// The header of states from `what` (a file's path, or words), checked to be of this version.
fn read_header(text: &str, what: &str) -> Result<Header> {
    let not_states = |why: String| {
        Error::input(
            InputCode::NotAStatesFile,
            format!("{what} is not socialkpi states: {why}"),
        )
    };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| not_states(format!("its header does not read ({e})")))?;
    let found = value.get("schema_version").and_then(serde_json::Value::as_u64);
    if found != Some(u64::from(SCHEMA_VERSION)) {
        return Err(Error::input(
            InputCode::StatesVersion,
            format!(
                "{what} holds states of schema version {}, and this socialkpi reads version {SCHEMA_VERSION}; make the states again with this version",
                found.map_or("(none)".to_string(), |v| v.to_string())
            ),
        ));
    }
    serde_json::from_value(value).map_err(|e| not_states(format!("its header does not read ({e})")))
}

/// The rows of one block, in the columns the header gives it.
fn rows_of(frame: &DataFrame, block: &str, columns: &[String]) -> Result<DataFrame> {
    Ok(frame
        .clone()
        .lazy()
        .filter(col(BLOCK).eq(lit(block)))
        .select(columns.iter().map(|c| col(c.as_str())).collect::<Vec<_>>())
        .collect()?)
}

fn from_frame(frame: DataFrame, header: Header) -> Result<States> {
    // (the callers say which file or frame does not read)
    let unread = |why: String| Error::input(InputCode::NotAStatesFile, why);
    let mut blocks = Vec::with_capacity(header.blocks.len());
    for b in &header.blocks {
        let source =
            Source::parse(&b.source).ok_or_else(|| unread(format!("its header names a block '{}'", b.source)))?;
        let fingerprints: BTreeSet<u64> = b
            .fingerprints
            .iter()
            .map(|f| f.parse::<u64>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| unread(format!("a fingerprint of its header does not read: {e}")))?;
        blocks.push(Block {
            source,
            fingerprints,
            frame: rows_of(&frame, source.name(), &b.columns)?,
        });
    }
    let plan = header.spec.plan(&header.spec.request(None, None, None))?;
    for block in &blocks {
        check_block(block, &plan)?;
    }
    let post_ids = if header.post_ids {
        let ids = rows_of(&frame, POST_IDS, &[POST_ID_HASH.to_string()])?;
        let ids = ids.column(POST_ID_HASH)?.cast(&DataType::UInt64)?;
        // a file written by another tool may hold them in any order: the overlap check of a
        // merge needs them sorted, and a post once
        let ids: Vec<u64> = ids.u64()?.into_no_null_iter().collect();
        Some(super::PostIds::checked(ids).map_err(unread)?)
    } else {
        None
    };
    let coverage_columns: Vec<String> = COVERAGE_COLUMNS.iter().map(|(_, c)| c.to_string()).collect();
    let mut coverage = rows_of(&frame, COVERAGE, &coverage_columns)?;
    for (to, from) in COVERAGE_COLUMNS {
        coverage.rename(from, to.into())?;
    }
    States {
        spec: header.spec,
        states: PartialStates {
            blocks,
            post_ids,
            coverage,
            rows: RowAccount {
                read: header.rows_read,
                dropped: header.rows_dropped,
                ..Default::default()
            },
            warnings: header.warnings,
            components: header.components,
            platform_components: header.platform_components,
        },
    }
    .sharing_blocks()
}

/// Whether a state column has its type: a count Int64, a day Date, a sum a number.
fn state_type_fits(c: &StateColumn, dtype: &DataType) -> bool {
    if c.is_day() {
        dtype == &DataType::Date
    } else if c.counts() {
        dtype == &DataType::Int64
    } else {
        dtype.is_primitive_numeric()
    }
}

/// A block as its header says: its keys those of the states' request (a frame whose keys
/// say another request, as an edited header's would, is not read), each group in one row,
/// and every other column a state of the block's table (schema::StateColumn) in its type.
fn check_block(block: &Block, plan: &crate::plan::Plan) -> Result<()> {
    use crate::plan::PERIOD;
    let (frame, name) = (&block.frame, block.source.name());
    let unread = |why: String| Error::input(InputCode::NotAStatesFile, format!("its {name} block {why}"));
    let period = plan.every.as_ref().map(|_| PERIOD.to_string());
    // the keys every row has, and those a block may also hold (a snapshot's attributes)
    let (keys, attributes): (Vec<String>, Vec<String>) = match block.source {
        Source::Snapshots => (
            plan.account_key.iter().cloned().chain(period).collect(),
            plan.by.clone(),
        ),
        _ => (crate::plan::output_keys(plan), Vec::new()),
    };
    for key in &keys {
        if frame.column(key).is_err() {
            return Err(unread(format!(
                "has no column '{key}', a key of the request its header names"
            )));
        }
    }
    let periods = keys.iter().any(|k| k == PERIOD);
    for column in frame.columns() {
        let (column_name, dtype) = (column.name().as_str(), column.dtype());
        if column_name == PERIOD {
            if !periods || dtype != &DataType::Date {
                let request = if periods {
                    "has periods of days (Date)"
                } else {
                    "has no periods"
                };
                return Err(unread(format!(
                    "has '{PERIOD}' as {dtype}, and its header's request {request}"
                )));
            }
            continue;
        }
        if keys.iter().chain(&attributes).any(|k| k == column_name) {
            continue;
        }
        match StateColumn::parse(column_name) {
            Some(c) if c.source() == block.source && state_type_fits(&c, dtype) => {}
            Some(c) if c.source() == block.source => {
                return Err(unread(format!(
                    "has its state '{column_name}' as {dtype}; states files keep counts as Int64, days as Date and sums as numbers (a round trip through pandas makes counts Float64: read the frame with polars)"
                )))
            }
            _ => return Err(unread(format!("has a column '{column_name}' that is not one of its states"))),
        }
    }
    let groups = frame
        .clone()
        .lazy()
        .group_by(keys.iter().map(|k| col(k.as_str())).collect::<Vec<_>>())
        .agg([len()])
        .collect()?;
    if groups.height() < frame.height() {
        return Err(unread(format!(
            "holds a group in more than one row (by {}): its rows are not the states of the request its header names",
            keys.join(", ")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_a_header_is_not_states() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("sk-states-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| Error::Internal(e.to_string()))?;
        let path = dir.join("plain.parquet");
        let mut df = df!("a" => [1_i64, 2])?;
        let file = std::fs::File::create(&path).map_err(|e| Error::Internal(e.to_string()))?;
        ParquetWriter::new(file).finish(&mut df)?;
        let err = load(&path.to_string_lossy()).err();
        assert_eq!(err.map(|e| e.code()), Some("not_a_states_file"));
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
