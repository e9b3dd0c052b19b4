//! Grant validation and decisions, member by member.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use super::*;

const ACCOUNT: &str = "111122223333";
const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const BOB: &str = "arn:aws:iam::111122223333:user/bob";

fn context(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

fn new(operations: &[&str], constraints: Option<GrantConstraints>) -> NewGrant {
    NewGrant {
        grantee_principal: ALICE.into(),
        retiring_principal: None,
        operations: operations.iter().map(ToString::to_string).collect(),
        constraints,
        name: None,
    }
}

fn grant(operations: &[&str], constraints: Option<GrantConstraints>) -> Grant {
    Grant {
        grant_id: "ab".repeat(32),
        name: None,
        grantee_principal: ALICE.into(),
        retiring_principal: None,
        issuing_principal: BOB.into(),
        operations: operations.iter().map(ToString::to_string).collect(),
        constraints,
        created: 0,
    }
}

fn equals(pairs: &[(&str, &str)]) -> Option<GrantConstraints> {
    Some(GrantConstraints {
        encryption_context_equals: Some(context(pairs)),
        ..GrantConstraints::default()
    })
}

fn subset(pairs: &[(&str, &str)]) -> Option<GrantConstraints> {
    Some(GrantConstraints {
        encryption_context_subset: Some(context(pairs)),
        ..GrantConstraints::default()
    })
}

#[test]
fn a_grant_allows_its_operations_to_its_grantee_only() {
    let g = grant(&["Decrypt", "Encrypt"], None);
    let none = BTreeMap::new();
    assert!(g.allows("kms:Decrypt", ALICE, ACCOUNT, &none));
    assert!(g.allows("kms:Encrypt", ALICE, ACCOUNT, &none));
    assert!(!g.allows("kms:Sign", ALICE, ACCOUNT, &none));
    assert!(!g.allows("kms:Decrypt", BOB, ACCOUNT, &none));
    assert!(!g.allows("kastell:Release", ALICE, ACCOUNT, &none));
    // The account's root names each of its principals, of that account only.
    let mut root = grant(&["Decrypt"], None);
    root.grantee_principal = "arn:aws:iam::111122223333:root".into();
    assert!(root.allows("kms:Decrypt", BOB, ACCOUNT, &none));
    assert!(!root.allows("kms:Decrypt", BOB, "444455556666", &none));
}

#[test]
fn equals_allows_exactly_that_context_and_subset_any_context_including_it() {
    let g = grant(&["Decrypt"], equals(&[("dept", "IT")]));
    assert!(g.allows("kms:Decrypt", ALICE, ACCOUNT, &context(&[("dept", "IT")])));
    assert!(!g.allows("kms:Decrypt", ALICE, ACCOUNT, &context(&[("dept", "HR")])));
    assert!(!g.allows("kms:Decrypt", ALICE, ACCOUNT, &context(&[("Dept", "IT")])));
    assert!(!g.allows(
        "kms:Decrypt",
        ALICE,
        ACCOUNT,
        &context(&[("dept", "IT"), ("more", "x")])
    ));
    assert!(!g.allows("kms:Decrypt", ALICE, ACCOUNT, &BTreeMap::new()));
    let s = grant(&["Decrypt"], subset(&[("dept", "IT")]));
    assert!(s.allows(
        "kms:Decrypt",
        ALICE,
        ACCOUNT,
        &context(&[("dept", "IT"), ("more", "x")])
    ));
    assert!(!s.allows("kms:Decrypt", ALICE, ACCOUNT, &context(&[("more", "x")])));
}

#[test]
fn validation_refuses_what_aws_refuses_naming_the_member() {
    let unknown = new(&["Decrypt", "Destroy"], None).validate();
    assert!(
        matches!(&unknown, Err(InvalidGrant::Validation(why)) if why.contains("'Destroy'")),
        "{unknown:?}"
    );
    assert!(matches!(
        new(&[], None).validate(),
        Err(InvalidGrant::Validation(_))
    ));
    let both = Some(GrantConstraints {
        encryption_context_subset: Some(context(&[("a", "1")])),
        encryption_context_equals: Some(context(&[("a", "1")])),
    });
    let refused = new(&["Decrypt"], both).validate();
    assert!(
        matches!(&refused, Err(InvalidGrant::Validation(why)) if why.contains("not both")),
        "{refused:?}"
    );
    let describe = new(&["DescribeKey"], equals(&[("a", "1")])).validate();
    assert!(
        matches!(&describe, Err(InvalidGrant::Validation(why)) if why.contains("DescribeKey")),
        "{describe:?}"
    );
    let nine: Vec<(String, String)> = (0..9).map(|i| (i.to_string(), "v".into())).collect();
    let nine: Vec<(&str, &str)> = nine.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert!(matches!(
        new(&["Decrypt"], equals(&nine)).validate(),
        Err(InvalidGrant::Validation(_))
    ));
    let mut named = new(&["Decrypt"], None);
    named.name = Some("has space".into());
    assert!(matches!(named.validate(), Err(InvalidGrant::Validation(_))));
}

#[test]
fn principals_must_be_principal_arns() {
    for good in [
        ALICE,
        "arn:aws:iam::111122223333:root",
        "arn:aws:iam::111122223333:role/app",
    ] {
        assert_eq!(principal("GranteePrincipal", good), Ok(()), "{good}");
    }
    for not_arn in [
        "alice",
        "arn:aws:iam::1111:user/alice",
        "arn:aws:kms:eu-west-1:111122223333:key/x",
        "arn:aws:iam::111122223333:group/admins",
        "arn:aws:iam::111122223333:user/",
    ] {
        assert!(
            matches!(
                principal("GranteePrincipal", not_arn),
                Err(InvalidGrant::InvalidArn(_))
            ),
            "{not_arn}"
        );
    }
    for bad in ["", "a b", &"a".repeat(257)] {
        assert!(
            matches!(
                principal("GranteePrincipal", bad),
                Err(InvalidGrant::Validation(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn operations_are_put_in_one_order_so_equal_requests_compare_equal() {
    let a = new(&["Encrypt", "Decrypt", "Encrypt"], None).validate();
    let b = new(&["Decrypt", "Encrypt"], None).validate();
    assert_eq!(a, b);
    assert_eq!(
        a.map(|g| g.operations),
        Ok(vec!["Decrypt".to_string(), "Encrypt".to_string()])
    );
}

#[test]
fn a_child_grant_must_be_at_least_as_constrained_as_its_parent() {
    let parent = subset(&[("dept", "IT")]);
    assert!(GrantConstraints::within(
        subset(&[("dept", "IT"), ("x", "1")]).as_ref(),
        parent.as_ref()
    ));
    assert!(GrantConstraints::within(
        equals(&[("dept", "IT")]).as_ref(),
        parent.as_ref()
    ));
    assert!(!GrantConstraints::within(None, parent.as_ref()));
    assert!(!GrantConstraints::within(
        subset(&[("dept", "HR")]).as_ref(),
        parent.as_ref()
    ));
    assert!(GrantConstraints::within(None, None));
}

#[test]
fn grant_tokens_name_key_and_grant_and_nothing_else_parses() {
    let id = "0f".repeat(32);
    let token = grant_token("k-1", &id);
    assert_eq!(parse_grant_token(&token), Some(("k-1", id.as_str())));
    assert_eq!(
        parse_grant_token("AQpAM2RhZTk1MGMyNTk2ZmZmMzJiZWJhYTRhM2Yx"),
        None
    );
    assert_eq!(parse_grant_token("kastell-grant-token-v1.k-1.abc"), None);
    assert!(is_grant_id(&id) && !is_grant_id("xyz"));
}
