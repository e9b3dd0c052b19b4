//! AWS KMS key policies (issue 19, point 1) through aws-sdk-rust against a real `kastell
//! serve` with `[aws] listen` on loopback: `CreateKey` with `Policy`, `PutKeyPolicy`,
//! `GetKeyPolicy` and `ListKeyPolicies` as AWS answers them; the policy enforced in the
//! sandbox by the bundled evaluator on the AWS API and on `/v1` (a Deny statement on an
//! encryption-context key, an Allow for one principal only); `PutKeyPolicy` under the
//! `bind-policy` quorum; malformed, oversized, unknown-operator and lockout documents
//! refused with `MalformedPolicyDocumentException` and audited; and the attack: a policy
//! document edited in the SQLite file is refused as tampering.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::collections::HashMap;

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use kastell_tests::aws::{self, ACCOUNT, sdk};
use kastell_tests::server::{Setup, TestServer, expect_api_error};
use kastell_tests::vault::b64;
use serde_json::{Value, json};

/// A served deployment with the AWS endpoint, an officer's access key (`olga`), two
/// users' (`alice`, `bob`) and an auditor's client.
struct Scene {
    server: TestServer,
    runtime: tokio::runtime::Runtime,
    officer: aws_sdk_kms::Client,
    alice: aws_sdk_kms::Client,
    bob: aws_sdk_kms::Client,
    alice_key: (String, String),
    auditor: std::path::PathBuf,
}

impl Scene {
    fn new() -> Self {
        let server = aws::serve(&Setup::soft()).unwrap();
        let key = |name: &str, role: &str| server.access_key(name, &[role], None).unwrap();
        let officer = sdk(&server, &key("olga", "crypto-officer"));
        let alice_key = key("alice", "crypto-user");
        let alice = sdk(&server, &alice_key);
        let bob = sdk(&server, &key("bob", "crypto-user"));
        let auditor = server.issue_client("audit", "auditor", None).unwrap();
        Self {
            server,
            runtime: tokio::runtime::Runtime::new().unwrap(),
            officer,
            alice,
            bob,
            alice_key,
            auditor,
        }
    }

    fn block<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// A new symmetric key made by the officer, with `policy` if given.
    fn key(&self, policy: Option<&Value>) -> String {
        let created = self
            .block(
                self.officer
                    .create_key()
                    .set_policy(policy.map(Value::to_string))
                    .send(),
            )
            .unwrap();
        created.key_metadata().unwrap().key_id().to_owned()
    }

    /// Encrypts `b"payroll"` under `key` as `who` with `context`: the exception's name, or
    /// `None` when it worked.
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

    fn put(&self, key: &str, policy: &str, bypass: bool) -> Result<(), (String, String)> {
        self.block(
            self.officer
                .put_key_policy()
                .key_id(key)
                .policy_name("default")
                .policy(policy)
                .bypass_policy_lockout_safety_check(bypass)
                .send(),
        )
        .map(|_| ())
        .map_err(|e| {
            (
                e.code().unwrap_or("no code").to_owned(),
                e.message().unwrap_or("").to_owned(),
            )
        })
    }

    fn get(&self, key: &str) -> String {
        self.block(
            self.officer
                .get_key_policy()
                .key_id(key)
                .policy_name("default")
                .send(),
        )
        .unwrap()
        .policy()
        .unwrap()
        .to_owned()
    }

    /// Whether the trail holds a record of `principal`'s `operation` on `key` with
    /// `outcome` and a reason containing `reason`.
    fn audited(&self, principal: &str, operation: &str, outcome: &str, reason: &str) -> bool {
        let trail = aws::trail_of(&self.server, &self.auditor);
        aws::audited(&trail, ("principal", principal), operation, outcome, reason)
    }
}

fn root_statement() -> Value {
    json!({"Sid": "Enable IAM User Permissions", "Effect": "Allow",
           "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
           "Action": "kms:*", "Resource": "*"})
}

fn user_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:user/{name}")
}

