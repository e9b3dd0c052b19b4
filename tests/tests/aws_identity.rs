//! Identity on the AWS endpoint (issue 18), as attacks through the real listener: SigV4 in
//! both forms (the `Authorization` header and presigned query strings) refused by AWS's
//! names when forged, expired, tampered with, scoped to another service or region, or
//! signed with an unknown, revoked or wrong key, each refusal counted in the audit trail
//! without an fsync per request; STS `GetCallerIdentity` through boto3 and the AWS CLI;
//! access keys issued through the server under the same quorum as client certificates,
//! their secret sealed to the requester's key; and separation of duties on the AWS API,
//! relaxed only by `[aws] separation_of_duties = false`, which the audit trail records.
//! Real clients: boto3, botocore's signers and the AWS CLI from the virtualenv
//! `scripts/aws-env` makes (`KASTELL_TEST_AWS_VENV`), driven by `tests/aws/identity.py`;
//! raw HTTPS for what no AWS client sends.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use kastell::client::Client;
use kastell_tests::aws::{self, ACCOUNT, REGION, venv};
use kastell_tests::server::{Deployment, Setup, TestServer};
use kastell_tests::text;
use serde_json::{Value, json};

/// A deployment serving the AWS endpoint, repeated refusals summed up every second, and
/// `aws_extra` lines in its `[aws]` table.
fn serve(aws_extra: &str) -> TestServer {
    let deployment = Deployment::init(&Setup::soft()).unwrap();
    // `init` ends the file with its [server] table: the first line lands in it.
    deployment
        .append_config("refusal_summary_secs = 1\n")
        .unwrap();
    aws::enable(&deployment, aws_extra).unwrap();
    TestServer::serve(deployment).unwrap()
}

fn profile_arg(path: &Path) -> String {
    path.display().to_string()
}

/// `kastell access-key create` through the server with `profile`, `roles` repeated.
fn create(server: &TestServer, profile: &Path, principal: &str, roles: &[&str]) -> Output {
    let profile = profile_arg(profile);
    let mut args = vec!["access-key", "create", "--principal", principal];
    for role in roles {
        args.extend(["--role", role]);
    }
    args.extend(["--profile", &profile]);
    server.kastell(&args).unwrap()
}

