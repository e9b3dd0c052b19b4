//! No key material in anything Kastell logs or prints: the key service runs every operation
//! (including failures) with tracing at TRACE level captured and every result `Debug`-
//! formatted, and the `kastell` command runs a full key life with `RUST_LOG=trace`; then
//! the bytes of every key the run created (the unwrapped material of every version, the
//! data keys, the soft token's passphrase) are searched for in hex, base64 and raw form.
//! Token-resident keys cannot be read by anyone, this test included: what it covers is
//! every key byte the host process itself ever holds.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use kastell_proto::{EncryptionContext, KeySpec, Origin, Role};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use kastell_core::keys::{Caller, Material, NewKey, ServiceKeys, SignInput};

use kastell_core::store::{SqliteStore, Store};
use kastell_core::token::{KdfCost, SoftToken, Token};

const PASSPHRASE: &str = "leak scan passphrase";

/// A `MakeWriter` that appends to a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Self;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

fn caller(role: Role) -> Caller {
    Caller {
        id: "leak-scan".into(),
        roles: vec![role],
        tenant: Some("acme".into()),
        evidence: None,
    }
}

/// Every encoding of `secret` that could show up in text.
fn needles(secret: &[u8]) -> Vec<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let mut out = vec![
        secret.to_vec(),
        hex::encode(secret).into_bytes(),
        hex::encode_upper(secret).into_bytes(),
        STANDARD_NO_PAD.encode(secret).into_bytes(),
        URL_SAFE_NO_PAD.encode(secret).into_bytes(),
    ];
    // Base64 of the secret at another offset inside a longer value: the middle third of
    // the padded-free encoding is shared by any alignment-preserving embedding.
    let b64 = STANDARD.encode(secret);
    out.push(b64.as_bytes()[4..b64.len() - 4].to_vec());
    // Debug of a byte slice: `[12, 200, …]`.
    out.push(
        format!("{:?}", &secret[..8])
            .trim_end_matches(']')
            .as_bytes()
            .to_vec(),
    );
    out
}

fn assert_absent(haystack: &[u8], secrets: &[(String, Vec<u8>)], what: &str) {
    for (name, secret) in secrets {
        for needle in needles(secret) {
            assert!(
                !haystack
                    .windows(needle.len())
                    .any(|w| w == needle.as_slice()),
                "{name} appears in {what} as `{}`",
                String::from_utf8_lossy(&needle)
            );
        }
    }
}

/// The unwrapped bytes of every wrapped version in the store.
fn wrapped_material(store: &dyn Store, token: &dyn Token) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for key in store.list_keys(None, 1000).expect("list") {
        for version in &key.versions {
            if let Material::Wrapped { master, wrapped } = &version.material {
                let secret = token.unwrap(master, wrapped).expect("unwrap");
                out.push((
                    format!("key {} v{}", key.id, version.number),
                    secret.expose().to_vec(),
                ));
            }
        }
    }
    out
}

