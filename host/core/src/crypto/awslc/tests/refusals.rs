//! What aws-lc-rs refuses, by name: algorithms and message types a kind does not allow,
//! digests of the wrong length, bad material; and what RustCrypto leaves to aws-lc-rs.

use kastell_proto::algorithm::{EncryptionAlgorithm, MacAlgorithm};

use super::super::super::RustCrypto;
use super::super::*;
use super::{material, prepared_keys};

#[test]
fn algorithms_and_message_types_a_kind_does_not_allow_are_refused_by_name() {
    for key in prepared_keys() {
        let kind = key.kind();
        for &algorithm in SigningAlgorithm::ALL {
            if kind.signing_algorithms().contains(&algorithm) {
                continue;
            }
            assert_eq!(
                key.sign(algorithm, MessageType::Raw, b"m"),
                Err(CryptoError::Unsupported {
                    kind,
                    what: algorithm.as_str()
                }),
                "{kind} {algorithm}"
            );
            assert_eq!(
                key.verify(algorithm, MessageType::Raw, b"m", b"s"),
                Err(CryptoError::Unsupported {
                    kind,
                    what: algorithm.as_str()
                }),
                "{kind} {algorithm}"
            );
        }
        for &algorithm in EncryptionAlgorithm::ALL {
            if kind.encryption_algorithms().contains(&algorithm) {
                continue;
            }
            assert!(
                matches!(
                    key.encrypt(algorithm, b"m"),
                    Err(CryptoError::Unsupported { kind: k, .. }) if k == kind
                ),
                "{kind} {algorithm}"
            );
        }
        for &algorithm in MacAlgorithm::ALL {
            if kind.mac_algorithm() == Some(algorithm) {
                continue;
            }
            let refused = CryptoError::Unsupported {
                kind,
                what: algorithm.as_str(),
            };
            assert_eq!(key.mac(algorithm, b"m"), Err(refused.clone()), "{kind}");
            assert_eq!(
                key.verify_mac(algorithm, b"m", b"t"),
                Err(refused),
                "{kind}"
            );
        }
        if kind.key_agreement().is_none() {
            assert_eq!(
                key.derive_shared_secret(b"peer").map(|_| ()),
                Err(CryptoError::Unsupported { kind, what: "ECDH" }),
                "{kind}"
            );
        }
        if !kind.is_asymmetric() {
            assert_eq!(
                key.public_key_spki(),
                Err(CryptoError::Unsupported {
                    kind,
                    what: "GetPublicKey"
                })
            );
        }
    }
}

#[test]
fn a_digest_of_the_wrong_length_is_refused_by_name_and_ml_dsa_refuses_digests() {
    for key in prepared_keys() {
        let kind = key.kind();
        for &algorithm in kind.signing_algorithms() {
            match algorithm.digest_len() {
                Some(len) => {
                    for wrong in [len - 1, len + 1, 0] {
                        let expected = Err(CryptoError::DigestLength {
                            algorithm,
                            expected: len,
                            actual: wrong,
                        });
                        let input = vec![7; wrong];
                        assert_eq!(
                            key.sign(algorithm, MessageType::Digest, &input),
                            expected.clone().map(|()| Vec::new()),
                            "{kind} {algorithm}"
                        );
                        assert_eq!(
                            key.verify(algorithm, MessageType::Digest, &input, b"sig"),
                            expected.map(|()| false),
                            "{kind} {algorithm}"
                        );
                    }
                }
                None => assert_eq!(
                    key.sign(algorithm, MessageType::Digest, &[0; 32]),
                    Err(CryptoError::Unsupported {
                        kind,
                        what: "DIGEST"
                    }),
                    "{kind}"
                ),
            }
        }
    }
    let err = CryptoError::DigestLength {
        algorithm: SigningAlgorithm::EcdsaSha256,
        expected: 32,
        actual: 31,
    };
    assert_eq!(
        err.to_string(),
        "a DIGEST for ECDSA_SHA_256 is 32 bytes, not 31"
    );
}

#[test]
fn bad_material_is_refused_as_an_invalid_key_and_debug_never_shows_material() {
    let rsa_2048 = material(KeyKind::Rsa2048);
    for (kind, bad) in [
        (KeyKind::Rsa3072, rsa_2048.expose().to_vec()),
        (KeyKind::Rsa2048, b"not DER".to_vec()),
        (KeyKind::Rsa2048, rsa_2048.expose()[..100].to_vec()),
        (KeyKind::EccNistP256, vec![0; 32]),
        (KeyKind::EccNistP256, vec![0xff; 32]),
        (KeyKind::EccNistP256, vec![1; 31]),
        (KeyKind::EccNistP521, vec![0xff; 66]),
        (KeyKind::EccNistP521, vec![1; 65]),
        (KeyKind::EccSecgP256k1, vec![0; 32]),
        (KeyKind::Hmac256, vec![1; 31]),
        (KeyKind::Hmac224, Vec::new()),
        (KeyKind::MlDsa65, vec![1; 31]),
        (KeyKind::MlDsa87, vec![1; 64]),
    ] {
        assert!(
            matches!(
                AwsLc.prepare(kind, SecretBytes::new(bad)),
                Err(CryptoError::InvalidKey(_))
            ),
            "{kind}"
        );
    }
    for key in prepared_keys() {
        let debug = format!("{key:?}");
        assert_eq!(
            debug,
            format!("PreparedKey {{ kind: {:?}, .. }}", key.kind()),
            "{debug}"
        );
    }
}

#[test]
fn rustcrypto_answers_not_implemented_for_the_kinds_and_operations_it_leaves_to_aws_lc() {
    for &kind in KeyKind::ALL {
        let kept = matches!(kind, KeyKind::Aes256 | KeyKind::P384 | KeyKind::HmacSha384);
        let generated = RustCrypto.generate(kind);
        if kept {
            let key = RustCrypto
                .prepare(kind, generated.expect("generate"))
                .expect("prepare");
            for &algorithm in kind.signing_algorithms() {
                assert!(matches!(
                    key.sign(algorithm, MessageType::Raw, b"m"),
                    Err(CryptoError::NotImplemented {
                        provider: "rustcrypto",
                        ..
                    })
                ));
            }
            if let Some(algorithm) = kind.mac_algorithm() {
                assert!(matches!(
                    key.mac(algorithm, b"m"),
                    Err(CryptoError::NotImplemented {
                        provider: "rustcrypto",
                        ..
                    })
                ));
            }
            // What the kind does not allow stays Unsupported.
            assert_eq!(
                key.sign(SigningAlgorithm::MlDsaShake256, MessageType::Raw, b"m"),
                Err(CryptoError::Unsupported {
                    kind,
                    what: "ML_DSA_SHAKE_256"
                })
            );
        } else {
            assert_eq!(
                generated,
                Err(CryptoError::NotImplemented {
                    provider: "rustcrypto",
                    kind,
                    what: "this key kind"
                })
            );
            assert!(matches!(
                RustCrypto.prepare(kind, material(kind)),
                Err(CryptoError::NotImplemented {
                    provider: "rustcrypto",
                    ..
                })
            ));
        }
    }
}
