//! Printing: YAML and JSON documents, tables, SVG charts, and whether the terminal wants colour.
//!
//! All YAML goes through `gscale_manifest::yaml`, so the YAML crate can be swapped in one place.

pub mod against;
pub mod chart;
pub mod diff;
pub mod plan;
pub mod plot;
pub mod replay;
pub mod status;

use std::io::IsTerminal;

/// Whether stdout is a terminal that wants colour (`NO_COLOR` unset).
pub fn color_stdout() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Whether progress (spinners, bars) may be drawn: only on a terminal.
pub fn progress_stderr() -> bool {
    std::io::stderr().is_terminal()
}

/// Columns of stdout when it is a terminal, else 80 (snapshots and pipes see the same layout).
pub fn terminal_width() -> u16 {
    if !std::io::stdout().is_terminal() {
        return 80;
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|&c: &u16| c >= 40)
        .unwrap_or_else(|| comfy_table::Table::new().width().filter(|&w| w >= 40).unwrap_or(80))
}
