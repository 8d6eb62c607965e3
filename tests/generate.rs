//! Completions and man pages: the committed copies match what the binary generates, the bash
//! completion parses and completes subcommands and flags, and the man page renders.

mod common;

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_gscale");

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn committed_completions_and_man_pages_match_the_code() {
    let dir = common::TempDir::new("generate");
    let out = Command::new(BIN).arg("generate").arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for sub in ["completions", "man"] {
        let (fresh, committed) = (dir.path().join(sub), root().join(sub));
        assert_eq!(
            files(&fresh),
            files(&committed),
            "{sub}/: files differ; run `gscale generate .` and commit"
        );
        for name in files(&fresh) {
            let a = std::fs::read(fresh.join(&name)).unwrap();
            let b = std::fs::read(committed.join(&name)).unwrap();
            assert!(
                a == b,
                "{sub}/{name} drifted from the clap definitions; run `cargo run -- generate .` and commit"
            );
        }
    }
    // `gscale completions SHELL` and `gscale man` print the same.
    let out = Command::new(BIN).args(["completions", "fish"]).output().unwrap();
    assert_eq!(out.stdout, std::fs::read(root().join("completions/gscale.fish")).unwrap());
    let out = Command::new(BIN).arg("man").output().unwrap();
    assert_eq!(out.stdout, std::fs::read(root().join("man/gscale.1")).unwrap());
    let out = Command::new(BIN).args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("possible values: bash"));
}

/// Complete `words` (the last one partial) with the committed bash completion; the candidates.
fn complete(words: &[&str]) -> Vec<String> {
    let script = format!(
        "source {}\nCOMP_WORDS=({})\nCOMP_CWORD={}\nCOMP_LINE=\"${{COMP_WORDS[*]}}\"\nCOMP_POINT=${{#COMP_LINE}}\n_gscale gscale \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        root().join("completions/gscale.bash").display(),
        words.iter().map(|w| format!("'{w}'")).collect::<Vec<_>>().join(" "),
        words.len() - 1
    );
    let out = Command::new("bash").args(["--norc", "--noprofile", "-c", &script]).output().unwrap();
    assert!(out.status.success(), "bash: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

#[test]
fn bash_completion_parses_and_completes_subcommands_and_flags() {
    let Some(_) = common::require("bash", "bash completion") else { return };
    let path = root().join("completions/gscale.bash");
    let out = Command::new("bash").arg("-n").arg(&path).output().unwrap();
    assert!(out.status.success(), "bash -n: {}", String::from_utf8_lossy(&out.stderr));

    let subcommands = complete(&["gscale", ""]);
    for sub in ["plan", "status", "run", "validate", "completions", "man"] {
        assert!(subcommands.contains(&sub.to_string()), "{sub} not offered: {subcommands:?}");
    }
    assert_eq!(complete(&["gscale", "pl"]), ["plan"]);
    let flags = complete(&["gscale", "plan", "--re"]);
    assert_eq!(flags, ["--replay"]);
    let flags = complete(&["gscale", "status", "-"]);
    for flag in ["--watch", "--all-namespaces", "--selector", "--output", "-n"] {
        assert!(flags.contains(&flag.to_string()), "{flag} not offered: {flags:?}");
    }
    let values = complete(&["gscale", "status", "-o", ""]);
    assert!(values.contains(&"wide".to_string()) && values.contains(&"json".to_string()), "{values:?}");
}

#[test]
fn man_page_renders() {
    let page = root().join("man/gscale.1");
    // `man FILE` where man-db is installed; groff or mandoc otherwise.
    let Some(renderer) = common::require_any(&["man", "groff"], "man page rendering") else { return };
    let rendered = if renderer.ends_with("man") {
        Command::new(renderer).arg("-P").arg("cat").arg(&page).env("MANWIDTH", "80").output().unwrap()
    } else {
        Command::new(renderer).args(["-man", "-Tutf8"]).arg(&page).output().unwrap()
    };
    let text = String::from_utf8_lossy(&rendered.stdout);
    assert!(rendered.status.success(), "{}", String::from_utf8_lossy(&rendered.stderr));
    for want in ["NAME", "SYNOPSIS", "gscale", "plan", "status"] {
        assert!(text.contains(want), "{want} missing from the rendered page:\n{text}");
    }
    let sub = root().join("man/gscale-plan.1");
    assert!(std::fs::read_to_string(sub).unwrap().contains(r"\-\-replay"));
}