#[test]
fn a_deny_statement_on_an_encryption_context_key_refuses_that_context_only() {
    let scene = Scene::new();
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            root_statement(),
            {"Sid": "NoSecrets", "Effect": "Deny", "Principal": "*",
             "Action": ["kms:Encrypt", "kms:GenerateDataKey*"], "Resource": "*",
             "Condition": {"StringEquals": {"kms:EncryptionContext:department": "secret"}}}
        ]
    });
    let key = scene.key(Some(&policy));

    assert_eq!(
        scene.encrypt(&scene.alice, &key, &[("department", "sales")]),
        None
    );
    assert_eq!(scene.encrypt(&scene.alice, &key, &[]), None);
    assert_eq!(
        scene
            .encrypt(&scene.alice, &key, &[("department", "secret")])
            .as_deref(),
        Some("AccessDeniedException")
    );
    // The evaluator's reason is in the audit trail (the context only as its HMAC).
    assert!(scene.audited(
        "alice",
        "encrypt",
        "denied",
        "the key policy denies kms:Encrypt",
    ));
    assert!(scene.audited("alice", "encrypt", "denied", "NoSecrets"));

    // GetKeyPolicy returns the document as stored; ListKeyPolicies names `default`.
    let stored: Value = serde_json::from_str(&scene.get(&key)).unwrap();
    assert_eq!(stored, policy);
    let names = scene
        .block(scene.officer.list_key_policies().key_id(&key).send())
        .unwrap();
    assert_eq!(names.policy_names(), ["default"]);
    let other_name = scene
        .block(
            scene
                .officer
                .get_key_policy()
                .key_id(&key)
                .policy_name("other")
                .send(),
        )
        .unwrap_err();
    assert_eq!(other_name.code(), Some("NotFoundException"));
}

#[test]
fn a_key_without_a_policy_has_awss_default_policy() {
    let scene = Scene::new();
    let key = scene.key(None);
    let default: Value = serde_json::from_str(&scene.get(&key)).unwrap();
    assert_eq!(
        default,
        json!({
            "Version": "2012-10-17",
            "Id": "key-default-1",
            "Statement": [root_statement()]
        })
    );
    assert_eq!(scene.encrypt(&scene.bob, &key, &[]), None);
}

#[test]
fn an_allow_for_one_principal_refuses_another_on_both_apis() {
    let scene = Scene::new();
    let key = scene.key(None);
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": user_arn("olga")},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "AliceOnly", "Effect": "Allow", "Principal": {"AWS": [user_arn("alice")]},
             "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"}
        ]
    });
    scene.put(&key, &policy.to_string(), false).unwrap();

    assert_eq!(scene.encrypt(&scene.alice, &key, &[]), None);
    assert_eq!(
        scene.encrypt(&scene.bob, &key, &[]).as_deref(),
        Some("AccessDeniedException")
    );
    assert!(scene.audited(
        "bob",
        "encrypt",
        "denied",
        "no statement that allows kms:Encrypt",
    ));
    // The native API enforces the same key policy: bob's certificate is refused, alice's
    // allowed (her principal's ARN is the one her access key carries).
    let native = |name: &str| scene.server.new_client(name, "crypto-user", None).unwrap();
    let body = json!({"plaintext": b64(b"payroll")});
    let path = format!("/v1/keys/{key}/encrypt");
    native("alice").post::<Value>(&path, &body).unwrap();
    expect_api_error(
        native("bob").post::<Value>(&path, &body),
        403,
        "AccessDenied",
    );
}

