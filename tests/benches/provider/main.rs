//! What Kastell's layers cost over the bare library (issue 7): AES-256-GCM encryption of
//! 16 KiB and ECDSA P-384 signing of a 64-byte message, in process, on one thread,
//!
//! - **raw aws-lc-rs**: a `LessSafeKey` (random nonce from `aws_lc_rs::rand`, the
//!   plaintext copied into a fresh buffer and sealed in place) and an `EcdsaKeyPair`
//!   producing DER (`ECDSA_P384_SHA384_ASN1_SIGNING`, which hashes the message);
//! - **Kastell**: the crypto path of `KeyService::encrypt` / `sign` on a wrapped key
//!   ([`KeyService::bench_encrypt`], [`KeyService::bench_sign`]): the AAD with the
//!   encryption context, the key cache lookup, the nonce, the provider behind its trait
//!   and the Kastell ciphertext format; SHA-384 of the message, the provider and the DER
//!   encoding. Lookup in the store, the policy and the audit record are not in these rows
//!   (they are measured by `--bench keys`, `--bench sandbox` and `scripts/bench-server`).
//!
//! Last, the public-key work one attested release cannot avoid, in bare aws-lc-rs: an
//! ECDSA P-384 verification (the attestation certificate's signature by its issuer) and
//! an HPKE encapsulation to a P-384 key (an ephemeral key pair and ECDH), on one thread
//! and on every core at once: the ceiling on releases per second that this crypto alone
//! sets on this machine, before TLS, parsing, policy and audit (`release_floor.rs`;
//! `BENCH_RELEASE_FLOOR_COUNT=N` runs only it, N times, to count its instructions under
//! callgrind).
//!
//! Then every operation of the key types of issue 17 (RSA, ECDSA and ECDH on the other
//! curves, HMAC, ML-DSA), Kastell's prepared key against bare aws-lc-rs: see `key_types.rs`.
//!
//! Run: `cargo bench -p kastell-tests --bench provider` (on a shared machine, pinned:
//! `taskset -c 1 cargo bench …`; `BENCH_ROUNDS`, `BENCH_SLICE_MS` and `BENCH_FILTER` in
//! `measure.rs`). Target: Kastell ≥ 0.9× raw. Shared machines drift from minute to minute:
//! the two paths alternate in short rounds, and the median of the per-round ratios is
//! reported beside the pooled rates.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed benchmark"
)]

use kastell_proto::{EncryptionContext, KeySpec, Origin, Role};
use std::collections::BTreeMap;
use std::time::Duration;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair};
use kastell_core::deployment::{Deployment, TokenChoice};
use kastell_core::keys::{Caller, KeyRecord, KeyService, NewKey};

use kastell_core::token::KdfCost;

const AES_LEN: usize = 16 * 1024;
const MESSAGE_LEN: usize = 64;

mod key_types;
mod measure;
mod release_floor;

use measure::{Plan, Row, compare};

/// Prints one row of the issue 7 table (operations and MB per second).
fn print_row(name: &str, bytes: usize, row: &Row) {
    let mbps = |rate: f64| {
        if bytes == 0 {
            String::new()
        } else {
            format!("{:.0}", rate * bytes as f64 / 1e6)
        }
    };
    println!(
        "| {name} | {:.0} | {} | {:.0} | {} | {:.3} ({:.2}–{:.2}) |",
        row.bare,
        mbps(row.bare),
        row.ours,
        mbps(row.ours),
        row.ratio,
        row.low,
        row.high
    );
}

fn officer() -> Caller {
    Caller {
        id: "bench".into(),
        roles: vec![Role::CryptoOfficer, Role::CryptoUser],
        tenant: None,
        evidence: None,
    }
}

fn wrapped_key(service: &KeyService, spec: KeySpec) -> KeyRecord {
    let new = NewKey {
        spec,
        usage: None,
        origin: Origin::Wrapped,
        description: String::new(),
        tags: BTreeMap::new(),
        policy: None,
        releasable: false,
    };
    let key = service.create_key(&officer(), new, None).expect("key");
    service.store().key(&key.id).expect("read").expect("stored")
}

