//! The same behaviour from both token implementations: SoftHSM2 through PKCS#11 and the
//! built-in soft token; plus what is specific to each (PIN, passphrase, file damage).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::process::Command;

use kastell_core::crypto::{AwsLc, CryptoError, CryptoProvider as _, RustCrypto};
use kastell_core::secret::SecretBytes;
use kastell_core::token::{
    KdfCost, Pkcs11Config, Pkcs11Token, SoftToken, Token, TokenError, TokenKeyKind,
};
use kastell_tests::{softhsm_config, unique_label};
use secrecy::SecretString;
use serial_test::serial;
use sha2::{Digest as _, Sha384};

fn is_auth_failure<T: std::fmt::Debug>(result: Result<T, TokenError>) -> bool {
    matches!(result, Err(TokenError::Crypto(CryptoError::Authentication)))
}

/// Every behaviour the key layer relies on, against any token.
fn exercise(token: &dyn Token) {
    let master = unique_label("master");
    let data = unique_label("data");
    let signer = unique_label("signer");
    let mac = unique_label("mac");
    token.generate(&master, TokenKeyKind::Aes256).expect("aes");
    token.generate(&data, TokenKeyKind::Aes256).expect("aes");
    token.generate(&signer, TokenKeyKind::EcP384).expect("ec");
    token
        .generate(&mac, TokenKeyKind::HmacSha384)
        .expect("hmac");
    assert!(token.contains(&signer).expect("contains"));
    assert!(matches!(
        token.generate(&master, TokenKeyKind::Aes256),
        Err(TokenError::KeyExists(label)) if label == master
    ));

    // Key wrap with padding (RFC 5649) of host-generated keys.
    for len in [32, 48, 16] {
        let key = SecretBytes::new((0..len).map(|i| i as u8 ^ 0x5c).collect());
        let wrapped = token.wrap(&master, &key).expect("wrap");
        assert!(
            !wrapped
                .windows(len.min(8))
                .any(|w| key.expose().starts_with(w)),
            "wrapped output leaks key bytes"
        );
        let unwrapped = token.unwrap(&master, &wrapped).expect("unwrap");
        assert_eq!(unwrapped, key, "len {len}: got {} bytes", unwrapped.len());
        let mut tampered = wrapped.clone();
        tampered[5] ^= 0x10;
        assert!(is_auth_failure(token.unwrap(&master, &tampered)));
        assert!(
            is_auth_failure(token.unwrap(&data, &wrapped)),
            "another master key must not unwrap"
        );
    }

    // AES-256-GCM with a token-resident key.
    let sealed = token
        .encrypt(&data, b"aad:tenant=acme", b"hello token")
        .expect("encrypt");
    assert_eq!(sealed.ciphertext.len(), 11 + 16);
    let opened = token
        .decrypt(&data, &sealed.nonce, b"aad:tenant=acme", &sealed.ciphertext)
        .expect("decrypt");
    assert_eq!(opened.expose(), b"hello token");
    let again = token
        .encrypt(&data, b"aad:tenant=acme", b"hello token")
        .expect("encrypt");
    assert_ne!(again.nonce, sealed.nonce, "a fresh nonce per encryption");
    let mut flipped = sealed.ciphertext.clone();
    flipped[0] ^= 1;
    assert!(is_auth_failure(token.decrypt(
        &data,
        &sealed.nonce,
        b"aad:tenant=acme",
        &flipped
    )));
    assert!(is_auth_failure(token.decrypt(
        &data,
        &sealed.nonce,
        b"aad:tenant=evil",
        &sealed.ciphertext
    )));
    assert!(is_auth_failure(token.decrypt(
        &master,
        &sealed.nonce,
        b"aad:tenant=acme",
        &sealed.ciphertext
    )));

    // ECDSA P-384 over a SHA-384 digest, checked by an independent implementation.
    let digest: [u8; 48] = Sha384::digest(b"release 1.2.3").into();
    let signature = token.sign_digest(&signer, &digest).expect("sign");
    let public = token.public_key(&signer).expect("public key");
    assert_eq!(public.len(), 97);
    assert_eq!(
        RustCrypto.p384_verify_digest(&public, &digest, &signature),
        Ok(true)
    );
    let other: [u8; 48] = Sha384::digest(b"release 6.6.6").into();
    assert_eq!(
        RustCrypto.p384_verify_digest(&public, &other, &signature),
        Ok(false)
    );

    // HMAC-SHA-384: deterministic per key and message.
    let tag = token.mac(&mac, b"message").expect("mac");
    assert_eq!(token.mac(&mac, b"message").expect("mac"), tag);
    assert_ne!(token.mac(&mac, b"messagE").expect("mac"), tag);

    // Misuse is named.
    assert!(matches!(
        token.sign_digest(&data, &digest),
        Err(TokenError::WrongKind {
            expected: TokenKeyKind::EcP384,
            ..
        })
    ));
    assert!(matches!(
        token.mac(&signer, b"m"),
        Err(TokenError::WrongKind {
            expected: TokenKeyKind::HmacSha384,
            ..
        })
    ));
    let missing = unique_label("missing");
    assert!(
        matches!(token.encrypt(&missing, b"", b"x"), Err(TokenError::KeyNotFound(l)) if l == missing)
    );

    // ECDH with a key-agreement key (the token backup key's kind), checked by AWS-LC on
    // the peer's side; it signs nothing and a signing key agrees on nothing.
    let agree = unique_label("agree");
    token
        .generate(&agree, TokenKeyKind::EcdhP384)
        .expect("ecdh key");
    let token_public = token.public_key(&agree).expect("public key");
    let peer = RustCrypto.p384_generate().expect("peer");
    let peer_public = RustCrypto.p384_public_key(&peer).expect("peer public");
    let z = token.ecdh_p384(&agree, &peer_public).expect("ecdh");
    assert_eq!(z.len(), 48);
    assert_eq!(
        z,
        AwsLc::p384_ecdh(&peer, &token_public).expect("peer's ecdh"),
        "both sides agree"
    );
    assert!(matches!(
        token.sign_digest(&agree, &digest),
        Err(TokenError::WrongKind {
            expected: TokenKeyKind::EcP384,
            ..
        })
    ));
    assert!(matches!(
        token.ecdh_p384(&signer, &peer_public),
        Err(TokenError::WrongKind {
            expected: TokenKeyKind::EcdhP384,
            ..
        })
    ));
    let mut off_curve = peer_public.clone();
    off_curve[60] ^= 1;
    assert!(matches!(
        token.ecdh_p384(&agree, &off_curve),
        Err(TokenError::Crypto(CryptoError::InvalidInput(_)))
    ));
    token.destroy(&agree).expect("destroy");

    // Random bytes.
    let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
    token.random(&mut a).expect("random");
    token.random(&mut b).expect("random");
    assert_ne!(a, b);

    // Destruction.
    for label in [&master, &data, &signer, &mac] {
        token.destroy(label).expect("destroy");
        assert!(!token.contains(label).expect("contains"));
    }
    assert!(matches!(
        token.public_key(&signer),
        Err(TokenError::KeyNotFound(_))
    ));
    assert!(matches!(
        token.destroy(&signer),
        Err(TokenError::KeyNotFound(_))
    ));
}

