//! The `kastell` command.

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = kastell::cli::Cli::parse();
    kastell::cli::init_logging(cli.default_log_level());
    match kastell::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
