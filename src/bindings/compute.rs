//! Computing KPIs and contract status.

use super::definitions::{definition, DefinitionRow};
use super::*;
use socialkpi_engine::error::QueryCode;

/// The coverage frame as rows: (table, account_id, first, last), dates as days since 1970-01-01.
type CoverageRow = (String, Option<String>, Option<i32>, Option<i32>);

pub(super) fn coverage_rows(df: &DataFrame) -> socialkpi_engine::error::Result<Vec<CoverageRow>> {
    let text = |name: &str| -> socialkpi_engine::error::Result<Vec<Option<String>>> {
        Ok(df.column(name)?.str()?.iter().map(|v| v.map(str::to_string)).collect())
    };
    let days = |name: &str| -> socialkpi_engine::error::Result<Vec<Option<i32>>> {
        Ok(df.column(name)?.cast(&DataType::Int32)?.i32()?.iter().collect())
    };
    let (tables, accounts, first, last) = (text("table")?, text("account_id")?, days("first")?, days("last")?);
    Ok(tables
        .into_iter()
        .zip(accounts)
        .zip(first.into_iter().zip(last))
        .map(|((t, a), (f, l))| (t.unwrap_or_default(), a, f, l))
        .collect())
}

/// The tables of a call, as they crossed for the plan.
pub(super) struct Given {
    posts: Option<Table>,
    accounts: Option<Table>,
    contracts: Option<Table>,
    traffic: Option<Table>,
    events: Option<Table>,
}

/// A compute-like call: its request, checked into a plan, the tables' columns, and the
/// tables with the columns the plan reads.
pub(super) struct Call {
    pub request: Request,
    pub plan: plan::Plan,
    pub tables: socialkpi_engine::states::Tables,
    pub given: Given,
    /// Seconds spent bringing the columns across.
    pub crossing: f64,
}

/// The arguments every compute-like call takes.
#[allow(clippy::too_many_arguments)]
pub(super) fn call<'py>(
    kpis: Vec<String>,
    by: Vec<String>,
    every: Option<String>,
    tz: String,
    dedupe: Option<String>,
    [posts, accounts, contracts, traffic, conversions]: [Option<Bound<'py, PyAny>>; 5],
    sources: Vec<(String, String)>,
    custom: Vec<DefinitionRow>,
    engagement: Vec<(String, Vec<String>)>,
    max_staleness: Option<u32>,
    calendar: plan::Calendar,
) -> PyResult<Call> {
    let mut request = Request::new(kpis, by, every, tz, dedupe_of(dedupe.as_deref())?);
    request.sources = sources;
    request.custom = custom.into_iter().map(definition).collect();
    request.engagement = engagement;
    request.max_staleness = max_staleness;
    request.calendar = calendar;
    let posts = Arg::from_py(posts)?;
    let accounts = Arg::from_py(accounts)?;
    if !request.custom.is_empty() {
        // formulas are checked against the column types
        request.posts_types = posts.as_ref().map(Arg::types).transpose()?.unwrap_or_default();
        request.accounts_types = accounts.as_ref().map(Arg::types).transpose()?.unwrap_or_default();
    }
    let args = Args {
        posts,
        accounts,
        contracts: Arg::from_py(contracts)?,
        traffic: Arg::from_py(traffic)?,
        events: Arg::from_py(conversions)?,
    };
    let tables = args.columns()?;
    let plan = tables.plan(&request)?;
    let started = std::time::Instant::now();
    let given = args.cross(&plan)?;
    Ok(Call {
        request,
        plan,
        tables,
        given,
        crossing: started.elapsed().as_secs_f64(),
    })
}

/// `dedupe=`: None (repeats are an error) or "last".
fn dedupe_of(dedupe: Option<&str>) -> PyResult<Dedupe> {
    match dedupe {
        None => Ok(Dedupe::Error),
        Some("last") => Ok(Dedupe::Last),
        Some(other) => Err(Error::query(
            QueryCode::InvalidArgument,
            format!("dedupe={other:?} is not supported; use None (repeats are an error) or 'last'"),
        )
        .into()),
    }
}

