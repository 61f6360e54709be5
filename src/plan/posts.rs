//! What the posts table must produce: its columns, sums, ratios and followers-at-post states.

use super::usable::reads_posts;
use super::{has, missing_column, push_unique, Metric, Origin, Origins, PostsPlan, Result, ENG_COMPONENTS};
use crate::catalog::{Kpi, Source};

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
    let mut columns = contract_match.clone();
    let post_id = has(pcols, "post_id").then(|| "post_id".to_string());
    columns.extend(post_id.iter().cloned());
    columns.extend(count_columns.iter().cloned());
    columns.push("published_at".to_string());
    Ok(PostsPlan {
        columns,
        components,
        count_columns,
        contract_match,
        post_id,
        needs_time: true,
        ..Default::default()
    })
}

pub(super) fn plan_posts(
    kpis: &[&'static Kpi],
    pcols: &[String],
    dims: &[String],
    attribute_dims: &[String],
    account_key: &[String],
    periods: bool,
    o: &Origins,
) -> Result<PostsPlan> {
    let mut p = PostsPlan {
        dims: dims.to_vec(),
        attribute_dims: attribute_dims.to_vec(),
        ..Default::default()
    };
    let c = Metric::col;
    for k in kpis {
        match k.name {
            "posts" => {}
            "impressions" | "reach" | "likes" | "comments" | "shares" | "saves" | "clicks" | "profile_visits"
                if reads_posts(k, pcols, o) =>
            {
                push_unique(&mut p.sums, c(k.name));
            }
            "engagements" => push_unique(&mut p.sums, Metric::Eng),
            "frequency" => push_unique(&mut p.ratios, (c("impressions"), c("reach"))),
            "engagement_rate" => push_unique(&mut p.ratios, (Metric::Eng, c("reach"))),
            "engagement_rate_impressions" => push_unique(&mut p.ratios, (Metric::Eng, c("impressions"))),
            "virality_rate" => push_unique(&mut p.ratios, (c("shares"), c("impressions"))),
            "ctr" => push_unique(&mut p.ratios, (c("clicks"), c("impressions"))),
            "avg_engagement_rate_per_post" => p.per_post_engagement_rate = true,
            "engagement_rate_followers" => push_unique(&mut p.at_followers, Metric::Eng),
            "amplification_rate" => push_unique(&mut p.at_followers, c("shares")),
            "applause_rate" => push_unique(&mut p.at_followers, c("likes")),
            "conversation_rate" => push_unique(&mut p.at_followers, c("comments")),
            "conversions" | "revenue" if o.of(k.name) == Some(Origin::Posts) => push_unique(&mut p.sums, c(k.name)),
            "conversion_rate" if o.of(k.name) == Some(Origin::Posts) => {
                push_unique(&mut p.ratios, (c("conversions"), c("clicks")))
            }
            // the group's conversions from another table, over its posts' clicks
            "conversion_rate" => push_unique(&mut p.sums, c("clicks")),
            "lead_rate" if has(pcols, "profile_visits") => push_unique(&mut p.sums, c("profile_visits")),
            "delivery_rate" => p.delivered = true,
            _ => {}
        }
        if k.source == Source::Cost {
            if has(pcols, "spend") {
                push_unique(&mut p.sums, c("spend"));
            }
            let from_posts = o.of(k.name) == Some(Origin::Posts);
            let total = match k.name {
                "cpm" => Some(c("impressions")),
                "cpc" => Some(c("clicks")),
                "cpe" => Some(Metric::Eng),
                "cpa" if from_posts => Some(c("conversions")),
                "roas" | "roi" if from_posts => Some(c("revenue")),
                _ => None,
            };
            if let Some(m) = total {
                push_unique(&mut p.sums, m);
            }
        }
    }
    let uses_eng = p.sums.contains(&Metric::Eng)
        || p.ratios.iter().any(|(a, _)| *a == Metric::Eng)
        || p.per_post_engagement_rate
        || p.at_followers.contains(&Metric::Eng);
    let mut cols: Vec<String> = Vec::new();
    if uses_eng {
        let (components, columns) = engagement_components(pcols);
        p.components = components;
        for c in columns {
            push_unique(&mut cols, c);
        }
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
    p.signed_columns = cols.iter().filter(|c| *c == "revenue").cloned().collect();
    p.needs_account = !p.at_followers.is_empty() || !attribute_dims.is_empty();
    p.needs_time = periods || !p.at_followers.is_empty() || p.delivered;
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
            return Err(missing_column(kpis[0].name, "published_at", "posts", pcols));
        }
        push_unique(&mut cols, "published_at".to_string());
    }
    if has(pcols, "post_id") {
        p.post_id = Some("post_id".to_string());
        push_unique(&mut cols, "post_id".to_string());
    }
    p.columns = cols;
    Ok(p)
}
