//! Request -> plan, in steps: the period, zone and dimensions checked; the KPIs chosen and
//! compiled (`kpis`); the tables they read; each dimension placed in its tables; each
//! table's plan; posts tied to their contracts; the posts' keys checked.

use super::kpis::{choose_kpis, Chosen};
use super::posts::plan_posts;
use super::tables::{plan_accounts, plan_contracts, plan_events, plan_traffic};
use super::usable::{reads_accounts, reads_contracts, reads_posts};
use super::{
    did_you_mean, has, missing_column, missing_table, push_unique, report_zone, suggest, Attribution, ContractsPlan,
    Origin, Origins, Period, Plan, PostsPlan, Request, ACCOUNT_WIDE_DELIVERY, PERIOD,
};
use crate::catalog::Source;
use crate::error::{Error, QueryCode, Result};

/// The column names of the tables given (`None`: the table was not passed).
#[derive(Debug, Clone, Copy)]
pub(super) struct Given<'a> {
    pub posts: Option<&'a [String]>,
    pub accounts: Option<&'a [String]>,
    pub contracts: Option<&'a [String]>,
    pub traffic: Option<&'a [String]>,
    pub events: Option<&'a [String]>,
}

impl<'a> Given<'a> {
    /// The posts' columns (none without the table); likewise `acols`, `ccols`, `tcols`, `ecols`.
    pub fn pcols(&self) -> &'a [String] {
        self.posts.unwrap_or(&[])
    }
    pub fn acols(&self) -> &'a [String] {
        self.accounts.unwrap_or(&[])
    }
    pub fn ccols(&self) -> &'a [String] {
        self.contracts.unwrap_or(&[])
    }
    pub fn tcols(&self) -> &'a [String] {
        self.traffic.unwrap_or(&[])
    }
    pub fn ecols(&self) -> &'a [String] {
        self.events.unwrap_or(&[])
    }
}

/// Checks a request against the tables' column names and builds the plan.
pub(super) fn build_here(req: &Request, given: Given) -> Result<Plan> {
    let every = req.every.as_deref().map(Period::parse).transpose()?;
    let tz = report_zone(&req.tz)?;
    check_dimensions(&req.by)?;
    let origins = Origins::choose(given.posts, given.accounts, given.traffic, given.events);
    let mut chosen = choose_kpis(req, &given, origins)?;
    let reads = Reads::of(&chosen, &given, &origins)?;
    let account_key = account_key(&given, reads.posts);
    let dims = place_dimensions(&req.by, &chosen, &reads, &given, &origins)?;
    let pcols = given.pcols();
    let mut posts = match reads.posts {
        true => Some(plan_posts(
            &chosen.kpis,
            pcols,
            &dims.posts,
            &dims.attributes,
            &account_key,
            every.is_some(),
            &chosen.custom_posts,
            &req.engagement,
        )?),
        false => None,
    };
    // account attributes (e.g. tier) grouping posts bring the accounts table in too
    let accounts = match reads.accounts || !dims.attributes.is_empty() {
        true => Some(plan_accounts(
            &chosen,
            &given,
            &origins,
            dims.accounts,
            dims.attributes,
            &account_key,
            reads.account_kpi.is_some(),
        )?),
        false => None,
    };
    let contracts = match reads.contract_kpi {
        Some(first) => Some(plan_contracts(&chosen.kpis, &req.by, pcols, given.ccols(), first)?),
        None => None,
    };
    let traffic = match reads.traffic_kpi {
        Some(first) => Some(plan_traffic(
            &chosen.kpis,
            &req.by,
            given.tcols(),
            &origins,
            reads.traffic_platform,
            first,
        )?),
        None => None,
    };
    let events = match reads.event_kpi {
        Some(first) => Some(plan_events(
            &chosen.kpis,
            &req.by,
            given.ecols(),
            &origins,
            reads.events_platform,
            first,
        )?),
        None => None,
    };
    if let (Some(pp), Some(cp)) = (posts.as_mut(), &contracts) {
        // the KPI that counts delivered posts (delivery_rate, or a formula's delivered())
        let reader = chosen
            .kpis
            .iter()
            .find(|k| k.source == Source::PostsAndContracts)
            .map_or("", |k| k.name);
        tie_to_contracts(pp, cp, pcols, reader, &mut chosen.warnings)?;
    }
    if let Some(pp) = &posts {
        check_posts_meet_snapshots(pp, accounts.is_some(), &account_key, &chosen, pcols)?;
        if !has(pcols, "post_id") {
            chosen.warnings.push(NO_POST_ID.to_string());
        }
    }
    Ok(Plan {
        kpis: chosen.kpis,
        outputs: chosen.outputs,
        by: req.by.clone(),
        every,
        tz,
        dedupe: req.dedupe,
        account_key,
        posts,
        accounts,
        contracts,
        traffic,
        events,
        origins,
        sources: req.sources.clone(),
        warnings: chosen.warnings,
        max_staleness: req.max_staleness,
        calendar: req.calendar,
    })
}

