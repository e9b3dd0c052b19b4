//! Backups sealed to the token backup key, through the real `kastell` command and server:
//! on the soft token and on SoftHSM2 a backup sealed to it alone restores with the same
//! token (no `--identity`) onto a host that decrypts what was encrypted before; another
//! token is refused by name (`IncorrectKey`, "no recipient key fits"); the key's creation
//! through the server waits for the `export-backup` quorum; and no key byte of the soft
//! token (the backup key's scalar included) is in the file.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::path::{Path, PathBuf};

use kastell_core::token::{SoftToken, Token as _};
use kastell_tests::backup::{
    arg as s, assert_no_secret_in, bring_profiles, ok, run, token_secrets,
};
use kastell_tests::server::{Deployment, Setup, SoftHsm, TestServer};
use serde_json::Value;
use serial_test::serial;

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The soft token passphrase file `init` generated for `deployment`.
fn passphrase_file(deployment: &Deployment) -> PathBuf {
    let config = kastell_core::config::Config::load(&deployment.config()).unwrap();
    config.token.secret_file.unwrap()
}

/// Encrypts under a new AES key through `server` as a crypto-user; (user profile, file).
fn encrypted_before(server: &TestServer) -> (PathBuf, PathBuf) {
    let officer = s(&server.officer());
    server
        .kastell_ok(&[
            "key",
            "create",
            "--spec",
            "AES_256",
            "--alias",
            "alias/kept",
            "--profile",
            &officer,
        ])
        .unwrap();
    let user = server.issue_client("user", "crypto-user", None).unwrap();
    let dir = server.deployment().data_dir().join("..");
    let input = dir.join("plaintext");
    std::fs::write(&input, b"made before the backup").unwrap();
    let ciphertext = dir.join("ciphertext");
    server
        .kastell_ok(&[
            "key",
            "encrypt",
            "alias/kept",
            "--in",
            &s(&input),
            "--out",
            &s(&ciphertext),
            "--profile",
            &s(&user),
        ])
        .unwrap();
    (user, ciphertext)
}

/// The restored host serves and decrypts what the first one encrypted.
fn decrypts_after(from: &TestServer, restored: Deployment, ciphertext: &Path) {
    bring_profiles(from.deployment(), &restored);
    let user = restored
        .data_dir()
        .join("clients/user")
        .join(kastell_core::clients::PROFILE_FILE);
    let restored = TestServer::serve(restored).unwrap();
    let out = restored
        .kastell(&[
            "key",
            "decrypt",
            "--in",
            &s(ciphertext),
            "--profile",
            &s(&user),
        ])
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"made before the backup");
}

/// A backup of `deployment` sealed to its token backup key alone; the manifest.
fn token_backup(deployment: &Deployment, out: &Path) -> Value {
    let config = s(&deployment.config());
    let report = ok(
        deployment,
        &[
            "backup",
            "create",
            "--config",
            &config,
            "--out",
            &s(out),
            "--token-recipient",
            "--json",
        ],
    );
    json(&report)["manifest"].clone()
}

/// `restore` of `file` into a new data directory with `args` refused by name: no
/// recipient key fits; nothing is left behind.
fn refused_by_name(deployment: &Deployment, file: &Path, args: &[&str]) {
    let target = tempfile::tempdir().unwrap();
    let data = target.path().join("data");
    let mut all = vec!["backup", "restore", file.to_str().unwrap()];
    let data_text = s(&data);
    all.extend(["--data-dir", &data_text]);
    all.extend(args);
    let (code, stdout, stderr) = run(deployment, &all);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains("IncorrectKey") && stderr.contains("no recipient key fits"),
        "{stderr}"
    );
    assert!(!data.exists(), "nothing is left behind");
}

