//! Any text through the formula parser and checker: an error is fine, a panic, an overflow
//! or a hang is not. Run with `make fuzz` (cargo fuzz, nightly).
#![no_main]

use libfuzzer_sys::fuzz_target;
use socialkpi_formula::{lower, Context, Table, Type};

/// A fixed set of tables and KPIs, including references between KPIs and a cycle.
struct Ctx;

impl Context for Ctx {
    fn column(&self, name: &str) -> Option<(Table, Type)> {
        match name {
            "likes" | "comments" | "shares" | "saves" | "reach" | "impressions" | "clicks" => {
                Some((Table::Posts, Type::Number))
            }
            "sponsored" => Some((Table::Posts, Type::Bool)),
            "platform" | "content_type" => Some((Table::Posts, Type::Text)),
            "published_at" => Some((Table::Posts, Type::Time)),
            "followers" | "mentions" | "profile_visits" => Some((Table::Accounts, Type::Number)),
            _ => None,
        }
    }
    fn columns(&self) -> Vec<String> {
        ["likes", "comments", "shares", "reach", "platform", "sponsored"]
            .map(String::from)
            .to_vec()
    }
    fn kpi(&self, name: &str) -> Option<String> {
        Some(
            match name {
                "engagements" => "eng",
                "engagement_rate" => "engagements / reach",
                "loop_a" => "loop_b + 1",
                "loop_b" => "loop_a * 2",
                "cpe" => "cost() / engagements",
                _ => return None,
            }
            .to_string(),
        )
    }
    fn kpis(&self) -> Vec<String> {
        ["engagements", "engagement_rate", "cpe"].map(String::from).to_vec()
    }
    fn attributed_from_posts(&self, measure: &str) -> bool {
        measure == "revenue"
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = lower("fuzzed", text, &Ctx) {
            let _ = e.render();
            let _ = e.position();
        }
    }
});
