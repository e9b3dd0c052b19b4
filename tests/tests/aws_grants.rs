//! AWS KMS grants (issue 19, point 2) through aws-sdk-rust against a real `kastell serve`
//! with `[aws] listen` on loopback: `CreateGrant` with `EncryptionContextEquals` allows
//! exactly that context to its grantee and nothing else, decided in the sandbox and named
//! in the audit trail; a retired or revoked grant no longer allows; `ListGrants` pages and
//! filters, `ListRetirableGrants` finds a retiring principal's grants; malformed grants and
//! grant tokens are refused with AWS's exception names; `kastell grant` drives the same
//! grants through `/v1`; and the attack: a revoked grant put back in the SQLite file is
//! refused as tampering.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::collections::HashMap;

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{GrantConstraints, GrantOperation};
use kastell_core::deployment::STORE_FILE;
use kastell_tests::aws::{self, ACCOUNT, REGION, sdk};
use kastell_tests::server::{Setup, TestServer};
use serde_json::{Value, json};

fn user_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:user/{name}")
}

/// A served deployment with the AWS endpoint, an officer's access key (`olga`), two
/// users' (`alice`, `bob`) and an auditor's client; keys whose key policy lets `olga` and
/// the first officer do anything and nobody else anything.
struct Scene {
    server: TestServer,
    runtime: tokio::runtime::Runtime,
    officer: aws_sdk_kms::Client,
    alice: aws_sdk_kms::Client,
    bob: aws_sdk_kms::Client,
    auditor: std::path::PathBuf,
    /// The access keys of olga, alice and bob, for boto3.
    keys: [(String, String); 3],
}

impl Scene {
    fn new() -> Self {
        let server = aws::serve(&Setup::soft()).unwrap();
        let key = |name: &str, role: &str| server.access_key(name, &[role], None).unwrap();
        let keys = [
            key("olga", "crypto-officer"),
            key("alice", "crypto-user"),
            key("bob", "crypto-user"),
        ];
        let officer = sdk(&server, &keys[0]);
        let alice = sdk(&server, &keys[1]);
        let bob = sdk(&server, &keys[2]);
        let auditor = server.issue_client("audit", "auditor", None).unwrap();
        Self {
            server,
            runtime: tokio::runtime::Runtime::new().unwrap(),
            officer,
            alice,
            bob,
            auditor,
            keys,
        }
    }

    fn block<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// A new symmetric key whose key policy allows only the administrators.
    fn key(&self) -> String {
        let policy = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "Admins", "Effect": "Allow",
             "Principal": {"AWS": [user_arn("olga"), user_arn("officer")]},
             "Action": "kms:*", "Resource": "*"}]});
        let created = self
            .block(self.officer.create_key().policy(policy.to_string()).send())
            .unwrap();
        created.key_metadata().unwrap().key_id().to_owned()
    }

    /// A grant of `operations` to `grantee` on `key` made by the officer: (id, token).
    fn grant(
        &self,
        key: &str,
        grantee: &str,
        operations: &[GrantOperation],
        constraints: Option<GrantConstraints>,
        retiring: Option<&str>,
    ) -> (String, String) {
        let made = self
            .block(
                self.officer
                    .create_grant()
                    .key_id(key)
                    .grantee_principal(user_arn(grantee))
                    .set_operations(Some(operations.to_vec()))
                    .set_constraints(constraints)
                    .set_retiring_principal(retiring.map(user_arn))
                    .send(),
            )
            .unwrap();
        (
            made.grant_id().unwrap().to_owned(),
            made.grant_token().unwrap().to_owned(),
        )
    }

    /// Encrypts under `key` as `who` with `context`: the exception's name, or `None`.
    fn encrypt(
        &self,
        who: &aws_sdk_kms::Client,
        key: &str,
        context: &[(&str, &str)],
    ) -> Option<String> {
        let context: HashMap<String, String> = context
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.block(
            who.encrypt()
                .key_id(key)
                .plaintext(Blob::new(b"payroll".to_vec()))
                .set_encryption_context(Some(context))
                .send(),
        )
        .err()
        .map(|e| e.code().unwrap_or("no code").to_owned())
    }

    fn audited(&self, principal: &str, operation: &str, outcome: &str, reason: &str) -> bool {
        let trail = aws::trail_of(&self.server, &self.auditor);
        aws::audited(&trail, ("principal", principal), operation, outcome, reason)
    }
}

