//! The soft token's concurrency: operations beside a change in one process, and two
//! token instances on one file (as two processes hold it).

#![allow(clippy::expect_used, reason = "a failed expectation is a failed test")]

use super::*;

fn passphrase() -> SecretString {
    SecretString::from("correct horse")
}

#[test]
fn operations_do_not_wait_for_a_change_writing_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = SoftToken::create(
        &dir.path().join("soft.token"),
        &passphrase(),
        KdfCost::Interactive,
    )
    .expect("create");
    token
        .generate("mac", TokenKeyKind::HmacSha384)
        .expect("generate");
    // A generation or destruction holds `changes` while it seals and fsyncs the file
    // (a slow disk: as long as it likes). Operations must go on meanwhile.
    let writing = token.changes.lock().expect("changes");
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let tag = token.mac("mac", b"message").expect("mac");
            done.send(tag.len()).expect("send");
        });
        let tag_len = finished
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("a MAC while the file is being written");
        assert_eq!(tag_len, 48);
        drop(writing);
    });
    // And the change that was waiting its turn works afterwards.
    token
        .generate("aes", TokenKeyKind::Aes256)
        .expect("generate after");
    assert!(token.contains("aes").expect("contains"));
}

#[test]
fn two_instances_on_one_file_keep_and_see_each_others_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("soft.token");
    let first = SoftToken::create(&path, &passphrase(), KdfCost::Interactive).expect("create");
    let second = SoftToken::open(&path, &passphrase()).expect("open");
    std::thread::scope(|scope| {
        for (name, token) in [("first", &first), ("second", &second)] {
            scope.spawn(move || {
                for n in 0..8 {
                    token
                        .generate(&format!("{name}-{n}"), TokenKeyKind::Aes256)
                        .expect("generate");
                }
            });
        }
    });
    // Each instance uses the keys the other one made (read from the file on a miss).
    for n in 0..8 {
        let sealed = first
            .encrypt(&format!("second-{n}"), b"aad", b"x")
            .expect("the first uses the second's key");
        second
            .decrypt(
                &format!("second-{n}"),
                &sealed.nonce,
                b"aad",
                &sealed.ciphertext,
            )
            .expect("decrypt");
        assert!(second.contains(&format!("first-{n}")).expect("contains"));
    }
    // A change reads the file first: the first instance's next change keeps the
    // destruction the second made, and its memory follows the file.
    second
        .destroy("first-0")
        .expect("the second destroys the first's key");
    first
        .generate("first-8", TokenKeyKind::Aes256)
        .expect("generate");
    assert!(!first.contains("first-0").expect("contains"));
    let reopened = SoftToken::open(&path, &passphrase()).expect("reopen");
    let labels: Vec<String> = reopened.read().keys().cloned().collect();
    assert_eq!(labels.len(), 16, "{labels:?}");
    assert!(!labels.contains(&"first-0".to_owned()), "{labels:?}");
    let mode = lock_mode(&path);
    assert_eq!(mode, Some(0o600), "the lock file is private");
}

#[cfg(unix)]
fn lock_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt as _;
    let metadata = std::fs::metadata(file::lock_path(path)).ok()?;
    Some(metadata.permissions().mode() & 0o777)
}

#[cfg(not(unix))]
fn lock_mode(_: &Path) -> Option<u32> {
    Some(0o600)
}

#[test]
fn a_mac_with_the_kept_keyed_state_is_the_hmac_of_the_key_and_follows_a_replaced_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("soft.token");
    let token = SoftToken::create(&path, &passphrase(), KdfCost::Interactive).expect("create");
    token
        .generate("mac", TokenKeyKind::HmacSha384)
        .expect("generate");
    let secret = |token: &SoftToken| token.read().get("mac").expect("entry").secret.clone();
    let key = secret(&token);
    // The first MAC builds the keyed state, the next ones reuse it: every one is the
    // HMAC-SHA-384 of the key (computed apart, by RustCrypto, from the key's bytes).
    for message in [&b"tenant=acme"[..], b"", &[0x5a; 300], b"tenant=acme"] {
        assert_eq!(
            token.mac("mac", message).expect("mac"),
            RustCrypto.hmac_sha384(&key, message).expect("reference"),
        );
    }
    // A key destroyed and generated again under the same label is a new key: its MACs are
    // the new key's, not the kept state of the old one.
    token.destroy("mac").expect("destroy");
    token
        .generate("mac", TokenKeyKind::HmacSha384)
        .expect("generate again");
    let replaced = secret(&token);
    assert_ne!(replaced.expose(), key.expose());
    assert_eq!(
        token.mac("mac", b"tenant=acme").expect("mac"),
        RustCrypto
            .hmac_sha384(&replaced, b"tenant=acme")
            .expect("reference"),
    );
}
