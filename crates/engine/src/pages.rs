//! socialkpi's own memory: where its allocator gets its pages, and when it hands them back.
//!
//! Everything here touches only the memory of socialkpi's allocator, the mimalloc built into
//! this library (`Allocator`), through which the engine and the polars crate inside it
//! allocate. Python, Python polars, numpy, other threads' allocations and child processes keep
//! the kernel's settings: nothing here is process-wide (no `prctl`, no environment variable).
//!
//! Huge pages. Where the kernel backs anonymous memory with transparent 2 MB pages (`always`,
//! or `madvise` for mappings that ask, as mimalloc's own arenas do), the first touch of each
//! fresh buffer makes the kernel clear and often compact whole huge pages. Measured under
//! `always` (when runs still turned huge pages off for the whole process): the 24-KPI report
//! over 20M posts took 4.4-4.7 s with 4 kB pages against 5.0-6.1 s, a report of 50 formula KPIs
//! 5.6-5.7 s against 6.4-7.5 s, reading a 1 GB export spent 2.1-2.3 s of system time against
//! 3.7-4.0 s (perf: a third of the time in `clear_page_erms`). So the allocator takes its pages
//! from one region that socialkpi maps itself and advises `MADV_NOHUGEPAGE` (advice on its own
//! mapping only), and mimalloc is built without its own huge-page advice (`no_thp`), which
//! keeps the memory it maps beyond the region (`region::map`) off huge pages too where the
//! kernel's setting is `madvise`.
//!
//! Handing pages back. By default mimalloc returns freed pages to the system a second after
//! they are freed, and only when it is next called: an idle process keeps them. So outside
//! runs, socialkpi's allocator hands freed pages back at once (the result a user drops, too).
//! A run, though, frees and allocates batch-sized buffers all along, and fresh pages must be
//! cleared by the kernel again (a third of the faults of the 24-KPI report over 20M posts,
//! 460k against 315k, and about 8% of its time). So while runs go on, freed pages are kept
//! (`KeptPages`), and when the last run ends, every thread of socialkpi's pool collects its
//! free pages and all of them go back to the system at once: on a thread of its own, started
//! as the run returns its result (`wait_handed_back` waits for it).

/// A setting of socialkpi's allocator shared by the runs going on (threads of one process): the
/// first run to start changes it; once the last one has ended, `restore` puts back what the
/// first found (unless another run started meanwhile: it then goes on with the setting).
struct Shared<T> {
    /// Runs going on, and the setting found (None: it was not changed, or it was restored).
    runs: std::sync::Mutex<(usize, Option<T>)>,
    /// Told when a setting is restored.
    restored: std::sync::Condvar,
}

