//! The attack: a change whose first attempt was decided on a key record this host held while
//! another process (or host) changed the key, getting in on the retry. The server holds key
//! records in memory and learns of another process's change within `[store]
//! change_check_ms`; a commit on a record that moved fails (`KeyChanged`) and is retried.
//! The retry must decide again on the key as it now is — here a key disabled by the
//! command line on the same store, then a `CreateGrant` through the AWS endpoint, decided
//! first on the held record (still enabled): refused `DisabledException`, no grant stored.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use aws_sdk_kms::error::ProvideErrorMetadata as _;
use aws_sdk_kms::types::GrantOperation;
use kastell_tests::aws::{self, ACCOUNT, sdk};
use kastell_tests::server::{Deployment, Setup, TestServer};

#[test]
fn a_grant_asked_through_a_held_record_of_a_key_disabled_offline_is_refused_on_the_retry() {
    let deployment = Deployment::init(&Setup::soft()).unwrap();
    aws::enable(&deployment, "").unwrap();
    // The server reads the change counter once a minute: the offline change below is not
    // yet known to it when the grant is asked.
    deployment
        .append_config("\n[store]\nchange_check_ms = 60000\n")
        .unwrap();
    let server = TestServer::serve(deployment).unwrap();
    let olga = server
        .access_key("olga", &["crypto-officer"], None)
        .unwrap();
    let officer = sdk(&server, &olga);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let key = runtime
        .block_on(officer.create_key().send())
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    // The server reads the key (and holds its record).
    let listed = runtime
        .block_on(officer.list_grants().key_id(&key).send())
        .unwrap();
    assert!(listed.grants().is_empty());

    // Another process disables the key on the same store.
    let config = server.deployment().config().display().to_string();
    server
        .kastell_ok(&["key", "disable", &key, "--config", &config])
        .unwrap();

    let asked = runtime.block_on(
        officer
            .create_grant()
            .key_id(&key)
            .grantee_principal(format!("arn:aws:iam::{ACCOUNT}:user/bob"))
            .operations(GrantOperation::Encrypt)
            .send(),
    );
    let err = asked.expect_err("no grant on a disabled key");
    assert_eq!(err.code(), Some("DisabledException"), "{err:?}");

    // Nothing was stored.
    let listed = runtime
        .block_on(officer.list_grants().key_id(&key).send())
        .unwrap();
    assert!(listed.grants().is_empty(), "a grant was stored: {listed:?}");
}
