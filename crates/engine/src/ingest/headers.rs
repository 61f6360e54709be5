//! The headers named in a read's arguments checked against the files (the mapping itself is
//! in `mapping`, which builds without polars for the fuzzer).

use super::mapping::{daily_header, MapCode, MapError, Options};
pub(super) use super::mapping::{find_preset, map_headers};
use super::presets::fold;
use super::read::RawFile;
use crate::error::SchemaCode;
use crate::error::{did_you_mean, suggest, Error, Result};

/// A header of `columns=`, `snapshot=` or `daily=` that no file has is a mistake worth naming.
pub(super) fn check_headers_exist(files: &[RawFile], opts: &Options) -> Result<()> {
    let all: Vec<String> = files
        .iter()
        .flat_map(|f| f.frame.get_column_names().into_iter().map(|n| n.to_string()))
        .collect();
    let folded: Vec<String> = all.iter().map(|h| fold(h)).collect();
    let wanted = opts
        .columns
        .iter()
        .map(|(h, _)| (h.as_str(), "columns="))
        .chain(opts.snapshot.iter().map(|h| (h.as_str(), "snapshot=")))
        .chain(daily_header(opts).map(|h| (h, "daily=")));
    for (header, what) in wanted {
        if !folded.contains(&fold(header)) {
            return Err(Error::schema(
                SchemaCode::MissingColumn,
                format!(
                    "{what} names the header '{header}', which no file has{}; the headers are {}",
                    did_you_mean(&suggest(header, all.iter().map(String::as_str))),
                    all.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

impl From<MapError> for Error {
    fn from(e: MapError) -> Error {
        match e.code {
            MapCode::Query(code) => Error::query(code, e.message),
            MapCode::Schema(code) => Error::schema(code, e.message),
        }
    }
}