#[test]
#[serial(softhsm)]
fn softhsm_token_supports_every_operation() {
    let token = Pkcs11Token::open(&softhsm_config()).expect("SoftHSM2 token opens");
    assert!(
        token.description().contains("SoftHSM"),
        "{}",
        token.description()
    );
    exercise(&token);
    let master = unique_label("kwp");
    token.generate(&master, TokenKeyKind::Aes256).expect("aes");
    let err = token
        .wrap(&master, &SecretBytes::new(vec![1; 7]))
        .expect_err("7 bytes");
    assert!(err.to_string().contains("multiple of 8"), "{err}");
    token.destroy(&master).expect("destroy");
}

#[test]
#[serial(softhsm)]
fn softhsm_key_is_listed_by_pkcs11_tool_and_never_extractable() {
    let config = softhsm_config();
    let token = Pkcs11Token::open(&config).expect("opens");
    let label = unique_label("listed");
    token
        .generate(&label, TokenKeyKind::Aes256)
        .expect("generate");
    let out = Command::new("pkcs11-tool")
        .args(["--module", &config.module.display().to_string()])
        .args([
            "--token-label",
            &config.token_label,
            "--login",
            "--list-objects",
        ])
        .args(["--pin", "env:KASTELL_TEST_PIN"])
        .output()
        .expect("pkcs11-tool runs (opensc is installed by scripts/test)");
    let listing = String::from_utf8_lossy(&out.stdout);
    let block = listing
        .split("Secret Key Object")
        .find(|b| b.contains(&label))
        .unwrap_or_else(|| panic!("{label} not listed:\n{listing}"));
    assert!(
        block.contains("never extract") || !block.contains("extractable"),
        "{block}"
    );
    assert!(block.contains("sensitive"), "{block}");
    token.destroy(&label).expect("destroy");

    // The token backup key's kind: a private key that derives, sensitive, never
    // extractable.
    let agree = unique_label("agree");
    token
        .generate(&agree, TokenKeyKind::EcdhP384)
        .expect("generate");
    let out = Command::new("pkcs11-tool")
        .args(["--module", &config.module.display().to_string()])
        .args([
            "--token-label",
            &config.token_label,
            "--login",
            "--list-objects",
        ])
        .args(["--pin", "env:KASTELL_TEST_PIN"])
        .output()
        .expect("pkcs11-tool runs");
    let listing = String::from_utf8_lossy(&out.stdout);
    // One object per unindented header line and the indented lines under it.
    let mut objects: Vec<String> = Vec::new();
    for line in listing.lines() {
        match objects.last_mut() {
            Some(object) if line.starts_with(char::is_whitespace) => {
                object.push_str(line);
                object.push('\n');
            }
            _ => objects.push(format!("{line}\n")),
        }
    }
    let block = objects
        .iter()
        .find(|o| o.starts_with("Private Key Object") && o.contains(&agree))
        .unwrap_or_else(|| panic!("{agree} not listed:\n{listing}"));
    assert!(block.contains("derive"), "{block}");
    assert!(!block.contains("sign"), "{block}");
    assert!(block.contains("never extract"), "{block}");
    assert!(block.contains("sensitive"), "{block}");
    token.destroy(&agree).expect("destroy");
}

