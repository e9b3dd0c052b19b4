//! Sealed backups through the real `kastell` command: a backup taken while the server
//! serves, restored onto a second data directory whose server decrypts what the first one
//! encrypted and whose audit trail continues the old one; on SoftHSM2 the master key
//! stays on the token and the restore needs it; a tampered file, a wrong recipient key, a
//! truncated file and a file from a newer format are each refused by name; and no
//! plaintext key byte (the soft token's keys, every key version's unwrapped material) is
//! anywhere in the file.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::path::{Path, PathBuf};

use kastell_core::keys::Material;
use kastell_core::store::{SqliteStore, Store as _};
use kastell_core::token::{SoftToken, Token as _};
use kastell_tests::backup::{
    arg as s, assert_no_secret_in, bring_profiles, decrypt, escrow, ok, run, token_secrets,
};
use kastell_tests::server::{Deployment, Setup, SoftHsm, TestServer};
use serde_json::Value;
use serial_test::serial;

/// Takes a backup of `deployment` sealed to `recipient`; its `--json` report.
fn backup(deployment: &Deployment, out: &Path, recipient: &Path) -> Value {
    let config = s(&deployment.config());
    let report = ok(
        deployment,
        &["backup", "create", "--config", &config, "--out", &s(out)]
            .into_iter()
            .chain(["--recipient", &s(recipient), "--json"])
            .collect::<Vec<_>>(),
    );
    serde_json::from_str(&report).unwrap()
}

/// Restores `file` into `<dir>/data` with `identity` and `extra` options; the
/// adopted deployment and the report.
fn restore(
    file: &Path,
    identity: &Path,
    setup: &Setup,
    dir: tempfile::TempDir,
    extra: &[&str],
) -> (Deployment, Value) {
    let restored = Deployment::adopt(dir, setup).unwrap();
    let data = s(&restored.data_dir());
    let mut args = vec!["backup", "restore", file.to_str().unwrap()];
    args.extend([
        "--identity",
        identity.to_str().unwrap(),
        "--data-dir",
        &data,
        "--json",
    ]);
    args.extend(extra);
    let report = ok(&restored, &args);
    (restored, serde_json::from_str(&report).unwrap())
}

/// Encrypts `plaintext` with `alias` as the client of `profile`; the ciphertext file.
fn encrypt(server: &TestServer, profile: &Path, alias: &str, plaintext: &[u8]) -> PathBuf {
    let dir = server.deployment().data_dir().join("..");
    let input = dir.join("plaintext");
    std::fs::write(&input, plaintext).unwrap();
    let ciphertext = dir.join(format!("ciphertext-{}", alias.replace('/', "-")));
    server
        .kastell_ok(
            &["key", "encrypt", alias, "--in", &s(&input)]
                .into_iter()
                .chain(["--out", &s(&ciphertext), "--profile", &s(profile)])
                .collect::<Vec<_>>(),
        )
        .unwrap();
    ciphertext
}

/// The audit trail of `deployment` as JSON records.
fn trail(deployment: &Deployment) -> Vec<Value> {
    ok(
        deployment,
        &["audit", "export", "--config", &s(&deployment.config())],
    )
    .lines()
    .map(|line| serde_json::from_str(line).unwrap())
    .collect()
}

