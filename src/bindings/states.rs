//! Partial states: made by `partial`, merged, updated, rolled up and finalized, saved and
//! loaded (`sk.States` in Python holds the native object).

use super::compute::{calendar, call, details, run_engine, Call};
use super::definitions::DefinitionRow;
use super::*;
use polars_arrow::array::PrimitiveArray;
use polars_buffer::Buffer;
use socialkpi_engine::error::QueryCode;
use socialkpi_engine::states::{self, Made, PostIds, Spec, States};

/// Sorted post-id hash lists of parts made apart (Arrow streams of one `UInt64` column each,
/// as `_States.post_ids` gives them): how many hashes are in more than one list, and, when
/// `keep`, all of them in one sorted list (an Arrow stream of one `post_id_hash` column).
#[pyfunction]
pub fn check_post_ids<'py>(
    py: Python<'py>,
    lists: Vec<Bound<'py, PyCapsule>>,
    keep: bool,
) -> PyResult<(usize, Option<Bound<'py, PyCapsule>>)> {
    let lists = lists.iter().map(import_hashes).collect::<PyResult<Vec<_>>>()?;
    let (shared, all) = detached(py, || Ok(states::check_lists(&sorted_slices(&lists)?, keep)))?;
    Ok((shared, all.map(|ids| export_hashes(py, ids.into())).transpose()?))
}

/// Sorted post-id hash lists of parts made apart (as for `check_post_ids`): the hashes in
/// more than one of them, sorted, once each (an Arrow stream of one `post_id_hash` column).
#[pyfunction]
pub fn shared_post_ids<'py>(py: Python<'py>, lists: Vec<Bound<'py, PyCapsule>>) -> PyResult<Bound<'py, PyCapsule>> {
    let lists = lists.iter().map(import_hashes).collect::<PyResult<Vec<_>>>()?;
    let shared = detached(py, || Ok(states::shared_hashes(&sorted_slices(&lists)?)))?;
    export_hashes(py, shared.into())
}

/// The `post_id` hash that states keep of each row of a column of ids (an Arrow stream), in
/// row order, null where the id is null (an Arrow stream of one `post_id_hash` column).
#[pyfunction]
pub fn post_id_hashes<'py>(py: Python<'py>, ids: Bound<'py, PyCapsule>) -> PyResult<Bound<'py, PyCapsule>> {
    let ptr = ids.pointer_checked(Some(STREAM))?;
    // SAFETY: a capsule named "arrow_array_stream" holds an ArrowArrayStream (Arrow PyCapsule
    // interface); series_from_stream moves it out.
    let series = unsafe { ingest::series_from_stream("post_id", ptr.as_ptr().cast()) }?;
    let hashes = detached(py, || socialkpi_engine::ids::stable_id_hashes(&series.into_column()))?;
    let column = hashes.with_name(POST_ID_HASH.into()).into_column();
    let frame = DataFrame::new(column.len(), vec![column]).map_err(Error::from)?;
    export_frame(py, frame)
}

/// The hash lists as slices, each checked to be in order.
fn sorted_slices(lists: &[UInt64Chunked]) -> socialkpi_engine::error::Result<Vec<&[u64]>> {
    lists
        .iter()
        .map(|ca| match ca.cont_slice() {
            Ok(ids) if ids.is_sorted() => Ok(ids),
            _ => Err(unsorted()),
        })
        .collect()
}

/// One column of post-id hashes from an Arrow stream capsule, in one chunk.
fn import_hashes(capsule: &Bound<'_, PyCapsule>) -> PyResult<UInt64Chunked> {
    let ptr = capsule.pointer_checked(Some(STREAM))?;
    // SAFETY: a capsule named "arrow_array_stream" holds an ArrowArrayStream (Arrow PyCapsule
    // interface); series_from_stream moves it out.
    let series = unsafe { ingest::series_from_stream(POST_ID_HASH, ptr.as_ptr().cast()) }?;
    Ok(series.u64().map_err(Error::from)?.rechunk().into_owned())
}

