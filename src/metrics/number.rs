//! Turning what a backend sent into a usable number: the "no data is not zero" rule in one place.
//!
//! [`check`] refuses NaN, infinities and negative values; [`parse`] reads a decimal, Prometheus'
//! `NaN`/`+Inf` spellings, or a Kubernetes quantity (`500m`, `2Ki`, `1e3`). Nothing here does I/O.

use super::error::Problem;

/// The value itself, if it is a finite, non-negative number.
pub fn check(value: f64) -> Result<f64, Problem> {
    if value.is_nan() {
        Err(Problem::InvalidValue("NaN".into()))
    } else if value.is_infinite() {
        Err(Problem::InvalidValue(format!("{}Inf", if value > 0.0 { "+" } else { "-" })))
    } else if value < 0.0 {
        Err(Problem::InvalidValue(format!("negative value {value}")))
    } else {
        // -0.0 reads as 0.
        Ok(value + 0.0)
    }
}

/// Parse a number written as text (a decimal, `NaN`, `+Inf`, or a Kubernetes quantity), then [`check`] it.
pub fn parse(text: &str) -> Result<f64, Problem> {
    let trimmed = text.trim();
    let value = parse_raw(trimmed).ok_or_else(|| {
        if trimmed.is_empty() {
            Problem::NoData("empty value".into())
        } else {
            // The text itself is not shown: it may be anything the endpoint holds.
            Problem::InvalidValue(format!("not a number ({} of text)", characters(trimmed)))
        }
    })?;
    check(value)
}

/// `1 character`, `12 characters`: how long a text is, without the text.
pub(crate) fn characters(text: &str) -> String {
    match text.chars().count() {
        1 => "1 character".to_owned(),
        n => format!("{n} characters"),
    }
}

/// The number `text` spells, unchecked (NaN and infinities included); `None` if it spells none.
pub(crate) fn parse_raw(text: &str) -> Option<f64> {
    match text {
        "NaN" | "nan" => return Some(f64::NAN),
        "+Inf" | "Inf" | "inf" | "+inf" => return Some(f64::INFINITY),
        "-Inf" | "-inf" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    if let Ok(value) = text.parse::<f64>() {
        // Rust also accepts "infinity" and "nan" spelled out; those are caught by check().
        return Some(value);
    }
    parse_quantity(text)
}

/// A Kubernetes quantity: a decimal followed by a binary (`Ki`..`Ei`) or decimal (`n`..`E`) suffix.
pub fn parse_quantity(text: &str) -> Option<f64> {
    const SUFFIXES: [(&str, f64); 16] = [
        ("Ki", 1024.0),
        ("Mi", 1_048_576.0),
        ("Gi", 1_073_741_824.0),
        ("Ti", 1_099_511_627_776.0),
        ("Pi", 1_125_899_906_842_624.0),
        ("Ei", 1_152_921_504_606_846_976.0),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
        ("", 1.0),
    ];
    for (suffix, factor) in SUFFIXES {
        if let Some(number) = text.strip_suffix(suffix) {
            let plain = !number.is_empty()
                && number.trim_start_matches(['+', '-']).chars().all(|c| c.is_ascii_digit() || c == '.');
            if plain && let Ok(value) = number.parse::<f64>() {
                return Some(value * factor);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbers_and_quantities() {
        let cases = [
            ("42", 42.0),
            (" 3.5\n", 3.5),
            ("1e3", 1000.0),
            ("500m", 0.5),
            ("2k", 2000.0),
            ("1Ki", 1024.0),
            ("1.5Gi", 1.5 * 1_073_741_824.0),
            ("250u", 0.00025),
            ("0", 0.0),
            ("-0", 0.0),
        ];
        for (text, want) in cases {
            let got = parse(text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
            assert!((got - want).abs() < 1e-9 * want.max(1.0), "{text}: {got} != {want}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_usable_number() {
        let cases = [
            ("NaN", "NaN"),
            ("+Inf", "+Inf"),
            ("-Inf", "-Inf"),
            ("-3", "negative value -3"),
            ("-500m", "negative value -0.5"),
            ("abc", "not a number (3 characters of text)"),
            ("12 apples", "not a number (9 characters of text)"),
            ("m", "not a number (1 character of text)"),
            ("Ki", "not a number (2 characters of text)"),
        ];
        for (text, want) in cases {
            match parse(text) {
                Err(Problem::InvalidValue(detail)) => assert_eq!(detail, want, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        assert_eq!(parse("  "), Err(Problem::NoData("empty value".into())));
    }
}