/// The round trip on `setup`'s token: a key made and used through a server, a backup
/// taken while it serves, restored into a second data directory whose server decrypts
/// the old ciphertext; the restored trail verifies and its `restore` record links to the
/// backup's audit head.
fn round_trip(setup: &Setup, expected_master: &str, restore_extra: &[&str]) {
    let mut server = TestServer::start(setup).unwrap();
    let officer = s(&server.officer());
    server
        .kastell_ok(
            &[
                "key",
                "create",
                "--spec",
                "AES_256",
                "--alias",
                "alias/backup",
            ]
            .into_iter()
            .chain(["--profile", &officer])
            .collect::<Vec<_>>(),
        )
        .unwrap();
    let user = server.issue_client("user", "crypto-user", None).unwrap();
    let ciphertext = encrypt(&server, &user, "alias/backup", b"made before the backup");

    let escrow_dir = tempfile::tempdir().unwrap();
    let (key, public) = escrow(escrow_dir.path(), "escrow");
    let file = escrow_dir.path().join("deployment.kbk");
    let report = backup(server.deployment(), &file, &public);
    let manifest = &report["manifest"];
    assert_eq!(manifest["master_key"], expected_master, "{report}");
    assert!(
        manifest["counts"]["keys"].as_u64().unwrap() >= 1,
        "{report}"
    );
    assert!(
        manifest["counts"]["clients"].as_u64().unwrap() >= 2,
        "{report}"
    );
    // The server kept serving while it was taken.
    assert_eq!(
        decrypt(&server, &user, &ciphertext),
        b"made before the backup"
    );

    // Offline, with the deployment's published audit key.
    let audit_key = escrow_dir.path().join("audit.pub");
    let config = s(&server.deployment().config());
    std::fs::write(
        &audit_key,
        ok(
            server.deployment(),
            &["audit", "public-key", "--config", &config],
        ),
    )
    .unwrap();
    let verified = ok(
        server.deployment(),
        &[
            "backup",
            "verify",
            &s(&file),
            "--public-key",
            &s(&audit_key),
        ],
    );
    assert!(verified.contains("backup intact"), "{verified}");

    let dir = tempfile::tempdir().unwrap();
    let passphrase = dir.path().join("passphrase");
    std::fs::write(&passphrase, "a new passphrase for the new host\n").unwrap();
    let mut extra = restore_extra.to_vec();
    let passphrase_text = s(&passphrase);
    if expected_master == "in-backup" {
        extra.extend(["--secret-file", &passphrase_text]);
    }
    let (restored, restore_report) = restore(&file, &key, setup, dir, &extra);
    bring_profiles(server.deployment(), &restored);
    let restored = TestServer::serve(restored).unwrap();
    assert_eq!(
        decrypt(&restored, &user_profile(&restored), &ciphertext),
        b"made before the backup",
        "the restored host decrypts what the first one encrypted"
    );

    let head = manifest["audit_head"]["seq"].as_u64().unwrap();
    let records = trail(restored.deployment());
    let restore_record = records
        .iter()
        .find(|r| r["operation"] == "restore")
        .expect("a restore record");
    assert_eq!(restore_record["seq"].as_u64().unwrap(), head + 1);
    assert_eq!(restore_record["seq"], restore_report["restore_record"]);
    assert_eq!(
        restore_record["prev_hash"], manifest["audit_head"]["hash"],
        "the restored trail continues the backed-up one"
    );
    let config = s(&restored.deployment().config());
    let verified = ok(
        restored.deployment(),
        &["audit", "verify", "--config", &config],
    );
    assert!(verified.contains("audit trail intact"), "{verified}");
    server.stop().unwrap();
}

fn user_profile(server: &TestServer) -> PathBuf {
    server
        .deployment()
        .data_dir()
        .join("clients/user")
        .join(kastell_core::clients::PROFILE_FILE)
}

#[test]
fn a_soft_token_backup_taken_while_serving_restores_onto_a_second_host_that_decrypts_old_ciphertexts()
 {
    round_trip(&Setup::soft(), "in-backup", &[]);
}

#[test]
#[serial]
fn a_softhsm_backup_keeps_the_master_on_the_token_and_restores_with_the_same_token() {
    let hsm = SoftHsm::create("kastell-backup").unwrap();
    let setup = Setup::softhsm(&hsm).unwrap();
    let pin = s(&hsm.pin_file().unwrap());
    let module = s(&hsm.module);
    round_trip(
        &setup,
        "on-token",
        &[
            "--pkcs11-module",
            &module,
            "--token-label",
            &hsm.label,
            "--secret-file",
            &pin,
        ],
    );
}

/// A deployment (not served) with one backup of it sealed to `escrow`.
struct Backed {
    deployment: Deployment,
    dir: tempfile::TempDir,
    file: PathBuf,
    key: PathBuf,
    /// A passphrase file for a restored soft token.
    passphrase: PathBuf,
}