/// The warning of a posts table whose repeats cannot be found.
const NO_POST_ID: &str = "posts has no post_id column: each row counts as one post, and repeated posts cannot be found; add post_id (or map it when reading) to have repeats checked";

/// `by=` names each column once, none of them one the result or the period makes.
fn check_dimensions(by: &[String]) -> Result<()> {
    let mut seen: Vec<&String> = Vec::new();
    for d in by {
        if d.contains('\0') {
            // column names cross the Arrow C interface as C strings, which end at a NUL
            return Err(Error::query(
                QueryCode::InvalidColumnName,
                format!("by= names column {d:?}, whose name holds a NUL character (\\0), which no result column can carry; rename the column"),
            ));
        }
        if d == PERIOD {
            return Err(Error::query(
                QueryCode::ReservedDimension,
                "'period_start' is the period column of the result; use every=... instead of grouping by it",
            ));
        }
        if d == "published_at" {
            // the posts' time column is read as each post's day, bucketed by every=
            return Err(Error::query(
                QueryCode::TimeDimension,
                "'published_at' is the posts' time column and is not grouped by as it is; pass every=\"1d\" (or \"1w\", \"1mo\", \"1q\", \"1y\") to get one row per period in a period_start column",
            ));
        }
        if seen.contains(&d) {
            return Err(Error::query(
                QueryCode::RepeatedDimension,
                format!("dimension '{d}' is listed twice in by="),
            ));
        }
        seen.push(d);
    }
    Ok(())
}

/// Which tables the KPIs read, with the first KPI read from each (named in errors).
struct Reads {
    posts: bool,
    accounts: bool,
    /// The first KPI whose rows come from the accounts table (not followers-at-post).
    account_kpi: Option<&'static str>,
    contract_kpi: Option<&'static str>,
    traffic_kpi: Option<&'static str>,
    event_kpi: Option<&'static str>,
    /// Traffic has `source` but no `platform`, which is matched from it.
    traffic_platform: bool,
    /// The conversion events have `source` but no `platform`, which is matched from it.
    events_platform: bool,
}

impl Reads {
    /// The tables the chosen KPIs read; posts or accounts read but not given are an error.
    fn of(chosen: &Chosen, given: &Given, o: &Origins) -> Result<Self> {
        let pcols = given.pcols();
        let first = |read: &dyn Fn(&crate::catalog::Kpi) -> bool| chosen.kpis.iter().find(|k| read(k)).map(|k| k.name);
        let custom_posts = &chosen.custom_posts;
        let posts = chosen.kpis.iter().any(|k| reads_posts(k, pcols, o)) || !custom_posts.is_empty();
        if posts && given.posts.is_none() {
            return Err(missing_table(chosen.first_defined().unwrap_or(""), "posts"));
        }
        if custom_posts.followers_at_post && given.accounts.is_none() {
            return Err(missing_table(chosen.first_defined().unwrap_or(""), "accounts"));
        }
        Ok(Self {
            posts,
            accounts: chosen.kpis.iter().any(|k| reads_accounts(k, pcols, o)) || custom_posts.followers_at_post,
            account_kpi: first(&|k| reads_accounts(k, pcols, o) && k.source != Source::PostsAtFollowers),
            contract_kpi: first(&|k| reads_contracts(k, given.contracts.is_some())),
            traffic_kpi: first(&|k| k.source == Source::Traffic || o.of(k.name) == Some(Origin::Traffic)),
            event_kpi: first(&|k| o.of(k.name) == Some(Origin::Events)),
            traffic_platform: !has(given.tcols(), "platform") && has(given.tcols(), "source"),
            events_platform: !has(given.ecols(), "platform") && has(given.ecols(), "source"),
        })
    }
}

/// The columns that name an account: `account_id`, and `platform` when the snapshots carry
/// it and the posts (if read) do too.
fn account_key(given: &Given, posts_read: bool) -> Vec<String> {
    let mut key = vec!["account_id".to_string()];
    if given.accounts.is_some() && has(given.acols(), "platform") && (!posts_read || has(given.pcols(), "platform")) {
        key.push("platform".to_string());
    }
    key
}

/// Where each `by=` dimension is read from.
struct Dims {
    /// Posts columns.
    posts: Vec<String>,
    /// Account attributes joined onto posts.
    attributes: Vec<String>,
    /// Accounts columns grouping account KPIs.
    accounts: Vec<String>,
}

