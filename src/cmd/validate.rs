//! `gscale validate -f FILE...`: offline checks of GeneralScaler manifests.
//!
//! Every finding names the file, the line, the document and the field path, and says how to fix
//! it. Documents of other kinds (a Deployment beside its scaler), and files holding only those,
//! are skipped with a note, as linters do; a directory is read for its `.yaml`, `.yml` and `.json`
//! files; the items of a `kind: List` (`kubectl get -o yaml`) are checked one by one.

use std::fmt::Write as _;
use std::io::{IsTerminal as _, Read};
use std::path::Path;

use crate::api::check::{self, Finding, Severity};
use crate::api::{API_VERSION, GROUP, KIND};
use crate::cli::{ValidateArgs, exit};
use gscale_manifest::yaml;

use super::{UsageError, input};

/// `writeln!` into the report being built (a `String` cannot fail to take it).
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {{
        let _ = writeln!($out, $($arg)*);
    }};
}

/// Manifests larger than this are refused unread: etcd stores at most 1.5 MiB per object, and a
/// file of scalers has no reason to be larger than a few of them.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// What checking one file found.
#[derive(Debug, Default)]
struct FileReport {
    scalers: usize,
    errors: usize,
    warnings: usize,
}

pub fn run(args: &ValidateArgs) -> anyhow::Result<u8> {
    let mut total = FileReport::default();
    let mut invalid_files = 0;
    let mut out = String::new();
    let paths = expand(args.files.iter().chain(&args.more_files))?;
    for path in &paths {
        let name = if path.as_os_str() == "-" { "<stdin>".to_string() } else { path.display().to_string() };
        let report = match read(path)? {
            Ok(text) => check_text(&mut out, &name, &text, args.quiet),
            Err(problem) => {
                say!(out, "{name}: error: {problem}");
                FileReport { errors: 1, ..FileReport::default() }
            }
        };
        if report.errors > 0 {
            invalid_files += 1;
        }
        total.scalers += report.scalers;
        total.errors += report.errors;
        total.warnings += report.warnings;
        // File by file, so a long run shows progress; a closed pipe ends it quietly.
        input::print(&out)?;
        out.clear();
    }
    let files = paths.len();
    if invalid_files > 0 || total.warnings > 0 || !args.quiet {
        say!(
            out,
            "{} file{}, {} scaler{}: {} error{}, {} warning{}",
            files,
            plural(files),
            total.scalers,
            plural(total.scalers),
            total.errors,
            plural(total.errors),
            total.warnings,
            plural(total.warnings)
        );
        input::print(&out)?;
    }
    Ok(if invalid_files > 0 { exit::FAILURE } else { exit::OK })
}

/// The files to check: each path as given, a directory as the manifests under it (sorted).
fn expand<'a>(
    paths: impl Iterator<Item = &'a std::path::PathBuf>,
) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let before = files.len();
            manifests_under(path, &mut files)?;
            if files.len() == before {
                return Err(UsageError(format!(
                    "{}: no .yaml, .yml or .json file in this directory\nhint: name the manifests to check",
                    path.display()
                ))
                .into());
            }
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn manifests_under(dir: &Path, files: &mut Vec<std::path::PathBuf>) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        UsageError(format!("cannot read directory {}: {e}\nhint: check the path", dir.display()))
    })?;
    let mut paths: Vec<std::path::PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let hidden = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            manifests_under(&path, files)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
        {
            files.push(path);
        }
    }
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The file's text, or why its content cannot be checked (an invalid-input finding, exit 1).
/// Failing to read at all is an I/O error (exit 2).
pub(super) fn read(path: &Path) -> anyhow::Result<Result<String, String>> {
    let mut bytes = Vec::new();
    let limit = MAX_FILE_BYTES + 1;
    let read = if path.as_os_str() == "-" {
        if std::io::stdin().is_terminal() {
            return Err(UsageError("-f - reads stdin, but stdin is a terminal\nhint: pipe a manifest in, e.g. `kubectl get gsc x -o yaml | gscale validate -f -`".into()).into());
        }
        std::io::stdin().take(limit).read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(limit).read_to_end(&mut bytes))
    };
    if let Err(e) = read {
        let hint = match e.kind() {
            std::io::ErrorKind::NotFound => "check the path",
            std::io::ErrorKind::PermissionDenied => "check the file's permissions",
            _ => "check that the path is a readable file",
        };
        return Err(UsageError(format!("cannot read {}: {e}\nhint: {hint}", path.display())).into());
    }
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Ok(Err(format!(
            "the file is larger than {} MiB, far beyond any manifest\n  hint: split it, or check that this is the file you meant",
            MAX_FILE_BYTES / 1024 / 1024
        )));
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Ok(text)),
        Err(e) => Ok(Err(format!(
            "the file is not UTF-8 text (invalid byte at offset {})\n  hint: save the manifest as UTF-8",
            e.utf8_error().valid_up_to()
        ))),
    }
}

