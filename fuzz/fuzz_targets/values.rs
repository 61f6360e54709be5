//! Any cell through the value parser (numbers, dates, flags): a value or a "not a value" is
//! fine, a panic, an overflow or a hang is not, and what reads is in range. Run with
//! `make fuzz` (cargo fuzz, nightly). The parser has no dependencies: its file is built here
//! as it is.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../crates/engine/src/ingest/values.rs"]
mod values;

use values::{Cell, DayOrder, Decimal};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for ambiguous in [None, Some(Decimal::Point), Some(Decimal::Comma)] {
        if let Cell::Value(v) = values::parse_number(text, ambiguous) {
            assert!(!v.is_nan(), "{text:?} read as NaN");
        }
    }
    let _ = values::decimal_evidence(text);
    let _ = values::parse_flag(text);
    let _ = values::is_number_cell(text);
    let _ = values::numeric_fields(text);
    for order in [DayOrder::DayFirst, DayOrder::MonthFirst] {
        for year in [None, Some(2026), Some(i32::MIN), Some(i32::MAX)] {
            if let Cell::Value(st) = values::parse_stamp(text, order, year) {
                assert!((1000..=9999).contains(&st.year), "{text:?}: year {}", st.year);
                assert!(st.day >= 1 && st.day <= values::days_in_month(st.year, st.month));
                assert!((0..86_401_000_000).contains(&st.micros), "{text:?}: {} µs", st.micros);
                let _ = st.days();
                let _ = st.utc_micros();
            }
        }
    }
});
