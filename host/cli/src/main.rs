//! The `kastell` command.

use std::process::ExitCode;

use clap::Parser as _;

/// mimalloc instead of the C library's allocator: a request allocates and frees many
/// small buffers on two or three threads (HTTP, JSON, audit), where glibc's malloc spent
/// about 8 % of the server's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
