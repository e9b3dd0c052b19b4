//! `kastell key …` and `kastell audit …` as an operator runs them, on the built-in soft
//! token and on SoftHSM2 through PKCS#11: outputs, exit codes, cross-checks with openssl,
//! and the audit trail verified, exported and tampered with.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use kastell_tests::{guest_dir, softhsm_config};
use serial_test::serial;

/// A deployment the tests drive through the `kastell` command.
struct Deployment {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Deployment {
    fn soft() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
            env: vec![(
                "KASTELL_SOFT_TOKEN_PASSPHRASE".into(),
                "a long demo passphrase".into(),
            )],
        }
    }

    fn softhsm() -> Self {
        let config = softhsm_config();
        let dir = tempfile::tempdir().expect("tempdir");
        let pin_file = dir.path().join("pin");
        std::fs::write(
            &pin_file,
            format!("{}\n", secrecy::ExposeSecret::expose_secret(&config.pin)),
        )
        .expect("pin file");
        Self {
            env: vec![
                (
                    "KASTELL_PKCS11_MODULE".into(),
                    config.module.display().to_string(),
                ),
                ("KASTELL_TOKEN_LABEL".into(), config.token_label),
                ("KASTELL_SECRET_FILE".into(), pin_file.display().to_string()),
            ],
            dir,
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// Runs `kastell` with `stdin`, only this deployment's environment.
    fn run_with(&self, args: &[&str], stdin: &[u8], with_secrets: bool) -> Output {
        let mut command = kastell_tests::kastell_command();
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KASTELL_DATA_DIR", self.data())
            .env("USER", "alice")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Ok(conf) = std::env::var("SOFTHSM2_CONF") {
            command.env("SOFTHSM2_CONF", conf);
        }
        if with_secrets {
            command.envs(self.env.iter().map(|(k, v)| (k, v)));
        }
        let mut child = command.spawn().expect("kastell runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin)
            .expect("write stdin");
        child.wait_with_output().expect("kastell ends")
    }

    fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        self.run_with(args, stdin, true)
    }

    /// Runs and expects exit 0; returns standard output.
    fn ok(&self, args: &[&str], stdin: &[u8]) -> String {
        let out = self.run(args, stdin);
        assert_eq!(
            out.status.code(),
            Some(0),
            "kastell {args:?}: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// Runs and expects exit `code` with `needle` in standard error.
    fn fails(&self, args: &[&str], stdin: &[u8], code: i32, needle: &str) {
        let out = self.run(args, stdin);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "kastell {args:?}: {stderr}");
        assert!(stderr.contains(needle), "kastell {args:?}: {stderr}");
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn scenario(d: &Deployment, origin: &str) {
    // Create: one key of each spec, JSON description out.
    let aes = json(&d.ok(
        &[
            "key",
            "create",
            "--spec",
            "AES_256",
            "--origin",
            origin,
            "--alias",
            "alias/billing",
            "--tag",
            "team=billing",
            "--description",
            "invoices",
        ],
        b"",
    ));
    assert_eq!(aes["spec"], "AES_256");
    assert_eq!(aes["usage"], "ENCRYPT_DECRYPT");
    assert_eq!(aes["origin"], origin);
    assert_eq!(aes["aliases"][0], "alias/billing");
    assert_eq!(aes["tags"]["team"], "billing");
    let aes_id = aes["id"].as_str().unwrap().to_owned();
    let ec = json(&d.ok(
        &[
            "key",
            "create",
            "--spec",
            "ECC_NIST_P384",
            "--origin",
            origin,
        ],
        b"",
    ));
    let ec_id = ec["id"].as_str().unwrap().to_owned();
    let hmac = json(&d.ok(
        &["key", "create", "--spec", "HMAC_SHA384", "--origin", origin],
        b"",
    ));
    let hmac_id = hmac["id"].as_str().unwrap().to_owned();
    let listed = json(&d.ok(&["key", "list"], b""));
    assert_eq!(listed.as_array().unwrap().len(), 3);

    // Encrypt (base64 out), decrypt (raw out), context bound.
    let ct = d.ok(
        &[
            "key",
            "encrypt",
            "alias/billing",
            "--context",
            "tenant=acme",
        ],
        b"invoice 42",
    );
    let ct_file = d.path("invoice.ct");
    std::fs::write(&ct_file, &ct).unwrap();
    let decrypt_acme = [
        "key",
        "decrypt",
        "--in",
        &ct_file,
        "--context",
        "tenant=acme",
    ];
    let plain = d.ok(&decrypt_acme, b"");
    assert_eq!(plain, "invoice 42");
    d.fails(
        &[
            "key",
            "decrypt",
            "--in",
            &ct_file,
            "--context",
            "tenant=globex",
        ],
        b"",
        1,
        "InvalidCiphertext",
    );
    d.fails(
        &[
            "key",
            "decrypt",
            "--key",
            &ec_id,
            "--in",
            &ct_file,
            "--context",
            "tenant=acme",
        ],
        b"",
        1,
        "IncorrectKey",
    );
    d.fails(&["key", "encrypt", &ec_id], b"x", 1, "InvalidKeyUsage");
    d.fails(&["key", "encrypt", "alias/nope"], b"x", 1, "NotFound");
    let garbage = d.path("garbage.ct");
    std::fs::write(&garbage, "not base64 at all!").unwrap();
    d.fails(
        &["key", "decrypt", "--in", &garbage],
        b"",
        2,
        "neither the raw form nor base64",
    );

    // Sign, export the public key, verify with openssl and with kastell.
    let message = d.path("message.txt");
    std::fs::write(&message, b"pay 100 EUR to Example GmbH").unwrap();
    let sig = d.path("message.sig");
    d.ok(
        &["key", "sign", &ec_id, "--in", &message, "--out", &sig],
        b"",
    );
    let pem = d.path("ec.pem");
    d.ok(&["key", "public-key", &ec_id, "--out", &pem], b"");
    let openssl = Command::new("openssl")
        .args([
            "dgst",
            "-sha384",
            "-verify",
            &pem,
            "-signature",
            &sig,
            &message,
        ])
        .output()
        .expect("openssl runs");
    assert_eq!(
        text(&openssl.stdout).trim(),
        "Verified OK",
        "{}",
        text(&openssl.stderr)
    );
    d.ok(
        &[
            "key",
            "verify",
            &ec_id,
            "--signature",
            &sig,
            "--in",
            &message,
        ],
        b"",
    );
    d.fails(
        &["key", "verify", &ec_id, "--signature", &sig],
        b"pay 1000 EUR to Example GmbH",
        1,
        "does not verify",
    );

    // MAC, verify-mac (base64 MAC file).
    let mac = d.ok(&["key", "mac", &hmac_id], b"ledger line");
    let mac_file = d.path("ledger.mac");
    std::fs::write(&mac_file, &mac).unwrap();
    d.ok(
        &["key", "verify-mac", &hmac_id, "--mac", &mac_file],
        b"ledger line",
    );
    d.fails(
        &["key", "verify-mac", &hmac_id, "--mac", &mac_file],
        b"ledger lime",
        1,
        "does not verify",
    );

    // Data key: the ciphertext decrypts to the plaintext it came with.
    let data_key = json(&d.ok(
        &[
            "key",
            "generate-data-key",
            &aes_id,
            "--context",
            "file=a.bin",
        ],
        b"",
    ));
    let dk_file = d.path("dk.ct");
    std::fs::write(&dk_file, data_key["ciphertext"].as_str().unwrap()).unwrap();
    let dk_plain = d.ok(
        &[
            "key",
            "decrypt",
            "--in",
            &dk_file,
            "--context",
            "file=a.bin",
            "--out",
            &d.path("dk.bin"),
        ],
        b"",
    );
    assert!(dk_plain.is_empty());
    let raw = std::fs::read(d.path("dk.bin")).unwrap();
    assert_eq!(raw.len(), 32);
    let without = json(&d.ok(
        &["key", "generate-data-key", &aes_id, "--without-plaintext"],
        b"",
    ));
    assert!(without.get("plaintext").is_none(), "{without}");

    // Random.
    let random = d.ok(&["key", "random", "48"], b"");
    assert_eq!(random.trim().len(), 64);
    d.fails(&["key", "random", "5000"], b"", 2, "1 to 1024");

    // Rotation and the minimum decryption version.
    let rotated = json(&d.ok(&["key", "rotate", "alias/billing"], b""));
    assert_eq!(rotated["current_version"], 2);
    d.ok(&["key", "set-min-version", "alias/billing", "2"], b"");
    d.fails(&decrypt_acme, b"", 1, "minimum decryption version");
    d.ok(&["key", "set-min-version", "alias/billing", "1"], b"");

    // A policy bound to the key decides per tenant.
    let tenant_policy = guest_dir().join("tenant_context.wasm");
    let measurement = d
        .ok(
            &[
                "policy",
                "add",
                &tenant_policy.display().to_string(),
                "--data-dir",
                &d.data().display().to_string(),
            ],
            b"",
        )
        .trim()
        .to_owned();
    d.ok(
        &["key", "bind-policy", &aes_id, "--policy", &measurement],
        b"",
    );
    assert_eq!(
        d.ok(&[&decrypt_acme[..], &["--tenant", "acme"]].concat(), b""),
        "invoice 42"
    );
    d.fails(
        &[&decrypt_acme[..], &["--tenant", "globex"]].concat(),
        b"",
        1,
        "AccessDenied",
    );
    d.ok(&["key", "bind-policy", &aes_id, "--none"], b"");

    // Administration: enable/disable, deletion window bounds, aliases, tags.
    d.ok(&["key", "disable", &aes_id], b"");
    d.fails(&["key", "encrypt", &aes_id], b"x", 1, "Disabled");
    d.ok(&["key", "enable", &aes_id], b"");
    d.fails(
        &["key", "schedule-deletion", &hmac_id, "--days", "3"],
        b"",
        2,
        "7 to 30 days",
    );
    let pending = json(&d.ok(&["key", "schedule-deletion", &hmac_id, "--days", "7"], b""));
    assert_eq!(pending["state"], "pending-deletion");
    assert!(pending["deletion_date"].is_string());
    d.fails(&["key", "mac", &hmac_id], b"x", 1, "InvalidState");
    let back = json(&d.ok(&["key", "cancel-deletion", &hmac_id], b""));
    assert_eq!(back["state"], "disabled");
    d.ok(&["key", "alias", "alias/sig", &ec_id], b"");
    let shown = json(&d.ok(&["key", "show", "alias/sig"], b""));
    assert_eq!(shown["id"], ec_id.as_str());
    let tagged = json(&d.ok(&["key", "tag", &ec_id, "--tag", "env=prod"], b""));
    assert_eq!(tagged["tags"]["env"], "prod");
    d.fails(
        &["key", "create", "--spec", "AES_512"],
        b"",
        2,
        "unknown key spec `AES_512`: one of AES_256, RSA_2048",
    );

    audit(d);
}

fn audit(d: &Deployment) {
    let verified = d.ok(&["audit", "verify"], b"");
    assert!(verified.starts_with("audit trail intact:"), "{verified}");

    // The auditor verifies offline with the exported public key, without any secret.
    let pem = d.path("audit.pem");
    std::fs::write(&pem, d.ok(&["audit", "public-key"], b"")).unwrap();
    let offline = d.run_with(&["audit", "verify", "--public-key", &pem], b"", false);
    assert_eq!(offline.status.code(), Some(0), "{}", text(&offline.stderr));
    assert!(text(&offline.stdout).contains("signed through"));

    // Export: one JSON object per record, in order, never the context.
    let export = d.ok(&["audit", "export", "--json"], b"");
    let lines: Vec<serde_json::Value> = export.lines().map(json).collect();
    assert!(lines.len() > 30, "{}", lines.len());
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["seq"], i as u64 + 1);
    }
    assert!(lines.iter().any(|l| l["outcome"] == "denied"));
    assert!(lines.iter().all(|l| l["principal"] == "cli:alice"));
    assert!(!export.contains("acme") && !export.contains("a.bin"));

    // Tampering: an edited reason is named by its sequence number.
    let conn = rusqlite::Connection::open(d.data().join("kastell.db")).unwrap();
    conn.execute(
        "UPDATE audit SET reason = 'nothing to see' WHERE seq = 7",
        [],
    )
    .unwrap();
    d.fails(&["audit", "verify"], b"", 1, "broken at record #7");
    let offline = d.run_with(&["audit", "verify", "--public-key", &pem], b"", false);
    assert_eq!(offline.status.code(), Some(1));
}

#[test]
fn key_and_audit_commands_on_the_soft_token() {
    let d = Deployment::soft();
    scenario(&d, "wrapped");
    // The soft token's file is sealed: a wrong passphrase is refused by name.
    let out = kastell_tests::kastell_command()
        .args(["key", "list"])
        .env("KASTELL_DATA_DIR", d.data())
        .env("KASTELL_SOFT_TOKEN_PASSPHRASE", "wrong")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("wrong passphrase"));
    let out = kastell_tests::kastell_command()
        .args(["key", "list"])
        .env_clear()
        .env("KASTELL_DATA_DIR", d.data())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("KASTELL_SOFT_TOKEN_PASSPHRASE"));
}

