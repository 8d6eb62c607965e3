//! What several commands read the same way: a duration flag, one GeneralScaler from a manifest,
//! the wall time (and its test-only offset), and text to stdout (a closed pipe ends the command quietly, as `head` expects).

use std::io::Write as _;
use std::path::Path;

use crate::api::check::{self, Severity};
use crate::api::{API_VERSION, GeneralScaler, KIND};
use gscale_manifest::yaml;

use super::{UsageError, validate};

/// `GSCALE_TEST_CLOCK_OFFSET_SECONDS`: seconds added to the wall clock decisions are made at, so
/// a test can put a schedule's edge (cron: whole minutes) seconds ahead instead of waiting for it.
/// An environment variable, not a flag: no completion or help offers it to a user. `run`, `plan`
/// and `status` all honour it, so a test sees the daemon's windows as the daemon does.
pub fn test_clock_offset() -> Result<jiff::SignedDuration, UsageError> {
    const NAME: &str = "GSCALE_TEST_CLOCK_OFFSET_SECONDS";
    match std::env::var(NAME) {
        Err(_) => Ok(jiff::SignedDuration::ZERO),
        Ok(text) => text.trim().parse::<i64>().map(jiff::SignedDuration::from_secs).map_err(|_| {
            UsageError(format!(
                "{NAME}={text}: expected whole seconds, e.g. 120 or -30\nhint: unset it outside tests"
            ))
        }),
    }
}

/// The wall time windows are judged at: now, moved by [`test_clock_offset`].
pub fn wall_now() -> Result<jiff::Timestamp, UsageError> {
    let now = jiff::Timestamp::now();
    Ok(now.saturating_add(test_clock_offset()?).unwrap_or(now))
}

/// The longest duration a flag takes: about 31 years, far beyond any replay or delay.
const MAX_DURATION_MS: f64 = 1e12;

/// `90` (seconds), `90s`, `1m30s`, `500ms`, `1.5h`, `2d`, `0`: a duration in milliseconds.
/// `flag` names the flag in the error.
pub fn duration_ms(flag: &str, text: &str) -> Result<i64, UsageError> {
    let bad = || {
        UsageError(format!(
            "{flag} {text:?} is not a duration\nhint: write e.g. 30s, 1m30s, 500ms, 24h or 2d"
        ))
    };
    let trimmed = text.trim();
    let ms = match trimmed.parse::<f64>() {
        Ok(seconds) => seconds * 1000.0,
        Err(_) => units_ms(trimmed).ok_or_else(bad)?,
    };
    if !(ms.is_finite() && (0.0..=MAX_DURATION_MS).contains(&ms)) {
        return Err(bad());
    }
    Ok(ms.round() as i64)
}

/// As [`duration_ms`], and above 0.
pub fn positive_duration_ms(flag: &str, text: &str) -> Result<i64, UsageError> {
    match duration_ms(flag, text)? {
        0 => {
            Err(UsageError(format!("{flag} {text:?} must be longer than 0\nhint: write e.g. 30s, 5m or 24h")))
        }
        ms => Ok(ms),
    }
}

/// `1m30s`-style text (jiff's friendly duration format) to milliseconds; `None` when it is not
/// that, or is negative or calendar-relative (months, years).
fn units_ms(text: &str) -> Option<f64> {
    let span = jiff::fmt::friendly::SpanParser::new().parse_span(text).ok()?;
    if span.is_negative() {
        return None;
    }
    span.total((jiff::Unit::Millisecond, jiff::SpanRelativeTo::days_are_24_hours())).ok()
}

/// The one GeneralScaler of a manifest (`-` reads stdin), checked as `validate` checks it. Other
/// kinds beside it are skipped; no scaler, several scalers or an invalid one are usage errors that
/// name the file, the line and the fix.
pub fn one_scaler(path: &Path, command: &str) -> anyhow::Result<GeneralScaler> {
    let name = if path.as_os_str() == "-" { "<stdin>".to_string() } else { path.display().to_string() };
    let text = validate::read(path)?.map_err(|problem| UsageError(format!("{name}: {problem}")))?;
    let documents = yaml::parse_documents(&text).map_err(|e| {
        UsageError(format!(
            "{name}:{}: not valid YAML: {} (column {})\nhint: `gscale validate -f {name}` shows the problem",
            e.line, e.message, e.column
        ))
    })?;
    // `kubectl get gsc -o yaml` writes a `kind: List`: its items count as documents of their own.
    let listed: Vec<yaml::Document> = documents.iter().flat_map(yaml::Document::list_items).collect();
    let scalers: Vec<&yaml::Document> = documents
        .iter()
        .chain(&listed)
        .filter(|d| d.value.get("kind").and_then(|k| k.as_str()) == Some(KIND))
        .collect();
    let doc = match scalers.as_slice() {
        [] => {
            return Err(UsageError(format!(
                "{name}: no GeneralScaler in this file\nhint: a GeneralScaler has apiVersion: {API_VERSION} and kind: {KIND}"
            ))
            .into());
        }
        [doc] => *doc,
        several => {
            let names: Vec<String> = several
                .iter()
                .map(|d| {
                    let n = d.value.pointer("/metadata/name").and_then(|v| v.as_str()).unwrap_or("?");
                    format!("{n} (line {})", d.line)
                })
                .collect();
            return Err(UsageError(format!(
                "{name}: {} GeneralScalers in this file ({}); {command} takes one\nhint: put the scaler to {command} in a file of its own",
                several.len(),
                names.join(", ")
            ))
            .into());
        }
    };
    let checked = check::check(&doc.value);
    if let Some(f) = checked.findings.iter().find(|f| f.severity == Severity::Error) {
        let line = if f.path.is_empty() { doc.line } else { doc.line_of(&f.path) };
        let field = if f.path.is_empty() { String::new() } else { format!("{}: ", f.path) };
        // An invalid manifest is a problem found (exit 1), as `validate` reports it, not a usage error.
        return Err(anyhow::anyhow!(
            "{name}:{line}: {field}{}\nhint: {} (`gscale validate -f {name}` lists every problem)",
            f.message,
            f.hint
        ));
    }
    checked
        .scaler
        .ok_or_else(|| UsageError(format!("{name}:{}: the GeneralScaler cannot be read", doc.line)).into())
}

/// Write `text` to stdout. A reader that went away (`| head`) surfaces as a broken pipe, which
/// `main` ends quietly.
pub fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_people_write_them() {
        for (text, ms) in [
            ("60s", 60_000),
            ("90", 90_000),
            ("1m30s", 90_000),
            ("500ms", 500),
            ("2h", 7_200_000),
            ("1.5h", 5_400_000),
            ("2d", 172_800_000),
            ("0", 0),
            ("0s", 0),
        ] {
            assert_eq!(duration_ms("--x", text).unwrap(), ms, "{text}");
        }
        for bad in
            ["", "s", "10x", "1m3", "-5", "-5s", "nan", "inf", "1e400", "99999999d", "PT5S", "2mo", "1y"]
        {
            let e = duration_ms("--x", bad).unwrap_err();
            assert!(e.0.starts_with("--x") && e.0.contains("hint: write e.g."), "{bad}: {e}");
        }
        assert!(positive_duration_ms("--replay", "0s").unwrap_err().0.contains("must be longer than 0"));
        assert_eq!(positive_duration_ms("--replay", "24h").unwrap(), 86_400_000);
    }
}