/// The tables of a call as the caller handed them over, before they cross.
struct Args<'py> {
    posts: Option<Arg<'py>>,
    accounts: Option<Arg<'py>>,
    contracts: Option<Arg<'py>>,
    traffic: Option<Arg<'py>>,
    events: Option<Arg<'py>>,
}

impl Args<'_> {
    /// The tables' column names (the plan is checked against them).
    fn columns(&self) -> PyResult<socialkpi_engine::states::Tables> {
        Ok(socialkpi_engine::states::Tables {
            posts: self.posts.as_ref().map(Arg::columns).transpose()?,
            accounts: self.accounts.as_ref().map(Arg::columns).transpose()?,
            contracts: self.contracts.as_ref().map(Arg::columns).transpose()?,
            traffic: self.traffic.as_ref().map(Arg::columns).transpose()?,
            conversions: self.events.as_ref().map(Arg::columns).transpose()?,
        })
    }

    /// Brings across the columns the plan reads of each table it reads.
    fn cross(self, plan: &plan::Plan) -> PyResult<Given> {
        Ok(Given {
            posts: match (self.posts, &plan.posts) {
                (Some(arg), Some(pp)) => Some(arg.into_table(&pp.columns)?),
                _ => None,
            },
            accounts: match (self.accounts, &plan.accounts) {
                (Some(arg), Some(ap)) => Some(arg.into_table(&ap.columns)?),
                _ => None,
            },
            contracts: match (self.contracts, &plan.contracts) {
                (Some(arg), Some(cp)) => Some(arg.into_table(&cp.crossing_columns())?),
                _ => None,
            },
            traffic: match (self.traffic, &plan.traffic) {
                (Some(arg), Some(tp)) => Some(arg.into_table(&tp.columns)?),
                _ => None,
            },
            events: match (self.events, &plan.events) {
                (Some(arg), Some(ep)) => Some(arg.into_table(&ep.columns)?),
                _ => None,
            },
        })
    }
}

impl Given {
    fn into_inputs(self) -> socialkpi_engine::error::Result<exec::Inputs> {
        let posts_parquet = self.posts.as_ref().and_then(Table::parquet_files);
        let posts_slices = self.posts.as_ref().and_then(|t| t.slices(posts_parquet.as_deref()));
        let (mut posts, mut posts_csv) = (None, None);
        if let Some(table) = self.posts {
            let mut lf = table.lazy()?;
            if posts_parquet.is_none() {
                posts_csv = table.csv_files(&mut lf);
            }
            posts = Some(lf);
        }
        Ok(exec::Inputs {
            posts_slices,
            posts_csv,
            posts_parquet,
            posts,
            accounts: self.accounts.map(Table::into_lazy).transpose()?,
            contracts: self.contracts.map(Table::into_lazy).transpose()?,
            traffic: self.traffic.map(Table::into_lazy).transpose()?,
            events: self.events.map(Table::into_lazy).transpose()?,
            // (set by the call: `memory_limit=`, and by `partial`)
            memory_limit: None,
            keep_post_ids: false,
            accounts_memo: None,
            posts_only: false,
        })
    }
}

