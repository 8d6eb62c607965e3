//! Load traces: CSV `timestamp,value` as in ../shared/traces/, parsed into points in seconds.
//!
//! A timestamp is `YYYY-MM-DD HH:MM:SS` (UTC), an RFC 3339 instant, or Unix time in seconds (or in
//! milliseconds, told apart by size). Every problem
//! is reported with its 1-based line number; nothing here panics on bad input. The trace carries
//! no meaning beyond "demand over time": scaling and compression are applied by the simulator.

use std::fmt;

use jiff::Timestamp;

/// Most points accepted, far beyond the traces in use; a larger file is most likely the wrong file.
pub const MAX_POINTS: usize = 5_000_000;

/// A load series: points in time order, times in milliseconds since the Unix epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    /// `(time_ms, value)`, strictly increasing in time.
    pub points: Vec<(i64, f64)>,
}

/// Why a trace cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceError {
    /// 1-based line, 0 for the file as a whole.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.message)
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

impl std::error::Error for TraceError {}

fn err(line: usize, message: impl Into<String>) -> TraceError {
    TraceError { line, message: message.into() }
}

impl Trace {
    /// Parse CSV text: an optional header line (`timestamp,value`), then one point per line.
    /// Blank lines and lines starting with `#` are skipped.
    pub fn parse(text: &str) -> Result<Trace, TraceError> {
        let mut points: Vec<(i64, f64)> = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line_no = index + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((time_text, value_text)) = line.split_once(',') else {
                return Err(err(line_no, format!("expected `timestamp,value`, found {:?}", clip(line))));
            };
            let quoted = value_text.trim().starts_with('"');
            let (time_text, value_text) = (unquote(time_text), unquote(value_text));
            if points.is_empty() && is_header(time_text, value_text) {
                continue;
            }
            if value_text.contains(',') {
                // Quoted, "1,5" (or "1,000") is one value with a comma in it, not two columns.
                if quoted {
                    return Err(err(
                        line_no,
                        format!(
                            "value {value_text:?} contains a comma: write numbers with a dot for decimals and no thousands separator"
                        ),
                    ));
                }
                return Err(err(line_no, "expected two columns `timestamp,value`, found more"));
            }
            let time = parse_time(time_text).ok_or_else(|| {
                err(
                    line_no,
                    format!(
                        "cannot read timestamp {:?}: expected `YYYY-MM-DD HH:MM:SS`, RFC 3339 or Unix time",
                        clip(time_text)
                    ),
                )
            })?;
            let value: f64 = value_text
                .parse()
                .map_err(|_| err(line_no, format!("cannot read value {:?} as a number", clip(value_text))))?;
            if !value.is_finite() || value < 0.0 {
                return Err(err(line_no, format!("value {value_text} is not a finite number >= 0")));
            }
            if let Some(&(last, _)) = points.last()
                && time <= last
            {
                return Err(err(line_no, "timestamps must increase strictly from line to line"));
            }
            if points.len() == MAX_POINTS {
                return Err(err(line_no, format!("more than {MAX_POINTS} points")));
            }
            points.push((time, value));
        }
        if points.len() < 2 {
            return Err(err(0, format!("a trace needs at least 2 points, found {}", points.len())));
        }
        Ok(Trace { points })
    }

    /// The typical step between points (the median), in milliseconds.
    pub fn step_ms(&self) -> i64 {
        let mut steps: Vec<i64> = self.points.windows(2).map(|w| w[1].0 - w[0].0).collect();
        steps.sort_unstable();
        steps[steps.len() / 2]
    }

    /// The largest value.
    pub fn peak(&self) -> f64 {
        self.points.iter().map(|p| p.1).fold(0.0, f64::max)
    }

    /// The mean value, each point weighted equally.
    pub fn mean(&self) -> f64 {
        self.points.iter().map(|p| p.1).sum::<f64>() / self.points.len() as f64
    }
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(s).trim()
}

fn is_header(time: &str, value: &str) -> bool {
    parse_time(time).is_none() && value.parse::<f64>().is_err()
}

/// Unix times at or above this are milliseconds: as seconds they would fall after the year 5000, as
/// milliseconds they are 1973 onwards.
const EPOCH_MS_FROM: f64 = 1e11;

fn parse_time(text: &str) -> Option<i64> {
    if let Ok(number) = text.parse::<f64>() {
        if !number.is_finite() || number.abs() >= 1e15 {
            return None;
        }
        let ms = if number.abs() >= EPOCH_MS_FROM { number } else { number * 1000.0 };
        return Some(ms.round() as i64);
    }
    if let Ok(t) = text.parse::<Timestamp>() {
        return Some(t.as_millisecond());
    }
    let civil: jiff::civil::DateTime = text.parse().ok()?;
    let t = jiff::tz::Offset::UTC.to_timestamp(civil).ok()?;
    Some(t.as_millisecond())
}

fn clip(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}...", s.chars().take(40).collect::<String>())
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_shared_trace_format() {
        let t =
            Trace::parse("timestamp,value\n2014-07-01 00:00:00,10844\n2014-07-01 00:30:00,8127.5\n").unwrap();
        assert_eq!(t.points.len(), 2);
        assert_eq!(t.points[1].0 - t.points[0].0, 30 * 60 * 1000);
        assert_eq!(t.points[1].1, 8127.5);
        assert_eq!(t.step_ms(), 1_800_000);
    }

    #[test]
    fn reads_unix_seconds_and_rfc3339_without_header() {
        let t = Trace::parse("0,1\n15,2\n\n# comment\n30,3\n").unwrap();
        assert_eq!(t.points, vec![(0, 1.0), (15_000, 2.0), (30_000, 3.0)]);
        let t = Trace::parse("2024-01-01T00:00:00Z,1\n2024-01-01T00:01:00Z,2\n").unwrap();
        assert_eq!(t.step_ms(), 60_000);
    }

    #[test]
    fn unix_milliseconds_are_told_from_seconds_by_size() {
        let seconds = Trace::parse("1404172800,1\n1404173100,2\n").unwrap();
        let millis = Trace::parse("1404172800000,1\n1404173100000,2\n").unwrap();
        assert_eq!(seconds, millis);
        assert_eq!(millis.step_ms(), 300_000);
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("timestamp,value\n2014-07-01 00:00:00,1\n2014-07-01 00:05:00\n", 3, "timestamp,value"),
            ("timestamp,value\n2014-07-01 00:00:00,1\n2014-07-01 00:05:00,abc\n", 3, "cannot read value"),
            ("timestamp,value\nyesterday,1\n", 2, "cannot read timestamp"),
            ("0,1\n10,-4\n", 2, "finite number"),
            ("0,1\n10,NaN\n", 2, "finite number"),
            ("0,1\n10,2\n10,3\n", 3, "increase strictly"),
            ("0,1\n5,2,3\n", 2, "more"),
            ("0,1\n5,\"1,5\"\n", 2, "contains a comma: write numbers with a dot"),
            ("timestamp,value\n0,1\n", 0, "at least 2 points"),
            ("", 0, "at least 2 points"),
        ];
        for (text, line, needle) in cases {
            let e = Trace::parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.to_string().contains(needle), "{text:?}: {e}");
        }
    }
}
