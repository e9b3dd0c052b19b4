//! The demo's attested key release, with Kastell's workload runtime as the enclave
//! stand-in: the `record-vault` workload attests an ephemeral key, the key service
//! releases the records key sealed to it under the `allow-measured` policy, the workload
//! decrypts records the application encrypted through the ordinary API; a modified build
//! of the same workload is refused, and the audit trail names the guest of each release.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kastell_proto::api::{KeyDescription, RecordJson, ReleaseResponse};

use super::super::CliError;
use super::evidence;
use super::runner::{Demo, stopped};
use super::vault::{Attested, Decrypted, Record, Step, json_text, parse};

/// The records the application encrypts and the workload decrypts: (plaintext, context).
const RECORDS: [(&str, [(&str, &str); 2]); 2] = [
    (
        "record 1: alice, blood type A+",
        [("table", "patients"), ("record", "1")],
    ),
    (
        "record 2: bob, blood type 0-",
        [("table", "patients"), ("record", "2")],
    ),
];
const STATE_KEY: &str = "alias/vault-state";
const RECORDS_KEY: &str = "alias/vault-records";

/// The components the flow uses (built by `scripts/build-guests`).
pub(super) struct Components {
    /// The `allow-measured` policy.
    pub policy: PathBuf,
    /// The `record-vault` workload.
    pub workload: PathBuf,
    /// Its modified build (another SHA-384).
    pub modified: PathBuf,
}

/// The deployment the flow runs on.
pub(super) struct Parties<'a> {
    /// The demo's directory, where the evidence and requests are saved.
    pub dir: &'a Path,
    /// The deployment's root certificate (PEM).
    pub root: &'a str,
    /// The crypto officer's profile.
    pub officer: &'a str,
    /// The application's profile (a crypto-user).
    pub app: &'a str,
    /// The auditor's profile.
    pub auditor: &'a str,
}

/// The trimmed output of a command that prints a `sha384:…` measurement.
fn measurement(output: &str, what: &str) -> Result<String, CliError> {
    let text = output.trim();
    match text.strip_prefix("sha384:") {
        Some(hex) if hex.len() == 96 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(text.to_owned())
        }
        _ => Err(stopped(format_args!(
            "{what} printed no measurement: {text}"
        ))),
    }
}

fn text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Writes a workload request to `DIR/NAME`, saying so; its path.
fn request(dir: &Path, name: &str, body: &str, about: &str) -> Result<String, CliError> {
    let path = dir.join(name);
    std::fs::write(&path, body)
        .map_err(|e| CliError::internal(format!("cannot write {}: {e}", path.display())))?;
    println!("# {}: {about}", path.display());
    Ok(text(&path))
}

/// A release challenge for the records key: its nonce (base64).
fn challenge(demo: &Demo, app: &str) -> Result<String, CliError> {
    let nonce = demo.must(
        &["release", "challenge", RECORDS_KEY, "--profile", app],
        None,
    )?;
    let nonce = nonce.trim().to_owned();
    match BASE64.decode(&nonce) {
        Ok(bytes) if !bytes.is_empty() => Ok(nonce),
        _ => Err(stopped(format_args!(
            "the challenge is not a base64 nonce: {nonce}"
        ))),
    }
}

/// Runs `workload`'s attest step with `nonce` and saves its evidence as `DIR/NAME.*`.
fn attest(
    demo: &Demo,
    parties: &Parties<'_>,
    workload: &str,
    nonce: &str,
    name: &str,
) -> Result<(Attested, evidence::Evidence), CliError> {
    let body = json_text(&Step::Attest {
        nonce,
        state_key: STATE_KEY,
    })?;
    let input = request(parties.dir, &format!("{name}-request.json"), &body, &body)?;
    let output = text(&parties.dir.join(format!("{name}-output.json")));
    demo.must(
        &[
            "workload",
            "invoke",
            workload,
            "--input",
            &input,
            "--output",
            &output,
            "--profile",
            parties.app,
        ],
        None,
    )?;
    let raw = std::fs::read_to_string(&output)
        .map_err(|e| CliError::internal(format!("cannot read {output}: {e}")))?;
    let answer: Attested = parse(&raw, "the attest step's output")?;
    let files = evidence::save(parties.dir, name, &answer)?;
    Ok((answer, files))
}

