//! `kastell init` and `kastell ca issue-client` as an operator runs them: a new deployment
//! on the built-in soft token (and on SoftHSM2 through PKCS#11), its files checked with
//! openssl and read back by the library, refusals that leave nothing behind.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kastell_attest::identity::{ClientIdentity, client_identity};
use kastell_attest::x509::parse_certificates;
use kastell_core::clients::ClientProfile;
use kastell_core::config::Config;
use kastell_tests::softhsm_config;
use serial_test::serial;

/// Runs `kastell` with only `env` (and PATH) in its environment.
fn kastell(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = kastell_tests::kastell_command();
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    if let Ok(conf) = std::env::var("SOFTHSM2_CONF") {
        command.env("SOFTHSM2_CONF", conf);
    }
    command
        .envs(env.iter().copied())
        .output()
        .expect("kastell runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs and expects exit 0; returns standard output.
fn ok(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = kastell(args, env);
    assert_eq!(
        out.status.code(),
        Some(0),
        "kastell {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Runs and expects exit `code`; returns standard error.
fn fails(args: &[&str], env: &[(&str, &str)], code: i32) -> String {
    let out = kastell(args, env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "kastell {args:?}: {stderr}");
    stderr
}

fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl").args(args).output().unwrap();
    (
        out.status.success(),
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

fn identity(cert_path: &Path) -> ClientIdentity {
    let cert = parse_certificates(&std::fs::read(cert_path).unwrap())
        .unwrap()
        .remove(0);
    client_identity(&cert).unwrap()
}

/// Checks an officer profile folder: the certificate chains to `root` for openssl, names
/// `role`, the key is private.
fn check_client(folder: &Path, root: &Path, role: &str) -> ClientProfile {
    let profile = ClientProfile::load(&folder.join("profile.toml")).unwrap();
    assert_eq!(profile.certificate, folder.join("cert.pem"));
    assert_eq!(
        std::fs::read(&profile.ca).unwrap(),
        std::fs::read(root).unwrap()
    );
    let cert = profile.certificate.display().to_string();
    let (verified, output) = openssl(&["verify", "-CAfile", &root.display().to_string(), &cert]);
    assert!(verified, "{output}");
    let (_, shown) = openssl(&["x509", "-in", &cert, "-noout", "-text"]);
    assert!(
        shown.contains(&format!("urn:kastell:role:{role}")),
        "{shown}"
    );
    assert!(shown.contains("TLS Web Client Authentication"), "{shown}");
    #[cfg(unix)]
    assert_eq!(mode(&profile.key), 0o600, "key.pem");
    profile
}

#[test]
fn init_on_the_soft_token_creates_a_deployment_and_refuses_a_second() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("kastell");
    let data_arg = data.display().to_string();
    let init = [
        "init",
        "--org",
        "Example GmbH",
        "--country",
        "DE",
        "--data-dir",
        &data_arg,
    ];
    let out = ok(&init, &[]);

    let config_path = data.join("kastell.toml");
    let officer = data.join("clients/officer");
    for file in [
        config_path.clone(),
        data.join("ca/root.pem"),
        data.join("ca/host-ca.pem"),
        data.join("kastell.db"),
        data.join("soft-token.kst"),
        data.join("soft-token.secret"),
        officer.join("key.pem"),
        officer.join("cert.pem"),
        officer.join("root.pem"),
        officer.join("profile.toml"),
    ] {
        assert!(file.is_file(), "{} missing", file.display());
        if file.extension().is_some_and(|e| e == "toml" || e == "pem") {
            assert!(out.contains(&file.display().to_string()) || file.starts_with(&officer));
        }
    }
    assert!(
        out.contains(&format!("kastell serve --config {}", config_path.display())),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "--profile {}",
            officer.join("profile.toml").display()
        )),
        "{out}"
    );
    assert!(
        out.contains("PKCS#11"),
        "the generated secret is flagged: {out}"
    );
    #[cfg(unix)]
    assert_eq!(mode(&data.join("soft-token.secret")), 0o600);

    // The configuration names the deployment and the generated secret.
    let config = Config::load(&config_path).unwrap();
    assert_eq!(config.data_dir.as_deref(), Some(data.as_path()));
    assert_eq!(
        config.token.secret_file.as_deref(),
        Some(data.join("soft-token.secret").as_path())
    );
    assert_eq!(config.token.pkcs11_module, None);
    assert_eq!(config.server.listen.as_deref(), Some("127.0.0.1:8443"));

    // The officer's certificate, for openssl and for the library.
    let root = data.join("ca/root.pem");
    let profile = check_client(&officer, &root, "crypto-officer");
    assert_eq!(profile.server, "https://127.0.0.1:8443");
    assert_eq!(
        identity(&profile.certificate),
        ClientIdentity {
            principal: "officer".into(),
            role: "crypto-officer".into(),
            tenant: None,
        }
    );
    let (verified, output) = openssl(&[
        "verify",
        "-CAfile",
        &root.display().to_string(),
        &data.join("ca/host-ca.pem").display().to_string(),
    ]);
    assert!(verified, "host CA: {output}");

    // The configuration alone opens the deployment (the secret comes from its file).
    let config_arg = config_path.display().to_string();
    let keys = ok(&["key", "list", "--config", &config_arg], &[]);
    assert_eq!(keys.trim(), "[]", "{keys}");

    // A second init changes nothing.
    let before = snapshot(&data);
    let stderr = fails(&init, &[], 1);
    assert!(
        stderr.contains("already holds a Kastell deployment"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(snapshot(&data) == before, "a refused init changed files");
}

#[test]
fn refused_names_leave_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("kastell");
    let data_arg = data.display().to_string();
    let stderr = fails(
        &[
            "init",
            "--org",
            "Example Inc",
            "--country",
            "US",
            "--data-dir",
            &data_arg,
        ],
        &[],
        1,
    );
    assert!(stderr.contains("US"), "{stderr}");
    assert!(stderr.contains("not an EU or EEA member state"), "{stderr}");
    assert!(!data.join("kastell.toml").exists());
    assert!(
        !data.exists(),
        "nothing is created before the names are checked"
    );

    let stderr = fails(
        &[
            "init",
            "--org",
            "Example GmbH",
            "--country",
            "DE",
            "--officer",
            "Erika Mustermann",
            "--data-dir",
            &data_arg,
        ],
        &[],
        1,
    );
    assert!(stderr.contains("principal"), "{stderr}");
    assert!(!data.exists());

    let stderr = fails(
        &[
            "init",
            "--org",
            "Example GmbH",
            "--country",
            "DE",
            "--listen",
            "everywhere",
            "--data-dir",
            &data_arg,
        ],
        &[],
        2,
    );
    assert!(stderr.contains("--listen"), "{stderr}");
    assert!(!data.exists());
}

#[test]
fn init_with_a_passphrase_from_the_environment_prints_json_and_issues_clients() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("kastell");
    let data_arg = data.display().to_string();
    let env = [("KASTELL_SOFT_TOKEN_PASSPHRASE", "a long demo passphrase")];
    let out = ok(
        &[
            "init",
            "--org",
            "Example GmbH",
            "--country",
            "FR",
            "--officer",
            "alice",
            "--listen",
            "0.0.0.0:9443",
            "--host-name",
            "Kastell host par-1",
            "--json",
            "--data-dir",
            &data_arg,
        ],
        &env,
    );
    let created: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let path = |field: &str| PathBuf::from(created[field].as_str().unwrap());
    assert_eq!(path("data_dir"), data);
    assert_eq!(path("root_certificate"), data.join("ca/root.pem"));
    assert_eq!(path("host_ca"), data.join("ca/host-ca.pem"));
    assert_eq!(path("config"), data.join("kastell.toml"));
    assert_eq!(
        path("officer_profile"),
        data.join("clients/alice/profile.toml")
    );
    assert_eq!(created["server"], "https://127.0.0.1:9443");
    assert_eq!(created["secret_file"], serde_json::Value::Null);
    assert!(!data.join("soft-token.secret").exists());
    let config = Config::load(&data.join("kastell.toml")).unwrap();
    assert_eq!(config.token, kastell_core::config::TokenConfig::default());
    assert_eq!(config.server.listen.as_deref(), Some("0.0.0.0:9443"));
    let (_, host_ca) = openssl(&[
        "x509",
        "-in",
        &data.join("ca/host-ca.pem").display().to_string(),
        "-noout",
        "-subject",
    ]);
    assert!(host_ca.contains("Kastell host par-1"), "{host_ca}");

    // An auditor of tenant acme, issued offline with the root key.
    let config_arg = data.join("kastell.toml").display().to_string();
    let folder = tmp.path().join("erika");
    let folder_arg = folder.display().to_string();
    let issue = [
        "ca",
        "issue-client",
        "--principal",
        "erika",
        "--role",
        "auditor",
        "--tenant",
        "acme",
        "--out-dir",
        &folder_arg,
        "--config",
        &config_arg,
    ];
    let out = ok(&issue, &env);
    assert!(out.contains("erika"), "{out}");
    let profile = check_client(&folder, &data.join("ca/root.pem"), "auditor");
    assert_eq!(
        profile.server, "https://127.0.0.1:9443",
        "from the listen address"
    );
    assert_eq!(
        identity(&profile.certificate),
        ClientIdentity {
            principal: "erika".into(),
            role: "auditor".into(),
            tenant: Some("acme".into()),
        }
    );

    // Not over an existing profile; not for an unknown role.
    let before = snapshot(&folder);
    let stderr = fails(&issue, &env, 1);
    assert!(stderr.contains("already holds"), "{stderr}");
    assert!(snapshot(&folder) == before);
    let stderr = fails(
        &[
            "ca",
            "issue-client",
            "--principal",
            "mallory",
            "--role",
            "admin",
            "--out-dir",
            &tmp.path().join("mallory").display().to_string(),
            "--config",
            &config_arg,
        ],
        &env,
        2,
    );
    for role in ["crypto-officer", "crypto-user", "auditor"] {
        assert!(stderr.contains(role), "{stderr}");
    }
    assert!(!tmp.path().join("mallory").exists());
}

#[test]
#[serial(softhsm)]
fn init_on_softhsm_keeps_the_ca_keys_on_the_token() {
    let token = softhsm_config();
    // The shared test token may hold a root from an earlier run; a deployment has one.
    let remove_root = || {
        let opened = kastell_core::token::Pkcs11Token::open(&token).unwrap();
        let opened: &dyn kastell_core::token::Token = &opened;
        if opened.contains(kastell_core::ca::ROOT_KEY).unwrap() {
            opened.destroy(kastell_core::ca::ROOT_KEY).unwrap();
        }
    };
    remove_root();
    let tmp = tempfile::tempdir().unwrap();
    let pin = tmp.path().join("pin");
    std::fs::write(&pin, secrecy::ExposeSecret::expose_secret(&token.pin)).unwrap();
    let data = tmp.path().join("kastell");
    let module = token.module.display().to_string();
    let out = ok(
        &[
            "init",
            "--org",
            "Example GmbH",
            "--country",
            "AT",
            "--data-dir",
            &data.display().to_string(),
            "--pkcs11-module",
            &module,
            "--token-label",
            &token.token_label,
            "--secret-file",
            &pin.display().to_string(),
        ],
        &[],
    );
    assert!(out.contains("PKCS#11 token"), "{out}");
    assert!(!data.join("soft-token.kst").exists());
    assert!(!data.join("soft-token.secret").exists());
    let config = Config::load(&data.join("kastell.toml")).unwrap();
    assert_eq!(config.token.pkcs11_module, Some(token.module.clone()));
    assert_eq!(
        config.token.label.as_deref(),
        Some(token.token_label.as_str())
    );
    assert_eq!(config.token.secret_file.as_deref(), Some(pin.as_path()));
    check_client(
        &data.join("clients/officer"),
        &data.join("ca/root.pem"),
        "crypto-officer",
    );
    remove_root();
}
