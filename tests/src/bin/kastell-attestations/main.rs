//! `kastell-attestations`: prepares attested key release requests for a benchmark, as a
//! remote host running the attested guest would make them.
//!
//! `init` creates a bench CA in a folder: a self-signed root "Kastell Bench Root" (country
//! DE) and a host attestation CA under it. The root's key signs the host CA once and is
//! then dropped; the host CA's key is kept for `prepare` (`host-ca-key.pem`, mode 0600).
//! The server trusts the bench root through `[release] trusted_roots` in `kastell.toml`.
//!
//! `prepare` asks the server for `--count` release challenges for `--key` (a crypto-user
//! profile, loopback server only), and for each nonce issues a fresh attestation
//! certificate under the host CA: a new P-384 guest key, claims naming `--guest` and the
//! nonce. It writes one release request body per line (`{"nonce", "certificate",
//! "chain"}`), ready for `kastell-load --bodies`. Each nonce is single-use and valid for
//! the server's `challenge_ttl_secs`; each certificate must be younger than its
//! `max_attestation_age_secs` when it is sent.
//!
//! ```text
//! kastell-attestations init --ca-dir target/bench/ca
//! kastell-attestations prepare --ca-dir target/bench/ca --profile clients/bench/profile.toml \
//!     --key alias/bench-release --guest sha384:… --count 20000 --out releases.jsonl
//! ```
//!
//! The bench CA lives in `ca` and the challenges and issuance in `prepare`; this file
//! holds the options.

mod ca;
mod prepare;

use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Errors of this tool: a message for the user.
type BoxError = Box<dyn Error + Send + Sync>;

/// The most release bodies one `prepare` writes.
const MAX_COUNT: u64 = 1_000_000;
/// The most threads `prepare` runs.
const MAX_THREADS: u64 = 64;
/// The longest lifetime of an attestation certificate, in seconds (one day).
const MAX_LIFETIME: u64 = 86_400;

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    version,
    about = "Attested key release requests for benchmarks: a bench CA, challenges, attestations"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the bench CA in --ca-dir (refused if it holds one): root.pem (to trust in
    /// `[release] trusted_roots`), host-ca.pem and host-ca-key.pem.
    Init {
        /// Folder of the bench CA (created with mode 0700).
        #[arg(long)]
        ca_dir: PathBuf,
        /// Validity of the root and the host CA, in days.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3650))]
        days: u64,
    },
    /// Fetch --count challenges for --key and write one release request body per line to
    /// --out, each with its own nonce and attestation certificate.
    Prepare {
        /// Folder of the bench CA (`init`).
        #[arg(long)]
        ca_dir: PathBuf,
        /// Client profile of a crypto-user; its server must be a loopback address.
        #[arg(long)]
        profile: PathBuf,
        /// The key to release: id or alias (`alias/name`).
        #[arg(long)]
        key: String,
        /// The attested guest's measurement, `sha384:<hex>`.
        #[arg(long)]
        guest: String,
        /// Release bodies to write (at most 1,000,000).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_COUNT))]
        count: u64,
        /// Output file (JSON lines); written whole, then renamed into place.
        #[arg(long)]
        out: PathBuf,
        /// Threads fetching challenges and issuing certificates.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=MAX_THREADS))]
        threads: u64,
        /// Lifetime of each attestation certificate, in seconds.
        #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=MAX_LIFETIME))]
        lifetime: u64,
    },
}

/// Exit status 0 on success, 1 on any failure.
fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("kastell-attestations: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), BoxError> {
    match args.command {
        Command::Init { ca_dir, days } => {
            let root = ca::BenchCa::init(&ca_dir, days)?;
            println!("{}", root.display());
            Ok(())
        }
        Command::Prepare {
            ca_dir,
            profile,
            key,
            guest,
            count,
            out,
            threads,
            lifetime,
        } => {
            let job = prepare::Job::new(prepare::Options {
                ca_dir,
                profile,
                key,
                guest,
                count,
                out,
                threads,
                lifetime,
            })?;
            let summary = job.run()?;
            println!("{summary}");
            Ok(())
        }
    }
}
