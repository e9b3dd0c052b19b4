//! The `kastell` command.

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    kastell::cli::init_logging();
    let cli = kastell::cli::Cli::parse();
    match kastell::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