/// `release key` for the records key with the attestation certificate of `files`.
fn release_args<'a>(files: &'a evidence::Evidence, nonce: &'a str, app: &'a str) -> [&'a str; 11] {
    [
        "release",
        "key",
        RECORDS_KEY,
        "--nonce",
        nonce,
        "--certificate",
        &files.certificate,
        "--chain",
        &files.chain,
        "--profile",
        app,
    ]
}

/// Runs the attested flow.
pub(super) fn run(
    demo: &mut Demo,
    parties: &Parties<'_>,
    components: &Components,
) -> Result<(), CliError> {
    let (officer, app) = (parties.officer, parties.app);

    demo.say(
        "Attested release: the officer pushes allow-measured and the record-vault workload \
         (stored under its SHA-384)",
    );
    let policy = text(&components.policy);
    let policy = measurement(
        &demo.must(&["policy", "push", &policy, "--profile", officer], None)?,
        "policy push",
    )?;
    let workload = text(&components.workload);
    let workload = measurement(
        &demo.must(&["workload", "push", &workload, "--profile", officer], None)?,
        "workload push",
    )?;
    println!("  record-vault's measurement: {workload}");

    demo.say(
        "…a state key the workload seals its ephemeral key with (never released) and a \
         releasable records key, both for that hash only",
    );
    let allowed = format!("allowed-guests={workload}");
    for (alias, releasable) in [(STATE_KEY, false), (RECORDS_KEY, true)] {
        let mut args = vec![
            "key", "create", "--spec", "AES_256", "--alias", alias, "--policy", &policy, "--tag",
            &allowed,
        ];
        if releasable {
            args.push("--releasable");
        }
        args.extend(["--profile", officer]);
        let answer = demo.must(&args, None)?;
        let created: KeyDescription = parse(&answer, "key create's answer")?;
        if created.releasable != releasable || created.policy.as_deref() != Some(policy.as_str()) {
            return Err(stopped(format_args!(
                "{alias} was not created as asked: {}",
                answer.trim()
            )));
        }
    }

    demo.say("The application encrypts two records under the records key through the ordinary API");
    let mut records = Vec::new();
    for (plaintext, context) in RECORDS {
        let mut args = vec!["key", "encrypt", RECORDS_KEY];
        let pairs: Vec<String> = context.iter().map(|(n, v)| format!("{n}={v}")).collect();
        for pair in &pairs {
            args.extend(["--context", pair]);
        }
        args.extend(["--profile", app]);
        let ciphertext = demo.must(&args, Some(plaintext.as_bytes()))?;
        records.push(Record {
            ciphertext: ciphertext.trim().to_owned(),
            context: context
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        });
    }

    demo.say(
        "The application asks for a release challenge; the workload attests a fresh key pair \
         with that nonce",
    );
    let nonce = challenge(demo, app)?;
    let (attested, files) = attest(demo, parties, &workload, &nonce, "attestation")?;

    demo.say(
        "Anyone can check that evidence offline against the deployment's root, expecting \
         this nonce and the workload's hash",
    );
    evidence::verify(demo, &files, parties.root, &nonce, &workload)?;

    demo.say("The application asks for the release with the certificate: the key comes sealed (HPKE) to the attested key");
    let answer = demo.must(&release_args(&files, &nonce, app), None)?;
    let release: ReleaseResponse = parse(&answer, "the release")?;
    if release.guest_sha384 != workload {
        return Err(stopped(format_args!(
            "the release is not bound to {workload}: {}",
            answer.trim()
        )));
    }

    demo.say("The workload opens the release and decrypts the records; the key never leaves it");
    let body = json_text(&Step::Decrypt {
        state_key: STATE_KEY,
        sealed_state: &attested.sealed_state,
        nonce: &nonce,
        release: &release,
        records: &records,
    })?;
    let input = request(
        parties.dir,
        "decrypt-request.json",
        &body,
        "the release as it came, the sealed state and the two ciphertexts with their contexts",
    )?;
    let output = demo.must(
        &[
            "workload",
            "invoke",
            &workload,
            "--input",
            &input,
            "--profile",
            app,
        ],
        None,
    )?;
    check_plaintexts(&parse(&output, "the decrypt step's output")?)?;

    modified_build(demo, parties, components, &workload)?;
    audit(demo, parties.auditor, &workload)
}

