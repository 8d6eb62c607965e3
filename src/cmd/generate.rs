//! `gscale completions`, `gscale man` and the hidden `gscale generate`: shell completions and man
//! pages generated from the clap definitions, never written by hand.
//!
//! The copies committed in `completions/`, `man/` and `examples/deploy/` are compared with these by
//! tests.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, exit};

/// Every shell completions are generated for, with the file name each one is committed under.
pub const SHELLS: [(Shell, &str); 5] = [
    (Shell::Bash, "gscale.bash"),
    (Shell::Zsh, "_gscale"),
    (Shell::Fish, "gscale.fish"),
    (Shell::PowerShell, "_gscale.ps1"),
    (Shell::Elvish, "gscale.elv"),
];

/// The completion script for `shell`.
pub fn completions(shell: Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "gscale", &mut out);
    out
}

/// The man pages: `gscale.1` and one `gscale-SUB.1` per visible subcommand, as (file name, roff).
pub fn man_pages() -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut command = Cli::command();
    command.build();
    let mut pages = Vec::new();
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut page)?;
    pages.push(("gscale.1".to_string(), page));
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
        // clap names are &'static str (without its `string` feature); a few bytes leaked once per run.
        let name: &'static str = Box::leak(format!("gscale-{}", sub.get_name()).into_boxed_str());
        let bin_name: &'static str = Box::leak(name.replacen('-', " ", 1).into_boxed_str());
        let sub = sub.clone().name(name).bin_name(bin_name);
        let mut page = Vec::new();
        clap_mangen::Man::new(sub).title(name).render(&mut page)?;
        pages.push((format!("{name}.1"), page));
    }
    Ok(pages)
}

/// `gscale completions SHELL`.
pub fn print_completions(shell: Shell) -> anyhow::Result<u8> {
    std::io::stdout().lock().write_all(&completions(shell))?;
    Ok(exit::OK)
}

/// `gscale man`.
pub fn print_man() -> anyhow::Result<u8> {
    let pages = man_pages()?;
    std::io::stdout().lock().write_all(&pages[0].1)?;
    Ok(exit::OK)
}

/// `gscale generate DIR`: `DIR/completions/*`, `DIR/man/*.1` and `DIR/examples/deploy/*.yaml`.
pub fn write_all(dir: &Path) -> anyhow::Result<u8> {
    let write = |path: &Path, bytes: &[u8]| {
        std::fs::write(path, bytes).map_err(|e| {
            anyhow::anyhow!(
                "cannot write {}: {e}\nhint: check that the directory is writable",
                path.display()
            )
        })
    };
    for sub in ["completions", "man", "examples/deploy"] {
        let path = dir.join(sub);
        std::fs::create_dir_all(&path).map_err(|e| {
            anyhow::anyhow!(
                "cannot create {}: {e}\nhint: check that the directory is writable",
                path.display()
            )
        })?;
    }
    for (shell, file) in SHELLS {
        write(&dir.join("completions").join(file), &completions(shell))?;
    }
    for (file, page) in man_pages()? {
        write(&dir.join("man").join(file), &page)?;
    }
    for (file, text) in crate::install::example_files() {
        write(&dir.join("examples/deploy").join(file), text.as_bytes())?;
    }
    Ok(exit::OK)
}
