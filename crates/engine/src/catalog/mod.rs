//! The KPI catalogue as data: names, goals, units, definitions and the inputs each reads.
//!
//! `plan` turns a requested name into measures; this module only says what a KPI *is*
//! (docs/kpis.md is the contract, the texts below quote it).

pub mod files;
pub mod parse;

/// A KPI defined by a formula, as the caller handed it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    pub name: String,
    pub formula: String,
    pub goal: String,
    pub unit: String,
    pub description: String,
}

/// The formula of a built-in KPI, from the shipped catalogue file.
pub fn formula(name: &str) -> Option<&'static str> {
    files::builtin()
        .kpis
        .iter()
        .find(|d| d.name == name)
        .map(|d| d.formula.as_str())
}

/// Which table a KPI's numbers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Post rows only.
    Posts,
    /// Daily account snapshots only.
    Accounts,
    /// Post rows joined with the account's follower snapshot on the post's day.
    PostsAtFollowers,
    /// Posts when they carry the column, else account snapshots.
    PostsElseAccounts,
    /// Cost (post `spend` and/or contract fees pro-rated by day), over post totals for the
    /// cost-per KPIs.
    Cost,
    /// Influencer contracts only (pro-rated by day).
    Contracts,
    /// Posts delivered inside contract windows, over what the contracts agreed.
    PostsAndContracts,
    /// Web analytics rows (sessions by source, matched to a platform).
    Traffic,
    /// Conversions, revenue or leads, each from one table: conversion events when given,
    /// else the posts' (or traffic's, or accounts') own column.
    Attributed,
}

/// One KPI of the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct Kpi {
    pub name: &'static str,
    pub goal: &'static str,
    pub unit: &'static str,
    pub definition: &'static str,
    /// Canonical input columns (`eng` stands for the engagement components).
    pub inputs: &'static [&'static str],
    pub source: Source,
    /// Which rule of docs/kpis.md governs the number.
    pub rule: &'static str,
}

const SUM_RULE: &str = "a flow: summed over the rows of the group and period; 0 where the group has no posts in the period, null where it has posts but the platform reported no value (a sum of nulls is null)";
const RATIO_RULE: &str = "rule 1 (ratios are ratios of sums at the output grain, over rows where both inputs are present) and rule 2 (a zero or missing denominator gives null)";
const REACH_RULE: &str =
    "rule 5: reach is not additive across posts, so the sum of post reach is an upper bound of unique reach";
const SNAPSHOT_RULE: &str = "rule 4: snapshots are semi-additive (last snapshot per account in the period, then summed across accounts; never summed over time)";
const COST_RULE: &str = "cost is the posts' spend plus contract fees pro-rated by the days of each contract inside the period (a 30-day contract of 3,000 with 10 days in a month puts 1,000 in it); rule 7: each part is known only where its table covers the period (from its first to its last date, per account when the result is per account), and cost is null where neither is known; the cost-per KPIs divide the group's cost by the group's own totals, and rule 2 applies (a zero or missing denominator gives null)";
const CONTRACT_RULE: &str = "contract deliverables are pro-rated like fees: posts_agreed × (days of the contract inside the period) / (days of the contract), start and end inclusive";
const SHARE_RULE: &str = "a share of the period's total: the group's value over the sum of all groups in the same period (null when that total is 0 or missing)";
const TRAFFIC_RULE: &str = "a flow over traffic rows: 0 where the group has no rows in a period the traffic table covers, null outside its coverage (rule 7) and where rows exist but none reported sessions; a source counts as referral traffic when it matches a social platform (see sk.sources())";
const ATTRIBUTED_RULE: &str = "each conversion or lead is counted once, from one table: conversion events when given (kind 'sale' or 'lead'), else the posts' column, else traffic's (else, for leads, the accounts' daily column); compute_details(...).origins says which; a flow: 0 where the group has none in a period that table covers, null outside its coverage (rule 7: unknown is null), and so are the ratios built on it";
const FOLLOWERS_AT_POST_RULE: &str = "rules 1 and 2 with followers-at-post: each post is divided by its account's last follower snapshot on or before the post's day, if it is at most max_staleness days old (default 7; rule 8); posts without one are left out and counted in rows_dropped";

macro_rules! kpi {
    ($name:literal, $goal:literal, $unit:literal, $source:ident, $inputs:expr, $rule:expr, $def:literal) => {
        Kpi {
            name: $name,
            goal: $goal,
            unit: $unit,
            definition: $def,
            inputs: $inputs,
            source: Source::$source,
            rule: $rule,
        }
    };
}

