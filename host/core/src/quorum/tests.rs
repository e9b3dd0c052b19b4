#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use serde_json::json;

use super::canonical::{check_action, key_of};
use super::request::parse_setting;
use super::{OperationClass, PendingOperation, PendingState, canonical_bytes, digest};

fn op(action: serde_json::Value) -> PendingOperation {
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

#[test]
fn canonical_bytes_sort_members_at_every_depth_without_whitespace() {
    let bytes = canonical_bytes(&op(json!({"z": 1, "a": {"y": [true, null], "b": -2}})));
    let expected = concat!(
        "kastell-approval-v1\n",
        r#"{"action":{"a":{"b":-2,"y":[true,null]},"z":1},"class":"delete-key","#,
        r#""created_ms":1764064800000,"expires_ms":1764151200000,"#,
        r#""id":"6f1c2d3e-0000-4000-8000-000000000001","requester":"alice"}"#
    );
    assert_eq!(String::from_utf8(bytes).unwrap(), expected);
}

#[test]
fn strings_escape_quotes_backslashes_and_control_characters_only() {
    let bytes = canonical_bytes(&op(json!({"s": "a\"b\\c\n\t\u{1}\u{7f}é€"})));
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.contains(r#"{"s":"a\"b\\c\n\t\u0001"#), "{text}");
    assert!(text.contains("\u{7f}é€\"}"), "{text}");
    // Whatever serde_json writes for the same string is the same bytes.
    let s = "a\"b\\c\n\t\u{1}\u{7f}é€\u{8}\u{c}\r\u{1f}";
    let mut mine = canonical_bytes(&op(json!({ "s": s })));
    mine.drain(..super::APPROVAL_DOMAIN.len());
    let theirs = serde_json::to_string(&json!({"action": {"s": s}})).unwrap();
    assert!(
        String::from_utf8(mine)
            .unwrap()
            .starts_with(&theirs[..theirs.len() - 1])
    );
}

#[test]
fn the_digest_is_sha384_of_the_canonical_bytes() {
    use sha2::Digest as _;
    let op = op(json!({"key": "k"}));
    let expected: [u8; 48] = sha2::Sha384::digest(canonical_bytes(&op)).into();
    assert_eq!(digest(&op), expected);
}

#[test]
fn actions_must_be_objects_of_integers_and_shallow() {
    assert!(check_action(&json!({"a": [1, -2, u64::MAX]})).is_ok());
    assert!(check_action(&json!([1])).is_err());
    assert!(check_action(&json!({"a": 1.5})).is_err());
    let mut deep = json!(1);
    for _ in 0..40 {
        deep = json!({ "d": deep });
    }
    assert!(check_action(&deep).is_err());
}

#[test]
fn the_key_an_action_names_is_found_at_the_top_or_one_level_down() {
    let id = kastell_proto::KeyId::random();
    assert_eq!(key_of(&json!({"key": id.to_string()})), Some(id));
    assert_eq!(
        key_of(&json!({"delete-key": {"key-id": id.to_string()}})),
        Some(id)
    );
    assert_eq!(key_of(&json!({"key": "alias/payments"})), None);
    assert_eq!(key_of(&json!({"set-quorum": {"class": "quorum"}})), None);
}

#[test]
fn settings_parse_and_stay_in_range() {
    let setting =
        parse_setting(&json!({"set-quorum": {"class": "bind-policy", "required": 3}})).unwrap();
    assert_eq!(
        (setting.class, setting.required),
        (OperationClass::BindPolicy, 3)
    );
    for bad in [
        json!({"set-quorum": {"class": "bind-policy", "required": 0}}),
        json!({"set-quorum": {"class": "bind-policy", "required": 17}}),
        json!({"set-quorum": {"class": "nope", "required": 2}}),
        json!({"set-quorum": {"class": "quorum", "required": 2, "x": 1}}),
        json!({"other": {}}),
    ] {
        assert!(parse_setting(&bad).is_err(), "{bad}");
    }
}

#[test]
fn class_and_state_names_round_trip() {
    for class in OperationClass::ALL {
        assert_eq!(class.to_string().parse::<OperationClass>().unwrap(), class);
        assert_eq!(serde_json::to_value(class).unwrap(), json!(class.as_str()));
    }
    for state in PendingState::ALL {
        assert_eq!(state.to_string().parse::<PendingState>().unwrap(), state);
    }
    let err = "delete".parse::<OperationClass>().unwrap_err();
    assert!(err.to_string().contains("delete-key, bind-policy"), "{err}");
}