fn backed() -> Backed {
    let deployment = Deployment::init(&Setup::soft()).unwrap();
    let config = s(&deployment.config());
    ok(
        &deployment,
        &["key", "create", "--spec", "AES_256", "--config", &config],
    );
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = escrow(dir.path(), "escrow");
    let file = dir.path().join("b.kbk");
    backup(&deployment, &file, &public);
    let passphrase = dir.path().join("passphrase");
    std::fs::write(&passphrase, "a new passphrase for the new host\n").unwrap();
    Backed {
        deployment,
        dir,
        file,
        key,
        passphrase,
    }
}

/// `restore` of `file` (and `verify` too, unless `verify_passes`: it needs no key) refuse,
/// exit `code`, naming `words`; nothing is left where the restore was to go.
fn refused(
    backed: &Backed,
    file: &Path,
    identity: &Path,
    verify_passes: bool,
    (code, words): (i32, &[&str]),
) {
    let target = backed.dir.path().join(format!(
        "target-{}",
        file.file_name().unwrap().to_string_lossy()
    ));
    let runs = [
        vec!["backup", "verify", file.to_str().unwrap()],
        vec![
            "backup",
            "restore",
            file.to_str().unwrap(),
            "--identity",
            identity.to_str().unwrap(),
            "--data-dir",
            target.to_str().unwrap(),
            "--secret-file",
            backed.passphrase.to_str().unwrap(),
        ],
    ];
    for args in runs {
        let (exit, stdout, stderr) = run(&backed.deployment, &args);
        if args[1] == "verify" && verify_passes {
            assert_eq!(exit, 0, "verify needs no key: {stderr}");
            continue;
        }
        assert_eq!(exit, code, "kastell {args:?}: {stdout}{stderr}");
        for word in words {
            assert!(
                stderr.contains(word),
                "kastell {args:?}: `{word}` not in {stderr}"
            );
        }
        assert!(
            !target.exists(),
            "nothing is left behind by a refused restore"
        );
    }
}

#[test]
fn a_tampered_truncated_newer_or_foreign_backup_is_refused_by_name() {
    let backed = backed();
    let bytes = std::fs::read(&backed.file).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let path = backed.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };

    // One bit changed inside the sealed content.
    let mut tampered = bytes.clone();
    let middle = bytes.len() / 2;
    tampered[middle] ^= 0x01;
    let tampered = write("tampered.kbk", &tampered);
    refused(
        &backed,
        &tampered,
        &backed.key,
        false,
        (1, &["TamperDetected", "tampered"]),
    );

    // Cut short: half of it, and all but its last byte.
    for (name, len) in [
        ("half.kbk", bytes.len() / 2),
        ("short.kbk", bytes.len() - 1),
    ] {
        let truncated = write(name, &bytes[..len]);
        refused(
            &backed,
            &truncated,
            &backed.key,
            false,
            (1, &["TamperDetected", "truncated"]),
        );
    }

    // From a newer format.
    let mut newer = bytes.clone();
    newer[8..10].copy_from_slice(&2u16.to_be_bytes());
    let newer = write("newer.kbk", &newer);
    refused(
        &backed,
        &newer,
        &backed.key,
        false,
        (2, &["format version 2 is newer than this Kastell reads"]),
    );

    // Not a backup at all.
    let store = write("store.kbk", b"SQLite format 3\0 and more");
    refused(
        &backed,
        &store,
        &backed.key,
        false,
        (2, &["is not a Kastell backup file"]),
    );

    // Opened with a key it was not sealed to.
    let (stranger, _) = escrow(backed.dir.path(), "stranger");
    refused(
        &backed,
        &backed.file,
        &stranger,
        true,
        (1, &["AccessDenied", "is not a recipient of this backup"]),
    );

    // Signed by another deployment than the one whose audit key is given.
    let other = Deployment::init(&Setup::soft()).unwrap();
    let other_key = backed.dir.path().join("other-audit.pub");
    let config = s(&other.config());
    std::fs::write(
        &other_key,
        ok(&other, &["audit", "public-key", "--config", &config]),
    )
    .unwrap();
    let (exit, _, stderr) = run(
        &backed.deployment,
        &[
            "backup",
            "verify",
            &s(&backed.file),
            "--public-key",
            &s(&other_key),
        ],
    );
    assert_eq!(exit, 1, "{stderr}");
    assert!(
        stderr.contains("TamperDetected") && stderr.contains("not by the expected"),
        "{stderr}"
    );

    // Into a data directory that holds something, and with no recipient.
    let (exit, _, stderr) = run(
        &backed.deployment,
        &[
            "backup",
            "restore",
            &s(&backed.file),
            "--identity",
            &s(&backed.key),
        ]
        .into_iter()
        .chain(["--data-dir", &s(&backed.deployment.data_dir())])
        .chain(["--secret-file", &s(&backed.passphrase)])
        .collect::<Vec<_>>(),
    );
    assert_eq!(exit, 1, "{stderr}");
    assert!(
        stderr.contains("AlreadyExists") && stderr.contains("is not empty"),
        "{stderr}"
    );
    let config = s(&backed.deployment.config());
    let (exit, _, stderr) = run(
        &backed.deployment,
        &["backup", "create", "--config", &config, "--out", "x.kbk"],
    );
    assert_eq!(exit, 2, "{stderr}");
    assert!(stderr.contains("--recipient"), "{stderr}");
}

