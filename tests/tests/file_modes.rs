//! A deployment's files as another user of the machine finds them: every file Kastell
//! writes into the data directory is its owner's only (mode 0600), every folder it makes
//! too (0700); and a deployment someone else could change (a data directory, store, soft
//! token or folder of compiled artifacts its group or others may write) is refused by
//! `kastell serve` and every command that opens it, naming the path and its mode.

#![cfg(unix)]
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kastell_core::deployment::{COMPILED_DIR, POLICIES_DIR, SOFT_TOKEN_FILE, STORE_FILE};
use kastell_tests::run_within;
use kastell_tests::server::{Deployment, Setup, TestServer};
use serde_json::json;

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Every file and folder under `dir` (itself included), with its mode.
fn walk(dir: &Path) -> Vec<(PathBuf, bool, u32)> {
    let mut found = vec![(dir.to_path_buf(), true, mode(dir))];
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            let is_dir = std::fs::symlink_metadata(&path).unwrap().is_dir();
            if is_dir {
                pending.push(path.clone());
            }
            found.push((path.clone(), is_dir, mode(&path)));
        }
    }
    found
}

#[test]
fn every_file_and_folder_of_a_served_deployment_is_its_owners_only() {
    let mut server = TestServer::start_soft().expect("server starts");
    let data_dir = server.deployment().data_dir();
    let data_arg = data_dir.display().to_string();
    // What writes into the data directory besides `init`: the command adding a policy, the
    // server compiling it at its next start and another pushed to it (their compiled
    // artifacts cached), rewriting the token file for a token key, a client issued.
    let scratch = tempfile::tempdir().unwrap();
    let guest = |name: &str| {
        let path = scratch.path().join(format!("{name}.wasm"));
        std::fs::write(&path, kastell_tests::guest(name)).unwrap();
        path.display().to_string()
    };
    server
        .kastell_ok(&[
            "policy",
            "add",
            &guest("allow-measured"),
            "--data-dir",
            &data_arg,
        ])
        .expect("policy added on the data directory");
    server.restart().expect("the server restarts");
    let officer = server.officer().display().to_string();
    server
        .kastell_ok(&[
            "policy",
            "push",
            &guest("tenant-context"),
            "--profile",
            &officer,
        ])
        .expect("policy pushed to the server");
    let client = server.client(&server.officer()).unwrap();
    let _: serde_json::Value = client
        .post("/v1/keys", &json!({ "spec": "AES_256", "origin": "token" }))
        .expect("token key");
    server.issue_client("svc", "crypto-user", None).unwrap();
    server.stop().expect("the server stops");

    let found = walk(&data_dir);
    let wrong: Vec<String> = found
        .iter()
        .filter(|(_, is_dir, mode)| *mode != if *is_dir { 0o700 } else { 0o600 })
        .map(|(path, _, mode)| format!("{} {mode:04o}", path.display()))
        .collect();
    assert!(wrong.is_empty(), "not the owner's only: {wrong:#?}");

    // Among them, each kind of file the issue named.
    let has = |dir: &str, suffix: &str| {
        found.iter().any(|(path, is_dir, _)| {
            !is_dir
                && path.parent() == Some(&data_dir.join(dir))
                && path.to_string_lossy().ends_with(suffix)
        })
    };
    for name in [
        STORE_FILE,
        SOFT_TOKEN_FILE,
        "soft-token.kst.lock",
        "soft-token.secret",
        "kastell.toml",
    ] {
        assert!(has("", name), "{name} missing");
    }
    assert!(has("ca", "root.pem"), "ca/root.pem missing");
    assert!(has("clients/officer", "key.pem"), "officer key missing");
    assert!(has("clients/svc", "key.pem"), "client key missing");
    let artifacts = found
        .iter()
        .filter(|(path, _, _)| path.extension().is_some_and(|e| e == "cwasm"))
        .count();
    assert_eq!(artifacts, 2, "two compiled artifacts: {found:#?}");
    assert!(has(POLICIES_DIR, ".wasm"), "stored policy missing");
    eprintln!("{} files and folders checked", found.len());
}

#[test]
fn a_deployment_others_can_write_is_refused_naming_the_path_and_its_mode() {
    let deployment = Deployment::init(&Setup::soft()).expect("init");
    let data_dir = deployment.data_dir();
    let data_arg = data_dir.display().to_string();
    let config = deployment.config().display().to_string();
    let scratch = tempfile::tempdir().unwrap();
    let cases = [
        ("data directory", data_dir.clone(), 0o777, 0o700),
        ("data directory", data_dir.clone(), 0o775, 0o700),
        ("soft token", data_dir.join(SOFT_TOKEN_FILE), 0o620, 0o600),
        ("store", data_dir.join(STORE_FILE), 0o666, 0o600),
        (
            "compiled artifacts folder",
            data_dir.join(COMPILED_DIR),
            0o777,
            0o700,
        ),
    ];
    // Refused before anything is read: the component is not even a component.
    let component = scratch.path().join("component.wasm");
    std::fs::write(&component, b"not wasm").unwrap();
    let component = component.display().to_string();
    let commands: [&[&str]; 5] = [
        &["serve", "--config", &config, "--listen", "127.0.0.1:0"],
        &["key", "list", "--config", &config],
        &["key", "create", "--spec", "AES_256", "--config", &config],
        &["audit", "export", "--data-dir", &data_arg],
        &["policy", "add", &component, "--data-dir", &data_arg],
    ];
    for (what, path, exposed, private) in cases {
        chmod(&path, exposed);
        for args in commands {
            let mut command = deployment.command();
            command.args(args);
            let (status, stderr) = run_within(command, scratch.path(), Duration::from_secs(60));
            let status =
                status.unwrap_or_else(|| panic!("kastell {args:?} ran on {what} {exposed:o}"));
            assert_eq!(status.code(), Some(3), "kastell {args:?}: {stderr}");
            let named = format!(
                "InsecurePermissions: {what} {} is writable by its group or by others \
                 (mode {exposed:04o})",
                path.display()
            );
            assert!(stderr.contains(&named), "kastell {args:?}: {stderr}");
        }
        chmod(&path, private);
    }
    // `init` into a folder made beforehand that others may write: refused, nothing written.
    let made = scratch.path().join("made-by-hand");
    std::fs::create_dir(&made).unwrap();
    chmod(&made, 0o775);
    let mut command = deployment.command();
    command.args([
        "init",
        "--org",
        "Example GmbH",
        "--country",
        "DE",
        "--data-dir",
    ]);
    command.arg(&made);
    let (status, stderr) = run_within(command, scratch.path(), Duration::from_secs(60));
    assert_eq!(status.and_then(|s| s.code()), Some(3), "{stderr}");
    let named = format!(
        "InsecurePermissions: data directory {} is writable by its group or by others \
         (mode 0775)",
        made.display()
    );
    assert!(stderr.contains(&named), "{stderr}");
    assert_eq!(
        std::fs::read_dir(&made).unwrap().count(),
        0,
        "init wrote into it"
    );

    // Nothing was created by the refused commands, and the deployment serves once private.
    let mut server = TestServer::serve(deployment).expect("serves once private again");
    let client = server.client(&server.officer()).unwrap();
    let keys: serde_json::Value = client.get("/v1/keys").unwrap();
    assert_eq!(keys["keys"], json!([]), "{keys}");
    server.stop().unwrap();
}
