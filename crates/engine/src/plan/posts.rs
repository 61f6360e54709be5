//! What the posts table must produce: its columns, sums, ratios and followers-at-post states.

use super::{
    did_you_mean, has, missing_column, push_unique, suggest, Components, CustomPosts, Error, Metric, PostsPlan, Result,
    ENG_COMPONENTS,
};
use crate::catalog::{Kpi, Source};
use crate::error::SchemaCode;

/// The components of a set the table has: `a|b` (a, else b) keeps what is there.
fn present_components(set: &[String], pcols: &[String]) -> Vec<String> {
    set.iter()
        .filter_map(|c| {
            let there: Vec<&str> = c.split('|').filter(|p| has(pcols, p)).collect();
            (!there.is_empty()).then(|| there.join("|"))
        })
        .collect()
}

/// The columns a set of components reads.
fn component_columns(set: &[String]) -> Vec<String> {
    set.iter().flat_map(|c| c.split('|')).map(str::to_string).collect()
}

/// The engagement components of each platform (a definition set's), the default set, and
/// the columns they read. Without a set, the built-in components.
fn engagement_sets(pcols: &[String], sets: &[(String, Vec<String>)]) -> (Vec<String>, Components, Vec<String>) {
    let (builtin, mut columns) = engagement_components(pcols);
    let default = match sets.iter().find(|(p, _)| p == "default") {
        Some((_, set)) => present_components(set, pcols),
        None => builtin,
    };
    let mut per_platform = Vec::new();
    if has(pcols, "platform") {
        for (platform, set) in sets.iter().filter(|(p, _)| p != "default") {
            let present = present_components(set, pcols);
            if present != default {
                per_platform.push((platform.clone(), present));
            }
        }
    }
    if !sets.is_empty() {
        columns = Vec::new();
        for set in std::iter::once(&default).chain(per_platform.iter().map(|(_, s)| s)) {
            for c in component_columns(set) {
                push_unique(&mut columns, c);
            }
        }
    }
    (default, per_platform, columns)
}

/// The engagement components a posts table has (`likes|reactions`: reactions stand in where
/// likes are missing) and the columns they read.
fn engagement_components(pcols: &[String]) -> (Vec<String>, Vec<String>) {
    let mut components = Vec::new();
    if has(pcols, "likes") || has(pcols, "reactions") {
        components.push(if has(pcols, "likes") && has(pcols, "reactions") {
            "likes|reactions".into()
        } else if has(pcols, "likes") {
            "likes".into()
        } else {
            "reactions".into()
        });
    }
    for comp in ENG_COMPONENTS.iter().take(3) {
        if has(pcols, comp) {
            components.push((*comp).to_string());
        }
    }
    let columns = ["likes", ENG_COMPONENTS[3], "comments", "shares", "saves"]
        .iter()
        .filter(|c| has(pcols, c))
        .map(|c| c.to_string())
        .collect();
    (components, columns)
}

/// What `contract_status` reads from posts: the columns a post shares with its contract, the
/// day, the engagement components and reach.
pub fn status_plan(pcols: &[String], ccols: &[String]) -> Result<PostsPlan> {
    for c in ["account_id", "published_at"] {
        if !has(pcols, c) {
            return Err(missing_column("contract_status", c, "posts", pcols));
        }
    }
    for c in ["account_id", "start", "end", "posts_agreed"] {
        if !has(ccols, c) {
            return Err(missing_column("contract_status", c, "contracts", ccols));
        }
    }
    let (components, mut count_columns) = engagement_components(pcols);
    if has(pcols, "reach") {
        count_columns.push("reach".to_string());
    }
    let contract_match: Vec<String> = ["account_id", "platform", "campaign", "content_type"]
        .iter()
        .filter(|c| **c == "account_id" || (has(pcols, c) && has(ccols, c)))
        .map(|c| c.to_string())
        .collect();
    let attribution = super::Attribution::of(&contract_match, pcols);
    let mut columns = contract_match.clone();
    if attribution == super::Attribution::Sponsored {
        columns.push("sponsored".to_string());
    }
    let post_id = has(pcols, "post_id").then(|| "post_id".to_string());
    columns.extend(post_id.iter().cloned());
    columns.extend(count_columns.iter().cloned());
    columns.push("published_at".to_string());
    Ok(PostsPlan {
        columns,
        components,
        count_columns,
        contract_match,
        attribution,
        post_id,
        needs_time: true,
        ..Default::default()
    })
}

