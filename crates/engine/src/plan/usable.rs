//! Which tables a KPI reads, and whether the tables given can compute it (names only).

use super::{did_you_mean, has, measure, missing_column, missing_table, suggest, Error, Origin, Origins, Result};
use crate::catalog::{Kpi, Source};
use crate::error::SchemaCode;

/// The posts' totals a cost-per KPI divides by (cpm, cpc, cpe: the catalogue's inputs).
const POST_TOTALS: [&str; 3] = ["impressions", "clicks", "eng"];

/// An attributed KPI over profile visits (lead_rate): its visits come from the posts' column,
/// else from the accounts'.
pub(super) fn over_profile_visits(k: &Kpi) -> bool {
    k.source == Source::Attributed && k.inputs.contains(&"profile_visits")
}

pub(super) fn reads_posts(k: &Kpi, pcols: &[String], o: &Origins) -> bool {
    let from_posts = o.of(k.name) == Some(Origin::Posts);
    match k.source {
        Source::Posts | Source::PostsAtFollowers | Source::PostsAndContracts => true,
        Source::PostsElseAccounts => has(pcols, "profile_visits"),
        // cost reads posts for their spend; the cost-per KPIs divide by post totals
        Source::Cost => has(pcols, "spend") || k.inputs.iter().any(|i| POST_TOTALS.contains(i)) || from_posts,
        // conversion_rate divides by the posts' clicks; lead_rate by their profile visits
        Source::Attributed => {
            from_posts || k.inputs.contains(&"clicks") || (over_profile_visits(k) && has(pcols, "profile_visits"))
        }
        Source::Accounts | Source::Contracts | Source::Traffic => false,
    }
}

pub(super) fn reads_accounts(k: &Kpi, pcols: &[String], o: &Origins) -> bool {
    match k.source {
        Source::Accounts | Source::PostsAtFollowers => true,
        Source::PostsElseAccounts => !has(pcols, "profile_visits"),
        Source::Attributed => {
            o.of(k.name) == Some(Origin::Accounts) || (over_profile_visits(k) && !has(pcols, "profile_visits"))
        }
        Source::Posts | Source::Cost | Source::Contracts | Source::PostsAndContracts | Source::Traffic => false,
    }
}

/// Traffic KPIs need the traffic table (its columns are checked when the plan is built).
pub(super) fn usable_traffic(k: &Kpi, traffic: Option<&[String]>, o: &Origins) -> Result<()> {
    if k.source != Source::Traffic {
        if measure(k.name).is_some() && o.of(k.name).is_none() {
            let how = match measure(k.name) {
                Some("leads") => "conversions=... (events of kind 'lead'), or a 'leads' column in traffic or accounts",
                Some("revenue") => "conversions=... with a 'value' per sale, or a 'revenue' column in posts or traffic",
                _ => "conversions=... (events of kind 'sale'), or a 'conversions' column in posts or traffic",
            };
            return Err(Error::schema(
                SchemaCode::MissingColumn,
                format!(
                    "KPI '{}' needs {}: pass {how}",
                    k.name,
                    measure(k.name).unwrap_or("its measure")
                ),
            ));
        }
        return Ok(());
    }
    let Some(tcols) = traffic else {
        return Err(missing_table(k.name, "traffic"));
    };
    if !has(tcols, "sessions") {
        return Err(missing_column(k.name, "sessions", "traffic", tcols));
    }
    if k.inputs.contains(&"source") && !has(tcols, "source") && !has(tcols, "platform") {
        return Err(missing_column(k.name, "source", "traffic", tcols));
    }
    Ok(())
}

pub(super) fn reads_contracts(k: &Kpi, contracts_given: bool) -> bool {
    match k.source {
        Source::Contracts | Source::PostsAndContracts => true,
        Source::Cost => contracts_given,
        _ => false,
    }
}

/// Whether a KPI can be computed from the tables given (names only).
pub(super) fn usable(
    k: &Kpi,
    posts: Option<&[String]>,
    accounts: Option<&[String]>,
    contracts: Option<&[String]>,
    o: &Origins,
) -> Result<()> {
    let empty: Vec<String> = Vec::new();
    let pcols = posts.unwrap_or(&empty);
    if k.source == Source::Cost && !has(pcols, "spend") && contracts.is_none() {
        return Err(Error::schema(
            SchemaCode::MissingColumn,
            format!(
                "KPI '{}' needs a cost: a 'spend' column in posts, or contracts=... with a 'fee' per agreement",
                k.name
            ),
        ));
    }
    if reads_contracts(k, contracts.is_some()) && contracts.is_none() {
        return Err(missing_table(k.name, "contracts"));
    }
    if reads_posts(k, pcols, o) && posts.is_none() {
        return Err(missing_table(k.name, "posts"));
    }
    if k.source == Source::PostsElseAccounts && posts.is_none() && accounts.is_none() {
        return Err(missing_table(k.name, "posts"));
    }
    if reads_accounts(k, pcols, o) {
        let Some(acols) = accounts else {
            if k.source == Source::PostsElseAccounts || over_profile_visits(k) {
                return Err(Error::schema(SchemaCode::MissingColumn, format!("KPI 'profile_visits' needs a 'profile_visits' column in posts, or an accounts table with one{}", did_you_mean(&suggest("profile_visits", pcols.iter().map(String::as_str))))));
            }
            return Err(missing_table(k.name, "accounts"));
        };
        for c in k
            .inputs
            .iter()
            .filter(|c| matches!(**c, "followers" | "profile_visits" | "mentions"))
            .filter(|c| !(**c == "profile_visits" && over_profile_visits(k) && has(pcols, "profile_visits")))
        {
            if !has(acols, c) {
                return Err(missing_column(k.name, c, "accounts", acols));
            }
        }
    }
    if reads_posts(k, pcols, o) {
        for c in k.inputs {
            match *c {
                "followers" | "cost" | "posts_agreed" | "conversions" | "revenue" | "leads" => {}
                "profile_visits" if over_profile_visits(k) => {}
                "eng"
                    if !["likes", "reactions", "comments", "shares", "saves"]
                        .iter()
                        .any(|c| has(pcols, c)) =>
                {
                    return Err(Error::schema(SchemaCode::MissingColumn, format!("KPI '{}' needs engagement components, but posts has none of likes, reactions, comments, shares, saves{}", k.name, did_you_mean(&suggest("likes", pcols.iter().map(String::as_str))))));
                }
                "eng" => {}
                c if !has(pcols, c) => return Err(missing_column(k.name, c, "posts", pcols)),
                _ => {}
            }
        }
    }
    Ok(())
}