/// Every KPI this version computes, in catalogue order.
pub const KPIS: &[Kpi] = &[
    kpi!("posts", "content", "count", Posts, &[], "counted per post row (after de-duplication)", "number of posts"),
    kpi!("impressions", "awareness", "count", Posts, &["impressions"], SUM_RULE, "Σ impressions"),
    kpi!("reach", "awareness", "count", Posts, &["reach"], REACH_RULE, "Σ post reach (an upper bound of unique reach)"),
    kpi!("frequency", "awareness", "ratio", Posts, &["impressions", "reach"], RATIO_RULE, "Σ impressions / Σ reach"),
    kpi!("profile_visits", "awareness", "count", PostsElseAccounts, &["profile_visits"], SUM_RULE, "Σ profile visits (from posts when they carry the column, else from the account snapshots)"),
    kpi!("followers", "awareness", "count", Accounts, &["followers"], SNAPSHOT_RULE, "Σ over accounts of the last follower snapshot in the period"),
    kpi!("followers_start", "awareness", "count", Accounts, &["followers"], SNAPSHOT_RULE, "Σ over the same accounts of the last snapshot before the period, else the first snapshot in it (with every=None: the first snapshot)"),
    kpi!("follower_growth", "awareness", "count", Accounts, &["followers"], SNAPSHOT_RULE, "followers − followers_start"),
    kpi!("follower_growth_rate", "awareness", "ratio", Accounts, &["followers"], SNAPSHOT_RULE, "follower_growth / followers_start (null when followers_start is 0 or missing)"),
    kpi!("likes", "engagement", "count", Posts, &["likes"], SUM_RULE, "Σ likes"),
    kpi!("comments", "engagement", "count", Posts, &["comments"], SUM_RULE, "Σ comments"),
    kpi!("shares", "engagement", "count", Posts, &["shares"], SUM_RULE, "Σ shares"),
    kpi!("saves", "engagement", "count", Posts, &["saves"], SUM_RULE, "Σ saves"),
    kpi!("clicks", "engagement", "count", Posts, &["clicks"], SUM_RULE, "Σ clicks"),
    kpi!("engagements", "engagement", "count", Posts, &["eng"], "rule 3: a post's engagements are the sum of its components (likes, or reactions where a platform reports reactions instead, comments, shares, saves); a missing component counts as 0 when another is present, and the post's value is null when all are missing", "Σ eng, eng = likes + comments + shares + saves"),
    kpi!("engagement_rate", "engagement", "ratio", Posts, &["eng", "reach"], RATIO_RULE, "Σ eng / Σ reach (posts with reach)"),
    kpi!("engagement_rate_impressions", "engagement", "ratio", Posts, &["eng", "impressions"], RATIO_RULE, "Σ eng / Σ impressions"),
    kpi!("engagement_rate_followers", "engagement", "ratio", PostsAtFollowers, &["eng", "followers"], FOLLOWERS_AT_POST_RULE, "Σ eng / Σ followers-at-post"),
    kpi!("avg_engagement_rate_per_post", "engagement", "ratio", Posts, &["eng", "reach"], "the mean of per-post ratios, a different KPI from engagement_rate (rule 1); posts with reach > 0 only", "mean over posts of eng / reach (posts with reach > 0)"),
    kpi!("amplification_rate", "engagement", "ratio", PostsAtFollowers, &["shares", "followers"], FOLLOWERS_AT_POST_RULE, "Σ shares / Σ followers-at-post"),
    kpi!("applause_rate", "engagement", "ratio", PostsAtFollowers, &["likes", "followers"], FOLLOWERS_AT_POST_RULE, "Σ likes / Σ followers-at-post"),
    kpi!("conversation_rate", "engagement", "ratio", PostsAtFollowers, &["comments", "followers"], FOLLOWERS_AT_POST_RULE, "Σ comments / Σ followers-at-post"),
    kpi!("virality_rate", "engagement", "ratio", Posts, &["shares", "impressions"], RATIO_RULE, "Σ shares / Σ impressions"),
    kpi!("ctr", "traffic", "ratio", Posts, &["clicks", "impressions"], RATIO_RULE, "Σ clicks / Σ impressions"),
    kpi!("mentions", "awareness", "count", Accounts, &["mentions"], SUM_RULE, "Σ mentions (accounts table)"),
    kpi!("share_of_voice", "awareness", "ratio", Accounts, &["mentions"], SHARE_RULE, "a group's mentions / all mentions in the same period"),
    kpi!("referral_traffic", "traffic", "count", Traffic, &["sessions", "source"], TRAFFIC_RULE, "Σ sessions from social sources (traffic table)"),
    kpi!("referral_share", "traffic", "ratio", Traffic, &["sessions", "source"], SHARE_RULE, "a source's referral sessions / all referral sessions in the period"),
    kpi!("website_traffic", "traffic", "count", Traffic, &["sessions"], TRAFFIC_RULE, "Σ sessions, all sources"),
    kpi!("leads", "leads", "count", Attributed, &["leads"], ATTRIBUTED_RULE, "Σ leads: conversion events of kind 'lead', else traffic's or the accounts' leads column"),
    kpi!("lead_rate", "leads", "ratio", Attributed, &["leads", "profile_visits"], ATTRIBUTED_RULE, "leads / profile_visits"),
    kpi!("conversions", "conversion", "count", Attributed, &["conversions"], ATTRIBUTED_RULE, "Σ conversions: sale events, else the posts' (else traffic's) conversions column"),
    kpi!("conversion_rate", "conversion", "ratio", Attributed, &["conversions", "clicks"], RATIO_RULE, "Σ conversions / Σ clicks (over posts with both when conversions come from posts; else the group's conversions over its posts' clicks)"),
    kpi!("revenue", "conversion", "money", Attributed, &["revenue"], ATTRIBUTED_RULE, "Σ revenue: the value of sale events, else the posts' (else traffic's) revenue column"),
    kpi!("cost", "conversion", "money", Cost, &["cost"], COST_RULE, "Σ post spend + contract fees pro-rated by the days of the contract inside the period"),
    kpi!("cpm", "conversion", "money", Cost, &["cost", "impressions"], COST_RULE, "cost / impressions × 1000"),
    kpi!("cpc", "conversion", "money", Cost, &["cost", "clicks"], COST_RULE, "cost / clicks"),
    kpi!("cpe", "conversion", "money", Cost, &["cost", "eng"], COST_RULE, "cost / engagements"),
    kpi!("cpa", "conversion", "money", Cost, &["cost", "conversions"], COST_RULE, "cost / conversions"),
    kpi!("roas", "conversion", "ratio", Cost, &["cost", "revenue"], COST_RULE, "revenue / cost"),
    kpi!("roi", "conversion", "ratio", Cost, &["cost", "revenue"], COST_RULE, "(revenue − cost) / cost"),
    kpi!("posts_agreed", "content", "count", Contracts, &["posts_agreed"], CONTRACT_RULE, "contract deliverables, pro-rated by the days of the contract inside the period"),
    kpi!("delivery_rate", "content", "ratio", PostsAndContracts, &["posts_agreed"], CONTRACT_RULE, "posts delivered in a contract's window (by the contracted account, in its campaign and content type) / posts agreed"),
];