/// Runs `work` over the call's tables with the GIL released, panics and Ctrl-C turned into
/// Python's terms, and `progress(done, slices)` called between slices of posts; returns its
/// result and the seconds it took.
pub(super) fn run_engine<T: Send>(
    py: Python<'_>,
    given: Given,
    progress: Option<Py<PyAny>>,
    work: impl FnOnce(exec::Inputs, exec::Interrupt<'_>) -> socialkpi_engine::error::Result<T> + Send,
) -> PyResult<(T, f64)> {
    let started = std::time::Instant::now();
    let raised: std::sync::Mutex<Option<PyErr>> = std::sync::Mutex::new(None);
    let output = py.detach(|| {
        // freed pages stay for the next batches, and go back when the last run ends (pages.rs)
        let _kept = socialkpi_engine::pages::KeptPages::new();
        catch(|| {
            let inputs = given.into_inputs()?;
            // Ctrl-C: Python's signal handlers run when asked, between slices of posts; so does
            // the progress bar (an exception it raises stops the run too)
            let interrupted = |done: usize, all: usize| {
                Python::attach(|py| {
                    let shown = match &progress {
                        Some(show) => show.call1(py, (done, all)).map(|_| ()),
                        None => Ok(()),
                    };
                    match shown.and_then(|()| py.check_signals()) {
                        Ok(()) => false,
                        Err(err) => {
                            if let Ok(mut slot) = raised.lock() {
                                *slot = Some(err);
                            }
                            true
                        }
                    }
                })
            };
            work(inputs, &interrupted)
        })
    });
    let raised = raised.into_inner().ok().flatten();
    let output = settle(py, output, raised)?;
    Ok((output, started.elapsed().as_secs_f64()))
}

/// What a result was made with, for `compute_details`: timings, row accounting, warnings,
/// origins, coverage, and each KPI's definition and formula.
pub(super) fn details<'py>(
    py: Python<'py>,
    output: &exec::Output,
    plan: &plan::Plan,
    crossing: f64,
    engine: f64,
) -> PyResult<Bound<'py, PyDict>> {
    let details = PyDict::new(py);
    let timings = PyDict::new(py);
    timings.set_item("crossing_s", crossing)?;
    timings.set_item("engine_s", engine)?;
    for (stage, seconds) in &output.rows.stages {
        timings.set_item(stage, seconds)?;
    }
    details.set_item("timings", timings)?;
    details.set_item("engagement_components", &output.components)?;
    details.set_item("platform_components", &output.platform_components)?;
    details.set_item("rows_read", &output.rows.read)?;
    details.set_item("rows_dropped", &output.rows.dropped)?;
    details.set_item("warnings", &output.warnings)?;
    details.set_item("origins", &output.origins)?;
    details.set_item("coverage", coverage_rows(&output.coverage)?)?;
    let definitions = PyDict::new(py);
    let formulas = PyDict::new(py);
    let kinds = PyDict::new(py);
    for k in &plan.outputs {
        kinds.set_item(k.name(), plan::kind::of(k).as_str())?;
        match k {
            plan::OutputKpi::Builtin(k, _) => {
                definitions.set_item(k.name, k.definition)?;
                formulas.set_item(k.name, catalog::formula(k.name).unwrap_or(""))?;
            }
            plan::OutputKpi::Custom(c) => {
                let d = &c.definition;
                let text = if d.description.is_empty() {
                    &d.formula
                } else {
                    &d.description
                };
                definitions.set_item(&d.name, text)?;
                formulas.set_item(&d.name, &d.formula)?;
            }
        }
    }
    details.set_item("definitions", definitions)?;
    details.set_item("formulas", formulas)?;
    details.set_item("kinds", kinds)?;
    Ok(details)
}

/// `week_start=` and `fiscal_year_start=` (None: the calendar's own).
pub(super) fn calendar(
    week_start: Option<&str>,
    fiscal_year_start: Option<&str>,
    own: plan::Calendar,
) -> socialkpi_engine::error::Result<plan::Calendar> {
    Ok(plan::Calendar {
        week_start: week_start
            .map(plan::Weekday::parse)
            .transpose()?
            .unwrap_or(own.week_start),
        fiscal_year_start: fiscal_year_start
            .map(plan::Month::parse)
            .transpose()?
            .unwrap_or(own.fiscal_year_start),
    })
}