#[test]
#[serial(softhsm)]
fn softhsm_unknown_token_and_missing_module_are_refused_by_name() {
    let mut config = softhsm_config();
    config.token_label = unique_label("no-such-token");
    assert!(matches!(
        Pkcs11Token::open(&config),
        Err(TokenError::TokenNotFound(_))
    ));

    let missing = Pkcs11Config {
        module: "/nonexistent/libpkcs11.so".into(),
        token_label: "x".into(),
        pin: SecretString::from("1234"),
    };
    let err = Pkcs11Token::open(&missing).expect_err("no module");
    assert!(
        err.to_string().contains("/nonexistent/libpkcs11.so"),
        "{err}"
    );
}

fn passphrase(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

#[test]
fn soft_token_supports_every_operation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = SoftToken::create(
        &dir.path().join("soft.token"),
        &passphrase("correct horse"),
        KdfCost::Interactive,
    )
    .expect("create");
    exercise(&token);
}

#[test]
fn soft_token_keys_survive_reopening_and_need_the_passphrase() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("soft.token");
    let digest: [u8; 48] = Sha384::digest(b"persisted").into();
    let public = {
        let token = SoftToken::create(&path, &passphrase("correct horse"), KdfCost::Interactive)
            .expect("create");
        token
            .generate("signer", TokenKeyKind::EcP384)
            .expect("generate");
        token.public_key("signer").expect("public")
    };
    let file = std::fs::read(&path).expect("file");
    assert!(
        !file.windows(7).any(|w| w == b"signer"),
        "labels are sealed too"
    );

    let token = SoftToken::open(&path, &passphrase("correct horse")).expect("reopen");
    let signature = token.sign_digest("signer", &digest).expect("sign");
    assert_eq!(
        RustCrypto.p384_verify_digest(&public, &digest, &signature),
        Ok(true)
    );

    assert!(matches!(
        SoftToken::open(&path, &passphrase("wrong horse")),
        Err(TokenError::Locked(_))
    ));

    let mut damaged = file.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 1;
    std::fs::write(&path, &damaged).expect("write");
    assert!(matches!(
        SoftToken::open(&path, &passphrase("correct horse")),
        Err(TokenError::Locked(_))
    ));

    std::fs::write(&path, b"not a token at all").expect("write");
    let err = SoftToken::open(&path, &passphrase("correct horse")).expect_err("format");
    assert!(
        err.to_string().contains("not a Kastell soft token file"),
        "{err}"
    );

    assert!(matches!(
        SoftToken::create(
            &dir.path().join("new.token"),
            &passphrase("short"),
            KdfCost::Interactive
        ),
        Err(TokenError::Config(_))
    ));
    assert!(matches!(
        SoftToken::create(&path, &passphrase("correct horse"), KdfCost::Interactive),
        Err(TokenError::Io { .. })
    ));
}