fn equals(pairs: &[(&str, &str)]) -> GrantConstraints {
    let mut constraints = GrantConstraints::builder();
    for (k, v) in pairs {
        constraints = constraints.encryption_context_equals(*k, *v);
    }
    constraints.build()
}

#[test]
fn a_grant_with_encryption_context_equals_allows_exactly_that_context_to_its_grantee() {
    let scene = Scene::new();
    let key = scene.key();
    assert_eq!(
        scene
            .encrypt(&scene.alice, &key, &[("dept", "IT")])
            .as_deref(),
        Some("AccessDeniedException"),
        "the key policy alone does not allow alice"
    );
    let (grant, token) = scene.grant(
        &key,
        "alice",
        &[GrantOperation::Encrypt, GrantOperation::Decrypt],
        Some(equals(&[("dept", "IT")])),
        None,
    );
    assert_eq!(scene.encrypt(&scene.alice, &key, &[("dept", "IT")]), None);
    for other in [&[("dept", "HR")][..], &[], &[("dept", "IT"), ("x", "1")]] {
        assert_eq!(
            scene.encrypt(&scene.alice, &key, other).as_deref(),
            Some("AccessDeniedException"),
            "{other:?}"
        );
    }
    assert_eq!(
        scene
            .encrypt(&scene.bob, &key, &[("dept", "IT")])
            .as_deref(),
        Some("AccessDeniedException"),
        "the grant is alice's"
    );
    // Decrypt through the grant, with its token (validated, adding nothing).
    let mut context = HashMap::new();
    context.insert("dept".to_owned(), "IT".to_owned());
    let sealed = scene
        .block(
            scene
                .alice
                .encrypt()
                .key_id(&key)
                .plaintext(Blob::new(b"payroll".to_vec()))
                .set_encryption_context(Some(context.clone()))
                .grant_tokens(&token)
                .send(),
        )
        .unwrap();
    let opened = scene
        .block(
            scene
                .alice
                .decrypt()
                .ciphertext_blob(sealed.ciphertext_blob().unwrap().clone())
                .set_encryption_context(Some(context))
                .send(),
        )
        .unwrap();
    assert_eq!(opened.plaintext().unwrap().as_ref(), b"payroll");
    // Audited: the grant's creation, and each use it allowed names it.
    assert!(scene.audited("olga", "create-grant", "allowed", &grant));
    assert!(scene.audited("alice", "encrypt", "allowed", &format!("by grant {grant}")));
    assert!(scene.audited("alice", "decrypt", "allowed", &format!("by grant {grant}")));
    assert!(scene.audited("alice", "encrypt", "denied", "none of the key's 1 grants"));
}