#[test]
fn no_key_bytes_in_traces_debug_output_or_command_output() {
    let dir = tempfile::tempdir().unwrap();
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let mut printed = String::new();

    let token = Arc::new(
        SoftToken::create(
            &dir.path().join("soft.token"),
            &PASSPHRASE.to_owned().into(),
            KdfCost::Interactive,
        )
        .unwrap(),
    );
    let (service, store, _) =
        kastell_tests::key_service(dir.path(), token.clone(), ServiceKeys::default(), &[]);
    let service = service.with_checkpoint_every(5);
    printed += &format!("{service:?}{token:?}{store:?}");

    let officer = caller(Role::CryptoOfficer);
    let user = caller(Role::CryptoUser);
    let context = EncryptionContext(BTreeMap::from([("tenant".into(), "acme".into())]));
    let mut data_keys = Vec::new();
    for spec in [KeySpec::Aes256, KeySpec::EccNistP384, KeySpec::HmacSha384] {
        let new = NewKey {
            spec,
            usage: None,
            origin: Origin::Wrapped,
            description: String::new(),
            tags: BTreeMap::new(),
            policy: None,
            releasable: false,
        };
        let key = service.create_key(&officer, new, None).unwrap();
        let id = key.id.to_string();
        printed += &format!("{key:?}");
        let rotated = service.rotate(&officer, &id).unwrap();
        printed += &format!("{rotated:?}");
        let results = [
            format!(
                "{:?}",
                service.encrypt(&user, &id, b"secret data", &context)
            ),
            format!(
                "{:?}",
                service.generate_data_key(&user, &id, &context, true)
            ),
            format!("{:?}", service.sign(&user, &id, SignInput::Message(b"m"))),
            format!("{:?}", service.public_key(&user, &id)),
            format!("{:?}", service.generate_mac(&user, &id, b"m")),
            format!("{:?}", service.verify_mac(&user, &id, b"m", &[0; 48])),
            format!(
                "{:?}",
                service.decrypt(&user, None, b"\x01garbage", &context)
            ),
            format!("{:?}", service.encrypt(&officer, &id, b"x", &context)),
            format!("{:?}", service.describe_key(&officer, &id)),
        ];
        for result in results {
            printed += &result;
        }
        if spec == KeySpec::Aes256 {
            let data_key = service
                .generate_data_key(&user, &id, &context, true)
                .unwrap();
            printed += &format!("{data_key:?}");
            data_keys.push((
                "data key".to_owned(),
                data_key.plaintext.unwrap().expose().to_vec(),
            ));
            let (_, plaintext) = service
                .decrypt(&user, Some(&id), &data_key.ciphertext, &context)
                .unwrap();
            printed += &format!("{plaintext:?}");
        }
        printed += &format!("{:?}", service.schedule_deletion(&officer, &id, 7));
    }
    let mut secrets = wrapped_material(&*store, &*token);
    printed += &format!("{:?}", service.destroy_due(i64::MAX / 2));
    printed += &format!("{:?}", service.checkpoint());
    printed += &format!("{:?}", service.verify_audit(&[]));

    // The `kastell` command, with every log level on.
    let cli_dir = dir.path().join("cli");
    let run = |args: &[&str], stdin: &[u8]| {
        let mut child = kastell_tests::kastell_command()
            .args(args)
            .env("KASTELL_DATA_DIR", &cli_dir)
            .env("KASTELL_SOFT_TOKEN_PASSPHRASE", PASSPHRASE)
            .env("RUST_LOG", "trace,cranelift=info,wasmtime=info")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        let out = child.wait_with_output().unwrap();
        (out.stdout, out.stderr)
    };
    let (stdout, stderr) = run(
        &[
            "key",
            "create",
            "--spec",
            "AES_256",
            "--alias",
            "alias/leak",
        ],
        b"",
    );
    let key: serde_json::Value = serde_json::from_slice(&stdout).unwrap_or_default();
    assert!(
        key["id"].is_string(),
        "the command created a key: {}",
        String::from_utf8_lossy(&stderr)
    );
    let mut cli_output = [stdout, stderr].concat();
    for args in [
        &["key", "encrypt", "alias/leak", "--context", "a=b"][..],
        &["key", "rotate", "alias/leak"],
        &[
            "key",
            "generate-data-key",
            "alias/leak",
            "--without-plaintext",
        ],
        &["key", "decrypt", "--in", "-"],
        &["key", "show", "alias/leak"],
        &["key", "list"],
        &["audit", "export", "--json"],
        &["audit", "verify"],
        &[
            "key",
            "create",
            "--spec",
            "ECC_NIST_P384",
            "--alias",
            "alias/sig",
        ],
        &["key", "sign", "alias/sig"],
        &["key", "schedule-deletion", "alias/sig", "--days", "7"],
    ] {
        let (stdout, stderr) = run(args, b"some input");
        cli_output.extend(stdout);
        cli_output.extend(stderr);
    }

    let cli_store = SqliteStore::open(&cli_dir.join("kastell.db")).unwrap();
    let cli_token = SoftToken::open(
        &cli_dir.join("soft-token.kst"),
        &PASSPHRASE.to_owned().into(),
    )
    .unwrap();
    secrets.extend(wrapped_material(&cli_store, &cli_token));
    secrets.extend(data_keys);
    secrets.push((
        "soft token passphrase".into(),
        PASSPHRASE.as_bytes().to_vec(),
    ));
    // 3 in-process keys × 2 versions, 2 + 1 command-line versions, a data key, a passphrase.
    assert!(secrets.len() >= 11, "{} secrets", secrets.len());

    let traces = captured.0.lock().unwrap().clone();
    assert!(
        String::from_utf8_lossy(&traces).contains("key operation"),
        "the key service's traces were captured"
    );
    assert!(
        String::from_utf8_lossy(&cli_output).contains("key operation"),
        "the command's traces were captured"
    );
    assert_absent(&traces, &secrets, "the traces");
    assert_absent(printed.as_bytes(), &secrets, "Debug output");
    assert_absent(&cli_output, &secrets, "the command's output and logs");
}
