//! `kastell ca …` and `kastell attest issue` as an owner and a host operator run them: the
//! root on its own deployment (soft token), the host CA key on the host's token (SoftHSM2
//! through PKCS#11, and the soft token), attestation certificates verified by the library
//! and by openssl, revocation by CRL.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kastell_attest::Measurement;
use kastell_attest::verify::{Check, Expectations, Trust, verify_attestation};
use kastell_attest::x509::parse_certificates;
use kastell_tests::softhsm_config;
use p384::pkcs8::{EncodePublicKey as _, LineEnding};
use serial_test::serial;

/// A data directory and the environment that selects its token.
struct Side {
    data: PathBuf,
    env: Vec<(String, String)>,
}

impl Side {
    fn soft(dir: &Path, name: &str) -> Self {
        Self {
            data: dir.join(name),
            env: vec![(
                "KASTELL_SOFT_TOKEN_PASSPHRASE".into(),
                format!("{name} passphrase"),
            )],
        }
    }

    fn softhsm(dir: &Path, name: &str) -> Self {
        let config = softhsm_config();
        let pin = dir.join(format!("{name}.pin"));
        std::fs::write(&pin, secrecy::ExposeSecret::expose_secret(&config.pin)).unwrap();
        Self {
            data: dir.join(name),
            env: vec![
                (
                    "KASTELL_PKCS11_MODULE".into(),
                    config.module.display().to_string(),
                ),
                ("KASTELL_TOKEN_LABEL".into(), config.token_label),
                ("KASTELL_SECRET_FILE".into(), pin.display().to_string()),
            ],
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        kastell_tests::kastell_command()
            .args(args)
            .env("KASTELL_DATA_DIR", &self.data)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("kastell runs")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "kastell {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn fails(&self, args: &[&str], code: i32, words: &str) {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "kastell {args:?}: {stderr}");
        assert!(stderr.contains(words), "kastell {args:?}: {stderr}");
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl").args(args).output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn owner_and_host(root: &Side, host: &Side, dir: &Path) {
    // The owner's root, on its own deployment; only EU/EEA countries.
    root.fails(
        &[
            "ca",
            "init-root",
            "--common-name",
            "X Root",
            "--organization",
            "X Inc",
            "--country",
            "US",
        ],
        1,
        "not an EU or EEA member state",
    );
    let root_pem = root.ok(&[
        "ca",
        "init-root",
        "--common-name",
        "Example GmbH Kastell Root",
        "--organization",
        "Example GmbH",
        "--country",
        "DE",
    ]);
    root.fails(
        &[
            "ca",
            "init-root",
            "--common-name",
            "Again",
            "--organization",
            "Example GmbH",
            "--country",
            "DE",
        ],
        1,
        "already holds a root key",
    );
    let root_file = write(dir, "root.pem", &root_pem);

    // The host's CA key stays on the host's token; the root certifies its public key.
    let host_key = write(dir, "host-key.pem", &host.ok(&["ca", "host-key"]));
    assert_eq!(
        std::fs::read_to_string(&host_key).unwrap(),
        host.ok(&["ca", "host-key"]),
        "host-key is idempotent"
    );
    let host_ca = root.ok(&[
        "ca",
        "issue-host-ca",
        "--host-key",
        &host_key,
        "--common-name",
        "Kastell host CA fra-1",
    ]);
    let host_ca_file = write(dir, "host-ca.pem", &host_ca);
    // A host CA certificate for another key is refused at installation.
    let stranger = p384::SecretKey::random(&mut rand_core::OsRng)
        .public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let stranger_key = write(dir, "stranger.pem", &stranger);
    let wrong_ca = write(
        dir,
        "wrong-ca.pem",
        &root.ok(&[
            "ca",
            "issue-host-ca",
            "--host-key",
            &stranger_key,
            "--common-name",
            "Stranger",
        ]),
    );
    host.fails(
        &[
            "ca",
            "install",
            "--root",
            &root_file,
            "--host-ca",
            &wrong_ca,
        ],
        1,
        "another key",
    );
    let installed = host.ok(&[
        "ca",
        "install",
        "--root",
        &root_file,
        "--host-ca",
        &host_ca_file,
    ]);
    assert!(installed.contains("installed"), "{installed}");

    // An attestation certificate for a guest's key.
    let guest_secret = p384::SecretKey::random(&mut rand_core::OsRng);
    let guest_key = write(
        dir,
        "guest.pem",
        &guest_secret
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap(),
    );
    let guest_wasm = dir.join("guest.wasm");
    std::fs::write(&guest_wasm, b"\0asm pretend guest").unwrap();
    let measurement = Measurement::of(b"\0asm pretend guest");
    let leaf_pem = host.ok(&[
        "attest",
        "issue",
        "--guest",
        &guest_wasm.display().to_string(),
        "--public-key",
        &guest_key,
        "--nonce",
        "00ff",
        "--user-data",
        "6869",
    ]);
    let leaf_file = write(dir, "leaf.pem", &leaf_pem);
    let leaf = parse_certificates(leaf_pem.as_bytes()).unwrap().remove(0);
    let trust = Trust {
        anchors: parse_certificates(root_pem.as_bytes()).unwrap(),
        intermediates: parse_certificates(host_ca.as_bytes()).unwrap(),
        crls: Vec::new(),
        at: time::OffsetDateTime::now_utc(),
    };
    let expect = Expectations {
        guests: vec![measurement],
        policy: None,
        nonce: Some(vec![0x00, 0xff]),
        max_age: Some(std::time::Duration::from_secs(60)),
    };
    let verified = verify_attestation(&leaf, &trust, &expect).expect("verifies");
    assert_eq!(verified.claims.user_data, b"hi");
    assert_eq!(
        verified.public_key,
        hex::encode(guest_secret.public_key().to_sec1_bytes())
    );
    let (ok, text) = openssl(&[
        "verify",
        "-CAfile",
        &root_file,
        "-untrusted",
        &host_ca_file,
        &leaf_file,
    ]);
    assert!(ok, "{text}");

    // A Nitro-format document for the same guest, signed by the host's document signer.
    let doc_path = dir.join("guest.cbor");
    host.ok(&[
        "attest",
        "document",
        "--guest",
        &guest_wasm.display().to_string(),
        "--public-key",
        &guest_key,
        "--nonce",
        "00ff",
        "--out",
        &doc_path.display().to_string(),
    ]);
    let document = std::fs::read(&doc_path).unwrap();
    let now = Trust {
        at: time::OffsetDateTime::now_utc(),
        ..trust.clone()
    };
    let verified = kastell_attest::document::verify_document(&document, &now, &expect)
        .expect("document verifies against the root");
    assert_eq!(verified.document.guest, measurement);
    assert_eq!(
        verified.document.runtime,
        Measurement::of(&std::fs::read(kastell_tests::kastell_path()).unwrap()),
        "PCR1 measures the kastell binary that issued it"
    );
    let second = dir.join("second.cbor");
    host.ok(&[
        "attest",
        "document",
        "--guest-hash",
        &measurement.to_string(),
        "--out",
        &second.display().to_string(),
    ]);
    let signer_file = dir.join(&host.data).join("ca/document-signer.pem");
    assert!(
        std::fs::read_to_string(&signer_file).is_ok(),
        "the document signer's certificate is kept"
    );
    // Interop (issue 16, point 16): verifiers built on TLS libraries validate the signer's
    // path for TLS server authentication; OpenSSL does so too and accepts it under the root.
    let (ok, text) = openssl(&[
        "verify",
        "-purpose",
        "sslserver",
        "-CAfile",
        &root_file,
        "-untrusted",
        &host_ca_file,
        &signer_file.display().to_string(),
    ]);
    assert!(
        ok,
        "the document signer passes a serverAuth path check: {text}"
    );

    // Revocation: the CRL lists the serial; openssl and the library refuse the certificate.
    let serial = hex::encode(leaf.tbs_certificate.serial_number.as_bytes());
    let revoked = host.ok(&["ca", "revoke", &serial]);
    assert!(revoked.contains("revoked"), "{revoked}");
    let crl_der = dir.join("host.crl");
    host.ok(&["ca", "crl", "--out", &crl_der.display().to_string()]);
    let crl_pem = write(dir, "host-crl.pem", &host.ok(&["ca", "crl"]));
    let with_crl = Trust {
        crls: vec![std::fs::read(&crl_der).unwrap()],
        ..trust
    };
    let err = verify_attestation(&leaf, &with_crl, &expect).unwrap_err();
    assert_eq!(err.check, Check::Revoked, "{err}");
    let (ok, text) = openssl(&[
        "verify",
        "-crl_check",
        "-CAfile",
        &root_file,
        "-untrusted",
        &host_ca_file,
        "-CRLfile",
        &crl_pem,
        &leaf_file,
    ]);
    assert!(!ok && text.contains("revoked"), "{text}");

    // Clear errors for what is missing.
    host.fails(
        &[
            "attest",
            "issue",
            "--guest-hash",
            "sha384:00",
            "--public-key",
            &guest_key,
        ],
        2,
        "--guest-hash",
    );
    root.fails(
        &[
            "attest",
            "issue",
            "--guest",
            &guest_wasm.display().to_string(),
            "--public-key",
            &guest_key,
        ],
        1,
        "kastell ca install",
    );
}

#[test]
fn root_on_a_soft_token_certifies_a_host_ca_on_another_soft_token() {
    let dir = tempfile::tempdir().unwrap();
    let root = Side::soft(dir.path(), "root");
    let host = Side::soft(dir.path(), "host");
    owner_and_host(&root, &host, dir.path());
}

#[test]
#[serial(softhsm)]
fn host_ca_key_on_softhsm_through_pkcs11() {
    let dir = tempfile::tempdir().unwrap();
    let root = Side::soft(dir.path(), "root");
    let host = Side::softhsm(dir.path(), "host");
    owner_and_host(&root, &host, dir.path());
}