impl<T> Shared<T> {
    const fn new() -> Self {
        Self {
            runs: std::sync::Mutex::new((0, None)),
            restored: std::sync::Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (usize, Option<T>)> {
        self.runs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A run starts: the first one calls `change`, which gives the setting it found (while a
    /// restore is still to come, the setting is still changed: it stays).
    fn enter(&self, change: impl FnOnce() -> Option<T>) {
        let mut runs = self.lock();
        if runs.0 == 0 && runs.1.is_none() {
            runs.1 = change();
        }
        runs.0 += 1;
    }

    /// A run ends: whether it was the last one and a setting is to be restored.
    fn leave(&self) -> bool {
        let mut runs = self.lock();
        runs.0 -= 1;
        runs.0 == 0 && runs.1.is_some()
    }

    /// Calls `restore` with the setting found, when no run goes on.
    fn restore(&self, restore: impl FnOnce(T)) {
        let mut runs = self.lock();
        if runs.0 == 0 {
            if let Some(found) = runs.1.take() {
                restore(found);
            }
        }
        self.restored.notify_all();
    }

    /// Waits until no restore is to come.
    fn wait_restored(&self) {
        let mut runs = self.lock();
        while runs.0 == 0 && runs.1.is_some() {
            runs = self.restored.wait(runs).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// mimalloc's `mi_option_purge_delay` (not named by libmimalloc-sys for mimalloc v3).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// The purge delay outside runs: freed pages go back at once.
const HANDED_BACK: std::ffi::c_long = 0;

/// The purge delay while runs go on, in ms: a day. Not "never" (-1): mimalloc does not even
/// note the pages freed while purging is off, and they would stay committed after the run.
const KEPT_DELAY: std::ffi::c_long = 86_400_000;

/// The purge delay that `KeptPages` changed.
static KEPT: Shared<std::ffi::c_long> = Shared::new();

/// Keeps the pages that runs free committed until the last run ends, then hands them back.
pub struct KeptPages {
    _private: (),
}

impl KeptPages {
    pub fn new() -> Self {
        KEPT.enter(|| {
            // SAFETY: reads and sets an option of socialkpi's allocator; they take no pointers.
            let found = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
            unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, KEPT_DELAY) };
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
    /// The last run hands the pages back on a thread of its own, so that its caller has the
    /// result without waiting for it (some 30 ms after a run over 20M posts; a thread that
    /// cannot be started leaves the work to this one).
    fn drop(&mut self) {
        if !KEPT.leave() {
            return;
        }
        let handing_back = std::thread::Builder::new()
            .name("socialkpi-hand-back".into())
            .spawn(hand_back_kept);
        if handing_back.is_err() {
            hand_back_kept();
        }
    }
}

/// Hands the kept pages back, and purges freed pages at once again (unless a run started
/// meanwhile: it keeps them, and the last run to end hands them back).
fn hand_back_kept() {
    KEPT.restore(|found| {
        // first: with a delay of 0, mimalloc would purge nothing of what it has noted
        hand_back();
        // SAFETY: as in `KeptPages::new`.
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, found) };
    });
}

/// Waits until the pages kept by the runs that ended are handed back.
pub fn wait_handed_back() {
    KEPT.wait_restored();
}

/// Hands the allocator's free pages back to the system. Each thread keeps free pages of its
/// own (and the blocks other threads freed into them) until it collects, so every thread of
/// the pool collects first; the last collection purges them all, at once.
fn hand_back() {
    // SAFETY: collecting only releases memory that no block uses.
    let collect = |_: rayon::BroadcastContext<'_>| unsafe { libmimalloc_sys::mi_collect(true) };
    polars_core::runtime::THREAD_POOL.broadcast(collect);
    // SAFETY: as above.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

/// socialkpi's global allocator: mimalloc, given its region (`region::give`) before its first
/// allocation, so that mimalloc never maps an arena of its own while the region has room.
pub struct Allocator;

// SAFETY: every call goes to mimalloc's `GlobalAlloc`; `region::give` allocates nothing.
unsafe impl std::alloc::GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        region::give();
        // SAFETY: the caller's contract, passed on.
        unsafe { mimalloc::MiMalloc.alloc(layout) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        region::give();
        // SAFETY: the caller's contract, passed on.
        unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
    }
}

/// The region of address space socialkpi's allocator takes its pages from.
pub mod region {
    use std::sync::atomic::{AtomicU8, Ordering};

    const UNSET: u8 = 0;
    const SETTING: u8 = 1;
    const SET: u8 = 2;
    static STATE: AtomicU8 = AtomicU8::new(UNSET);
    /// Where the region starts and its size in bytes (0: none was mapped).
    static START: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    static SIZE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    /// Sets the allocator up, once, before its first allocation: its region, and freed pages
    /// handed back at once. Runs inside the allocator: it must not allocate (a nested call
    /// would wait for itself).
    #[inline]
    pub fn give() {
        if STATE.load(Ordering::Acquire) != SET {
            give_once();
        }
    }

    #[cold]
    #[inline(never)]
    fn give_once() {
        match STATE.compare_exchange(UNSET, SETTING, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                if let Some((start, size)) = map() {
                    START.store(start, Ordering::Relaxed);
                    SIZE.store(size, Ordering::Relaxed);
                }
                // SAFETY: sets an option of socialkpi's allocator; it allocates nothing.
                unsafe { libmimalloc_sys::mi_option_set(super::PURGE_DELAY, super::HANDED_BACK) };
                STATE.store(SET, Ordering::Release);
            }
            // another thread maps it: a few system calls
            Err(_) => {
                while STATE.load(Ordering::Acquire) != SET {
                    std::thread::yield_now();
                }
            }
        }
    }

    /// The region's start and size, when there is one.
    pub fn bounds() -> Option<(usize, usize)> {
        give();
        let size = SIZE.load(Ordering::Relaxed);
        (size > 0).then(|| (START.load(Ordering::Relaxed), size))
    }

    /// Maps the region and hands it to mimalloc; None where the process's limits would feel
    /// it (`limited`), and mimalloc then maps its own arenas as usual.
    #[cfg(target_os = "linux")]
    fn map() -> Option<(usize, usize)> {
        const GIB: usize = 1 << 30;
        // mimalloc takes a region in arenas of at most 16 GiB, and refuses one of 16 GiB
        // exactly (its bookkeeping outgrows one object). Pieces of 14 GiB: where there are two,
        // every thread takes pages from the first one before the second (from three on,
        // mimalloc spreads threads over them, and they reuse each other's free pages less).
        const PIECE: usize = 14 * GIB;
        if limited() {
            return None;
        }
        // Address space as large as the machine's memory (1-512 GiB, 37 pieces at most, well
        // within mimalloc's 160 arenas): no page of it is used before mimalloc touches it,
        // and none is counted against the commit limit.
        // SAFETY: sysconf only reads system values.
        let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) };
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let memory = usize::try_from(pages).ok()?.checked_mul(usize::try_from(page).ok()?)?;
        let size = memory.div_ceil(GIB).clamp(1, 512) * GIB;
        // SAFETY: a fresh anonymous mapping, at an address the kernel chooses.
        let start = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if start == libc::MAP_FAILED {
            return None;
        }
        // SAFETY: advice on the mapping just made, which nothing else uses.
        unsafe { libc::madvise(start, size, libc::MADV_NOHUGEPAGE) };
        let mut given = 0;
        while given < size {
            let piece = PIECE.min(size - given);
            let mut arena: libmimalloc_sys::mi_arena_id_t = std::ptr::null_mut();
            // SAFETY: the piece lies in the mapping, readable, writable and zero, and no other
            // piece overlaps it; mimalloc owns it from here.
            let managed = unsafe {
                libmimalloc_sys::mi_manage_os_memory_ex(
                    start.cast::<u8>().add(given).cast(),
                    piece,
                    true,
                    false,
                    true,
                    -1,
                    false,
                    &mut arena,
                )
            };
            if !managed {
                break;
            }
            given += piece;
        }
        if given < size {
            // SAFETY: the part of the mapping that mimalloc refused, which nothing uses.
            unsafe { libc::munmap(start.cast::<u8>().add(given).cast(), size - given) };
        }
        (given > 0).then_some((start as usize, given))
    }

    /// Would a reservation of the machine's size count against the process's limits: a
    /// limited address space or data size (`ulimit -v`, `ulimit -d`), or a kernel that counts
    /// every writable mapping against its commit limit (`vm.overcommit_memory = 2`)?
    #[cfg(target_os = "linux")]
    pub fn limited() -> bool {
        let mut address_space = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        let mut data = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes the limit into the struct it is given.
        let read = unsafe {
            libc::getrlimit(libc::RLIMIT_AS, &mut address_space) == 0
                && libc::getrlimit(libc::RLIMIT_DATA, &mut data) == 0
        };
        let unlimited = read && address_space.rlim_cur == libc::RLIM_INFINITY && data.rlim_cur == libc::RLIM_INFINITY;
        !unlimited || strict_overcommit()
    }

    #[cfg(not(target_os = "linux"))]
    fn map() -> Option<(usize, usize)> {
        None
    }

    /// Does the kernel count every writable mapping against its commit limit
    /// (`vm.overcommit_memory = 2`)? Read without allocating.
    #[cfg(target_os = "linux")]
    fn strict_overcommit() -> bool {
        let mut mode = [0u8; 4];
        // SAFETY: open and read into a buffer on the stack; the descriptor is closed.
        unsafe {
            let fd = libc::open(
                c"/proc/sys/vm/overcommit_memory".as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            );
            if fd < 0 {
                return false;
            }
            let read = libc::read(fd, mode.as_mut_ptr().cast(), mode.len());
            libc::close(fd);
            read > 0 && mode[0] == b'2'
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // the cdylib declares the allocator for the module; the test binary declares its own
    #[global_allocator]
    static ALLOCATOR: Allocator = Allocator;

    #[test]
    fn purging_is_delayed_while_a_run_goes_on() {
        // SAFETY: reads an option of the allocator.
        let get = || unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        {
            let _a = KeptPages::new();
            let _b = KeptPages::new();
            assert_eq!(get(), KEPT_DELAY);
        }
        wait_handed_back();
        assert_eq!(get(), HANDED_BACK);
        // a run that starts right after another ends keeps its pages, whether the hand-back
        // thread came first or not, and they go back after it
        let first = KeptPages::new();
        drop(first);
        let second = KeptPages::new();
        assert_eq!(get(), KEPT_DELAY);
        drop(second);
        wait_handed_back();
        assert_eq!(get(), HANDED_BACK);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_allocator_takes_its_pages_from_the_region() {
        let Some((start, size)) = region::bounds() else {
            // only where the process's limits forbid it: mimalloc's own arenas then
            assert!(region::limited());
            return;
        };
        let buffer = vec![1u8; 64 << 20];
        let at = buffer.as_ptr() as usize;
        assert!(start <= at && at + buffer.len() <= start + size);
        // the region is the process's only mapping advised against huge pages by socialkpi,
        // and the kernel reports it as such
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
        let mut eligible = None;
        let mut inside = false;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ') {
                if let Some((from, to)) = range.split_once('-') {
                    if let (Ok(from), Ok(to)) = (usize::from_str_radix(from, 16), usize::from_str_radix(to, 16)) {
                        inside = from <= at && at < to;
                        continue;
                    }
                }
            }
            if inside && line.starts_with("THPeligible:") {
                eligible = line.split_whitespace().nth(1).map(str::to_string);
            }
        }
        assert_eq!(eligible.as_deref(), Some("0"));
    }
}