/// Prints the decrypted records and checks they are those encrypted.
fn check_plaintexts(output: &Decrypted) -> Result<(), CliError> {
    let got: Vec<String> = output
        .records
        .iter()
        .map(|r| {
            r.plaintext
                .as_deref()
                .and_then(|b64| BASE64.decode(b64).ok())
                .map_or_else(
                    || format!("(not decrypted: {})", json_text(r).unwrap_or_default()),
                    |bytes| String::from_utf8_lossy(&bytes).into_owned(),
                )
        })
        .collect();
    for plaintext in &got {
        println!("  decrypted: {plaintext}");
    }
    let expected: Vec<&str> = RECORDS.iter().map(|(plaintext, _)| *plaintext).collect();
    if got != expected || output.variant != "original" {
        return Err(stopped(format_args!(
            "the workload decrypted {got:?}, not the records encrypted ({expected:?})"
        )));
    }
    Ok(())
}

/// The modified build attests just as well, but its hash is not on the key's list.
fn modified_build(
    demo: &mut Demo,
    parties: &Parties<'_>,
    components: &Components,
    original: &str,
) -> Result<(), CliError> {
    demo.say(
        "A modified build of the same workload has another SHA-384: its key release is refused",
    );
    let path = text(&components.modified);
    let modified = measurement(
        &demo.must(
            &["workload", "push", &path, "--profile", parties.officer],
            None,
        )?,
        "workload push",
    )?;
    println!("  original: {original}\n  modified: {modified}");
    if modified == original {
        return Err(stopped(
            "the modified build has the original's measurement: rebuild with scripts/build-guests",
        ));
    }
    let nonce = challenge(demo, parties.app)?;
    let (_, files) = attest(demo, parties, &modified, &nonce, "attestation-modified")?;
    demo.refused(
        &release_args(&files, &nonce, parties.app),
        None,
        Some("AccessDenied"),
    )?;
    println!(
        "  (refused: the attestation is valid, but for a guest not in the key's \
         allowed-guests; the reason is in the audit trail)"
    );
    Ok(())
}

/// The audit trail's release records, with the guest each named.
fn audit(demo: &mut Demo, auditor: &str, workload: &str) -> Result<(), CliError> {
    demo.say("The audit trail records every release with the attested guest's hash");
    let export = demo.audit_export(auditor, "the release records")?;
    let mut releases = Vec::new();
    for line in export.lines() {
        let record: RecordJson = parse(line, "an audit record")?;
        if record.operation == "release" {
            let guest = record.guest.as_deref().unwrap_or("-");
            println!(
                "  #{} release {} by {}: outcome {}, guest {guest}{}",
                record.seq,
                record.key.as_deref().unwrap_or("-"),
                record.principal,
                record.outcome,
                match record.reason.as_str() {
                    "" | "-" => String::new(),
                    reason => format!(", reason: {reason}"),
                }
            );
            releases.push((record.outcome.clone(), guest.to_owned()));
        }
    }
    match releases.as_slice() {
        [(allowed, first), (denied, second)]
            if allowed == "allowed"
                && first == workload
                && denied == "denied"
                && second != workload => {}
        _ => {
            return Err(stopped(
                "the audit trail does not show the release to record-vault and the refusal \
                 of its modified build",
            ));
        }
    }
    demo.must(&["audit", "verify", "--profile", auditor], None)?;
    Ok(())
}
