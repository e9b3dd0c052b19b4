//! Key policy parsing and evaluation, statement by statement.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString as _};
use alloc::vec::Vec;

use super::*;

const ACCOUNT: &str = "111122223333";
const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const BOB: &str = "arn:aws:iam::111122223333:user/bob";
const KEY: &str = "arn:aws:kms:eu-west-1:111122223333:key/0b7f4a2e-5d1c-4d7e-9a57-3c2b1f0e9d8c";

fn request(action: &str, principal: &str, keys: &[(&str, &[&str])]) -> Request {
    Request {
        action: action.into(),
        principal: principal.into(),
        principal_account: ACCOUNT.into(),
        resource: KEY.into(),
        keys: keys
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect::<BTreeMap<String, Vec<String>>>(),
    }
}

fn parse(json: &serde_json::Value) -> KeyPolicy {
    KeyPolicy::parse(&json.to_string()).expect("valid policy")
}

fn refused(json: &str) -> String {
    KeyPolicy::parse(json).expect_err("malformed").0
}

#[test]
fn the_default_policy_allows_every_principal_of_the_account_and_no_other() {
    let policy = KeyPolicy::parse(&default_policy(ACCOUNT)).expect("default parses");
    assert_eq!(
        policy.evaluate(&request("kms:Encrypt", ALICE, &[])),
        Decision::Allow
    );
    let mut stranger = request("kms:Encrypt", "arn:aws:iam::999999999999:user/eve", &[]);
    stranger.principal_account = "999999999999".into();
    assert_eq!(policy.evaluate(&stranger), Decision::ImplicitDeny);
    let value: serde_json::Value = serde_json::from_str(&default_policy(ACCOUNT)).unwrap();
    assert_eq!(
        value,
        serde_json::json!({
            "Version": "2012-10-17",
            "Id": "key-default-1",
            "Statement": [{
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                "Action": "kms:*",
                "Resource": "*"
            }]
        })
    );
}

#[test]
fn an_explicit_deny_on_an_encryption_context_value_wins_over_allow() {
    let policy = parse(&serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "NoSecret", "Effect": "Deny", "Principal": "*", "Action": "kms:Encrypt",
             "Resource": "*",
             "Condition": {"StringEquals": {"kms:EncryptionContext:Department": "secret"}}}
        ]
    }));
    let secret = request(
        "kms:Encrypt",
        ALICE,
        &[("kms:encryptioncontext:department", &["secret"])],
    );
    assert_eq!(
        policy.evaluate(&secret),
        Decision::ExplicitDeny("NoSecret".into())
    );
    let other = request(
        "kms:Encrypt",
        ALICE,
        &[("kms:encryptioncontext:department", &["sales"])],
    );
    assert_eq!(policy.evaluate(&other), Decision::Allow);
    assert_eq!(
        policy.evaluate(&request("kms:Encrypt", ALICE, &[])),
        Decision::Allow
    );
}

#[test]
fn an_allow_for_one_principal_does_not_allow_another() {
    let policy = parse(&serde_json::json!({
        "Statement": {"Effect": "Allow", "Principal": {"AWS": [ALICE]},
                      "Action": ["kms:Encrypt", "kms:Describe*"], "Resource": "*"}
    }));
    assert_eq!(
        policy.evaluate(&request("kms:Encrypt", ALICE, &[])),
        Decision::Allow
    );
    assert_eq!(
        policy.evaluate(&request("kms:describekey", ALICE, &[])),
        Decision::Allow,
        "actions ignore case"
    );
    assert_eq!(
        policy.evaluate(&request("kms:Decrypt", ALICE, &[])),
        Decision::ImplicitDeny
    );
    assert_eq!(
        policy.evaluate(&request("kms:Encrypt", BOB, &[])),
        Decision::ImplicitDeny
    );
}

#[test]
fn not_action_not_principal_and_not_resource_invert_their_element() {
    let policy = parse(&serde_json::json!({
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "NotAction": "kms:Decrypt", "Resource": "*"},
            {"Effect": "Deny", "NotPrincipal": {"AWS": ALICE}, "Action": "kms:Sign",
             "Resource": "*"},
            {"Effect": "Deny", "Principal": "*", "Action": "kms:Verify",
             "NotResource": KEY}
        ]
    }));
    assert_eq!(
        policy.evaluate(&request("kms:Encrypt", BOB, &[])),
        Decision::Allow
    );
    assert_eq!(
        policy.evaluate(&request("kms:Decrypt", BOB, &[])),
        Decision::ImplicitDeny
    );
    assert_eq!(
        policy.evaluate(&request("kms:Sign", BOB, &[])),
        Decision::ExplicitDeny("#2".into())
    );
    assert_eq!(
        policy.evaluate(&request("kms:Sign", ALICE, &[])),
        Decision::Allow
    );
    assert_eq!(
        policy.evaluate(&request("kms:Verify", ALICE, &[])),
        Decision::Allow
    );
}