#[test]
fn a_retired_or_revoked_grant_no_longer_allows() {
    let scene = Scene::new();
    let key = scene.key();
    let (retired, token) =
        scene.grant(&key, "alice", &[GrantOperation::Encrypt], None, Some("bob"));
    assert_eq!(scene.encrypt(&scene.alice, &key, &[]), None);
    // Alice is the grantee but the grant does not allow her RetireGrant.
    let refused = scene
        .block(scene.alice.retire_grant().grant_token(&token).send())
        .unwrap_err();
    assert_eq!(refused.code(), Some("AccessDeniedException"));
    // Bob, its retiring principal, retires it by its token.
    scene
        .block(scene.bob.retire_grant().grant_token(&token).send())
        .unwrap();
    assert_eq!(
        scene.encrypt(&scene.alice, &key, &[]).as_deref(),
        Some("AccessDeniedException")
    );
    assert!(scene.audited("bob", "retire-grant", "allowed", &retired));
    assert!(scene.audited("alice", "retire-grant", "denied", "neither the retiring"));

    let (revoked, _) = scene.grant(&key, "alice", &[GrantOperation::Encrypt], None, None);
    assert_eq!(scene.encrypt(&scene.alice, &key, &[]), None);
    // Bob may not revoke: the key policy does not allow him kms:RevokeGrant.
    let refused = scene
        .block(
            scene
                .bob
                .revoke_grant()
                .key_id(&key)
                .grant_id(&revoked)
                .send(),
        )
        .unwrap_err();
    assert_eq!(refused.code(), Some("AccessDeniedException"));
    scene
        .block(
            scene
                .officer
                .revoke_grant()
                .key_id(&key)
                .grant_id(&revoked)
                .send(),
        )
        .unwrap();
    assert_eq!(
        scene.encrypt(&scene.alice, &key, &[]).as_deref(),
        Some("AccessDeniedException")
    );
    assert!(scene.audited("olga", "revoke-grant", "allowed", &revoked));
    // Retiring it again finds nothing.
    let gone = scene
        .block(
            scene
                .officer
                .revoke_grant()
                .key_id(&key)
                .grant_id(&revoked)
                .send(),
        )
        .unwrap_err();
    assert_eq!(gone.code(), Some("NotFoundException"));
}

#[test]
fn list_grants_pages_and_filters_and_list_retirable_grants_finds_a_principals() {
    let scene = Scene::new();
    let key = scene.key();
    let mut made = Vec::new();
    for grantee in ["alice", "alice", "bob"] {
        made.push(
            scene
                .grant(&key, grantee, &[GrantOperation::Decrypt], None, Some("bob"))
                .0,
        );
    }
    let first = scene
        .block(scene.officer.list_grants().key_id(&key).limit(2).send())
        .unwrap();
    assert!(first.truncated());
    let second = scene
        .block(
            scene
                .officer
                .list_grants()
                .key_id(&key)
                .limit(2)
                .marker(first.next_marker().unwrap())
                .send(),
        )
        .unwrap();
    assert!(!second.truncated());
    let listed: Vec<String> = first
        .grants()
        .iter()
        .chain(second.grants())
        .map(|g| g.grant_id().unwrap().to_owned())
        .collect();
    assert_eq!(listed, made);
    let entry = &first.grants()[0];
    assert_eq!(entry.grantee_principal(), Some(user_arn("alice").as_str()));
    assert_eq!(
        entry.issuing_account(),
        Some(format!("arn:aws:iam::{ACCOUNT}:root").as_str())
    );
    assert_eq!(entry.operations(), &[GrantOperation::Decrypt]);
    assert!(entry.key_id().unwrap().ends_with(&key));

    let bobs = scene
        .block(
            scene
                .officer
                .list_grants()
                .key_id(&key)
                .grantee_principal(user_arn("bob"))
                .send(),
        )
        .unwrap();
    assert_eq!(bobs.grants().len(), 1);
    let one = scene
        .block(
            scene
                .officer
                .list_grants()
                .key_id(&key)
                .grant_id(&made[1])
                .send(),
        )
        .unwrap();
    assert_eq!(one.grants()[0].grant_id(), Some(made[1].as_str()));

    let retirable = scene
        .block(
            scene
                .bob
                .list_retirable_grants()
                .retiring_principal(user_arn("bob"))
                .send(),
        )
        .unwrap();
    assert_eq!(retirable.grants().len(), 3);
    // Alice may not list what bob may retire.
    let refused = scene
        .block(
            scene
                .alice
                .list_retirable_grants()
                .retiring_principal(user_arn("bob"))
                .send(),
        )
        .unwrap_err();
    assert_eq!(refused.code(), Some("AccessDeniedException"));
    let bad = scene
        .block(
            scene
                .officer
                .list_grants()
                .key_id(&key)
                .marker("not-a-marker")
                .send(),
        )
        .unwrap_err();
    assert_eq!(bad.code(), Some("InvalidMarkerException"));
}

