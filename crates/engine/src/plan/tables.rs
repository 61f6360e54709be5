//! What the accounts, contracts, traffic and conversion-events tables must produce for the
//! KPIs asked.

use super::kpis::Chosen;
use super::usable::{over_profile_visits, reads_accounts};
use super::{
    did_you_mean, has, measure, missing_column, push_unique, suggest, AccountsPlan, ContractsPlan, Error, EventsPlan,
    Given, Origin, Origins, Result, TrafficPlan,
};
use crate::catalog::{Kpi, Source};
use crate::error::SchemaCode;

/// `dims`: the dimensions of account KPIs; `attributes`: account attributes grouping posts;
/// `defines_rows`: an account KPI was asked for, so the snapshots define result rows.
pub(super) fn plan_accounts(
    chosen: &Chosen,
    given: &Given,
    o: &Origins,
    dims: Vec<String>,
    attributes: Vec<String>,
    account_key: &[String],
    defines_rows: bool,
) -> Result<AccountsPlan> {
    let (pcols, acols) = (given.pcols(), given.acols());
    let mut ap = AccountsPlan {
        dims,
        attributes,
        defines_rows,
        snapshots_for_posts: chosen.custom_posts.followers_at_post,
        ..Default::default()
    };
    for k in &chosen.kpis {
        match k.source {
            Source::Accounts if k.inputs.contains(&"mentions") => ap.mentions = true,
            Source::Attributed if o.of(k.name) == Some(Origin::Accounts) => {
                ap.leads = true;
                if over_profile_visits(k) && !has(pcols, "profile_visits") {
                    ap.profile_visits = true;
                }
            }
            Source::Attributed if over_profile_visits(k) && !has(pcols, "profile_visits") => ap.profile_visits = true,
            Source::Accounts => ap.followers = true,
            Source::PostsAtFollowers => ap.snapshots_for_posts = true,
            Source::PostsElseAccounts if !has(pcols, "profile_visits") => ap.profile_visits = true,
            _ => {}
        }
    }
    let mut cols: Vec<String> = account_key.to_vec();
    push_unique(&mut cols, "date".to_string());
    for c in ap.dims.iter().chain(ap.attributes.iter()) {
        push_unique(&mut cols, c.clone());
    }
    for (read, c) in [
        (ap.followers || ap.snapshots_for_posts, "followers"),
        (ap.profile_visits, "profile_visits"),
        (ap.mentions, "mentions"),
        (ap.leads, "leads"),
    ] {
        if read {
            push_unique(&mut cols, c.to_string());
        }
    }
    if let Some(c) = cols.iter().find(|c| !has(acols, c)) {
        let kpi = chosen
            .kpis
            .iter()
            .find(|k| reads_accounts(k, pcols, o))
            .map_or("", |k| k.name);
        return Err(missing_column(kpi, c, "accounts", acols));
    }
    ap.columns = cols;
    Ok(ap)
}