fn holds(condition: serde_json::Value, keys: &[(&str, &[&str])]) -> bool {
    let policy = parse(&serde_json::json!({
        "Statement": {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*",
                      "Condition": condition}
    }));
    policy.evaluate(&request("kms:Encrypt", ALICE, keys)) == Decision::Allow
}

#[test]
fn condition_operators_follow_iam() {
    const DEPT: &str = "kms:encryptioncontext:dept";
    /// Condition keys of a request, with their values.
    type Keys = &'static [(&'static str, &'static [&'static str])];
    let cases: Vec<(serde_json::Value, Keys, bool)> = alloc::vec![
        (
            serde_json::json!({"StringEquals": {"kms:EncryptionContext:Dept": "a"}}),
            &[(DEPT, &["a"])],
            true
        ),
        (
            serde_json::json!({"StringEquals": {"kms:EncryptionContext:Dept": "a"}}),
            &[(DEPT, &["A"])],
            false
        ),
        (
            serde_json::json!({"StringEquals": {"kms:EncryptionContext:Dept": ["x", "a"]}}),
            &[(DEPT, &["a"])],
            true
        ),
        (
            serde_json::json!({"StringEquals": {"kms:EncryptionContext:Dept": "a"}}),
            &[],
            false
        ),
        (
            serde_json::json!({"StringNotEquals": {"kms:EncryptionContext:Dept": "a"}}),
            &[],
            true
        ),
        (
            serde_json::json!({"StringNotEquals": {"kms:EncryptionContext:Dept": "a"}}),
            &[(DEPT, &["a"])],
            false
        ),
        (
            serde_json::json!({"StringNotEquals": {"kms:EncryptionContext:Dept": "a"}}),
            &[(DEPT, &["b"])],
            true
        ),
        (
            serde_json::json!({"StringEqualsIfExists": {"kms:EncryptionContext:Dept": "a"}}),
            &[],
            true
        ),
        (
            serde_json::json!({"StringEqualsIfExists": {"kms:EncryptionContext:Dept": "a"}}),
            &[(DEPT, &["b"])],
            false
        ),
        (
            serde_json::json!({"StringLike": {"kms:EncryptionContext:Dept": "sal*"}}),
            &[(DEPT, &["sales"])],
            true
        ),
        (
            serde_json::json!({"StringLike": {"kms:EncryptionContext:Dept": "s?les"}}),
            &[(DEPT, &["sales"])],
            true
        ),
        (
            serde_json::json!({"StringLike": {"kms:EncryptionContext:Dept": "sal*"}}),
            &[(DEPT, &["hr"])],
            false
        ),
        (
            serde_json::json!({"StringNotLike": {"kms:EncryptionContext:Dept": "sal*"}}),
            &[(DEPT, &["hr"])],
            true
        ),
        (
            serde_json::json!({"StringEqualsIgnoreCase": {"kms:EncryptionContext:Dept": "a"}}),
            &[(DEPT, &["A"])],
            true
        ),
        (
            serde_json::json!({"Bool": {"kms:GrantIsForAWSResource": "true"}}),
            &[("kms:grantisforawsresource", &["True"])],
            true
        ),
        (
            serde_json::json!({"Bool": {"kms:GrantIsForAWSResource": true}}),
            &[("kms:grantisforawsresource", &["false"])],
            false
        ),
        (
            serde_json::json!({"Null": {"kms:EncryptionContext:Dept": "true"}}),
            &[],
            true
        ),
        (
            serde_json::json!({"Null": {"kms:EncryptionContext:Dept": "true"}}),
            &[(DEPT, &["a"])],
            false
        ),
        (
            serde_json::json!({"Null": {"kms:EncryptionContext:Dept": "false"}}),
            &[(DEPT, &["a"])],
            true
        ),
        (
            serde_json::json!({"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": ["dept", "x"]}}),
            &[("kms:encryptioncontextkeys", &["a", "dept"])],
            true
        ),
        (
            serde_json::json!({"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "dept"}}),
            &[],
            false
        ),
        (
            serde_json::json!({"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["dept", "x"]}}),
            &[("kms:encryptioncontextkeys", &["a", "dept"])],
            false
        ),
        (
            serde_json::json!({"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["dept", "a"]}}),
            &[("kms:encryptioncontextkeys", &["a", "dept"])],
            true
        ),
        (
            serde_json::json!({"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": "dept"}}),
            &[],
            true
        ),
        (
            serde_json::json!({"ForAllValues:StringNotEquals": {"kms:EncryptionContextKeys": "secret"}}),
            &[("kms:encryptioncontextkeys", &["a", "dept"])],
            true
        ),
        (
            serde_json::json!({"StringEquals": {"kms:CallerAccount": "111122223333",
                                             "kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}}),
            &[
                ("kms:calleraccount", &["111122223333"]),
                ("kms:encryptionalgorithm", &["SYMMETRIC_DEFAULT"])
            ],
            true
        ),
        (
            serde_json::json!({"StringEquals": {"kms:CallerAccount": "111122223333",
                                             "kms:EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}}),
            &[
                ("kms:calleraccount", &["111122223333"]),
                ("kms:encryptionalgorithm", &["SYMMETRIC_DEFAULT"])
            ],
            false
        ),
        (
            serde_json::json!({"StringEqualsIgnoreCase": {"kms:RecipientAttestation:ImageSha384": "ab"}}),
            &[],
            false
        ),
        (
            serde_json::json!({"StringEqualsIfExists": {"kms:RecipientAttestation:PCR0": "ab"}}),
            &[],
            true
        ),
    ];
    for (i, (condition, keys, expected)) in cases.into_iter().enumerate() {
        assert_eq!(
            holds(condition.clone(), keys),
            expected,
            "case {i}: {condition}"
        );
    }
}

#[test]
fn malformed_documents_are_refused_naming_what_is_wrong() {
    let too_big = alloc::format!(
        "{{\"Statement\":[],\"Id\":\"{}\"}}",
        "x".repeat(MAX_POLICY_BYTES)
    );
    assert!(refused(&too_big).contains("limit is 32768 bytes"));
    assert!(refused("my policy").contains("not valid JSON"));
    assert!(refused("[]").contains("JSON object"));
    assert!(refused(r#"{"Version":"2020-01-01","Statement":[]}"#).contains("Version"));
    assert!(refused(r#"{"Version":"2012-10-17"}"#).contains("no Statement"));
    assert!(refused(r#"{"Statement":[]}"#).contains("empty"));
    let base = |statement: &str| alloc::format!(r#"{{"Statement":[{statement}]}}"#);
    assert!(
        refused(&base(
            r#"{"Principal":"*","Action":"kms:*","Resource":"*"}"#
        ))
        .contains("no Effect")
    );
    assert!(
        refused(&base(
            r#"{"Effect":"Permit","Principal":"*","Action":"kms:*","Resource":"*"}"#
        ))
        .contains("Effect \"Permit\"")
    );
    assert!(
        refused(&base(
            r#"{"Effect":"Allow","Action":"kms:*","Resource":"*"}"#
        ))
        .contains("no Principal")
    );
    assert!(
        refused(&base(
            r#"{"Effect":"Allow","Principal":"alice","Action":"kms:*","Resource":"*"}"#
        ))
        .contains("invalid principals")
    );
    assert!(
        refused(&base(
            r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::12:user/x"},"Action":"kms:*","Resource":"*"}"#
        ))
        .contains("invalid principals")
    );
    assert!(
        refused(&base(
            r#"{"Effect":"Allow","Principal":"*","Action":"Encrypt","Resource":"*"}"#
        ))
        .contains("prefaced by a vendor")
    );
    assert!(
        refused(&base(
            r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","NotAction":"kms:X","Resource":"*"}"#
        ))
        .contains("not both")
    );
    assert!(
        refused(&base(
            r#"{"Effect":"Allow","Principal":"*","Action":"kms:*"}"#
        ))
        .contains("no Resource")
    );
    assert!(
        refused(&base(
            r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Extra":1}"#
        ))
        .contains("unknown element `Extra`")
    );
    let unknown = refused(&base(
        r#"{"Sid":"S","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*",
            "Condition":{"StringEqualz":{"kms:CallerAccount":"1"}}}"#,
    ));
    assert!(
        unknown.contains("unknown condition operator `StringEqualz`")
            && unknown.contains("Sid \"S\""),
        "{unknown}"
    );
    assert!(
        refused(&base(
            r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*",
                "Condition":{"NumericLessThan":{"kms:X":"1"}}}"#
        ))
        .contains("`NumericLessThan` is not supported by Kastell")
    );
}

#[test]
fn wildcards_match_as_iam_globs() {
    assert!(glob("kms:*", "kms:Encrypt", true));
    assert!(glob("kms:Describe*", "kms:DescribeKey", true));
    assert!(glob("kms:*Key", "kms:DescribeKey", true));
    assert!(glob("*", "", false));
    assert!(!glob("kms:Describe*", "kms:Decrypt", true));
    assert!(!glob("a?c", "ac", false));
    assert!(glob("a*b*c", "axxbyyc", false));
    assert!(!glob("A", "a", false));
}
