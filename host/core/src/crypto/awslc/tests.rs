//! The aws-lc-rs provider against RustCrypto, and every key kind's operations and refusals.

use super::super::RustCrypto;
use super::*;

mod operations;
mod refusals;

/// Each provider opens, unwraps and verifies what the other produced.
#[test]
fn each_provider_reads_what_the_other_wrote() {
    let providers: [&dyn CryptoProvider; 2] = [&AwsLc, &RustCrypto];
    for (writer, reader) in [(providers[0], providers[1]), (providers[1], providers[0])] {
        let key = SecretBytes::new(vec![0x42; 32]);
        let nonce = [7u8; 12];
        let sealed = writer
            .aes256_gcm_seal(&key, &nonce, b"aad", b"sixteen KiB or a few bytes")
            .expect("seal");
        assert_eq!(
            reader
                .aes256_gcm_open(&key, &nonce, b"aad", &sealed)
                .expect("open")
                .expose(),
            b"sixteen KiB or a few bytes"
        );
        for len in [1, 20, 32, 48] {
            let material = SecretBytes::new(vec![0xa5; len]);
            let wrapped = writer.aes256_kwp_wrap(&key, &material).expect("wrap");
            assert_eq!(wrapped.len(), len.div_ceil(8) * 8 + 8);
            assert_eq!(
                reader.aes256_kwp_unwrap(&key, &wrapped).expect("unwrap"),
                material
            );
            let mut tampered = wrapped.clone();
            tampered[3] ^= 1;
            assert_eq!(
                reader.aes256_kwp_unwrap(&key, &tampered),
                Err(CryptoError::Authentication)
            );
        }
        let private = writer.p384_generate().expect("generate");
        assert_eq!(private.len(), 48);
        let public = writer.p384_public_key(&private).expect("public");
        assert_eq!(public, reader.p384_public_key(&private).expect("public"));
        let digest = [0x5a; 48];
        let signature = writer.p384_sign_digest(&private, &digest).expect("sign");
        assert_eq!(signature.len(), 96);
        assert_eq!(
            reader.p384_verify_digest(&public, &digest, &signature),
            Ok(true)
        );
        let mac_key = SecretBytes::new(vec![0x0b; 48]);
        assert_eq!(
            writer.hmac_sha384(&mac_key, b"message").expect("mac"),
            reader.hmac_sha384(&mac_key, b"message").expect("mac")
        );
    }
}

/// (The Wycheproof and RFC known answers run through both providers in
/// `tests/tests/known_answers.rs`.)
#[test]
fn malformed_keys_are_named_not_panics() {
    assert!(matches!(
        AwsLc.p384_verify_digest(b"not a point", &[1; 48], &[0; 96]),
        Err(CryptoError::InvalidKey(_))
    ));
    assert!(matches!(
        AwsLc.hmac_sha384(&SecretBytes::new(Vec::new()), b"x"),
        Err(CryptoError::InvalidKey(_))
    ));
    assert!(matches!(
        AwsLc.aes256_gcm_seal(&SecretBytes::new(vec![1; 16]), &[0; 12], b"", b"x"),
        Err(CryptoError::InvalidKey(_))
    ));
    assert!(matches!(
        AwsLc.aes256_kwp_wrap(
            &SecretBytes::new(vec![1; 16]),
            &SecretBytes::new(vec![1; 32])
        ),
        Err(CryptoError::InvalidKey(_))
    ));
    for bad in [vec![0u8; 48], vec![0xff; 48], vec![1; 47]] {
        let bad = SecretBytes::new(bad);
        assert!(matches!(
            AwsLc.p384_sign_digest(&bad, &[1; 48]),
            Err(CryptoError::InvalidKey(_))
        ));
        assert!(matches!(
            AwsLc.p384_public_key(&bad),
            Err(CryptoError::InvalidKey(_))
        ));
    }
}

// ---------------------------------------------------------------------------------------
// Every key kind of docs/key-types.md (the Wycheproof and openssl checks are in
// tests/tests/known_answers_key_types.rs and tests/tests/openssl_key_types.rs).
// ---------------------------------------------------------------------------------------

/// Material of every kind, generated once for all tests (RSA key generation is slow in
/// debug builds).
pub(super) fn materials() -> &'static [(KeyKind, SecretBytes)] {
    static MATERIALS: std::sync::OnceLock<Vec<(KeyKind, SecretBytes)>> = std::sync::OnceLock::new();
    MATERIALS.get_or_init(|| {
        KeyKind::ALL
            .iter()
            .map(|&kind| {
                let material = AwsLc.generate(kind).expect("generate");
                if let Some(len) = kind.material_len() {
                    assert_eq!(material.len(), len, "{kind}");
                }
                (kind, material)
            })
            .collect()
    })
}

/// A prepared key of every kind.
pub(super) fn prepared_keys() -> Vec<Box<dyn PreparedKey>> {
    materials()
        .iter()
        .map(|(kind, material)| {
            let key = AwsLc
                .prepare(*kind, SecretBytes::from_slice(material.expose()))
                .expect("prepare");
            assert_eq!(key.kind(), *kind);
            key
        })
        .collect()
}

/// The generated material of `kind`.
pub(super) fn material(kind: KeyKind) -> SecretBytes {
    materials()
        .iter()
        .find(|(known, _)| *known == kind)
        .map(|(_, material)| SecretBytes::from_slice(material.expose()))
        .expect("every kind")
}

pub(super) fn digest(algorithm: SigningAlgorithm, message: &[u8]) -> Vec<u8> {
    let hash = algorithm.hash().expect("a hash");
    digest::digest(digest_algorithm(hash), message)
        .as_ref()
        .to_vec()
}
