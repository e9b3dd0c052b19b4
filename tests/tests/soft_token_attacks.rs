//! Attacks on the built-in soft token's file, made through the real interface (`kastell
//! serve`, the `kastell` command, the token file on disk):
//! - two processes writing it at once, the command beside a running server: each used to
//!   write the whole file from its own copy, so the last writer erased the other's keys;
//! - a header patched to Argon2id costs no deployment uses: read before the passphrase is
//!   checked, they used to abort start-up (4 TiB of memory) or hang it (2^32 passes).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use kastell::client::Client;
use kastell_core::ca::{HOST_CA_KEY, ROOT_KEY};
use kastell_core::deployment::SOFT_TOKEN_FILE;
use kastell_core::keys::ServiceKeys;
use kastell_core::token::{SoftToken, Token as _, TokenError};
use kastell_tests::run_within;
use kastell_tests::server::{Deployment, Setup, TestServer};
use secrecy::SecretString;
use serde_json::{Value, json};

/// Keys the command creates while the server creates its own.
const CLI_KEYS: usize = 4;
/// At most this many keys from the server, one every [`SERVER_PACE`] until the command is
/// done.
const MAX_SERVER_KEYS: usize = 150;
/// The pause between two of the server's keys.
const SERVER_PACE: Duration = Duration::from_millis(100);

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The passphrase `kastell init` generated into the data directory.
fn passphrase(data_dir: &Path) -> SecretString {
    let text = std::fs::read_to_string(data_dir.join("soft-token.secret")).unwrap();
    SecretString::from(text.trim().to_owned())
}

/// Encrypts through the server with `key` and decrypts the result; returns the ciphertext.
fn round_trip(user: &Client, key: &str) -> String {
    let plaintext = format!("under {key}");
    let sealed: Value = user
        .post(
            &format!("/v1/keys/{key}/encrypt"),
            &json!({ "plaintext": b64(plaintext.as_bytes()) }),
        )
        .unwrap_or_else(|e| panic!("encrypt with {key}: {e}"));
    let ciphertext = sealed["ciphertext"].as_str().unwrap().to_owned();
    let opened: Value = user
        .post("/v1/decrypt", &json!({ "ciphertext": ciphertext }))
        .unwrap_or_else(|e| panic!("decrypt with {key}: {e}"));
    assert_eq!(opened["plaintext"], b64(plaintext.as_bytes()), "{key}");
    ciphertext
}

#[test]
fn the_command_and_a_running_server_creating_token_keys_at_once_lose_none() {
    let mut server = TestServer::start_soft().expect("server starts");
    let officer = server.client(&server.officer()).unwrap();
    let user_profile = server.issue_client("svc", "crypto-user", None).unwrap();
    let config = server.deployment().config().display().to_string();

    // The server creates token keys (through the API) for as long as the command creates
    // its own on the same data directory, each process writing the one token file.
    let cli_done = AtomicBool::new(false);
    let ((server_keys, created_at), (cli_keys, cli_window)) = std::thread::scope(|scope| {
        let api = scope.spawn(|| {
            let (mut ids, mut created_at) = (Vec::new(), Vec::new());
            while !cli_done.load(Ordering::Acquire) && ids.len() < MAX_SERVER_KEYS {
                let key: Value = officer
                    .post("/v1/keys", &json!({ "spec": "AES_256", "origin": "token" }))
                    .expect("the server creates a token key");
                ids.push(key["id"].as_str().unwrap().to_owned());
                created_at.push(Instant::now());
                std::thread::sleep(SERVER_PACE);
            }
            (ids, created_at)
        });
        let cli = scope.spawn(|| {
            let started = Instant::now();
            let ids: Vec<String> = (0..CLI_KEYS)
                .map(|_| {
                    let out = server
                        .kastell_ok(&[
                            "key", "create", "--spec", "AES_256", "--origin", "token", "--config",
                            &config,
                        ])
                        .expect("the command creates a token key");
                    let key: Value = serde_json::from_str(&out).expect("JSON");
                    key["id"].as_str().unwrap().to_owned()
                })
                .collect();
            cli_done.store(true, Ordering::Release);
            (ids, started..Instant::now())
        });
        (api.join().unwrap(), cli.join().unwrap())
    });
    let overlapping = created_at
        .iter()
        .filter(|at| cli_window.contains(*at))
        .count();
    eprintln!(
        "{} token keys from the server ({overlapping} while the command ran, {:?}), {} from \
         the command",
        server_keys.len(),
        cli_window.end - cli_window.start,
        cli_keys.len()
    );
    assert!(
        overlapping >= CLI_KEYS,
        "the two processes must write the token at the same time"
    );
    let all: Vec<&String> = server_keys.iter().chain(&cli_keys).collect();

    // The running server uses every key, those the command made included (read from the
    // file when missing from its memory).
    let user = server.client(&user_profile).unwrap();
    let ciphertexts: Vec<(String, String)> = all
        .iter()
        .map(|key| ((*key).clone(), round_trip(&user, key)))
        .collect();

    // Opened afresh, the file holds every key, and the deployment's own.
    let data_dir = server.deployment().data_dir();
    let token = SoftToken::open(&data_dir.join(SOFT_TOKEN_FILE), &passphrase(&data_dir))
        .expect("the token file opens");
    let service = ServiceKeys::default();
    let own = [
        ROOT_KEY,
        HOST_CA_KEY,
        &service.master,
        &service.audit_hmac,
        &service.audit_signing,
    ];
    for label in own
        .into_iter()
        .map(str::to_owned)
        .chain(all.iter().map(|id| format!("kastell-{id}-v1")))
    {
        assert!(
            token.contains(&label).unwrap(),
            "{label} was lost from the token file"
        );
    }
    drop(token);

    // And a server started again decrypts what each key encrypted.
    server.restart().expect("the server starts again");
    let user = server.client(&user_profile).unwrap();
    for (key, ciphertext) in &ciphertexts {
        let opened: Value = user
            .post("/v1/decrypt", &json!({ "ciphertext": ciphertext }))
            .unwrap_or_else(|e| panic!("decrypt with {key} after the restart: {e}"));
        assert_eq!(opened["plaintext"], b64(format!("under {key}").as_bytes()));
    }
}

