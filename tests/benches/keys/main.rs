//! Key-operation benchmark (issue 3): operations per second of AES-256-GCM encrypt/decrypt
//! at 64 B, 1 KiB and 16 KiB and of ECDSA P-384 sign/verify, in process, at three depths,
//! beside `openssl speed` from the same run for the ratio.
//!
//! Run: `scripts/build-guests && cargo bench -p kastell --bench keys`.
//!
//! - primitive: the RustCrypto provider on a key held in memory (gate and audit off), the
//!   floor. Encrypt draws a random nonce; sign and verify hash the message with SHA-384.
//! - service, audit: [`KeyService`] on a wrapped key with no policy bound: role checks,
//!   unwrap under the soft token's master key, crypto, one audit record in a SQLite file.
//! - service, policy + audit: the same with a policy bound (`tenant-context` on the AES key,
//!   `office-hours` with a window of every day, 00:00–23:59 UTC, on the P-384 key; it
//!   allows verify at any time). Decrypt names the expected key, as clients are advised to
//!   (a second key lookup).
//!
//! The store runs `synchronous = FULL`, so every audited operation waits for an fsync; the
//! service rows are repeated with the store on tmpfs (`/dev/shm`) to show what is disk.
//! Shared machines drift in speed from minute to minute, so every row is measured in
//! alternating rounds with `openssl speed`, run before the rows in even rounds and after
//! them in odd ones; the ratios compare like with like.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed benchmark"
)]

use kastell_proto::KeyId;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kastell_core::crypto::RustCrypto;
use kastell_core::sandbox::{Sandbox, SandboxLimits};
use kastell_proto::ciphertext;

mod openssl;
mod rows;

use openssl::{OpenSsl, openssl_version};
use rows::{context, deploy, primitive_rows, service_aes_rows, service_ec_rows, size_name};

/// Rounds; each row gets `SLICE` per round, about 1 s in all.
const ROUNDS: u32 = 3;
const SLICE: Duration = Duration::from_millis(340);
const AES_SIZES: [usize; 3] = [64, 1024, 16 * 1024];
/// The message signed and verified (hashed with SHA-384 at every depth).
const MESSAGE_LEN: usize = 64;

/// What a Kastell row is compared with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reference {
    Aes(usize),
    Sign,
    Verify,
}

/// Ops and time of one row over the rounds.
#[derive(Default)]
struct Tally {
    ops: u64,
    secs: f64,
    round_rates: Vec<f64>,
}

impl Tally {
    fn add(&mut self, ops: u64, secs: f64) {
        self.ops += ops;
        self.secs += secs;
        self.round_rates.push(ops as f64 / secs);
    }

    fn rate(&self) -> f64 {
        self.ops as f64 / self.secs
    }

    fn spread(&self) -> (f64, f64) {
        let min = self.round_rates.iter().copied().fold(f64::MAX, f64::min);
        let max = self.round_rates.iter().copied().fold(0.0, f64::max);
        (min, max)
    }
}

/// One measured row: an operation closure that panics on any failure, so a refusal is
/// never timed.
struct Row<'a> {
    operation: String,
    path: &'static str,
    reference: Reference,
    bytes: usize,
    op: Box<dyn FnMut() + 'a>,
    batch: u64,
    tally: Tally,
}

impl<'a> Row<'a> {
    fn new(
        operation: String,
        path: &'static str,
        reference: Reference,
        bytes: usize,
        op: impl FnMut() + 'a,
    ) -> Self {
        Self {
            operation,
            path,
            reference,
            bytes,
            op: Box::new(op),
            batch: 1,
            tally: Tally::default(),
        }
    }

    /// Runs the operation once (it asserts its own success), warms up, and sizes the batch
    /// between clock reads to about 1 ms of work.
    fn warm_up(&mut self) {
        (self.op)();
        let start = Instant::now();
        let mut ops = 0u64;
        while start.elapsed() < Duration::from_millis(30) {
            (self.op)();
            ops += 1;
        }
        self.batch = (ops / 30).max(1);
    }