#[test]
#[serial(softhsm)]
fn key_and_audit_commands_on_softhsm_with_token_resident_keys() {
    let d = Deployment::softhsm();
    scenario(&d, "token");
}

#[test]
fn audit_commands_refuse_a_missing_store_by_name() {
    let empty = tempfile::tempdir().unwrap();
    let missing: &Path = &empty.path().join("nowhere");
    let out = kastell_tests::kastell_command()
        .args(["audit", "export", "--json"])
        .env("KASTELL_DATA_DIR", missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no Kastell store"),
        "{}",
        text(&out.stderr)
    );
    assert!(!missing.exists(), "nothing is created");
}

#[test]
fn a_configuration_file_names_the_deployment_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let passphrase = dir.path().join("passphrase");
    std::fs::write(&passphrase, "config passphrase\n").unwrap();
    let config = dir.path().join("kastell.toml");
    let data = dir.path().join("from-config");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n[token]\nsecret_file = {:?}\n[audit]\ncheckpoint_every = 1\n",
            data.display().to_string(),
            passphrase.display().to_string()
        ),
    )
    .unwrap();
    let kastell = |args: &[&str]| {
        kastell_tests::kastell_command()
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .output()
            .unwrap()
    };
    let config_arg = config.display().to_string();
    let out = kastell(&[
        "key",
        "create",
        "--spec",
        "AES_256",
        "--config",
        &config_arg,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        data.join("kastell.db").is_file(),
        "the file's data_dir is used"
    );
    let verified = kastell(&["audit", "verify", "--config", &config_arg]);
    assert!(
        text(&verified.stdout).contains("signed through #"),
        "{}",
        text(&verified.stdout)
    );

    let other = dir.path().join("from-flag");
    let other_arg = other.display().to_string();
    let out = kastell(&[
        "key",
        "list",
        "--config",
        &config_arg,
        "--data-dir",
        &other_arg,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        other.join("kastell.db").is_file(),
        "--data-dir overrides the file"
    );

    std::fs::write(&config, "data_dri = \"/tmp/x\"\n").unwrap();
    let out = kastell(&["key", "list", "--config", &config_arg]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("data_dri"),
        "{}",
        text(&out.stderr)
    );
    let out = kastell(&["key", "list"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no data directory"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn policy_limits_from_the_configuration_bound_each_evaluation() {
    let mut d = Deployment::soft();
    let config = d.path("kastell.toml");
    std::fs::write(&config, "[policies]\nfuel = 50000\nwall_clock_ms = 100\n").unwrap();
    d.env.push(("KASTELL_CONFIG".into(), config));
    let key = json(&d.ok(&["key", "create", "--spec", "AES_256"], b""));
    let id = key["id"].as_str().unwrap().to_owned();
    let spinning = guest_dir().join("hostile_loop.wasm");
    let measurement = d
        .ok(&["policy", "add", &spinning.display().to_string()], b"")
        .trim()
        .to_owned();
    d.ok(&["key", "bind-policy", &id, "--policy", &measurement], b"");
    d.fails(&["key", "encrypt", &id], b"x", 1, "AccessDenied");
    // The evaluation stopped at the configured fuel, not the default 20,000,000.
    let export = d.ok(&["audit", "export", "--json"], b"");
    let denial = export
        .lines()
        .map(json)
        .find(|record| record["operation"] == "encrypt")
        .expect("the encryption's record");
    assert_eq!(denial["outcome"], "denied");
    assert!(
        denial["reason"]
            .as_str()
            .is_some_and(|r| r.contains("out of fuel (50000 units)")),
        "{denial}"
    );
}
