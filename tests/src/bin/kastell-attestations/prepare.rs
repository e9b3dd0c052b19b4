//! `prepare`: challenges from the server, one fresh attestation certificate per nonce, one
//! release request body per line.
//!
//! Threads share an index of bodies still to make; each asks for a challenge on its own
//! mutual-TLS connection, issues the certificate (a new P-384 guest key, one host CA
//! signature) and hands the line to the writer. The first failure stops every thread.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kastell::client::{Client, segment};
use kastell_attest::Measurement;
use kastell_attest::ca::issue_attestation;
use kastell_attest::claims::Claims;
use kastell_attest::signer::{Signer as _, SoftSigner};
use kastell_attest::verify::{Expectations, Trust, verify_attestation};
use kastell_attest::x509::Certificate;
use kastell_core::clients::ClientProfile;
use kastell_proto::api::ChallengeResponse;

use crate::BoxError;
use crate::ca::BenchCa;

/// The host identifier the bench attestations claim.
const HOST_ID: &str = "kastell-bench-host";

/// What `prepare` was asked for.
pub(crate) struct Options {
    pub(crate) ca_dir: PathBuf,
    pub(crate) profile: PathBuf,
    pub(crate) key: String,
    pub(crate) guest: String,
    pub(crate) count: u64,
    pub(crate) out: PathBuf,
    pub(crate) threads: u64,
    pub(crate) lifetime: u64,
}

/// A checked `prepare`, ready to run.
pub(crate) struct Job {
    profile: ClientProfile,
    root: Certificate,
    ca: BenchCa,
    /// The host CA's DER, base64: every body's chain.
    chain: String,
    challenge_path: String,
    guest: Measurement,
    count: u64,
    out: PathBuf,
    threads: u64,
    lifetime: Duration,
}

/// What a finished `prepare` did.
pub(crate) struct Summary {
    count: u64,
    out: PathBuf,
    elapsed: Duration,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let seconds = self.elapsed.as_secs_f64();
        write!(
            f,
            "{} release bodies in {} ({seconds:.1} s, {:.0}/s)",
            self.count,
            self.out.display(),
            self.count as f64 / seconds.max(1e-9)
        )
    }
}

/// Shared by the threads of a run.
struct Progress {
    /// Bodies claimed so far.
    next: AtomicU64,
    /// Set by the first failure: the others stop.
    stop: AtomicBool,
    first_error: Mutex<Option<String>>,
    out: Mutex<BufWriter<File>>,
}

impl Job {
    /// Checks `options`: the profile (loopback server), the bench CA, the measurement.
    ///
    /// # Errors
    /// The first option that does not hold.
    pub(crate) fn new(options: Options) -> Result<Self, BoxError> {
        let profile = ClientProfile::load(&options.profile)?;
        check_loopback(&profile.server)?;
        let (root, ca) = BenchCa::load(&options.ca_dir)?;
        let guest: Measurement = options
            .guest
            .parse()
            .map_err(|e| format!("--guest {}: {e}", options.guest))?;
        if options.key.trim().is_empty() {
            return Err("--key is empty".into());
        }
        let chain = BASE64.encode(ca.certificate.to_der_bytes()?);
        Ok(Self {
            profile,
            root,
            ca,
            chain,
            challenge_path: format!("/v1/keys/{}/release/challenge", segment(&options.key)),
            guest,
            count: options.count,
            out: options.out,
            threads: options.threads,
            lifetime: Duration::from_secs(options.lifetime),
        })
    }

    /// Checks that an attestation verifies against the root, then writes the bodies to a
    /// temporary file next to `out` and renames it into place.
    ///
    /// # Errors
    /// The first refused challenge, failed issuance or write.
    pub(crate) fn run(self) -> Result<Summary, BoxError> {
        self.self_check()?;
        let started = Instant::now();
        let partial = partial_path(&self.out);
        let file = File::create(&partial)
            .map_err(|e| format!("cannot create {}: {e}", partial.display()))?;
        let progress = Progress {
            next: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            first_error: Mutex::new(None),
            out: Mutex::new(BufWriter::new(file)),
        };
        std::thread::scope(|scope| {
            for _ in 0..self.threads {
                scope.spawn(|| {
                    if let Err(err) = self.work(&progress) {
                        progress.stop.store(true, Ordering::Relaxed);
                        if let Ok(mut first) = progress.first_error.lock() {
                            first.get_or_insert(err.to_string());
                        }
                    }
                });
            }
        });
        let failure = progress.first_error.lock().ok().and_then(|e| e.clone());
        let finished = match failure {
            Some(err) => Err(err.into()),
            None => progress
                .out
                .into_inner()
                .map_err(|_| BoxError::from("a thread panicked while writing"))
                .and_then(|out| {
                    out.into_inner()
                        .map_err(|e| e.into_error())
                        .and_then(|file| file.sync_all())
                        .map_err(|e| format!("cannot write {}: {e}", partial.display()).into())
                })
                .and_then(|()| {
                    std::fs::rename(&partial, &self.out)
                        .map_err(|e| format!("cannot rename to {}: {e}", self.out.display()).into())
                }),
        };
        if finished.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        finished.map(|()| Summary {
            count: self.count,
            out: self.out.clone(),
            elapsed: started.elapsed(),
        })
    }