/// Goal presets: names that expand to the catalogue's KPIs of that goal.
pub const PRESETS: &[(&str, &[&str])] = &[
    (
        "awareness",
        &[
            "impressions",
            "reach",
            "frequency",
            "profile_visits",
            "followers",
            "followers_start",
            "follower_growth",
            "follower_growth_rate",
            "mentions",
            "share_of_voice",
        ],
    ),
    (
        "engagement",
        &[
            "engagements",
            "likes",
            "comments",
            "shares",
            "saves",
            "engagement_rate",
            "engagement_rate_impressions",
            "engagement_rate_followers",
            "avg_engagement_rate_per_post",
            "amplification_rate",
            "applause_rate",
            "conversation_rate",
            "virality_rate",
            "clicks",
            "ctr",
        ],
    ),
    (
        "traffic",
        &["referral_traffic", "referral_share", "website_traffic", "clicks", "ctr"],
    ),
    ("leads", &["leads", "lead_rate", "profile_visits", "referral_traffic"]),
    (
        "conversion",
        &[
            "conversions",
            "conversion_rate",
            "revenue",
            "cost",
            "cpm",
            "cpc",
            "cpe",
            "cpa",
            "roas",
            "roi",
        ],
    ),
    ("content", &["posts", "posts_agreed", "delivery_rate"]),
];

pub fn find(name: &str) -> Option<&'static Kpi> {
    KPIS.iter().find(|k| k.name == name)
}

pub fn preset(name: &str) -> Option<&'static [&'static str]> {
    PRESETS.iter().find(|(p, _)| *p == name).map(|(_, kpis)| *kpis)
}

/// The definition in words, with the rule of docs/kpis.md that applies.
pub fn explain(kpi: &Kpi) -> String {
    let tables = match kpi.source {
        Source::Posts => "posts",
        Source::Accounts => "accounts (daily snapshots)",
        Source::PostsAtFollowers => "posts and accounts (follower snapshots)",
        Source::PostsElseAccounts => "posts, else accounts",
        Source::Cost => "posts (spend) and contracts (fees)",
        Source::Contracts => "contracts",
        Source::PostsAndContracts => "posts and contracts",
        Source::Traffic => "traffic (web analytics)",
        Source::Attributed => "conversion events (conversions=...), else posts, traffic or accounts, whichever carries the measure (each counted once)",
    };
    format!(
        "{name} ({goal}, {unit}): {def}.\nFormula: {formula}\nReads: {tables}{inputs}.\nRule: {rule}.",
        name = kpi.name,
        goal = kpi.goal,
        unit = kpi.unit,
        def = kpi.definition,
        inputs = if kpi.inputs.is_empty() {
            String::new()
        } else {
            format!(" — columns {}", kpi.inputs.join(", "))
        },
        rule = kpi.rule,
        formula = formula(kpi.name).unwrap_or(""),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_presets_resolve() {
        let mut names: Vec<&str> = KPIS.iter().map(|k| k.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), KPIS.len());
        for (_, members) in PRESETS {
            for m in *members {
                assert!(find(m).is_some(), "{m} in a preset is not in the catalogue");
            }
        }
    }

    #[test]
    fn explain_names_the_rule() {
        let er = find("engagement_rate").map(explain).unwrap_or_default();
        assert!(er.contains("rule 1"));
        assert!(er.contains("Σ eng / Σ reach"));
    }
}
