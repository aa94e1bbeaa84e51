//! The output format a path asks for, when the caller names none.

use std::path::Path;

/// `csv` for `*.csv`, `jsonl` for `*.jsonl`, `*.ndjson` and `*.json`, `plain` (the plain-text
/// form of what is written) for `*.txt`, else `default`.
pub(crate) fn format_for(path: &Path, plain: &'static str, default: &'static str) -> &'static str {
    let extension = path
        .extension()
        .and_then(|extension| extension.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("csv") => "csv",
        Some("jsonl" | "ndjson" | "json") => "jsonl",
        Some("txt") => plain,
        _ => default,
    }
}