#[test]
fn malformed_grants_and_grant_tokens_are_refused_with_awss_names() {
    let scene = Scene::new();
    let key = scene.key();
    let create = |grantee: &str, operations: Vec<GrantOperation>, c: Option<GrantConstraints>| {
        scene
            .block(
                scene
                    .officer
                    .create_grant()
                    .key_id(&key)
                    .grantee_principal(grantee)
                    .set_operations(Some(operations))
                    .set_constraints(c)
                    .send(),
            )
            .map(|made| made.grant_id().unwrap().to_owned())
            .map_err(|e| {
                (
                    e.code().unwrap_or("").to_owned(),
                    e.message().unwrap_or("").to_owned(),
                )
            })
    };
    let alice = user_arn("alice");
    let (code, message) =
        create(&alice, vec![GrantOperation::from("DestroyKey")], None).unwrap_err();
    assert_eq!(code, "ValidationException");
    assert!(message.contains("'DestroyKey'"), "{message}");
    let both = GrantConstraints::builder()
        .encryption_context_equals("dept", "IT")
        .encryption_context_subset("dept", "IT")
        .build();
    let (code, message) = create(&alice, vec![GrantOperation::Decrypt], Some(both)).unwrap_err();
    assert_eq!(code, "ValidationException");
    assert!(message.contains("not both"), "{message}");
    let (code, _) = create(
        &alice,
        vec![GrantOperation::DescribeKey],
        Some(equals(&[("dept", "IT")])),
    )
    .unwrap_err();
    assert_eq!(code, "ValidationException");
    let (code, message) = create("alice", vec![GrantOperation::Decrypt], None).unwrap_err();
    assert_eq!(code, "InvalidArnException");
    assert!(message.contains("alice"), "{message}");
    let (code, _) = create(
        "arn:aws:iam::111122223333:group/admins",
        vec![GrantOperation::Decrypt],
        None,
    )
    .unwrap_err();
    assert_eq!(code, "InvalidArnException");

    // A grant token this endpoint never issued, on any operation that takes one.
    let refused = scene
        .block(
            scene
                .officer
                .encrypt()
                .key_id(&key)
                .plaintext(Blob::new(b"x".to_vec()))
                .grant_tokens("forged")
                .send(),
        )
        .unwrap_err();
    assert_eq!(refused.code(), Some("InvalidGrantTokenException"));
    let refused = scene
        .block(
            scene
                .officer
                .revoke_grant()
                .key_id(&key)
                .grant_id("xyz")
                .send(),
        )
        .unwrap_err();
    assert_eq!(refused.code(), Some("InvalidGrantIdException"));

    // The same name and parameters answer the same grant; other parameters a new one.
    let named = |operation: GrantOperation| {
        scene
            .block(
                scene
                    .officer
                    .create_grant()
                    .key_id(&key)
                    .grantee_principal(&alice)
                    .operations(operation)
                    .name("payroll-reader")
                    .send(),
            )
            .unwrap()
            .grant_id()
            .unwrap()
            .to_owned()
    };
    let once = named(GrantOperation::Decrypt);
    assert_eq!(named(GrantOperation::Decrypt), once);
    assert_ne!(named(GrantOperation::Encrypt), once);
}

