//! The posts pass's side of `crate::overflow`: each summed column's running bound, and what
//! a column is in an error's words.

use crate::error::Result;
pub(super) use crate::overflow::{bound, check_table_sums, check_wrapped, fits, sum_error};

/// What a column is, in the words of an error message.
pub(super) fn describe(column: &str) -> String {
    if column == super::posts::ENG {
        "the posts' engagements".to_string()
    } else if column.starts_with("__") {
        "a formula's per-post values".to_string()
    } else {
        format!("column '{column}' of posts")
    }
}

/// Adds a batch's bound to a column's running one; an error once it reaches 2^63.
pub(super) fn add_bound(total: &mut u128, batch: u128, column: &str) -> Result<()> {
    *total = total.saturating_add(batch);
    if !fits(*total) {
        return Err(sum_error(&describe(column)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    #[test]
    fn running_bounds_stop_at_two_to_the_63() {
        let max = Int64Chunked::from_iter_options("x".into(), [Some(i64::MAX)].into_iter());
        let mut total = 0u128;
        assert!(add_bound(&mut total, bound(&max, None), "likes").is_ok());
        let err = add_bound(&mut total, 1, "likes").err().map(|e| e.code());
        assert_eq!(err, Some("integer_overflow"));
    }
}
