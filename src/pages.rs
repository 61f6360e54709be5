//! Transparent huge pages, off while a run fills fresh buffers.
//!
//! Where the kernel backs every anonymous mapping with 2 MB pages (`always`, as on the machines
//! we measure on), the first touch of each fresh buffer makes the kernel clear and often compact
//! whole huge pages: reading a 1 GB export spent 3.7-4.0 s of system time, against 2.1-2.3 s
//! with 4 kB pages, and the run's wall time fell by about 0.8 s (polars' own reader, which
//! touches half as much fresh memory, gains nothing measurable). `compute` gains as much: the
//! 24-KPI report over 20M posts took 4.4-4.7 s against 5.0-6.1 s, a report of 50 formula KPIs
//! 5.6-5.7 s against 6.4-7.5 s (perf: a third of the time in `clear_page_erms`). Runs therefore
//! turn them off for the process with `prctl(PR_SET_THP_DISABLE)`, and the last run to end
//! restores the setting found; pages mapped meanwhile stay ordinary 4 kB pages, which changes
//! nothing but speed.

/// A process-wide setting shared by the runs going on (threads of one process): the first run
/// to start changes it, the last one to end restores what the first found.
struct Shared<T> {
    /// Runs going on, and the setting found (None: it was not changed).
    runs: std::sync::Mutex<(usize, Option<T>)>,
}

impl<T> Shared<T> {
    const fn new() -> Self {
        Self {
            runs: std::sync::Mutex::new((0, None)),
        }
    }

    /// A run starts: the first one calls `change`, which gives the setting it found.
    fn enter(&self, change: impl FnOnce() -> Option<T>) {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        if runs.0 == 0 {
            runs.1 = change();
        }
        runs.0 += 1;
    }

    /// A run ends: the last one calls `restore` with the setting found.
    fn leave(&self, restore: impl FnOnce(T)) {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        runs.0 -= 1;
        if runs.0 == 0 {
            if let Some(found) = runs.1.take() {
                restore(found);
            }
        }
    }
}

/// The huge-page setting that `SmallPages` changed.
static SMALL: Shared<std::ffi::c_int> = Shared::new();

/// Turns transparent huge pages off until dropped (a no-op off Linux or when refused); runs at
/// once share the setting (`Shared`).
pub struct SmallPages {
    _private: (),
}

impl SmallPages {
    pub fn new() -> Self {
        SMALL.enter(turn_off);
        SmallPages { _private: () }
    }
}

/// Turns huge pages off for the process; the setting before, when it was changed.
fn turn_off() -> Option<std::ffi::c_int> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_GET/SET_THP_DISABLE take no pointers; they only read or set a flag
        // of this process.
        let previous = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        let set = previous == 0 && unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) } == 0;
        set.then_some(previous)
    }
    #[cfg(not(target_os = "linux"))]
    None
}

impl Default for SmallPages {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for SmallPages {
    fn drop(&mut self) {
        SMALL.leave(|_previous| {
            #[cfg(target_os = "linux")]
            // SAFETY: as in `turn_off`.
            unsafe {
                libc::prctl(libc::PR_SET_THP_DISABLE, _previous, 0, 0, 0);
            }
        });
    }
}

/// mimalloc's `mi_option_purge_delay` (not named by libmimalloc-sys for mimalloc v3).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// The purge delay that `KeptPages` changed.
static KEPT: Shared<std::ffi::c_long> = Shared::new();

/// Keeps the pages that a run frees committed until the last run ends, then hands them back.
///
/// A run frees and allocates batch-sized buffers all along; by default mimalloc returns freed
/// pages to the system a second later, and the next batch takes fresh ones, which the kernel
/// must clear again (a third of the faults of the 24-KPI report over 20M posts, 460k against
/// 315k, and about 8% of its time). Purging is therefore off while runs go on, and the pages
/// go back, all at once, when the last one ends, and the delay found before is restored.
pub struct KeptPages {
    _private: (),
}

impl KeptPages {
    pub fn new() -> Self {
        KEPT.enter(|| {
            // SAFETY: reads and sets an option of the allocator; they take no pointers.
            let found = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
            unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, -1) };
            Some(found)
        });
        KeptPages { _private: () }
    }
}

impl Default for KeptPages {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for KeptPages {
    fn drop(&mut self) {
        KEPT.leave(|found| {
            // SAFETY: as in `new`; collecting only releases free memory.
            unsafe {
                libmimalloc_sys::mi_option_set(PURGE_DELAY, found);
                libmimalloc_sys::mi_collect(true);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_is_restored() {
        #[cfg(target_os = "linux")]
        {
            // SAFETY: reads a flag of this process.
            let get = || unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
            let before = get();
            {
                let first = SmallPages::new();
                let second = SmallPages::new();
                assert!(get() == 1 || before != 0);
                // the first run to end leaves the pages off for the other one
                drop(first);
                assert!(get() == 1 || before != 0);
                drop(second);
            }
            assert_eq!(before, get());
        }
    }

    #[test]
    fn purging_is_off_while_a_run_goes_on() {
        // SAFETY: reads an option of the allocator.
        let get = || unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        let before = get();
        {
            let _a = KeptPages::new();
            let _b = KeptPages::new();
            assert_eq!(get(), -1);
        }
        assert_eq!(get(), before);
    }
}