#[test]
fn a_header_with_argon2_costs_kastell_never_writes_is_refused_before_deriving() {
    let deployment = Deployment::init(&Setup::soft()).expect("init");
    let data_dir = deployment.data_dir();
    let token_path = data_dir.join(SOFT_TOKEN_FILE);
    let original = std::fs::read(&token_path).unwrap();
    let config = deployment.config().display().to_string();
    let scratch = tempfile::tempdir().unwrap();
    let patched_costs: [(u32, u32, u32); 5] = [
        (u32::MAX, 3, 1),        // 4 TiB of memory: allocation failure, the process aborts
        (65_536, u32::MAX, 1),   // 2^32 passes: start-up hangs
        (65_536, 3, 16_777_215), // the most lanes Argon2 takes
        (8, 1, 1),               // cheap: a passphrase guessed quickly, had it been written so
        (19_456, 3, 1),          // one pass off a known set
    ];
    for (m, t, p) in patched_costs {
        let mut patched = original.clone();
        patched[9..13].copy_from_slice(&m.to_le_bytes());
        patched[13..17].copy_from_slice(&t.to_le_bytes());
        patched[17..21].copy_from_slice(&p.to_le_bytes());
        std::fs::write(&token_path, &patched).unwrap();
        let named = format!("Argon2id parameters m = {m} KiB, t = {t}, p = {p}");

        // `kastell serve` and a key command stop at once, naming the file and the costs.
        for args in [
            vec!["serve", "--config", &config, "--listen", "127.0.0.1:0"],
            vec!["key", "list", "--config", &config],
        ] {
            let mut command = deployment.command();
            command.args(&args);
            let started = Instant::now();
            let (status, stderr) = run_within(command, scratch.path(), Duration::from_secs(30));
            let took = started.elapsed();
            let status =
                status.unwrap_or_else(|| panic!("kastell {args:?} still ran after 30 s: {stderr}"));
            assert_eq!(
                status.code(),
                Some(3),
                "kastell {args:?}: {status}: {stderr}"
            );
            assert!(stderr.contains(&named), "kastell {args:?}: {stderr}");
            assert!(
                stderr.contains(&token_path.display().to_string()),
                "kastell {args:?}: {stderr}"
            );
            assert!(took < Duration::from_secs(10), "{args:?} took {took:?}");
        }

        // The library: the typed refusal, before any key is derived.
        let started = Instant::now();
        let err = SoftToken::open(&token_path, &passphrase(&data_dir)).expect_err("refused");
        assert!(started.elapsed() < Duration::from_secs(1), "{err}");
        match err {
            TokenError::Format { path, reason } => {
                assert_eq!(path, token_path.display().to_string());
                assert!(reason.contains(&named), "{reason}");
                assert!(reason.contains("refused before deriving"), "{reason}");
            }
            other => panic!("expected a format error, got {other}"),
        }
    }

    // The file as `init` wrote it opens (the patches were the only fault).
    std::fs::write(&token_path, &original).unwrap();
    let out = deployment
        .run(&["key".into(), "list".into(), "--config".into(), config])
        .expect("the original file opens");
    serde_json::from_str::<Value>(&out).expect("the key list as JSON");
    let token = SoftToken::open(&token_path, &passphrase(&data_dir)).unwrap();
    assert!(token.contains(ROOT_KEY).unwrap());
}
