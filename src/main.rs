//! The gscale binary: parse, set up logging, dispatch to `cmd`, print `gscale: {err:#}`, exit.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use gscale::cli::{Cli, Command, LogFormat};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = parse();
    // The demo draws its own view on the terminal: the daemon's per-scale info lines would tear it.
    let default_filter = if matches!(cli.command, Command::Demo(_)) { "gscale=warn" } else { "gscale=info" };
    init_tracing(cli.log_format, default_filter);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("gscale: cannot start the async runtime: {e}");
            return ExitCode::from(gscale::cli::exit::FAILURE);
        }
    };
    match runtime.block_on(gscale::cmd::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("gscale: {err:#}");
            ExitCode::from(gscale::cmd::exit_code(&err))
        }
    }
}

/// The command line; named `kubectl gscale` in help and errors when run as a kubectl plugin (the
/// binary found on PATH as `kubectl-gscale`, which kubectl runs with the arguments after `gscale`).
fn parse() -> Cli {
    let plugin = std::env::args_os()
        .next()
        .and_then(|argv0| {
            std::path::Path::new(&argv0)
                .file_stem()
                .map(|s| s.to_string_lossy().starts_with("kubectl-gscale"))
        })
        .unwrap_or(false);
    let mut command = Cli::command();
    if plugin {
        command = command.bin_name("kubectl gscale").name("kubectl gscale");
    }
    let matches = command.get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

fn init_tracing(format: LogFormat, default_filter: &str) {
    // Other crates' failures reach the user as gscale errors; their own logs stay off unless RUST_LOG asks.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    // Colour only for a person at a terminal: a log file or a collector gets plain text.
    let colour =
        std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
