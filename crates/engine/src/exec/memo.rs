//! What a run made of its accounts table, kept for the next run of the same request over the
//! same table. A cluster run makes the states of each partition of the posts beside the whole
//! accounts table: without this, every partition would load the same snapshots, add up the
//! same accounts' states, build the same followers-at-post lookup and fingerprint the same
//! table again (most of a partition's work
//! when partitions are a million posts and the snapshots a year of 5,000 accounts).
//!
//! The memo is the caller's: it holds what it keeps for as long as the caller holds it (the
//! Python side ties it to the shipped table, which a worker drops when its run ends), and it
//! knows nothing of the table itself: the caller gives it the same table each time.

use super::accounts::Snapshots;
use crate::states::RowAccount;
use polars::prelude::DataFrame;
use std::sync::{Arc, Mutex, OnceLock};

/// The accounts' flows and their follower snapshots' states.
pub(super) type AccountStates = (DataFrame, Option<DataFrame>);

/// A memo of one accounts table (see the module); `request` is a hash of the states' spec.
#[derive(Default)]
pub struct AccountsMemo {
    made: Mutex<Option<Arc<Made>>>,
}

/// What one request made of the table.
pub(super) struct Made {
    request: u64,
    pub(super) snapshots: Arc<Snapshots>,
    /// The load's rows read and dropped, and its warnings.
    pub(super) rows: RowAccount,
    pub(super) states: OnceLock<AccountStates>,
    /// The posts pass's followers-at-post lookup (its codes are those of a fresh pass).
    pub(super) followers: OnceLock<super::posts::FollowerLookup>,
    pub(super) fingerprint: OnceLock<u64>,
}

impl AccountsMemo {
    /// What the request `request` made of the table, when it was made before.
    pub(super) fn get(&self, request: u64) -> Option<Arc<Made>> {
        let made = self.made.lock().unwrap_or_else(|e| e.into_inner());
        made.as_ref().filter(|m| m.request == request).cloned()
    }

    /// Keeps the snapshots a request loaded (replacing another request's), and gives what
    /// the rest of the run adds to.
    pub(super) fn keep(&self, request: u64, snapshots: Arc<Snapshots>, rows: RowAccount) -> Arc<Made> {
        let made = Arc::new(Made {
            request,
            snapshots,
            rows: RowAccount {
                stages: Vec::new(),
                ..rows
            },
            states: OnceLock::new(),
            followers: OnceLock::new(),
            fingerprint: OnceLock::new(),
        });
        *self.made.lock().unwrap_or_else(|e| e.into_inner()) = Some(made.clone());
        made
    }

    /// The table's fingerprint, from `make` the first time.
    pub fn fingerprint(
        &self,
        request: u64,
        make: impl FnOnce() -> crate::error::Result<u64>,
    ) -> crate::error::Result<u64> {
        match self.get(request) {
            Some(made) => match made.fingerprint.get() {
                Some(&print) => Ok(print),
                None => {
                    let print = make()?;
                    Ok(*made.fingerprint.get_or_init(|| print))
                }
            },
            None => make(),
        }
    }
}