/// Post-id hashes as an Arrow stream capsule of one `post_id_hash` column.
fn export_hashes(py: Python<'_>, ids: Buffer<u64>) -> PyResult<Bound<'_, PyCapsule>> {
    // (the buffer is shared with the array, not copied)
    let hashes = PrimitiveArray::new(ArrowDataType::UInt64, ids, None);
    let column = UInt64Chunked::with_chunk(POST_ID_HASH.into(), hashes).into_column();
    let frame = DataFrame::new(column.len(), vec![column]).map_err(Error::from)?;
    export_frame(py, frame)
}

fn unsorted() -> Error {
    Error::query(
        QueryCode::InvalidArgument,
        "post id hashes must be sorted and distinct, without nulls",
    )
}

const POST_ID_HASH: &str = "post_id_hash";

/// The native states object: immutable; every operation returns new states.
#[pyclass(frozen, name = "_States")]
pub struct StatesObject {
    inner: States,
}

/// What runs made of one accounts table, for the next run of the same request over it
/// (`exec::AccountsMemo`): the caller passes it beside that same table each time.
#[pyclass(frozen, name = "_AccountsMemo")]
#[derive(Default)]
pub struct AccountsMemoObject {
    inner: Arc<exec::AccountsMemo>,
}

#[pymethods]
impl AccountsMemoObject {
    #[new]
    fn new() -> Self {
        Self::default()
    }
}

/// Makes the partial states of a compute-like call (the arguments of `compute`).
#[pyfunction]
#[pyo3(signature = (kpis, by, every, tz, dedupe, posts=None, accounts=None, contracts=None, traffic=None, conversions=None, sources=Vec::new(), custom=Vec::new(), engagement=Vec::new(), max_staleness=Some(plan::MAX_STALENESS_DAYS), progress=None, week_start=None, fiscal_year_start=None, memory_limit=Some(exec::MEMORY_LIMIT), accounts_memo=None, keep_post_ids=true, posts_only=false))]
#[allow(clippy::too_many_arguments)]
pub fn partial<'py>(
    py: Python<'py>,
    kpis: Vec<String>,
    by: Vec<String>,
    every: Option<String>,
    tz: String,
    dedupe: Option<String>,
    posts: Option<Bound<'py, PyAny>>,
    accounts: Option<Bound<'py, PyAny>>,
    contracts: Option<Bound<'py, PyAny>>,
    traffic: Option<Bound<'py, PyAny>>,
    conversions: Option<Bound<'py, PyAny>>,
    sources: Vec<(String, String)>,
    custom: Vec<DefinitionRow>,
    engagement: Vec<(String, Vec<String>)>,
    max_staleness: Option<u32>,
    progress: Option<Py<PyAny>>,
    week_start: Option<String>,
    fiscal_year_start: Option<String>,
    memory_limit: Option<u64>,
    accounts_memo: Option<PyRef<'py, AccountsMemoObject>>,
    keep_post_ids: bool,
    posts_only: bool,
) -> PyResult<StatesObject> {
    let tables = [posts, accounts, contracts, traffic, conversions];
    let calendar = calendar(
        week_start.as_deref(),
        fiscal_year_start.as_deref(),
        plan::Calendar::default(),
    )?;
    let Call {
        request,
        plan,
        tables,
        given,
        ..
    } = call(
        kpis,
        by,
        every,
        tz,
        dedupe,
        tables,
        sources,
        custom,
        engagement,
        max_staleness,
        calendar,
    )?;
    let spec = Spec::of(&request, tables);
    // (the memo's entries are per request)
    let memo = accounts_memo
        .map(|m| -> PyResult<_> { Ok((m.inner.clone(), spec.request_hash()?)) })
        .transpose()?;
    let (made, _) = run_engine(py, given, progress, |mut inputs, interrupted| {
        inputs.memory_limit = memory_limit;
        // (without them, states that are finalized alone: the run's own check of repeats is
        // all they need, with its own hashes)
        inputs.keep_post_ids = keep_post_ids;
        inputs.accounts_memo = memo.clone();
        inputs.posts_only = posts_only;
        // (states of the posts only carry no block of a whole table to fingerprint)
        let whole = |table: &Option<LazyFrame>| table.clone().filter(|_| !posts_only);
        let mut made = Made {
            posts: inputs.posts.clone().filter(|_| keep_post_ids),
            accounts: whole(&inputs.accounts),
            contracts: whole(&inputs.contracts),
            traffic: whole(&inputs.traffic),
            conversions: whole(&inputs.events),
            accounts_fingerprint: None,
        };
        let mut partial = exec::partial(&plan, inputs, interrupted)?;
        // after the run, which gave the memo its record of the table: the fingerprint is
        // kept there from the first run on
        if let (Some((memo, request)), Some(lf)) = (&memo, &made.accounts) {
            let print = memo.fingerprint(*request, || states::fingerprint(&exec::collect(lf.clone())?))?;
            made.accounts_fingerprint = Some(print);
        }
        states::identify(&mut partial, &plan, made)?;
        Ok(partial)
    })?;
    let inner = States { spec, states: made };
    Ok(StatesObject {
        inner: inner.sharing_blocks()?,
    })
}