#[test]
fn a_soft_token_backup_sealed_to_its_token_key_restores_with_the_same_token_file_alone() {
    let server = TestServer::start(&Setup::soft()).unwrap();
    let (_, ciphertext) = encrypted_before(&server);
    let deployment = server.deployment();
    let config = s(&deployment.config());
    let created = json(&ok(
        deployment,
        &["backup", "key", "create", "--config", &config, "--json"],
    ));
    let shown = json(&ok(
        deployment,
        &["backup", "key", "show", "--config", &config, "--json"],
    ));
    assert_eq!(created, shown);
    assert!(
        shown["public_key"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----"),
        "{shown}"
    );
    let (code, _, stderr) = run(
        deployment,
        &["backup", "key", "create", "--config", &config],
    );
    assert_eq!(code, 1, "one backup key per token: {stderr}");
    assert!(stderr.contains("AlreadyExists"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token.kbk");
    let manifest = token_backup(deployment, &file);
    assert_eq!(
        manifest["token_recipient"], shown["fingerprint"],
        "{manifest}"
    );
    assert_eq!(
        manifest["recipients"],
        serde_json::json!([shown["fingerprint"]])
    );

    // Another soft token (another deployment's, with its own backup key) and one without
    // any: no recipient key fits.
    let other = Deployment::init(&Setup::soft()).unwrap();
    let other_config = s(&other.config());
    let other_token = s(&other.data_dir().join("soft-token.kst"));
    let other_passphrase = s(&passphrase_file(&other));
    refused_by_name(
        &other,
        &file,
        &[
            "--soft-token",
            &other_token,
            "--secret-file",
            &other_passphrase,
        ],
    );
    ok(
        &other,
        &["backup", "key", "create", "--config", &other_config],
    );
    refused_by_name(
        &other,
        &file,
        &[
            "--soft-token",
            &other_token,
            "--secret-file",
            &other_passphrase,
        ],
    );

    // Neither --identity nor a token: a usage error naming both ways.
    let (code, _, stderr) = run(
        &other,
        &[
            "backup",
            "restore",
            &s(&file),
            "--data-dir",
            &s(&dir.path().join("none")),
            "--secret-file",
            &other_passphrase,
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--identity") && stderr.contains("--soft-token"),
        "{stderr}"
    );

    // The same token file and passphrase open it, without --identity.
    let target = tempfile::tempdir().unwrap();
    let restored = Deployment::adopt(target, &Setup::soft()).unwrap();
    let token_file = s(&deployment.data_dir().join("soft-token.kst"));
    let passphrase = s(&passphrase_file(deployment));
    let data = s(&restored.data_dir());
    let report = json(&ok(
        &restored,
        &[
            "backup",
            "restore",
            &s(&file),
            "--data-dir",
            &data,
            "--soft-token",
            &token_file,
            "--secret-file",
            &passphrase,
            "--json",
        ],
    ));
    assert!(report["restore_record"].as_u64().unwrap() > 0, "{report}");
    decrypts_after(&server, restored, &ciphertext);

    // The backup key's creation is in the trail.
    let trail = ok(deployment, &["audit", "export", "--config", &config]);
    assert!(
        trail
            .lines()
            .map(json)
            .any(|r| r["operation"] == "create-backup-key" && r["outcome"] == "allowed"),
        "{trail}"
    );

    // No key byte of the soft token, the backup key's scalar included, is in the file.
    let token = SoftToken::open(
        &deployment.data_dir().join("soft-token.kst"),
        &std::fs::read_to_string(passphrase_file(deployment))
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_owned()
            .into(),
    )
    .unwrap();
    let table = token.export_for_backup().unwrap().unwrap();
    let secrets = token_secrets(table.expose());
    assert!(
        secrets
            .iter()
            .any(|(label, _)| label == kastell_core::backup::TOKEN_BACKUP_KEY),
        "the backup key is one of the token's keys"
    );
    assert_no_secret_in(&file, &secrets);
}

#[test]
#[serial]
fn a_softhsm_backup_sealed_to_the_token_key_restores_with_the_same_token_and_not_another() {
    let hsm = SoftHsm::create("kastell-backup-key").unwrap();
    let setup = Setup::softhsm(&hsm).unwrap();
    let server = TestServer::start(&setup).unwrap();
    let (_, ciphertext) = encrypted_before(&server);
    let officer = s(&server.officer());
    // Through the server: one approval by default.
    let created = json(
        &server
            .kastell_ok(&["backup", "key", "create", "--profile", &officer, "--json"])
            .unwrap(),
    );
    assert!(
        created["token"].as_str().unwrap().contains("SoftHSM"),
        "{created}"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hsm.kbk");
    let manifest = token_backup(server.deployment(), &file);
    assert_eq!(manifest["master_key"], "on-token", "{manifest}");
    assert_eq!(
        manifest["token_recipient"], created["fingerprint"],
        "{manifest}"
    );

    // Another SoftHSM2 token, with a backup key of its own: refused by name.
    let other_hsm = SoftHsm::create("kastell-other-token").unwrap();
    let other_setup = Setup::softhsm(&other_hsm).unwrap();
    let other = Deployment::init(&other_setup).unwrap();
    let other_config = s(&other.config());
    ok(
        &other,
        &["backup", "key", "create", "--config", &other_config],
    );
    let other_pin = s(&other_hsm.pin_file().unwrap());
    let other_module = s(&other_hsm.module);
    refused_by_name(
        &other,
        &file,
        &[
            "--pkcs11-module",
            &other_module,
            "--token-label",
            &other_hsm.label,
            "--secret-file",
            &other_pin,
        ],
    );

    // The same token opens it, without --identity.
    let target = tempfile::tempdir().unwrap();
    let restored = Deployment::adopt(target, &setup).unwrap();
    let data = s(&restored.data_dir());
    let pin = s(&hsm.pin_file().unwrap());
    let module = s(&hsm.module);
    ok(
        &restored,
        &[
            "backup",
            "restore",
            &s(&file),
            "--data-dir",
            &data,
            "--pkcs11-module",
            &module,
            "--token-label",
            &hsm.label,
            "--secret-file",
            &pin,
        ],
    );
    decrypts_after(&server, restored, &ciphertext);
}

#[test]
fn the_token_backup_key_made_through_the_server_waits_for_the_export_backup_quorum() {
    let server = TestServer::start_soft().unwrap();
    let officer = s(&server.officer());
    let second = server
        .issue_client("officer-b", "crypto-officer", None)
        .unwrap();
    let user = s(&server.issue_client("user", "crypto-user", None).unwrap());

    // A crypto-user may not make one.
    let out = server
        .kastell(&["backup", "key", "create", "--profile", &user])
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("AccessDenied"));

    // Under a quorum of two, an officer alone makes none: no key, and a backup sealed to
    // it is refused by name.
    let alice = server.client(&server.officer()).unwrap();
    for class in ["issue-officer", "issue-client", "export-backup"] {
        alice
            .put::<Value>(
                &format!("/v1/quorum/{class}"),
                &serde_json::json!({ "required": 2 }),
            )
            .unwrap();
    }
    let pending = json(
        &server
            .kastell_ok(&["backup", "key", "create", "--profile", &officer, "--json"])
            .unwrap(),
    );
    assert_eq!(pending["status"], "pending", "{pending}");
    assert_eq!(pending["operation"]["class"], "export-backup", "{pending}");
    let missing = |profile: &str| {
        let out = server
            .kastell(&["backup", "key", "show", "--profile", profile])
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stderr) = missing(&officer);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("NotFound") && stderr.contains("holds no token backup key"),
        "{stderr}"
    );
    let sealed: Result<Value, _> = alice.post(
        "/v1/backups",
        &serde_json::json!({ "recipients": [], "token_recipient": true }),
    );
    let err = format!("{:?}", sealed.expect_err("no backup key yet"));
    assert!(err.contains("holds no token backup key"), "{err}");
    let local = server.deployment();
    let config = s(&local.config());
    let (code, _, stderr) = run(local, &["backup", "key", "show", "--config", &config]);
    assert_eq!(code, 1, "{stderr}");

    // With the second officer's approval it is made, audited as the requester's.
    let id = pending["operation"]["id"].as_str().unwrap();
    let own = server
        .kastell_ok(&["approve", id, "--profile", &officer])
        .unwrap();
    assert!(own.contains("1 of 2"), "{own}");
    assert_eq!(
        missing(&officer).0,
        Some(1),
        "one officer alone makes no key"
    );
    let approved = server
        .kastell_ok(&["approve", id, "--profile", second.to_str().unwrap()])
        .unwrap();
    assert!(approved.contains("the operation ran"), "{approved}");
    let (code, stderr) = missing(&officer);
    assert_eq!(code, Some(0), "{stderr}");
    let trail = ok(local, &["audit", "export", "--config", &config]);
    assert!(
        trail
            .lines()
            .map(json)
            .any(|r| r["operation"] == "create-backup-key"
                && r["outcome"] == "allowed"
                && r["principal"] == "officer"),
        "{trail}"
    );
}

#[test]
fn scheduled_backups_with_token_recipient_are_sealed_to_the_token_backup_key() {
    let deployment = Deployment::init(&Setup::soft()).unwrap();
    let config = s(&deployment.config());
    let key = json(&ok(
        &deployment,
        &["backup", "key", "create", "--config", &config, "--json"],
    ));
    let dir = tempfile::tempdir().unwrap();
    let scheduled = dir.path().join("scheduled");
    deployment
        .append_config(&format!(
            "\n[backup]\ndir = \"{}\"\nevery_secs = 1\ntoken_recipient = true\n",
            s(&scheduled)
        ))
        .unwrap();
    let mut server = TestServer::serve(deployment).unwrap();
    let started = std::time::Instant::now();
    let file = loop {
        let found = std::fs::read_dir(&scheduled)
            .ok()
            .and_then(|mut entries| entries.find_map(|e| Some(e.ok()?.path())));
        if let Some(file) = found {
            break file;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "no scheduled backup: {}",
            server.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    };
    server.stop().unwrap();
    let manifest = json(&ok(
        server.deployment(),
        &["backup", "verify", &s(&file), "--json"],
    ));
    assert_eq!(
        manifest["token_recipient"], key["fingerprint"],
        "{manifest}"
    );
    assert_eq!(
        manifest["recipients"],
        serde_json::json!([key["fingerprint"]])
    );
}