fn check_text(out: &mut String, name: &str, text: &str, quiet: bool) -> FileReport {
    let mut report = FileReport::default();
    let parsed = yaml::parse_until_error(text);
    let documents = parsed.documents;
    if documents.is_empty() && parsed.error.is_none() {
        say!(out, "{name}: error: the file is empty: no GeneralScaler found");
        say!(out, "  hint: a manifest needs apiVersion: {API_VERSION}, kind: {KIND}, metadata and spec");
        report.errors = 1;
        return report;
    }
    let mut skipped = Vec::new();
    // A `kind: List` stands for its items.
    let documents: Vec<yaml::Document> = documents
        .into_iter()
        .flat_map(|doc| {
            let items = doc.list_items();
            if items.is_empty() { vec![doc] } else { items }
        })
        .collect();
    for doc in &documents {
        if let Some(other) = other_kind(&doc.value) {
            if !quiet {
                say!(
                    out,
                    "{name}:{}: skipped: {other} is not a GeneralScaler (document {})",
                    doc.line,
                    doc.number
                );
            }
            skipped.push(other);
            continue;
        }
        report.scalers += 1;
        let checked = check::check(&doc.value);
        for f in &checked.findings {
            print_finding(out, name, doc, f);
            match f.severity {
                Severity::Error => report.errors += 1,
                Severity::Warning => report.warnings += 1,
            }
        }
        if !checked.has_errors() && !quiet {
            let scaler_name = doc.value.pointer("/metadata/name").and_then(|v| v.as_str()).unwrap_or("?");
            say!(out, "{name}:{}: ok: GeneralScaler {scaler_name} (document {})", doc.line, doc.number);
        }
    }
    // Reported after the documents before it, which were checked in full.
    if let Some(e) = parsed.error {
        say!(out, "{name}:{}: error: not valid YAML: {} (column {})", e.line, e.message, e.column);
        match e.duplicate_key {
            Some(key) => say!(out, "  hint: keep one \"{key}\" in that mapping, with the value you mean"),
            None => say!(
                out,
                "  hint: fix the YAML syntax at that line (indentation, a missing ':' or closing bracket)"
            ),
        }
        report.errors += 1;
        return report;
    }
    if report.scalers == 0 {
        // Other kinds only (a Deployment beside the scalers in a directory): noted, not an error.
        say!(out, "{name}: skipped: no GeneralScaler in this file (found: {})", skipped.join(", "));
    }
    report
}

/// `Some("apps/v1 Deployment")` for a document of another kind; `None` when it means to be ours
/// (our kind or our group, even misspelt), so mistakes in it are reported rather than skipped.
fn other_kind(value: &serde_json::Value) -> Option<String> {
    let api_version = value.get("apiVersion").and_then(|v| v.as_str());
    let kind = value.get("kind").and_then(|v| v.as_str());
    let ours = kind.is_none_or(|k| k == KIND || k.eq_ignore_ascii_case(KIND))
        || api_version.is_none_or(|v| v.starts_with(GROUP) || v.split('/').next() == Some(GROUP));
    if ours { None } else { Some(format!("{} {}", api_version.unwrap_or("?"), kind.unwrap_or("?"))) }
}

fn print_finding(out: &mut String, name: &str, doc: &yaml::Document, f: &Finding) {
    let line = if f.path.is_empty() { doc.line } else { doc.line_of(&f.path) };
    let severity = match f.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let path = if f.path.is_empty() { String::new() } else { format!("{}: ", f.path) };
    say!(out, "{name}:{line}: {severity}: {path}{} (document {})", f.message, doc.number);
    say!(out, "  hint: {}", f.hint);
}