/// Runs `f` with the GIL released and panics caught.
fn detached<T: Send>(py: Python<'_>, f: impl FnOnce() -> socialkpi_engine::error::Result<T> + Send) -> PyResult<T> {
    let out = py.detach(|| {
        let _kept = socialkpi_engine::pages::KeptPages::new();
        catch(f)
    });
    settle(py, out, None)
}

#[pymethods]
impl StatesObject {
    /// The KPIs from the states, at the states' grain or a coarser one; returns (Arrow stream
    /// capsule, details dict) like `compute`. `every_given` says whether `every` replaces
    /// the states' period (None is a period: the whole range).
    #[pyo3(signature = (kpis=None, by=None, every=None, every_given=false, compare=Vec::new(), window=None, start=None, end=None, fill=false, week_start=None, fiscal_year_start=None))]
    #[allow(clippy::too_many_arguments)]
    fn finalize<'py>(
        &self,
        py: Python<'py>,
        kpis: Option<Vec<String>>,
        by: Option<Vec<String>>,
        every: Option<String>,
        every_given: bool,
        compare: Vec<String>,
        window: Option<String>,
        start: Option<i32>,
        end: Option<i32>,
        fill: bool,
        week_start: Option<String>,
        fiscal_year_start: Option<String>,
    ) -> PyResult<(Bound<'py, PyCapsule>, Bound<'py, PyDict>)> {
        let spec = &self.inner.spec;
        let own = self.inner.plan()?;
        let mut request = spec.request(kpis, by, every_given.then_some(every));
        request.calendar = calendar(week_start.as_deref(), fiscal_year_start.as_deref(), own.calendar)?;
        let to_every = request.every.as_deref().map(plan::Period::parse).transpose()?;
        check_grain(&own, &request.by, to_every, request.calendar)?;
        let to = spec.plan(&request)?;
        check_kpis(&own, &to)?;
        let over_time = exec::range::OverTimeAsked {
            compare,
            window,
            range: exec::range::Range::new(start, end, fill, to.every)?,
        };
        let inner = &self.inner;
        let started = std::time::Instant::now();
        let output = detached(py, || over_time.finalize(&own, &to, |at| inner.rollup(at)))?;
        let engine = started.elapsed().as_secs_f64();
        let details = details(py, &output, &to, 0.0, engine)?;
        Ok((export_frame(py, output.frame)?, details))
    }

    /// States of disjoint inputs combined (`sk.merge`).
    #[staticmethod]
    fn merge(py: Python<'_>, parts: Vec<PyRef<'_, StatesObject>>) -> PyResult<StatesObject> {
        let parts: Vec<&States> = parts.iter().map(|p| &p.inner).collect();
        let inner = detached(py, || States::merge(&parts))?;
        Ok(StatesObject { inner })
    }

    /// These states with `newer` in place of the periods it covers.
    fn update(&self, py: Python<'_>, newer: PyRef<'_, StatesObject>) -> PyResult<StatesObject> {
        let (older, newer) = (self.inner.clone(), newer.inner.clone());
        let inner = detached(py, || older.update(newer))?;
        Ok(StatesObject { inner })
    }

    fn save(&self, py: Python<'_>, path: String) -> PyResult<()> {
        detached(py, || states::save(&self.inner, &path))
    }

    #[staticmethod]
    fn load(py: Python<'_>, path: String) -> PyResult<StatesObject> {
        let inner = detached(py, || states::load(&path))?;
        Ok(StatesObject { inner })
    }

    /// (Arrow stream capsule of the states as one frame, header JSON); without the post ids'
    /// rows when not `with_ids` (`post_ids` gives them apart).
    #[pyo3(signature = (with_ids=true))]
    fn frame<'py>(&self, py: Python<'py>, with_ids: bool) -> PyResult<(Bound<'py, PyCapsule>, String)> {
        let (frame, header) = detached(py, || match with_ids {
            true => states::to_frame(&self.inner),
            false => states::to_frame_without_ids(&self.inner),
        })?;
        Ok((export_frame(py, frame)?, header))
    }

    /// The post ids' hashes the states keep, sorted, as an Arrow stream of one
    /// `post_id_hash` column (None: no ids kept).
    fn post_ids<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyCapsule>>> {
        let Some(ids) = &self.inner.states.post_ids else {
            return Ok(None);
        };
        Ok(Some(export_hashes(py, ids.sorted())?))
    }

    /// These states with their posts' id hashes (an Arrow stream of one sorted `UInt64`
    /// column, as `post_ids` gives them), which travelled apart.
    fn with_post_ids(&self, py: Python<'_>, ids: Bound<'_, PyCapsule>) -> PyResult<StatesObject> {
        let ids = import_hashes(&ids)?;
        // (one chunk without nulls, whose buffer the states keep)
        let inner = detached(py, || match (ids.null_count(), ids.downcast_iter().next()) {
            (0, Some(array)) => self.inner.with_post_ids(array.values().clone()),
            (0, None) => self.inner.with_post_ids(Default::default()),
            _ => Err(unsorted()),
        })?;
        Ok(StatesObject { inner })
    }

    /// States from `frame()`'s two parts (`frame`: a table wrapper, as `_tables.as_table`
    /// makes them).
    #[staticmethod]
    fn from_frame(py: Python<'_>, frame: Bound<'_, PyAny>, header: String) -> PyResult<StatesObject> {
        let Some(arg) = Arg::from_py(Some(frame))? else {
            return Err(Error::query(QueryCode::InvalidArgument, "from_frame needs the states' frame").into());
        };
        let columns = arg.columns()?;
        let table = arg.into_table(&columns)?;
        let inner = detached(py, || {
            let frame = exec::collect(table.into_lazy()?)?;
            states::from_parts(frame, &header)
        })?;
        Ok(StatesObject { inner })
    }

    /// The request the states were made for, as JSON.
    fn spec(&self) -> PyResult<String> {
        Ok(self.inner.spec.to_json()?)
    }

    /// (block, rows) of each block, and the number of post ids kept (None: none kept).
    fn sizes(&self) -> (Vec<(String, usize)>, Option<usize>) {
        let s = &self.inner.states;
        let blocks = s
            .blocks
            .iter()
            .map(|b| (b.source.name().to_string(), b.frame.height()))
            .collect();
        (blocks, s.post_ids.as_ref().map(PostIds::len))
    }
}

