#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use serde_json::json;

use super::QuorumSetting;
use super::canonical::canonical_json;
use super::request::{check_order, check_required};
use super::{PendingOperation, canonical_bytes, digest};
use kastell_proto::{KeyId, OperationClass, PendingState, QuorumAction};

fn op(action: QuorumAction) -> PendingOperation {
    PendingOperation {
        id: "6f1c2d3e-0000-4000-8000-000000000001".into(),
        class: OperationClass::DeleteKey,
        action,
        requester: "alice".into(),
        created_ms: 1_764_064_800_000,
        expires_ms: 1_764_151_200_000,
        state: PendingState::Pending,
        outcome: String::new(),
        digest: String::new(),
        approvals: Vec::new(),
    }
}

fn set_quorum(class: OperationClass, required: u32) -> QuorumAction {
    QuorumAction::SetQuorum { class, required }
}

#[test]
fn canonical_bytes_sort_members_at_every_depth_without_whitespace() {
    let bytes = canonical_bytes(&op(set_quorum(OperationClass::BindPolicy, 3)));
    let expected = concat!(
        "kastell-approval-v1\n",
        r#"{"action":{"set-quorum":{"class":"bind-policy","required":3}},"class":"delete-key","#,
        r#""created_ms":1764064800000,"expires_ms":1764151200000,"#,
        r#""id":"6f1c2d3e-0000-4000-8000-000000000001","requester":"alice"}"#
    );
    assert_eq!(String::from_utf8(bytes).unwrap(), expected);
    let nested = canonical_json(&json!({"z": 1, "a": {"y": [true, null], "b": -2}}));
    assert_eq!(
        String::from_utf8(nested).unwrap(),
        r#"{"a":{"b":-2,"y":[true,null]},"z":1}"#
    );
}

#[test]
fn strings_escape_quotes_backslashes_and_control_characters_only() {
    let text =
        String::from_utf8(canonical_json(&json!({"s": "a\"b\\c\n\t\u{1}\u{7f}é€"}))).unwrap();
    assert!(text.contains(r#"{"s":"a\"b\\c\n\t\u0001"#), "{text}");
    assert!(text.contains("\u{7f}é€\"}"), "{text}");
    // Whatever serde_json writes for the same string is the same bytes.
    let s = "a\"b\\c\n\t\u{1}\u{7f}é€\u{8}\u{c}\r\u{1f}";
    let mine = canonical_json(&json!({"action": { "s": s }}));
    let theirs = serde_json::to_string(&json!({"action": {"s": s}})).unwrap();
    assert_eq!(String::from_utf8(mine).unwrap(), theirs);
}

#[test]
fn the_digest_is_sha384_of_the_canonical_bytes() {
    use sha2::Digest as _;
    let op = op(set_quorum(OperationClass::Quorum, 2));
    let expected: [u8; 48] = sha2::Sha384::digest(canonical_bytes(&op)).into();
    assert_eq!(digest(&op), expected);
}

#[test]
fn the_key_an_action_names_is_its_key_member() {
    let id = KeyId::random();
    let action = QuorumAction::ScheduleDeletion { key: id, days: 7 };
    assert_eq!(action.key(), Some(&id));
    assert_eq!(set_quorum(OperationClass::Quorum, 2).key(), None);
}

#[test]
fn settings_stay_in_range() {
    assert_eq!(check_required(3), Ok(3));
    for bad in [0, 17, u64::MAX] {
        assert!(check_required(bad).is_err(), "{bad}");
    }
    for bad in [
        json!({"set-quorum": {"class": "nope", "required": 2}}),
        json!({"set-quorum": {"class": "quorum", "required": 2, "x": 1}}),
        json!({"other": {}}),
    ] {
        assert!(
            serde_json::from_value::<QuorumAction>(bad.clone()).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn class_and_state_names_round_trip() {
    for &class in OperationClass::ALL {
        assert_eq!(class.to_string().parse::<OperationClass>().unwrap(), class);
        assert_eq!(serde_json::to_value(class).unwrap(), json!(class.as_str()));
    }
    for &state in PendingState::ALL {
        assert_eq!(state.to_string().parse::<PendingState>().unwrap(), state);
    }
    let err = "delete".parse::<OperationClass>().unwrap_err();
    assert!(err.to_string().contains("delete-key, bind-policy"), "{err}");
}

fn settings(pairs: &[(OperationClass, u32)]) -> Vec<QuorumSetting> {
    OperationClass::ALL
        .iter()
        .map(|&class| QuorumSetting {
            class,
            required: pairs
                .iter()
                .find(|(c, _)| *c == class)
                .map_or(1, |&(_, required)| required),
        })
        .collect()
}

#[test]
fn no_class_may_need_more_approvals_than_issuing_an_officer_or_a_client() {
    use OperationClass::{BindPolicy, DeleteKey, IssueClient, IssueOfficer, Quorum};
    let defaults = settings(&[]);
    // The README's old hardening example: delete-key at 2 with issue-officer at 1.
    let err = check_order(&defaults, DeleteKey, 2).expect_err("above issue-officer");
    assert!(
        err.contains("delete-key") && err.contains("issue-officer") && err.contains("raise"),
        "{err}"
    );
    // issue-client above issue-officer is refused as well.
    let err = check_order(&defaults, IssueClient, 2).expect_err("above issue-officer");
    assert!(err.contains("issue-client"), "{err}");
    // With issue-officer raised, issue-client may follow, then the others.
    let officer = settings(&[(IssueOfficer, 2)]);
    assert_eq!(check_order(&officer, IssueClient, 2), Ok(()));
    let err = check_order(&officer, Quorum, 2).expect_err("above issue-client");
    assert!(err.contains("issue-client"), "{err}");
    let both = settings(&[(IssueOfficer, 3), (IssueClient, 2)]);
    assert_eq!(check_order(&both, BindPolicy, 2), Ok(()));
    assert!(check_order(&both, BindPolicy, 3).is_err());
    // Lowering a ceiling under a class is refused, naming what to lower first.
    let raised = settings(&[(IssueOfficer, 2), (IssueClient, 2), (DeleteKey, 2)]);
    let err = check_order(&raised, IssueOfficer, 1).expect_err("under delete-key");
    assert!(err.contains("lower"), "{err}");
    assert_eq!(check_order(&raised, DeleteKey, 1), Ok(()));
}