/// The printed `{"access_key_id", "secret_access_key", "arn"}` of a successful command.
fn access_key(out: &Output) -> (String, String) {
    assert!(out.status.success(), "{}", text(&out.stderr));
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = created["access_key_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("KSTL") && id.len() == 20, "{id}");
    (
        id,
        created["secret_access_key"].as_str().unwrap().to_owned(),
    )
}

fn python(
    server: &TestServer,
    key: &(String, String),
    scenario: &str,
    extra: &[(&str, &str)],
) -> Value {
    let home = server.deployment().data_dir().display().to_string();
    let mut env = vec![("HOME", home.as_str())];
    env.extend_from_slice(extra);
    aws::boto3(server, "identity.py", &[scenario], key, &env)
}

fn audit(auditor: &Client) -> Vec<Value> {
    let page: Value = auditor.get("/v1/audit?limit=1000").unwrap();
    page["records"].as_array().unwrap().clone()
}

/// How many refusals a record stands for: a summary says "refused N more times".
fn refusals_in(record: &Value) -> u64 {
    record["reason"]
        .as_str()
        .unwrap()
        .split("; refused ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .map_or(1, |n| n.parse().unwrap())
}

/// Asserts `got` is `[status, name, message…]` with that status and name.
fn refused_as(got: &Value, status: u64, name: &str, what: &str) {
    assert_eq!(got[0], status, "{what}: {got}");
    assert_eq!(got[1], name, "{what}: {got}");
}

/// Every way a signature can be wrong, in both forms, with real AWS signers where one
/// makes the request and raw HTTPS where none would: each refused by AWS's name, the
/// honest requests answered, and the refusals in the audit trail, repeated ones summed up.
#[test]
fn forged_expired_and_tampered_signatures_are_refused_by_aws_names_and_audited() {
    let server = serve("");
    let officer = server.officer();
    let auditor = server.new_client("auditor", "auditor", None).unwrap();
    let user = access_key(&create(&server, &officer, "app", &["crypto-user"]));

    // STS through boto3 and the AWS CLI: who the access key is.
    let me = python(&server, &user, "whoami", &[]);
    let arn = format!("arn:aws:iam::{ACCOUNT}:user/app");
    assert_eq!(me, json!({"Arn": arn, "UserId": "app", "Account": ACCOUNT}));
    let cli = Command::new(venv().join("bin/aws"))
        .args(["sts", "get-caller-identity", "--output", "json"])
        .args(["--endpoint-url", &server.aws_url().unwrap()])
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", &user.0)
        .env("AWS_SECRET_ACCESS_KEY", &user.1)
        .env("AWS_CA_BUNDLE", server.deployment().root_certificate())
        .env("HOME", server.deployment().data_dir())
        .output()
        .unwrap();
    assert!(cli.status.success(), "{}", text(&cli.stderr));
    let identity: Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(identity["Arn"], arn);
    assert_eq!(identity["Account"], ACCOUNT);

    // Presigned: accepted as boto3 and botocore make them; refused tampered or expired.
    let pre = python(&server, &user, "presigned", &[]);
    assert_eq!(pre["sts"], json!([200, arn]), "{pre}");
    assert_eq!(pre["kms"][0], 200, "{pre}");
    refused_as(
        &pre["sts_tampered"],
        403,
        "SignatureDoesNotMatch",
        "X-Amz-Expires changed",
    );
    refused_as(
        &pre["sts_stale"],
        403,
        "SignatureDoesNotMatch",
        "signed 20 minutes ago",
    );
    assert!(
        pre["sts_stale"][2]
            .as_str()
            .unwrap()
            .starts_with("Signature expired"),
        "{pre}"
    );
    refused_as(
        &pre["sts_expired"],
        403,
        "SignatureDoesNotMatch",
        "past X-Amz-Expires",
    );
    assert!(
        pre["sts_expired"][2]
            .as_str()
            .unwrap()
            .starts_with("Signature expired"),
        "{pre}"
    );
    refused_as(
        &pre["kms_tampered_body"],
        400,
        "InvalidSignatureException",
        "body changed",
    );
    refused_as(
        &pre["kms_unsigned_target"],
        400,
        "IncompleteSignatureException",
        "operation not signed",
    );
    refused_as(
        &pre["kms_expired"],
        400,
        "InvalidSignatureException",
        "past X-Amz-Expires",
    );
    assert!(
        pre["kms_expired"][2]
            .as_str()
            .unwrap()
            .starts_with("Signature expired"),
        "{pre}"
    );

    // The header form, signed by botocore with something wrong.
    let attacks = python(&server, &user, "attacks", &[]);
    assert_eq!(attacks["honest"][0], 200, "{attacks}");
    for (attack, says) in [
        ("wrong_secret", "does not match"),
        ("wrong_region", "valid region"),
        ("wrong_service", "correct service: 'kms'"),
        ("stale_date", "Signature expired"),
        ("future_date", "Signature not yet current"),
    ] {
        refused_as(&attacks[attack], 400, "InvalidSignatureException", attack);
        assert!(
            attacks[attack][2].as_str().unwrap().contains(says),
            "{attack}: {attacks}"
        );
    }
    refused_as(
        &attacks["sts_wrong_secret"],
        403,
        "SignatureDoesNotMatch",
        "STS",
    );

    // What no AWS client sends: no signature, a garbled one, a made-up key, bad escapes.
    let raw = server.aws_raw().unwrap();
    let kms = |headers: &[(&str, &str)], path: &str| {
        let mut request = raw
            .request(reqwest::Method::POST, path)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", "TrentService.GenerateRandom")
            .body(r#"{"NumberOfBytes": 8}"#);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = raw.send(request).unwrap();
        let body: Value = serde_json::from_slice(&response.body).unwrap();
        (response.status, body["__type"].as_str().unwrap().to_owned())
    };
    let sig = "0".repeat(64);
    let made_up = format!(
        "AWS4-HMAC-SHA256 Credential=KSTLAAAAAAAAAAAAAAAA/20261207/{REGION}/kms/aws4_request, \
         SignedHeaders=host;x-amz-date;x-amz-target, Signature={sig}"
    );
    let date = time::OffsetDateTime::now_utc();
    let amz_date = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        date.year(),
        u8::from(date.month()),
        date.day(),
        date.hour(),
        date.minute(),
        date.second()
    );
    let made_up = made_up.replace("20261207", &amz_date[..8]);
    for (headers, path, expected) in [
        (vec![], "/", "MissingAuthenticationTokenException"),
        (
            vec![("authorization", "AWS4-HMAC-SHA256 garbage")],
            "/",
            "IncompleteSignatureException",
        ),
        (
            vec![("authorization", "Bearer abc")],
            "/",
            "IncompleteSignatureException",
        ),
        (
            vec![
                ("authorization", made_up.as_str()),
                ("x-amz-date", "2026-12-07"),
            ],
            "/",
            "IncompleteSignatureException",
        ),
        (
            vec![
                ("authorization", made_up.as_str()),
                ("x-amz-date", &amz_date),
            ],
            "/",
            "UnrecognizedClientException",
        ),
        (
            vec![],
            "/?X-Amz-Signature=%zz",
            "IncompleteSignatureException",
        ),
        (
            vec![],
            "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00",
            "IncompleteSignatureException",
        ),
    ] {
        assert_eq!(
            kms(&headers, path),
            (400, expected.to_owned()),
            "{headers:?} {path}"
        );
    }
    // STS answers in its own XML with its own codes.
    let response = raw
        .send(
            raw.request(reqwest::Method::POST, "/")
                .header("content-type", "application/x-www-form-urlencoded")
                .body("Action=GetCallerIdentity&Version=2011-06-15"),
        )
        .unwrap();
    assert_eq!(response.status, 403);
    assert!(
        response
            .text()
            .contains("<Code>MissingAuthenticationToken</Code>"),
        "{}",
        response.text()
    );

    // Unknown, then revoked (through the server), access keys.
    let unknown = ("KSTLAAAAAAAAAAAAAAAA".to_owned(), user.1.clone());
    let got = python(&server, &unknown, "refused", &[]);
    refused_as(
        &got["kms"],
        400,
        "UnrecognizedClientException",
        "unknown key",
    );
    refused_as(
        &got["sts"],
        403,
        "InvalidClientTokenId",
        "unknown key on STS",
    );
    let leaving = access_key(&create(&server, &officer, "leaver", &["crypto-user"]));
    assert_eq!(python(&server, &leaving, "refused", &[])["kms"], "accepted");
    server
        .kastell_ok(&[
            "access-key",
            "revoke",
            &leaving.0,
            "--reason",
            "left",
            "--profile",
            &profile_arg(&officer),
        ])
        .unwrap();
    let got = python(&server, &leaving, "refused", &[]);
    refused_as(
        &got["kms"],
        400,
        "UnrecognizedClientException",
        "revoked key",
    );
    refused_as(
        &got["sts"],
        403,
        "InvalidClientTokenId",
        "revoked key on STS",
    );

    // A burst of garbled requests costs one record at once and a summary, not 100 fsyncs.
    for _ in 0..100 {
        assert_eq!(
            kms(&[("authorization", "AWS4-HMAC-SHA256 garbage")], "/").1,
            "IncompleteSignatureException"
        );
    }
    let started = Instant::now();
    let garbled = loop {
        // Every malformed signature without a key issued here is one kind: the five above
        // and the hundred.
        let records: Vec<Value> = audit(&auditor)
            .into_iter()
            .filter(|r| {
                r["operation"] == "aws-authenticate"
                    && r["principal"] == "(unauthenticated)"
                    && r["reason"]
                        .as_str()
                        .unwrap()
                        .contains("IncompleteSignatureException")
            })
            .collect();
        let counted: u64 = records.iter().map(refusals_in).sum();
        assert!(counted <= 105, "{counted}: {records:?}");
        if counted == 105 {
            break records;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{counted} garbled refusals counted: {records:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert!(
        garbled.len() <= 10,
        "{} records for 105 refusals",
        garbled.len()
    );
    let records = audit(&auditor);
    let refused: Vec<&Value> = records
        .iter()
        .filter(|r| r["operation"] == "aws-authenticate" && r["outcome"] == "denied")
        .collect();
    for (principal, says) in [
        ("app", "SignatureDoesNotMatch"),
        (
            "app",
            "InvalidSignatureException: Credential should be scoped to a valid region",
        ),
        (
            "app",
            "InvalidSignatureException: Credential should be scoped to correct service",
        ),
        ("app", "InvalidSignatureException: Signature expired"),
        (
            "app",
            "IncompleteSignatureException: SignedHeaders must include x-amz-target",
        ),
        ("leaver", "UnrecognizedClientException"),
        ("leaver", "InvalidClientTokenId"),
        ("(unauthenticated)", "MissingAuthenticationTokenException"),
        ("(unauthenticated)", "UnrecognizedClientException"),
    ] {
        assert!(
            refused.iter().any(
                |r| r["principal"] == principal && r["reason"].as_str().unwrap().contains(says)
            ),
            "no audited refusal of {principal} saying {says}: {refused:#?}"
        );
    }
    // Issuance and revocation are audited; no secret is in the trail or the log.
    assert!(records.iter().any(|r| {
        r["operation"] == "issue-access-key"
            && r["reason"]
                .as_str()
                .unwrap()
                .contains("leaver as crypto-user")
    }));
    assert!(
        records
            .iter()
            .any(|r| r["operation"] == "revoke-access-key")
    );
    let trail = serde_json::to_string(&records).unwrap();
    for secret in [&user.1, &leaving.1] {
        assert!(
            !trail.contains(secret.as_str()),
            "a secret in the audit trail"
        );
        assert!(
            !server.log().contains(secret.as_str()),
            "a secret in the log"
        );
    }
}

/// With `issue-client` at 2, one officer asks for a user's access key and approves it
/// alone: nothing is issued. A second officer's approval issues it; that officer cannot
/// open its secret (sealed to the requester's key); the requester collects it, and it
/// signs. An officer's access key is revoked only under `issue-officer`.
#[test]
fn access_keys_are_issued_under_quorum_and_only_the_requester_opens_the_secret() {
    let server = serve("");
    let alice = server.officer();
    let alice_client = server.client(&alice).unwrap();
    let bob = server.issue_client("bob", "crypto-officer", None).unwrap();
    for class in ["issue-officer", "issue-client"] {
        alice_client
            .put::<Value>(&format!("/v1/quorum/{class}"), &json!({ "required": 2 }))
            .unwrap();
    }

    let asked = create(&server, &alice, "app", &["crypto-user"]);
    assert!(asked.status.success(), "{}", text(&asked.stderr));
    assert!(
        asked.stdout.is_empty(),
        "no key yet: {}",
        text(&asked.stdout)
    );
    let stderr = text(&asked.stderr);
    let id = stderr
        .split("operation ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("{stderr}"))
        .to_owned();
    let approve = |profile: &Path| {
        server
            .kastell_ok(&["approve", &id, "--profile", &profile_arg(profile)])
            .unwrap()
    };
    assert!(approve(&alice).contains("1 of 2"));
    // Approved by its requester alone: nothing to collect, nothing issued.
    let early = server
        .kastell(&[
            "access-key",
            "collect",
            &id,
            "--profile",
            &profile_arg(&alice),
        ])
        .unwrap();
    assert_eq!(early.status.code(), Some(1), "{}", text(&early.stderr));
    assert!(
        text(&early.stderr).contains("is pending"),
        "{}",
        text(&early.stderr)
    );
    let listed = server
        .kastell_ok(&[
            "access-key",
            "list",
            "--json",
            "--profile",
            &profile_arg(&alice),
        ])
        .unwrap();
    assert!(!listed.contains("\"app\""), "{listed}");

    // Bob's approval completes the quorum: it runs, and bob sees only the sealed secret.
    let ran = approve(&bob);
    assert!(
        ran.contains("2 of 2") && ran.contains("sealed_secret"),
        "{ran}"
    );
    let stolen = server
        .kastell(&[
            "access-key",
            "collect",
            &id,
            "--profile",
            &profile_arg(&bob),
        ])
        .unwrap();
    assert_eq!(stolen.status.code(), Some(1), "{}", text(&stolen.stderr));
    assert!(
        text(&stolen.stderr).contains("does not open with the key of"),
        "{}",
        text(&stolen.stderr)
    );
    assert!(stolen.stdout.is_empty());
    let collected = server
        .kastell(&[
            "access-key",
            "collect",
            &id,
            "--profile",
            &profile_arg(&alice),
        ])
        .unwrap();
    let key = access_key(&collected);
    assert!(!ran.contains(&key.1), "the approver saw the secret");
    let who = python(&server, &key, "whoami", &[]);
    assert_eq!(who["Arn"], format!("arn:aws:iam::{ACCOUNT}:user/app"));

    // An officer's access key: issued and revoked under issue-officer.
    let ops = create(&server, &alice, "ops", &["crypto-officer"]);
    let ops_op = text(&ops.stderr)
        .split("operation ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap()
        .to_owned();
    let ops_pending: Value = alice_client
        .get(&format!("/v1/approvals/{ops_op}"))
        .unwrap();
    assert_eq!(ops_pending["operation"]["class"], "issue-officer");
    for profile in [&alice, &bob] {
        server
            .kastell_ok(&["approve", &ops_op, "--profile", &profile_arg(profile)])
            .unwrap();
    }
    let ops_key = access_key(
        &server
            .kastell(&[
                "access-key",
                "collect",
                &ops_op,
                "--profile",
                &profile_arg(&alice),
            ])
            .unwrap(),
    );
    let revoke: Value = alice_client
        .post(
            &format!("/v1/access-keys/{}/revoke", ops_key.0),
            &json!({"reason": "one officer alone"}),
        )
        .unwrap();
    assert_eq!(revoke["status"], "pending", "{revoke}");
    assert_eq!(revoke["operation"]["class"], "issue-officer");
    assert_eq!(
        python(&server, &ops_key, "refused", &[])["sts"],
        "accepted",
        "not revoked by one officer"
    );
    // A user's key is revoked at once, as a user's certificate.
    let done: Value = alice_client
        .post(
            &format!("/v1/access-keys/{}/revoke", key.0),
            &json!({"reason": "rotated"}),
        )
        .unwrap();
    assert_eq!(done, json!({"access_key_id": key.0, "revoked_now": true}));
}

/// Separation of duties holds on the AWS API: a user's key cannot administer, an
/// officer's cannot use keys, and one key with both roles is refused. With
/// `separation_of_duties = false` one key may hold both (recorded in the audit trail once,
/// shown at start-up); turned back on, that key is refused again.
#[test]
fn separation_of_duties_holds_unless_the_deployment_turns_it_off_which_is_audited() {
    let mut server = serve("");
    let officer = server.officer();
    let officer_client = server.client(&officer).unwrap();
    // The server moves to a new port at each start: a new client each time.
    let auditor = server.issue_client("auditor", "auditor", None).unwrap();
    let audit_now = |server: &TestServer| audit(&server.client(&auditor).unwrap());
    let key: Value = officer_client
        .post("/v1/keys", &json!({"spec": "AES_256"}))
        .unwrap();
    let key_id = key["id"].as_str().unwrap().to_owned();
    let with_key = [("KASTELL_KEY", key_id.as_str())];
    assert!(
        server.log().contains("separation of duties: on"),
        "{}",
        server.log()
    );

    let user = access_key(&create(&server, &officer, "app", &["crypto-user"]));
    let admin = access_key(&create(&server, &officer, "admin", &["crypto-officer"]));
    let got = python(&server, &user, "duties", &with_key);
    refused_as(
        &got["create_key"],
        400,
        "AccessDeniedException",
        "a user administers",
    );
    assert_eq!(got["encrypt"], "accepted", "{got}");
    let got = python(&server, &admin, "duties", &with_key);
    assert_eq!(got["create_key"], "accepted", "{got}");
    refused_as(
        &got["encrypt"],
        400,
        "AccessDeniedException",
        "an officer uses a key",
    );
    let both = create(&server, &officer, "dev", &["crypto-officer", "crypto-user"]);
    assert_eq!(both.status.code(), Some(1), "{}", text(&both.stderr));
    assert!(
        text(&both.stderr).contains("separation of duties is on"),
        "{}",
        text(&both.stderr)
    );

    // Off: one identity for both, as AWS test suites have.
    let setting = |records: &[Value]| -> Vec<String> {
        records
            .iter()
            .filter(|r| r["operation"] == "setting")
            .map(|r| r["reason"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(
        setting(&audit_now(&server)).is_empty(),
        "the default is not recorded"
    );
    server.stop().unwrap();
    server
        .deployment()
        .append_config("separation_of_duties = false\n")
        .unwrap();
    server.resume().unwrap();
    assert!(
        server.log().contains("separation of duties: OFF"),
        "{}",
        server.log()
    );
    assert_eq!(
        setting(&audit_now(&server)),
        ["aws.separation_of_duties = false (was true)"]
    );
    let dev = access_key(&create(
        &server,
        &officer,
        "dev",
        &["crypto-officer", "crypto-user"],
    ));
    let got = python(&server, &dev, "duties", &with_key);
    assert_eq!(
        got,
        json!({"create_key": "accepted", "encrypt": "accepted"})
    );
    // The auditor role is never combined, nor another role added to a bound principal.
    let mixed = create(&server, &officer, "dev2", &["crypto-user", "auditor"]);
    assert!(
        text(&mixed.stderr).contains("only crypto-officer and crypto-user"),
        "{}",
        text(&mixed.stderr)
    );
    let rebound = create(&server, &officer, "auditor", &["crypto-user"]);
    assert!(
        text(&rebound.stderr).contains("keeps its role for life"),
        "{}",
        text(&rebound.stderr)
    );

    // A restart with the same value records nothing; back on, the key with two roles stops.
    server.restart().unwrap();
    assert_eq!(setting(&audit_now(&server)).len(), 1);
    server.stop().unwrap();
    let config = server.deployment().config();
    let text_before = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text_before.replace(
            "separation_of_duties = false",
            "separation_of_duties = true",
        ),
    )
    .unwrap();
    server.resume().unwrap();
    assert_eq!(
        setting(&audit_now(&server)),
        [
            "aws.separation_of_duties = false (was true)",
            "aws.separation_of_duties = true (was false)"
        ]
    );
    let got = python(&server, &dev, "refused", &[]);
    refused_as(
        &got["kms"],
        400,
        "AccessDeniedException",
        "two roles, separation on",
    );
    assert!(
        got["kms"][2]
            .as_str()
            .unwrap()
            .contains("separation of duties is on"),
        "{got}"
    );
    refused_as(&got["sts"], 403, "AccessDenied", "two roles on STS");
}