/// Computes KPIs; returns (Arrow stream capsule of the result, details dict).
#[pyfunction]
#[pyo3(signature = (kpis, by, every, tz, dedupe, posts=None, accounts=None, contracts=None, traffic=None, conversions=None, sources=Vec::new(), custom=Vec::new(), engagement=Vec::new(), max_staleness=Some(plan::MAX_STALENESS_DAYS), compare=Vec::new(), window=None, progress=None, start=None, end=None, fill=false, week_start=None, fiscal_year_start=None, memory_limit=Some(exec::MEMORY_LIMIT)))]
#[allow(clippy::too_many_arguments)]
pub fn compute<'py>(
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
    compare: Vec<String>,
    window: Option<String>,
    progress: Option<Py<PyAny>>,
    start: Option<i32>,
    end: Option<i32>,
    fill: bool,
    week_start: Option<String>,
    fiscal_year_start: Option<String>,
    memory_limit: Option<u64>,
) -> PyResult<(Bound<'py, PyCapsule>, Bound<'py, PyDict>)> {
    let tables = [posts, accounts, contracts, traffic, conversions];
    let asked_every = every.as_deref().map(plan::Period::parse).transpose()?;
    let over_time = exec::range::OverTimeAsked {
        compare,
        window,
        range: exec::range::Range::new(start, end, fill, asked_every)?,
    };
    let states_every = over_time.states_every(every.as_deref())?;
    // one period over a range is made from daily states (exec/range.rs)
    let one_period = states_every != every;
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
        crossing,
    } = call(
        kpis,
        by,
        states_every,
        tz,
        dedupe,
        tables,
        sources,
        custom,
        engagement,
        max_staleness,
        calendar,
    )?;
    // the report's plan: the states' own, or one period made from daily states
    let report = match one_period {
        true => Some(tables.plan(&plan::Request { every, ..request })?),
        false => None,
    };
    let to = report.as_ref().unwrap_or(&plan);
    let (output, engine) = run_engine(py, given, progress, |mut inputs, interrupted| {
        inputs.memory_limit = memory_limit;
        over_time.finalize(&plan, to, |_| exec::partial(&plan, inputs, interrupted))
    })?;
    let details = details(py, &output, to, crossing, engine)?;
    Ok((export_frame(py, output.frame)?, details))
}

/// The period a report's states must have (days since 1970-01-01 for `start`/`end`): one
/// period over a range is made from daily states. Dask and Spark make their parts' states at it.
#[pyfunction]
#[pyo3(signature = (every, start=None, end=None))]
pub fn states_every(every: Option<String>, start: Option<i32>, end: Option<i32>) -> PyResult<Option<String>> {
    let asked = exec::range::OverTimeAsked {
        range: exec::range::Range {
            start,
            end,
            fill: false,
        },
        ..Default::default()
    };
    Ok(asked.states_every(every.as_deref())?)
}

/// One row per contract: what it agreed, delivered up to `as_of` (days since 1970-01-01),
/// what remains, and what the delivered posts earned.
#[pyfunction]
pub fn contract_status<'py>(
    py: Python<'py>,
    posts: Bound<'py, PyAny>,
    contracts: Bound<'py, PyAny>,
    as_of: i32,
    tz: String,
) -> PyResult<Bound<'py, PyCapsule>> {
    let tz = plan::report_zone(&tz)?;
    let (Some(posts), Some(contracts)) = (Arg::from_py(Some(posts))?, Arg::from_py(Some(contracts))?) else {
        return Err(Error::Internal("contract_status without tables".into()).into());
    };
    let contracts_cols = contracts.columns()?;
    let posts_plan = plan::status_plan(&posts.columns()?, &contracts_cols)?;
    let posts = posts.into_table(&posts_plan.columns)?;
    let contracts = contracts.into_table(&contracts_cols)?;
    let frame = py.detach(|| {
        let _kept = socialkpi_engine::pages::KeptPages::new();
        catch(|| {
            exec::contract_status(
                &posts_plan,
                posts.into_lazy()?,
                contracts.into_lazy()?,
                as_of,
                tz.as_deref(),
            )
        })
    });
    let frame = settle(py, frame, None)?;
    export_frame(py, frame)
}