    /// One thread: claims bodies until all are claimed or another thread failed.
    fn work(&self, progress: &Progress) -> Result<(), BoxError> {
        let client = Client::new(&self.profile)?;
        while !progress.stop.load(Ordering::Relaxed)
            && progress.next.fetch_add(1, Ordering::Relaxed) < self.count
        {
            let challenge: ChallengeResponse = client
                .post(&self.challenge_path, &serde_json::json!({}))
                .map_err(|e| format!("challenge: {e}"))?;
            let nonce = BASE64
                .decode(&challenge.nonce)
                .map_err(|e| format!("challenge: the nonce is not base64: {e}"))?;
            let line = self.body(&challenge.nonce, &self.attestation(nonce)?)?;
            let mut out = progress
                .out
                .lock()
                .map_err(|_| "another thread panicked while writing")?;
            writeln!(out, "{line}").map_err(|e| format!("cannot write the bodies: {e}"))?;
        }
        Ok(())
    }

    /// A fresh attestation certificate for `nonce`: a new guest key, issued now.
    fn attestation(&self, nonce: Vec<u8>) -> Result<Certificate, BoxError> {
        let guest_key = SoftSigner::generate().public_key();
        let claims = Claims {
            guest: self.guest,
            policy: None,
            nonce,
            user_data: Vec::new(),
            host_id: HOST_ID.into(),
            runtime_version: env!("CARGO_PKG_VERSION").into(),
        };
        Ok(issue_attestation(
            &self.ca.signer,
            &self.ca.certificate,
            &guest_key,
            &claims,
            SystemTime::now().into(),
            self.lifetime,
        )?)
    }

    /// The release request body for `nonce` (base64, as the server gave it).
    fn body(&self, nonce: &str, certificate: &Certificate) -> Result<String, BoxError> {
        Ok(serde_json::json!({
            "nonce": nonce,
            "certificate": BASE64.encode(certificate.to_der_bytes()?),
            "chain": [self.chain],
        })
        .to_string())
    }

    /// Verifies one attestation as the server will, before asking for any challenge.
    fn self_check(&self) -> Result<(), BoxError> {
        let nonce = vec![7u8; 32];
        let certificate = self.attestation(nonce.clone())?;
        verify_attestation(
            &certificate,
            &Trust {
                anchors: vec![self.root.clone()],
                intermediates: vec![self.ca.certificate.clone()],
                crls: Vec::new(),
                at: SystemTime::now().into(),
            },
            &Expectations {
                guests: vec![self.guest],
                nonce: Some(nonce),
                max_age: Some(self.lifetime),
                ..Expectations::default()
            },
        )
        .map_err(|e| format!("a bench attestation does not verify against the bench root: {e}"))?;
        Ok(())
    }
}

/// `out` with `.partial` appended to its name.
fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    out.with_file_name(name)
}

/// Refuses a server that is not `localhost` or a loopback address.
fn check_loopback(server: &str) -> Result<(), BoxError> {
    let url = reqwest::Url::parse(server).map_err(|e| format!("server {server}: {e}"))?;
    let loopback = match url.host_str() {
        Some(host) if host.eq_ignore_ascii_case("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    };
    if loopback {
        Ok(())
    } else {
        Err(
            format!("server {server}: not a loopback host (benchmarks stay on this machine)")
                .into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_servers_are_accepted() {
        for ok in [
            "https://127.0.0.1:8443",
            "https://localhost:1",
            "https://[::1]:8443",
        ] {
            assert!(check_loopback(ok).is_ok(), "{ok}");
        }
        for refused in ["https://10.0.0.1:8443", "https://example.com", "not a url"] {
            assert!(check_loopback(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn the_partial_file_sits_next_to_the_output() {
        assert_eq!(
            partial_path(Path::new("/tmp/x/releases.jsonl")),
            Path::new("/tmp/x/releases.jsonl.partial")
        );
    }
}