/// Each dimension must be a column of every table the KPIs read (for posts, or an account
/// attribute); an error names the first KPI whose table lacks it.
fn place_dimensions(by: &[String], chosen: &Chosen, reads: &Reads, given: &Given, o: &Origins) -> Result<Dims> {
    let (pcols, acols, ccols) = (given.pcols(), given.acols(), given.ccols());
    let (tcols, ecols) = (given.tcols(), given.ecols());
    let mut dims = Dims {
        posts: Vec::new(),
        attributes: Vec::new(),
        accounts: Vec::new(),
    };
    let not_in = |kpi: &str, text: String| {
        Error::query(
            QueryCode::DimensionNotInTable,
            format!("KPI '{} {text}", chosen.shown(kpi)),
        )
    };
    for d in by {
        let in_posts = reads.posts && has(pcols, d);
        let in_accounts = reads.accounts && has(acols, d)
            || (reads.posts && given.accounts.is_some_and(|a| has(a, d)) && has(pcols, "account_id"));
        let in_traffic = has(tcols, d) || (d == "platform" && reads.traffic_platform);
        let in_events = has(ecols, d) || (d == "platform" && reads.events_platform);
        let in_some_table = has(pcols, d) || has(acols, d) || has(ccols, d) || in_traffic || in_events;
        if !in_posts && !in_accounts && !in_some_table {
            let mut all: Vec<&str> = pcols.iter().chain(acols).chain(ccols).map(String::as_str).collect();
            all.dedup();
            return Err(Error::query(
                QueryCode::UnknownDimension,
                format!("dimension '{d}' is not a column of the tables these KPIs read{}; by= takes column names such as account_id, platform, content_type", did_you_mean(&suggest(d, all))),
            ));
        }
        if let Some(kpi) = reads.account_kpi {
            if !has(acols, d) {
                return Err(not_in(kpi, format!("comes from the accounts table, which has no column '{d}'; group account KPIs by account_id, platform or an account attribute, or compute '{d}' KPIs in a separate call")));
            }
            dims.accounts.push(d.clone());
        }
        if let Some(kpi) = reads.traffic_kpi {
            if !in_traffic {
                return Err(not_in(kpi, format!("comes from the traffic table, which has no column '{d}'; group traffic KPIs by platform (matched from source), source, medium or campaign, or compute '{d}' KPIs in a separate call")));
            }
        }
        if let Some(kpi) = reads.event_kpi {
            if !in_events {
                return Err(not_in(kpi, format!("counts events of the conversions table, which cannot attribute them to '{d}': it has no column '{d}'; add the column to the events, group by account_id, campaign or platform (from source), or compute '{d}' KPIs in a separate call")));
            }
        }
        if let Some(kpi) = reads.contract_kpi {
            if !has(ccols, d) {
                return Err(not_in(kpi, format!("comes from the contracts table, which has no column '{d}'; group contract KPIs by account_id, campaign or another contract column, or compute '{d}' KPIs in a separate call")));
            }
        }
        if reads.posts {
            if has(pcols, d) {
                dims.posts.push(d.clone());
            } else if given.accounts.is_some_and(|a| has(a, d)) {
                dims.attributes.push(d.clone());
            } else {
                let kpi = chosen
                    .kpis
                    .iter()
                    .find(|k| reads_posts(k, pcols, o))
                    .map(|k| k.name)
                    .or(chosen.first_defined())
                    .unwrap_or("");
                return Err(Error::query(
                    QueryCode::DimensionNotInTable,
                    format!("KPI '{kpi}' reads the posts table, which has no column '{d}' (nor is it an account attribute of accounts=...); add '{d}' to the posts, or compute '{d}' KPIs in a separate call"),
                ));
            }
        }
    }
    Ok(dims)
}

/// A post delivers on a contract through the columns both tables share, and its campaign or
/// sponsored flag (see `Attribution`); without either every post of the account counts,
/// which the result warns of.
fn tie_to_contracts(
    pp: &mut PostsPlan,
    cp: &ContractsPlan,
    pcols: &[String],
    reader: &str,
    warnings: &mut Vec<String>,
) -> Result<()> {
    if !pp.delivered {
        return Ok(());
    }
    pp.contract_match = cp.matched.clone();
    for c in &cp.matched {
        if !has(pcols, c) {
            return Err(missing_column(reader, c, "posts", pcols));
        }
        push_unique(&mut pp.columns, c.clone());
    }
    pp.attribution = Attribution::of(&cp.matched, pcols);
    match pp.attribution {
        Attribution::Sponsored => push_unique(&mut pp.columns, "sponsored".to_string()),
        Attribution::Account => warnings.push(ACCOUNT_WIDE_DELIVERY.to_string()),
        Attribution::Campaign => {}
    }
    Ok(())
}

/// Posts that meet their account's snapshots must carry the account key.
fn check_posts_meet_snapshots(
    pp: &PostsPlan,
    accounts_read: bool,
    account_key: &[String],
    chosen: &Chosen,
    pcols: &[String],
) -> Result<()> {
    if !(pp.needs_account && accounts_read) {
        return Ok(());
    }
    match account_key.iter().find(|c| !has(pcols, c)) {
        Some(c) => Err(missing_column(
            chosen.outputs.first().map_or("", |o| o.name()),
            c,
            "posts",
            pcols,
        )),
        None => Ok(()),
    }
}