/// The soft token's passphrase, from the file `init` generated.
fn passphrase(deployment: &Deployment) -> secrecy::SecretString {
    let config = kastell_core::config::Config::load(&deployment.config()).unwrap();
    let text = std::fs::read_to_string(config.token.secret_file.unwrap()).unwrap();
    text.lines().next().unwrap().to_owned().into()
}

#[test]
fn no_plaintext_key_byte_appears_in_the_backup_file() {
    let deployment = Deployment::init(&Setup::soft()).unwrap();
    let config = s(&deployment.config());
    for spec in ["AES_256", "HMAC_384", "ECC_NIST_P384", "RSA_2048"] {
        ok(
            &deployment,
            &["key", "create", "--spec", spec, "--config", &config],
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let (_, public) = escrow(dir.path(), "escrow");
    let file = dir.path().join("scan.kbk");
    backup(&deployment, &file, &public);

    // Test-only access to every secret: the token file opened with its passphrase, every
    // wrapped version unwrapped by it.
    let token = SoftToken::open(
        &deployment.data_dir().join("soft-token.kst"),
        &passphrase(&deployment),
    )
    .unwrap();
    let table = token.export_for_backup().unwrap().unwrap();
    let mut secrets: Vec<_> = token_secrets(table.expose())
        .into_iter()
        .map(|(label, secret)| (format!("token key {label}"), secret))
        .collect();
    assert!(
        secrets.len() >= 6,
        "the service keys and the CA keys: {}",
        secrets.len()
    );
    let store = SqliteStore::open(&deployment.data_dir().join("kastell.db")).unwrap();
    for key in store.list_keys(None, 1000).unwrap() {
        for version in &key.versions {
            if let Material::Wrapped { master, wrapped } = &version.material {
                let secret = token.unwrap(master, wrapped).unwrap();
                secrets.push((
                    format!("key {} v{}", key.id, version.number),
                    secret.expose().to_vec(),
                ));
            }
        }
    }
    assert!(secrets.len() >= 10, "{}", secrets.len());

    assert_no_secret_in(&file, &secrets);
}

#[test]
fn through_the_server_a_backup_is_an_officer_operation_under_the_export_backup_quorum() {
    let server = TestServer::start_soft().unwrap();
    let escrow_dir = tempfile::tempdir().unwrap();
    let (key, public) = escrow(escrow_dir.path(), "escrow");
    let officer = s(&server.officer());
    let public_text = s(&public);

    // A crypto-user may not take one.
    let user = s(&server.issue_client("user", "crypto-user", None).unwrap());
    let refused = escrow_dir.path().join("user.kbk");
    let out = server
        .kastell(
            &[
                "backup",
                "create",
                "--out",
                &s(&refused),
                "--recipient",
                &public_text,
            ]
            .into_iter()
            .chain(["--profile", &user])
            .collect::<Vec<_>>(),
        )
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("AccessDenied"));
    assert!(!refused.exists());

    // An officer takes one (one approval by default) and downloads it.
    let first = escrow_dir.path().join("first.kbk");
    let created: Value = serde_json::from_str(
        &server
            .kastell_ok(
                &[
                    "backup",
                    "create",
                    "--out",
                    &s(&first),
                    "--recipient",
                    &public_text,
                ]
                .into_iter()
                .chain(["--profile", &officer, "--json"])
                .collect::<Vec<_>>(),
            )
            .unwrap(),
    )
    .unwrap();
    assert_eq!(created["master_key"], "in-backup", "{created}");
    let verified = server
        .kastell_ok(&["backup", "verify", &s(&first)])
        .unwrap();
    assert!(
        verified.contains(created["backup_id"].as_str().unwrap()),
        "{verified}"
    );

    // Under a quorum of two, it waits for a second officer, then the server takes it.
    let second = server
        .issue_client("officer-b", "crypto-officer", None)
        .unwrap();
    let alice = server.client(&server.officer()).unwrap();
    // No class may need more approvals than the issuance of officers and clients.
    for class in ["issue-officer", "issue-client", "export-backup"] {
        alice
            .put::<Value>(
                &format!("/v1/quorum/{class}"),
                &serde_json::json!({ "required": 2 }),
            )
            .unwrap();
    }
    let pem = std::fs::read_to_string(&public).unwrap();
    let pending: Value = alice
        .post("/v1/backups", &serde_json::json!({ "recipients": [pem] }))
        .unwrap();
    assert_eq!(pending["status"], "pending", "{pending}");
    assert_eq!(pending["operation"]["class"], "export-backup");
    let backups = server.deployment().data_dir().join("backups");
    let count = || std::fs::read_dir(&backups).unwrap().count();
    assert_eq!(count(), 1, "nothing taken before the approvals");
    let id = pending["operation"]["id"].as_str().unwrap();
    let own = server
        .kastell_ok(&["approve", id, "--profile", &officer])
        .unwrap();
    assert!(own.contains("1 of 2"), "{own}");
    assert_eq!(count(), 1, "one officer alone takes no backup");
    let approved = server
        .kastell_ok(&["approve", id, "--profile", second.to_str().unwrap()])
        .unwrap();
    assert!(approved.contains("the operation ran"), "{approved}");
    assert_eq!(count(), 2);

    // Downloaded and restorable like any other.
    let name = std::fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .max()
        .unwrap();
    let out = server
        .kastell(
            &["backup", "download", &name, "--out", &s(&refused)]
                .into_iter()
                .chain(["--profile", &user])
                .collect::<Vec<_>>(),
        )
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a crypto-user downloads no backup"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("AccessDenied"));
    let second_file = escrow_dir.path().join("second.kbk");
    server
        .kastell_ok(
            &["backup", "download", &name, "--out", &s(&second_file)]
                .into_iter()
                .chain(["--profile", &officer])
                .collect::<Vec<_>>(),
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let passphrase = dir.path().join("passphrase");
    std::fs::write(&passphrase, "a new passphrase for the new host\n").unwrap();
    let passphrase = s(&passphrase);
    restore(
        &second_file,
        &key,
        &Setup::soft(),
        dir,
        &["--secret-file", &passphrase],
    );

    // Each backup and download is in the trail, by the officer who asked.
    let records = trail(server.deployment());
    let backups: Vec<_> = records
        .iter()
        .filter(|r| r["operation"] == "backup" && r["outcome"] == "allowed")
        .collect();
    assert_eq!(backups.len(), 2, "{records:?}");
    assert!(
        backups.iter().all(|r| r["principal"] == "officer"),
        "{backups:?}"
    );
    assert!(
        records
            .iter()
            .any(|r| r["operation"] == "download-backup" && r["principal"] == "officer")
    );
}

#[test]
fn scheduled_backups_are_taken_while_serving_and_the_oldest_removed() {
    let deployment = Deployment::init(&Setup::soft()).unwrap();
    let escrow_dir = tempfile::tempdir().unwrap();
    let (_, public) = escrow(escrow_dir.path(), "escrow");
    let dir = escrow_dir.path().join("scheduled");
    deployment
        .append_config(&format!(
            "\n[backup]\ndir = \"{}\"\nevery_secs = 1\nkeep = 2\nrecipients = [\"{}\"]\n",
            s(&dir),
            s(&public)
        ))
        .unwrap();
    let mut server = TestServer::serve(deployment).unwrap();
    let taken = |server: &TestServer| {
        trail(server.deployment())
            .iter()
            .filter(|r| r["operation"] == "backup" && r["principal"] == "kastell")
            .count()
    };
    let started = std::time::Instant::now();
    while taken(&server) < 4 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "no scheduled backups: {}",
            server.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    server.stop().unwrap();
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 2, "keep = 2: {files:?}");
    for file in files {
        ok(server.deployment(), &["backup", "verify", &s(&file)]);
    }
}

#[test]
fn a_backup_taken_under_load_is_consistent() {
    use base64::Engine as _;
    use std::sync::atomic::{AtomicBool, Ordering};
    let server = TestServer::start_soft().unwrap();
    let officer = server.client(&server.officer()).unwrap();
    officer
        .post::<Value>(
            "/v1/keys",
            &serde_json::json!({ "spec": "AES_256", "alias": "alias/load" }),
        )
        .unwrap();
    let user = server
        .client(&server.issue_client("user", "crypto-user", None).unwrap())
        .unwrap();
    let stop = AtomicBool::new(false);
    let escrow_dir = tempfile::tempdir().unwrap();
    let (key, public) = escrow(escrow_dir.path(), "escrow");
    let file = escrow_dir.path().join("load.kbk");
    let plaintext = base64::engine::general_purpose::STANDARD.encode(b"under load");
    let report = std::thread::scope(|scope| {
        // Key use and key creation (each a change and its audit record) while it is taken.
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                user.post::<Value>(
                    "/v1/keys/alias%2Fload/encrypt",
                    &serde_json::json!({ "plaintext": plaintext }),
                )
                .unwrap();
            }
        });
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                officer
                    .post::<Value>("/v1/keys", &serde_json::json!({ "spec": "AES_256" }))
                    .unwrap();
            }
        });
        std::thread::sleep(std::time::Duration::from_millis(500));
        let report = backup(server.deployment(), &file, &public);
        std::thread::sleep(std::time::Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
        report
    });
    let manifest = &report["manifest"];

    let dir = tempfile::tempdir().unwrap();
    let passphrase = dir.path().join("passphrase");
    std::fs::write(&passphrase, "a new passphrase for the new host\n").unwrap();
    let passphrase = s(&passphrase);
    let (restored, _) = restore(
        &file,
        &key,
        &Setup::soft(),
        dir,
        &["--secret-file", &passphrase],
    );
    let config = s(&restored.config());
    let verified = ok(&restored, &["audit", "verify", "--config", &config]);
    assert!(verified.contains("audit trail intact"), "{verified}");

    // Every key in the restored store has its create-key record, and every create-key
    // record its key: no change without its record, no record without its change.
    let records = trail(&restored);
    let created: std::collections::BTreeSet<String> = records
        .iter()
        .filter(|r| r["operation"] == "create-key" && r["outcome"] == "allowed")
        .map(|r| r["key"].as_str().unwrap().to_owned())
        .collect();
    let listed: Value = serde_json::from_str(&ok(
        &restored,
        &[
            "key", "list", "--config", &config, "--limit", "1000", "--json",
        ],
    ))
    .unwrap();
    let keys: std::collections::BTreeSet<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        keys.len() > 1,
        "keys were created during the backup: {}",
        keys.len()
    );
    assert_eq!(keys, created);
    assert_eq!(
        manifest["counts"]["keys"].as_u64().unwrap(),
        keys.len() as u64
    );
    assert_eq!(
        manifest["counts"]["audit_records"].as_u64().unwrap(),
        manifest["audit_head"]["seq"].as_u64().unwrap(),
        "the snapshot holds the trail up to its head, without a gap"
    );
}