fn main() {
    if let Some(n) = release_floor::count_requested() {
        release_floor::count(n);
        return;
    }
    let plan = Plan::from_env();
    println!(
        "Kastell {} ({}), aws-lc-rs; {} alternating rounds of {} ms per path.",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        plan.rounds,
        plan.slice.as_millis()
    );
    if plan.wants("AES-256-GCM encrypt 16 KiB") || plan.wants("ECDSA P-384 sign 64 B (DER)") {
        layers(&plan);
    }
    key_types::run(&plan);
    if plan.everything() {
        release_ceiling(plan.slice);
    }
}

/// Kastell's key-service crypto path against bare aws-lc-rs (issue 7).
fn layers(plan: &Plan) {
    let dir = tempfile::tempdir().expect("tempdir");
    let service = Deployment {
        store: kastell_core::deployment::StoreChoice::Sqlite,
        data_dir: dir.path().to_path_buf(),
        token: TokenChoice::Soft {
            passphrase: "bench passphrase".to_owned().into(),
            cost: KdfCost::Interactive,
        },
    }
    .open()
    .expect("deployment");
    let aes = wrapped_key(&service, KeySpec::Aes256);
    let p384 = wrapped_key(&service, KeySpec::EccNistP384);
    let context = EncryptionContext(BTreeMap::from([("tenant".into(), "acme".into())]));
    let plaintext = vec![0x5a_u8; AES_LEN];
    let message = [0xa5_u8; MESSAGE_LEN];

    let raw_aes = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7; 32]).expect("key"));
    let rng = SystemRandom::new();
    let raw_ec = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_ASN1_SIGNING).expect("key");

    println!();
    println!(
        "| operation | raw aws-lc-rs ops/s | MB/s | Kastell ops/s | MB/s | Kastell / raw, median of rounds (range) |"
    );
    println!("|---|---|---|---|---|---|");
    let aes_row = compare(
        plan,
        || {
            let mut nonce = [0u8; 12];
            aws_lc_rs::rand::fill(&mut nonce).expect("random");
            let mut buffer = Vec::with_capacity(AES_LEN + 16);
            buffer.extend_from_slice(&plaintext);
            raw_aes
                .seal_in_place_append_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(b"aad"),
                    &mut buffer,
                )
                .expect("seal");
            std::hint::black_box(buffer);
        },
        || {
            let out = service
                .bench_encrypt(&aes, &plaintext, &context)
                .expect("encrypt");
            std::hint::black_box(out);
        },
    );
    print_row("AES-256-GCM encrypt 16 KiB", AES_LEN, &aes_row);
    let sign_row = compare(
        plan,
        || {
            let signature = raw_ec.sign(&rng, &message).expect("sign");
            std::hint::black_box(signature);
        },
        || {
            let der = service.bench_sign(&p384, &message).expect("sign");
            std::hint::black_box(der);
        },
    );
    print_row("ECDSA P-384 sign 64 B (DER)", 0, &sign_row);
    let met = |row: &Row| if row.met() { "met" } else { "NOT met" };
    println!();
    println!(
        "Target Kastell / raw ≥ 0.9: AES-256-GCM 16 KiB {:.3} ({}), P-384 sign {:.3} ({}).",
        aes_row.ratio,
        met(&aes_row),
        sign_row.ratio,
        met(&sign_row)
    );
}

/// The public-key work of one attested release, on one thread and on every core.
fn release_ceiling(slice: Duration) {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let single = release_floor::rate(1, slice);
    let all = release_floor::rate(cores, slice);
    println!();
    println!(
        "Public-key work of one attested release (ECDSA P-384 verify + P-384 key pair + ECDH), bare aws-lc-rs: \
         {:.3} ms on one thread ({single:.0}/s); {all:.0}/s on {cores} thread{} at once: the ceiling this crypto \
         alone sets on releases per second here.",
        1000.0 / single,
        if cores == 1 { "" } else { "s" }
    );
}