#[test]
fn put_key_policy_waits_for_the_bind_policy_quorum() {
    let scene = Scene::new();
    let key = scene.key(None);
    let officer = scene.server.client(&scene.server.officer()).unwrap();
    let second = scene
        .server
        .issue_client("officer-b", "crypto-officer", None)
        .unwrap();
    // bind-policy may not need more approvals than issuing officers does.
    for class in ["issue-officer", "issue-client", "bind-policy"] {
        officer
            .put::<Value>(&format!("/v1/quorum/{class}"), &json!({"required": 2}))
            .unwrap();
    }
    let policy = json!({"Statement": [root_statement(),
        {"Effect": "Deny", "Principal": {"AWS": user_arn("bob")}, "Action": "kms:*",
         "Resource": "*"}]})
    .to_string();

    let (code, message) = scene.put(&key, &policy, false).unwrap_err();
    assert_eq!(code, "KMSInvalidStateException", "{message}");
    assert!(message.contains("approval pending"), "{message}");
    let operation = message
        .split_whitespace()
        .nth(3)
        .unwrap()
        .trim_end_matches(',')
        .to_owned();
    // Nothing changed until officers approve.
    assert!(scene.get(&key).contains("key-default-1"));
    assert_eq!(scene.encrypt(&scene.bob, &key, &[]), None);
    let pending: Value = officer.get(&format!("/v1/approvals/{operation}")).unwrap();
    assert_eq!(pending["operation"]["class"], "bind-policy", "{pending}");

    for profile in [scene.server.officer(), second] {
        let out = scene
            .server
            .deployment()
            .command()
            .args(["approve", &operation, "--profile"])
            .arg(profile)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    assert_eq!(scene.get(&key), policy);
    assert_eq!(
        scene.encrypt(&scene.bob, &key, &[]).as_deref(),
        Some("AccessDeniedException")
    );
    assert!(scene.audited("olga", "bind-policy", "allowed", "aws key policy sha384:"));
}

#[test]
fn malformed_oversized_unknown_operator_and_lockout_documents_are_refused_and_audited() {
    let scene = Scene::new();
    let key = scene.key(None);
    let statement = |extra: Value| {
        let mut s = root_statement();
        s.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({"Version": "2012-10-17", "Statement": [s]}).to_string()
    };
    let oversized = json!({"Version": "2012-10-17", "Id": "x".repeat(33 * 1024),
                           "Statement": [root_statement()]})
    .to_string();
    let cases = [
        ("not JSON", "my policy".to_owned(), "not valid JSON"),
        ("oversized", oversized, "the limit is 32768 bytes"),
        (
            "unknown operator",
            statement(json!({"Condition": {"StringEqualsSometimes": {"kms:CallerAccount": "1"}}})),
            "unknown condition operator `StringEqualsSometimes`",
        ),
        (
            "bad effect",
            statement(json!({"Effect": "Permit"})),
            "Effect \"Permit\"",
        ),
        (
            "bad principal",
            statement(json!({"Principal": {"AWS": "alice"}})),
            "invalid principals",
        ),
        (
            "lockout",
            json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": user_arn("alice")},
                                  "Action": "kms:Encrypt", "Resource": "*"}]})
            .to_string(),
            "will not allow you to update the key policy",
        ),
    ];
    for (what, document, expected) in &cases {
        let (code, message) = scene.put(&key, document, false).unwrap_err();
        assert_eq!(
            code, "MalformedPolicyDocumentException",
            "{what}: {message}"
        );
        assert!(message.contains(expected), "{what}: {message}");
        assert!(
            scene.get(&key).contains("key-default-1"),
            "{what}: nothing stored"
        );
    }
    // CreateKey refuses the same way, creating nothing.
    let before = scene
        .block(scene.officer.list_keys().send())
        .unwrap()
        .keys()
        .len();
    let refused = scene
        .block(scene.officer.create_key().policy(&cases[2].1).send())
        .unwrap_err();
    assert_eq!(refused.code(), Some("MalformedPolicyDocumentException"));
    let after = scene
        .block(scene.officer.list_keys().send())
        .unwrap()
        .keys()
        .len();
    assert_eq!(before, after, "no key was created");
    // Every refusal is audited, naming the document by its digest.
    assert!(scene.audited(
        "olga",
        "bind-policy",
        "denied",
        "unknown condition operator `StringEqualsSometimes`",
    ));
    assert!(scene.audited(
        "olga",
        "bind-policy",
        "denied",
        "malformed key policy sha384:"
    ));
    assert!(scene.audited(
        "olga",
        "bind-policy",
        "denied",
        "will not allow you to update the key policy",
    ));
    // With BypassPolicyLockoutSafetyCheck the lockout document is stored, and then even
    // the officer cannot change it back: it allows only alice's encryption.
    scene.put(&key, &cases[5].1, true).unwrap();
    let (code, _) = scene.put(&key, &statement(json!({})), false).unwrap_err();
    assert_eq!(code, "AccessDeniedException");
    assert_eq!(scene.encrypt(&scene.alice, &key, &[]), None);
}

#[test]
fn a_key_policy_edited_in_the_store_is_refused_as_tampering() {
    let mut scene = Scene::new();
    let key = scene.key(None);
    let strict = json!({"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": user_arn("olga")}, "Action": "kms:*",
         "Resource": "*"}]});
    scene.put(&key, &strict.to_string(), false).unwrap();
    assert_eq!(
        scene.encrypt(&scene.alice, &key, &[]).as_deref(),
        Some("AccessDeniedException")
    );

    // The attacker, who can write kastell.db but not use the token, widens the policy.
    let lenient = json!({"Statement": [root_statement()]}).to_string();
    let changed = scene
        .server
        .edit_store_offline(
            "UPDATE keys SET key_policy = ?1 WHERE id = ?2",
            rusqlite::params![lenient, key],
        )
        .unwrap();
    assert_eq!(changed, 1);

    let user = scene
        .server
        .new_client("alice", "crypto-user", None)
        .unwrap();
    let message = expect_api_error(
        user.post::<Value>(
            &format!("/v1/keys/{key}/encrypt"),
            &json!({"plaintext": b64(b"payroll")}),
        ),
        409,
        "TamperDetected",
    );
    assert!(message.contains("changed outside Kastell"), "{message}");
    // Through the AWS endpoint (on its new port) too: never allowed.
    let alice = sdk(&scene.server, &scene.alice_key);
    let refused = scene
        .block(
            alice
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