#[test]
fn a_revoked_grant_put_back_in_the_store_is_refused_as_tampering() {
    let mut scene = Scene::new();
    let key = scene.key();
    let (grant, _) = scene.grant(&key, "alice", &[GrantOperation::Encrypt], None, None);
    let db = scene.server.deployment().data_dir().join(STORE_FILE);
    let read_grants = || -> String {
        rusqlite::Connection::open(&db)
            .unwrap()
            .query_row("SELECT grants FROM keys WHERE id = ?1", [&key], |r| {
                r.get(0)
            })
            .unwrap()
    };
    let kept = read_grants();
    assert!(kept.contains(&grant));
    scene
        .block(
            scene
                .officer
                .revoke_grant()
                .key_id(&key)
                .grant_id(&grant)
                .send(),
        )
        .unwrap();
    assert_eq!(
        scene.encrypt(&scene.alice, &key, &[]).as_deref(),
        Some("AccessDeniedException")
    );

    // The attacker, who can write kastell.db but not use the token, puts the grant back.
    let changed = scene
        .server
        .edit_store_offline(
            "UPDATE keys SET grants = ?1 WHERE id = ?2",
            rusqlite::params![kept, key],
        )
        .unwrap();
    assert_eq!(changed, 1);

    let carol = sdk(
        &scene.server,
        &scene
            .server
            .access_key("carol", &["crypto-user"], None)
            .unwrap(),
    );
    // Through the AWS endpoint (on its new port): the key record fails its seal check.
    let refused = scene
        .block(
            carol
                .encrypt()
                .key_id(&key)
                .plaintext(Blob::new(b"payroll".to_vec()))
                .send(),
        )
        .unwrap_err();
    assert!(
        refused
            .message()
            .unwrap_or("")
            .contains("changed outside Kastell"),
        "{refused:?}"
    );
    assert!(
        aws::trail_of(&scene.server, &scene.auditor)
            .iter()
            .any(|r| r["operation"] == "verify-key-record"
                && r["key"] == key.as_str()
                && r["reason"].as_str().unwrap().contains("TamperDetected")),
        "the refusal is audited"
    );
}

#[test]
fn kastell_grant_creates_lists_and_revokes_through_v1() {
    let scene = Scene::new();
    let key = scene.key();
    let officer = scene.server.officer().display().to_string();
    let alice = scene
        .server
        .issue_client("alice", "crypto-user", None)
        .unwrap();
    let alice_client = scene.server.client(&alice).unwrap();
    let encrypt = |context: Value| {
        alice_client.post::<Value>(
            &format!("/v1/keys/{key}/encrypt"),
            &json!({"plaintext": kastell_tests::vault::b64(b"payroll"), "context": context}),
        )
    };
    assert!(encrypt(json!({"dept": "IT"})).is_err());

    let out = scene
        .server
        .kastell_ok(&[
            "grant",
            "create",
            &key,
            "--grantee",
            &user_arn("alice"),
            "--operation",
            "Encrypt",
            "--context-subset",
            "dept=IT",
            "--profile",
            &officer,
            "--json",
        ])
        .unwrap();
    let created: Value = serde_json::from_str(&out).unwrap();
    let grant = created["grant_id"].as_str().unwrap().to_owned();
    assert_eq!(created["operations"], json!(["Encrypt"]));
    assert_eq!(created["encryption_context_subset"], json!({"dept": "IT"}));
    // The certificate holder alice is the grantee too (one principal, one ARN).
    encrypt(json!({"dept": "IT", "more": "x"})).unwrap();
    assert!(encrypt(json!({"dept": "HR"})).is_err());

    let listed: Value = serde_json::from_str(
        &scene
            .server
            .kastell_ok(&["grant", "list", &key, "--profile", &officer, "--json"])
            .unwrap(),
    )
    .unwrap();
    assert_eq!(listed["grants"][0]["grant_id"], grant.as_str());
    // The AWS endpoint sees the same grant.
    let aws = scene
        .block(scene.officer.list_grants().key_id(&key).send())
        .unwrap();
    assert_eq!(aws.grants()[0].grant_id(), Some(grant.as_str()));

    let revoked: Value = serde_json::from_str(
        &scene
            .server
            .kastell_ok(&[
                "grant",
                "revoke",
                &key,
                &grant,
                "--profile",
                &officer,
                "--json",
            ])
            .unwrap(),
    )
    .unwrap();
    assert_eq!(revoked["removed"], "revoked");
    assert!(encrypt(json!({"dept": "IT"})).is_err());
    // A malformed grant is refused with a usage exit code and the reason.
    let bad = scene
        .server
        .kastell(&[
            "grant",
            "create",
            &key,
            "--grantee",
            &user_arn("alice"),
            "--operation",
            "Destroy",
            "--profile",
            &officer,
        ])
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("Destroy"));
}

