//! A converted scaler as YAML with its notes as comments above the fields they are about.
//!
//! The YAML is emitted by the one YAML module (`gscale_manifest::yaml`) and read back for the line
//! of each field path, so comments land on the right line whatever the emitter's layout.

use gscale_manifest::yaml;

use super::{Converted, NoteKind};

/// The scaler as one YAML document (no `---`), a comment line per note.
pub fn render(converted: &Converted) -> String {
    let text = yaml::to_string(&converted.scaler);
    let Ok(mut documents) = yaml::parse_documents(&text) else {
        // Cannot happen (the text was just emitted); the notes then go on top.
        return with_header(converted, &text);
    };
    let Some(doc) = documents.pop() else { return with_header(converted, &text) };
    let lines: Vec<&str> = text.lines().collect();
    // (line index, comment) pairs; notes on the whole document go first.
    let mut before: Vec<Vec<String>> = vec![Vec::new(); lines.len() + 1];
    let mut header = format!("# {}\n", converted.source_line());
    for note in &converted.notes {
        let label = match note.kind {
            NoteKind::NotMapped => "not mapped",
            NoteKind::Check => "check",
        };
        if note.path.is_empty() {
            for line in note.text.lines() {
                header.push_str(&format!("# {label}: {line}\n"));
            }
            continue;
        }
        let index = doc.line_of(&note.path).saturating_sub(1).min(lines.len().saturating_sub(1));
        let line = lines.get(index).copied().unwrap_or_default();
        let indent: String = line.chars().take_while(|c| *c == ' ').collect();
        for text in note.text.lines() {
            before[index].push(format!("{indent}# {label}: {text}"));
        }
    }
    let mut out = header;
    for (i, line) in lines.iter().enumerate() {
        for comment in &before[i] {
            out.push_str(comment);
            out.push('\n');
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn with_header(converted: &Converted, text: &str) -> String {
    let mut out = format!("# {}\n", converted.source_line());
    for note in &converted.notes {
        out.push_str(&format!("# {}: {}\n", note.path, note.text));
    }
    out.push_str(text);
    out
}

impl Converted {
    /// The first comment line: where the scaler came from.
    fn source_line(&self) -> String {
        format!("gscale import of {}", self.source)
    }
}
