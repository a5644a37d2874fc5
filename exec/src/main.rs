//! `sock-exec`: parse, set up logging and signal handling, call the
//! library ([`sock_exec::commands::execute`]), map errors to an exit code.

use clap::Parser;
use sock_exec::cli::Cli;
use std::process::ExitCode;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if sock_exec::commands::catches_stop_signals(&cli.command) {
        if let Err(e) = sock_exec::sys::signal::catch_stop_signals() {
            eprintln!("sock-exec: error: {e}");
            return ExitCode::FAILURE;
        }
    }
    match sock_exec::commands::execute(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sock-exec: error: {e:#}");
            ExitCode::from(sock_exec::commands::exit_code(&e))
        }
    }
}