    fn measure(&mut self, slice: Duration) {
        let start = Instant::now();
        let mut ops = 0;
        loop {
            for _ in 0..self.batch {
                (self.op)();
            }
            ops += self.batch;
            let elapsed = start.elapsed();
            if elapsed >= slice {
                self.tally.add(ops, elapsed.as_secs_f64());
                return;
            }
        }
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn print_row(operation: &str, path: &str, tally: &Tally, bytes: usize, ratio: Option<f64>) {
    let (min, max) = tally.spread();
    let rate = tally.rate();
    let mbs = if bytes > 0 {
        format!("{:.1}", rate * bytes as f64 / 1e6)
    } else {
        String::new()
    };
    let ratio = ratio.map_or_else(|| "—".into(), |r| format!("{r:.3}"));
    println!(
        "| {operation:<18} | {path:<32} | {rate:>12.0} | {:>21} | {:>10.1} | {mbs:>9} | {ratio:>10} |",
        format!("{min:.0} – {max:.0}"),
        1e6 / rate,
    );
}

fn main() {
    let started = Instant::now();
    let crypto = RustCrypto;
    let sandbox = Arc::new(Sandbox::new(SandboxLimits::default()).expect("sandbox"));
    let disk_dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let disk = deploy(disk_dir, &sandbox);
    let shm = Path::new("/dev/shm")
        .is_dir()
        .then(|| tempfile::tempdir_in("/dev/shm").ok())
        .flatten()
        .map(|dir| deploy(dir, &sandbox));
    // The AAD the service uses for this key: format, key id, version, context.
    let aad = {
        let id: KeyId = disk.aes.parse().expect("key id");
        ciphertext::aad(&id, 1, &context("acme"))
    };

    let primitive = primitive_rows(&crypto, &aad);
    let (mut aes_rows, mut ec_rows): (Vec<Row<'_>>, Vec<Row<'_>>) = primitive
        .into_iter()
        .partition(|row| matches!(row.reference, Reference::Aes(_)));
    let mut deployments = vec![(&disk, ["service, audit", "service, policy + audit"])];
    if let Some(shm) = &shm {
        deployments.push((
            shm,
            ["service, audit [tmpfs]", "service, policy + audit [tmpfs]"],
        ));
    }
    for &(deployment, paths) in &deployments {
        for size in AES_SIZES {
            aes_rows.extend(service_aes_rows(deployment, paths, size));
        }
        ec_rows.extend(service_ec_rows(deployment, paths));
    }
    // Group each operation's rows together, in the order of the table.
    let order = |row: &Row<'_>| {
        let second = row.reference == Reference::Verify || row.operation.starts_with("decrypt");
        (row.bytes, second)
    };
    aes_rows.sort_by_key(order);
    ec_rows.sort_by_key(order);
    for row in aes_rows.iter_mut().chain(ec_rows.iter_mut()) {
        row.warm_up();
    }

    let version = openssl_version();
    let mut openssl = OpenSsl::new();
    for round in 0..ROUNDS {
        let openssl_first = round % 2 == 0;
        for (rows, run) in [
            (&mut aes_rows, OpenSsl::run_aes as fn(&mut OpenSsl)),
            (&mut ec_rows, OpenSsl::run_ecdsa),
        ] {
            if openssl_first && version.is_some() {
                run(&mut openssl);
            }
            for row in rows.iter_mut() {
                row.measure(SLICE);
            }
            if !openssl_first && version.is_some() {
                run(&mut openssl);
            }
        }
    }

    println!(
        "CPU: {} ({} threads); OpenSSL: {}",
        cpu_model(),
        std::thread::available_parallelism().map_or(0, usize::from),
        version.as_deref().unwrap_or("missing (no ratios)")
    );
    println!(
        "store on disk: {}; on tmpfs: {}; soft token (KdfCost::Interactive), wrapped keys, \
         checkpoint every 1000 records",
        disk.dir.path().display(),
        shm.as_ref()
            .map_or("unavailable".into(), |d| d.dir.path().display().to_string())
    );
    println!(
        "{ROUNDS} rounds x {} ms per row, openssl speed -mr -elapsed -seconds 1 before the rows \
         in even rounds and after them in odd rounds ({}); messages signed: {MESSAGE_LEN} B",
        SLICE.as_millis(),
        if openssl.custom_sizes {
            "-bytes 64/1024/16384"
        } else {
            "standard block sizes"
        }
    );
    println!(
        "noisy machine (shared vCPUs, +-50 % between minutes): compare ratios, not absolutes; \
         synchronous=FULL: one fsync per audited operation"
    );
    println!(
        "| {:<18} | {:<32} | {:>12} | {:>21} | {:>10} | {:>9} | {:>10} |",
        "operation", "path", "ops/s", "round min – max", "µs/op", "MB/s", "/ openssl"
    );
    println!(
        "|{:-<20}|{:-<34}|{:-<14}|{:-<23}|{:-<12}|{:-<11}|{:-<12}|",
        "", "", "", "", "", "", ""
    );
    let mut previous: Option<(Reference, String)> = None;
    for row in aes_rows.iter().chain(&ec_rows) {
        let reference = openssl.reference(row.reference);
        let group = (row.reference, row.operation.clone());
        if previous.as_ref() != Some(&group) {
            if let Some(reference) = reference {
                let name = match row.reference {
                    Reference::Aes(size) => format!("openssl enc {}", size_name(size)),
                    Reference::Sign => "openssl sign".into(),
                    Reference::Verify => "openssl verify".into(),
                };
                if !row.operation.starts_with("decrypt") {
                    print_row(&name, "openssl speed", reference, row.bytes, None);
                }
            }
            previous = Some(group);
        }
        let ratio = reference.map(|r| row.tally.rate() / r.rate());
        print_row(&row.operation, row.path, &row.tally, row.bytes, ratio);
    }
    println!(
        "decrypt rows are compared with openssl's encryption figure (GCM costs the same both \
         ways)"
    );
    println!("total run: {:.0} s", started.elapsed().as_secs_f64());
}
