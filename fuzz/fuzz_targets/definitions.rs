//! Any text through the definition-file reader, as YAML, TOML and JSON: an error is fine; a
//! panic, a stack overflow, a runaway allocation or a hang is not. The reader is included by
//! path (it has no engine dependencies: src/catalog/parse.rs). Run with `make fuzz`.
#![no_main]

// the error codes the included files name (`crate::error::...`)
#[path = "../../crates/engine/src/codes.rs"]
mod error;

#[path = "../../crates/engine/src/catalog/parse.rs"]
mod parse;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for format in ["yaml", "toml", "json"] {
        match parse::parse(text, format, "fuzzed") {
            Ok(parsed) => {
                assert!(parsed.kpis.len() <= parse::MAX_KPIS);
                for k in &parsed.kpis {
                    assert!(parse::check_syntax(&k.name, &k.formula).is_ok());
                }
            }
            Err(parse::Problem::Formula(e)) => {
                let _ = e.render();
            }
            Err(parse::Problem::File { code, message }) => {
                assert!(!code.as_str().is_empty() && !message.is_empty());
            }
        }
    }
});
