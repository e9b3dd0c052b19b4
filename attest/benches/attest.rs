//! Attestation benchmark: issuance and verification per second (chain + claims), documents
//! per second, and the wall time of a cold `kastell-verify cert` process (target ≤ 10 ms).
//!
//! Run: `cargo bench -p kastell-attest --bench attest`. Each figure is measured for about a
//! second; the machine is shared and noisy, so compare figures from the same run.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed benchmark"
)]

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use kastell_attest::Measurement;
use kastell_attest::ca::{Owner, issue_attestation, issue_host_ca, issue_root};
use kastell_attest::claims::Claims;
use kastell_attest::document::{DocumentContent, issue_document, verify_document};
use kastell_attest::signer::{Signer as _, SoftSigner};
use kastell_attest::verify::{Expectations, Trust, verify_attestation};
use time::OffsetDateTime;

const SLICE: Duration = Duration::from_secs(1);
const YEAR: Duration = Duration::from_secs(365 * 86_400);

/// Runs `op` repeatedly for `SLICE`; returns operations per second.
fn rate(mut op: impl FnMut()) -> f64 {
    for _ in 0..3 {
        op();
    }
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < SLICE {
        op();
        n += 1;
    }
    f64::from(n) / start.elapsed().as_secs_f64()
}

fn main() {
    let now = OffsetDateTime::now_utc();
    let root_key = SoftSigner::generate();
    let owner = Owner {
        common_name: "Bench Root".into(),
        organization: "Example GmbH".into(),
        country: "DE".into(),
    };
    let root = issue_root(&root_key, &owner, now - Duration::from_secs(60), YEAR).unwrap();
    let ca_key = SoftSigner::generate();
    let ca = issue_host_ca(
        &root_key,
        &root,
        &ca_key.public_key(),
        "Bench host CA",
        now - Duration::from_secs(60),
        YEAR,
    )
    .unwrap();
    let guest = SoftSigner::generate().public_key();
    let claims = Claims {
        guest: Measurement::of(b"guest"),
        policy: Some(Measurement::of(b"policy")),
        nonce: vec![7; 32],
        user_data: vec![1; 64],
        host_id: "bench".into(),
        runtime_version: "kastell bench".into(),
    };
    let issue = || {
        issue_attestation(
            &ca_key,
            &ca,
            &guest,
            &claims,
            OffsetDateTime::now_utc(),
            Duration::from_secs(300),
        )
        .unwrap()
    };
    let leaf = issue();
    let trust = Trust {
        anchors: vec![root.clone()],
        intermediates: vec![ca.clone()],
        crls: Vec::new(),
        at: OffsetDateTime::now_utc(),
    };
    let expect = Expectations {
        guests: vec![claims.guest],
        policy: claims.policy,
        nonce: Some(claims.nonce.clone()),
        max_age: Some(Duration::from_secs(600)),
    };
    verify_attestation(&leaf, &trust, &expect).expect("valid before timing");

    println!(
        "attestation benchmark ({} cores visible)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let issued = rate(|| {
        black_box(issue());
    });
    println!("issue attestation certificate (P-384 sign, in-memory key): {issued:>9.0} /s");
    let verified = rate(|| {
        black_box(verify_attestation(&leaf, &trust, &expect).unwrap());
    });
    println!("verify certificate (3-link chain + claims):                {verified:>9.0} /s");

    let doc_key = SoftSigner::generate();
    let doc_cert = kastell_attest::ca::issue_document_signer(
        &ca_key,
        &ca,
        &doc_key.public_key(),
        "Bench document signer",
        now - Duration::from_secs(60),
        YEAR,
    )
    .unwrap();
    let content = DocumentContent {
        module_id: "bench".into(),
        timestamp_ms: u64::try_from(OffsetDateTime::now_utc().unix_timestamp()).unwrap() * 1000,
        guest: claims.guest,
        runtime: Measurement::of(b"runtime"),
        policy: claims.policy,
        public_key: Some(guest.into()),
        user_data: Some(claims.user_data.clone()),
        nonce: Some(claims.nonce.clone()),
    };
    let issue_doc =
        || issue_document(&doc_key, &doc_cert, &[root.clone(), ca.clone()], &content).unwrap();
    let doc = issue_doc();
    let trust = Trust {
        at: OffsetDateTime::now_utc() + Duration::from_secs(1),
        ..trust
    };
    verify_document(&doc, &trust, &expect).expect("document valid");
    let docs_issued = rate(|| {
        black_box(issue_doc());
    });
    println!("issue attestation document (COSE_Sign1):                   {docs_issued:>9.0} /s");
    let docs = rate(|| {
        black_box(verify_document(&doc, &trust, &expect).unwrap());
    });
    println!("verify document (COSE + 3-link chain + PCRs):              {docs:>9.0} /s");

    // A cold process: start, read three PEM files, verify, print, exit.
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, pem: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path.display().to_string()
    };
    let root_pem = write("root.pem", root.to_pem().unwrap());
    let ca_pem = write("ca.pem", ca.to_pem().unwrap());
    let leaf_pem = write("leaf.pem", leaf.to_pem().unwrap());
    let binary = env!("CARGO_BIN_EXE_kastell-verify");
    let mut times = Vec::new();
    for _ in 0..50 {
        let start = Instant::now();
        let out = Command::new(binary)
            .args(["cert", &leaf_pem, "--root", &root_pem, "--chain", &ca_pem])
            .output()
            .unwrap();
        times.push(start.elapsed());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "cold `kastell-verify cert` process, 50 runs: p50 {:.1} ms, p90 {:.1} ms, min {:.1} ms (target ≤ 10 ms)",
        ms(times[25]),
        ms(times[45]),
        ms(times[0])
    );
}