#[allow(clippy::too_many_arguments)]
pub(super) fn plan_posts(
    kpis: &[&'static Kpi],
    pcols: &[String],
    dims: &[String],
    attribute_dims: &[String],
    account_key: &[String],
    periods: bool,
    custom: &CustomPosts,
    engagement: &[(String, Vec<String>)],
) -> Result<PostsPlan> {
    let mut p = PostsPlan {
        dims: dims.to_vec(),
        attribute_dims: attribute_dims.to_vec(),
        ..Default::default()
    };
    // the states of plain columns, as the formulas asked for them
    p.sums = custom.sums.clone();
    p.ratios = custom.ratios.clone();
    p.at_followers = custom.at_followers.clone();
    p.per_post_engagement_rate = custom.per_post_engagement_rate;
    for k in kpis {
        match k.source {
            // cost reads the posts' spend where they carry it
            Source::Cost if has(pcols, "spend") => push_unique(&mut p.sums, Metric::col("spend")),
            Source::PostsAndContracts => p.delivered = true,
            _ => {}
        }
    }
    let uses_eng = p.sums.contains(&Metric::Eng)
        || p.ratios.iter().any(|(a, b)| *a == Metric::Eng || *b == Metric::Eng)
        || p.per_post_engagement_rate
        || p.at_followers.contains(&Metric::Eng)
        || custom.eng;
    let mut cols: Vec<String> = Vec::new();
    let first = kpis.first().map(|k| k.name).unwrap_or(custom.reader.as_str());
    if uses_eng {
        let (components, per_platform, columns) = engagement_sets(pcols, engagement);
        if components.is_empty() && per_platform.iter().all(|(_, s)| s.is_empty()) {
            return Err(Error::schema(
                SchemaCode::MissingColumn,
                format!(
                    "KPI '{first}' needs engagement components, but posts has none of {}{}",
                    if engagement.is_empty() {
                        "likes, reactions, comments, shares, saves".to_string()
                    } else {
                        engagement
                            .iter()
                            .flat_map(|(_, s)| s.iter().cloned())
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                    did_you_mean(&suggest("likes", pcols.iter().map(String::as_str)))
                ),
            ));
        }
        p.components = components;
        p.platform_components = per_platform;
        for c in columns {
            push_unique(&mut cols, c);
        }
    }
    for c in &custom.numeric {
        push_unique(&mut cols, c.clone());
    }
    if p.per_post_engagement_rate {
        push_unique(&mut cols, "reach".to_string());
    }
    let metrics: Vec<&Metric> = p
        .sums
        .iter()
        .chain(p.ratios.iter().flat_map(|(a, b)| [a, b]))
        .chain(p.at_followers.iter())
        .collect();
    for m in metrics {
        if let Metric::Column(name) = m {
            push_unique(&mut cols, name.clone());
        }
    }
    p.count_columns = cols.clone();
    if !p.platform_components.is_empty() {
        // the platform picks each post's components
        push_unique(&mut cols, "platform".to_string());
    }
    p.signed_columns = cols.iter().filter(|c| *c == "revenue").cloned().collect();
    for c in &custom.plain {
        if !p.count_columns.contains(c) {
            push_unique(&mut cols, c.clone());
        }
    }
    for t in &custom.text_tests {
        push_unique(&mut cols, t.column.clone());
    }
    p.custom = custom.clone();
    p.needs_account = !p.at_followers.is_empty() || !attribute_dims.is_empty() || custom.followers_at_post;
    p.needs_time = periods || !p.at_followers.is_empty() || p.delivered || custom.followers_at_post;
    p.currency = has(pcols, "currency") && cols.iter().any(|c| c == "spend" || c == "revenue");
    if p.currency {
        push_unique(&mut cols, "currency".to_string());
    }
    for d in dims {
        push_unique(&mut cols, d.clone());
    }
    if p.needs_account {
        for k in account_key {
            push_unique(&mut cols, k.clone());
        }
    }
    if p.needs_time {
        if !has(pcols, "published_at") {
            return Err(missing_column(first, "published_at", "posts", pcols));
        }
        push_unique(&mut cols, "published_at".to_string());
    }
    if has(pcols, "post_id") {
        p.post_id = Some("post_id".to_string());
        push_unique(&mut cols, "post_id".to_string());
    }
    if cols.is_empty() {
        // rows are counted (`posts`) even when no column is read: one column carries them
        if let Some(any) = pcols.first() {
            cols.push(any.clone());
        }
    }
    p.columns = cols;
    Ok(p)
}