/// `first`: the first KPI that reads the table (named in errors).
pub(super) fn plan_contracts(
    kpis: &[&'static Kpi],
    by: &[String],
    pcols: &[String],
    ccols: &[String],
    first: &str,
) -> Result<ContractsPlan> {
    let mut cp = ContractsPlan {
        dims: by.to_vec(),
        fee: kpis.iter().any(|k| k.source == Source::Cost),
        agreed: kpis
            .iter()
            .any(|k| matches!(k.source, Source::Contracts | Source::PostsAndContracts)),
        currency: has(ccols, "currency"),
        coverage_account: has(ccols, "account_id"),
        ..Default::default()
    };
    let mut cols: Vec<String> = by.to_vec();
    for c in ["start", "end"] {
        push_unique(&mut cols, c.to_string());
    }
    if cp.fee {
        push_unique(&mut cols, "fee".to_string());
    }
    if cp.agreed {
        push_unique(&mut cols, "posts_agreed".to_string());
    }
    if cp.currency {
        push_unique(&mut cols, "currency".to_string());
    }
    if kpis.iter().any(|k| k.source == Source::PostsAndContracts) {
        cp.matched = ["account_id", "platform", "campaign", "content_type"]
            .iter()
            .filter(|c| **c == "account_id" || (has(ccols, c) && has(pcols, c)))
            .map(|c| c.to_string())
            .collect();
        for c in &cp.matched {
            push_unique(&mut cols, c.clone());
        }
    }
    for c in &cols {
        if !has(ccols, c) {
            return Err(missing_column(first, c, "contracts", ccols));
        }
    }
    cp.columns = cols;
    Ok(cp)
}

/// `derived_platform`: the table has `source` but no `platform`, which is matched from it.
pub(super) fn plan_traffic(
    kpis: &[&'static Kpi],
    by: &[String],
    tcols: &[String],
    o: &Origins,
    derived_platform: bool,
    first: &str,
) -> Result<TrafficPlan> {
    let mut tp = TrafficPlan {
        dims: by.to_vec(),
        referral: kpis
            .iter()
            .any(|k| k.source == Source::Traffic && k.inputs.contains(&"source")),
        sessions: kpis.iter().any(|k| k.source == Source::Traffic),
        ..Default::default()
    };
    for k in kpis {
        if let (Some(m), Some(Origin::Traffic)) = (measure(k.name), o.of(k.name)) {
            push_unique(&mut tp.measures, m.to_string());
        }
    }
    tp.platform_from_source = derived_platform && (tp.referral || by.iter().any(|d| d == "platform"));
    let mut cols: Vec<String> = vec!["date".to_string()];
    if tp.sessions {
        cols.push("sessions".to_string());
    }
    for m in &tp.measures {
        push_unique(&mut cols, m.clone());
    }
    for d in by {
        if !(d == "platform" && tp.platform_from_source) {
            push_unique(&mut cols, d.clone());
        }
    }
    // the table's coverage is per account when it has one
    if has(tcols, "account_id") {
        push_unique(&mut cols, "account_id".to_string());
    }
    if tp.referral || tp.platform_from_source {
        push_unique(
            &mut cols,
            if derived_platform { "source" } else { "platform" }.to_string(),
        );
    }
    for c in &cols {
        if !has(tcols, c) {
            if c == "date" {
                return Err(Error::schema(
                    SchemaCode::MissingColumn,
                    format!(
                        "the traffic table has no 'date' column{}; traffic rows need the day of their sessions",
                        did_you_mean(&suggest("date", tcols.iter().map(String::as_str)))
                    ),
                ));
            }
            return Err(missing_column(first, c, "traffic", tcols));
        }
    }
    tp.columns = cols;
    Ok(tp)
}

/// `events_platform`: the events have `source` but no `platform`, which is matched from it.
pub(super) fn plan_events(
    kpis: &[&'static Kpi],
    by: &[String],
    ecols: &[String],
    o: &Origins,
    events_platform: bool,
    first: &str,
) -> Result<EventsPlan> {
    let mut ep = EventsPlan {
        dims: by.to_vec(),
        value: kpis
            .iter()
            .any(|k| measure(k.name) == Some("revenue") && o.revenue == Some(Origin::Events)),
        ..Default::default()
    };
    ep.platform_from_source = events_platform && by.iter().any(|d| d == "platform");
    let mut cols = vec!["timestamp".to_string(), "kind".to_string()];
    if ep.value {
        cols.push("value".to_string());
    }
    for d in by {
        push_unique(
            &mut cols,
            if d == "platform" && ep.platform_from_source {
                "source"
            } else {
                d
            }
            .to_string(),
        );
    }
    // the table's coverage is per account when it has one
    if has(ecols, "account_id") {
        push_unique(&mut cols, "account_id".to_string());
    }
    for c in &cols {
        if !has(ecols, c) {
            return Err(missing_column(first, c, "conversions", ecols));
        }
    }
    ep.columns = cols;
    Ok(ep)
}