/// `to` finalizes from states made for `own`: its KPIs among the states' KPIs.
fn check_kpis(own: &plan::Plan, to: &plan::Plan) -> socialkpi_engine::error::Result<()> {
    let names: Vec<&str> = own.outputs.iter().map(plan::OutputKpi::name).collect();
    match to.outputs.iter().find(|k| !names.contains(&k.name())) {
        Some(k) => Err(Error::query(
            QueryCode::NotInStates,
            format!(
                "KPI '{}' was not among the KPIs the states were made for ({}); make the states with it",
                k.name(),
                names.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

/// Dimensions and a period that states made for `own` give: dimensions among theirs, a period
/// theirs rolls up into.
fn check_grain(
    own: &plan::Plan,
    by: &[String],
    every: Option<plan::Period>,
    calendar: plan::Calendar,
) -> socialkpi_engine::error::Result<()> {
    if let Some(d) = by.iter().find(|d| !own.by.contains(d)) {
        return Err(Error::query(
            QueryCode::NotInStates,
            format!(
                "the states were made by {:?}; they finalize by any of those dimensions, not by '{d}'",
                own.by
            ),
        ));
    }
    // (as the Python argument reads: None, "1d")
    let name =
        |e: Option<plan::Period>| e.map_or("None".to_string(), |e| format!("{:?}", plan::Period::NAMES[e as usize]));
    if !states::rolls_up(own.every, every) {
        return Err(Error::query(
            QueryCode::NotInStates,
            format!(
                "states made with every={} do not roll up into every={}: days roll up into weeks, months, quarters and years, months into quarters and years, quarters into years, and any period into None",
                name(own.every),
                name(every)
            ),
        ));
    }
    if !own.calendar.fits(calendar, own.every, every) {
        let show = |c: plan::Calendar| {
            format!(
                "week_start={:?}, fiscal_year_start={}",
                c.week_start.name(),
                c.fiscal_year_start.number()
            )
        };
        return Err(Error::query(
            QueryCode::NotInStates,
            format!(
                "states made at every={} with {} do not roll up into every={} with {}: their periods straddle the new ones (weeks need the same week_start, years the same fiscal_year_start, quarters one 0, 3, 6 or 9 months away); make the states daily (or monthly, for quarters and years) to finalize them in any calendar",
                name(own.every),
                show(own.calendar),
                name(every),
                show(calendar)
            ),
        ));
    }
    Ok(())
}