#[test]
fn an_explicit_deny_of_the_key_policy_wins_over_a_grant() {
    let scene = Scene::new();
    let key = scene.key();
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Admins", "Effect": "Allow",
         "Principal": {"AWS": [user_arn("olga"), user_arn("officer")]},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "NoExports", "Effect": "Deny", "Principal": "*", "Action": "kms:Encrypt",
         "Resource": "*",
         "Condition": {"StringEquals": {"kms:EncryptionContext:purpose": "export"}}}]});
    scene
        .block(
            scene
                .officer
                .put_key_policy()
                .key_id(&key)
                .policy_name("default")
                .policy(policy.to_string())
                .send(),
        )
        .unwrap();
    let (grant, _) = scene.grant(&key, "alice", &[GrantOperation::Encrypt], None, None);
    assert_eq!(
        scene.encrypt(&scene.alice, &key, &[("purpose", "audit")]),
        None
    );
    assert_eq!(
        scene
            .encrypt(&scene.alice, &key, &[("purpose", "export")])
            .as_deref(),
        Some("AccessDeniedException")
    );
    assert!(scene.audited("alice", "encrypt", "denied", "NoExports"));
    assert!(scene.audited("alice", "encrypt", "allowed", &grant));
}

#[test]
fn boto3_creates_uses_lists_retires_and_revokes_grants() {
    let scene = Scene::new();
    let key = scene.key();
    let [officer, alice, bob] = &scene.keys;
    let seen = aws::boto3(
        &scene.server,
        "grants.py",
        &[],
        officer,
        &[
            ("KASTELL_KEY", &key),
            ("KASTELL_OFFICER_KEY_ID", &officer.0),
            ("KASTELL_OFFICER_SECRET", &officer.1),
            ("KASTELL_ALICE_KEY_ID", &alice.0),
            ("KASTELL_ALICE_SECRET", &alice.1),
            ("KASTELL_BOB_KEY_ID", &bob.0),
            ("KASTELL_BOB_SECRET", &bob.1),
        ],
    );
    assert_eq!(seen["before"], "AccessDeniedException");
    assert_eq!(
        seen["same_grant"], seen["grant_id"],
        "same name, same parameters"
    );
    assert_eq!(seen["opened"], "payroll");
    assert_eq!(seen["other_context"], "AccessDeniedException");
    assert_eq!(seen["no_context"], "AccessDeniedException");
    let listed = &seen["listed"][0];
    assert_eq!(listed["grantee"], user_arn("alice"));
    assert_eq!(listed["operations"], json!(["Decrypt", "Encrypt"]));
    assert_eq!(
        listed["constraints"],
        json!({"EncryptionContextEquals": {"dept": "IT"}})
    );
    assert_eq!(listed["name"], "alice-it");
    assert_eq!(
        listed["key"],
        format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{key}")
    );
    assert_eq!(seen["pages"], json!([2, 1]));
    assert_eq!(seen["paged_ids"].as_array().unwrap().len(), 3);
    assert_eq!(seen["retirable"], 1);
    assert_eq!(
        seen["malformed"],
        json!({
            "unknown_operation": "ValidationException",
            "both_constraints": "ValidationException",
            "bad_principal": "InvalidArnException",
            "bad_token": "InvalidGrantTokenException",
            "unknown_grant": "NotFoundException",
        })
    );
    assert_eq!(seen["alice_retires"], "AccessDeniedException");
    assert_eq!(seen["after_retire"], "AccessDeniedException");
    assert_eq!(seen["with_revocable"], "accepted");
    assert_eq!(seen["after_revoke"], "AccessDeniedException");
}
