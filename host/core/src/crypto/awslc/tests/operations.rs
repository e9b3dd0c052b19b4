//! Every key kind's operations on aws-lc-rs: signatures with each allowed algorithm and
//! message type, RSA-OAEP, ECDH, HMAC.

use kastell_proto::algorithm::{EncryptionAlgorithm, MacAlgorithm};

use super::super::*;
use super::{digest, material, prepared_keys};

#[test]
fn every_kind_signs_and_verifies_with_each_allowed_algorithm_and_message_type() {
    for key in prepared_keys() {
        let kind = key.kind();
        for &algorithm in kind.signing_algorithms() {
            for message_type in [MessageType::Raw, MessageType::Digest] {
                if !algorithm.accepts(message_type) {
                    continue;
                }
                let input = match message_type {
                    MessageType::Raw => b"the message".to_vec(),
                    MessageType::Digest => digest(algorithm, b"the message"),
                };
                let signature = key.sign(algorithm, message_type, &input).expect("sign");
                let spki = key.public_key_spki().expect("spki");
                assert_eq!(
                    key.verify(algorithm, message_type, &input, &signature),
                    Ok(true),
                    "{kind} {algorithm} {message_type}"
                );
                assert_eq!(
                    AwsLc.verify_with_public_key(
                        kind,
                        spki,
                        algorithm,
                        message_type,
                        &input,
                        &signature
                    ),
                    Ok(true),
                    "{kind} {algorithm} {message_type} with the public key"
                );
                // RAW and DIGEST are the same signature: each verifies the other's.
                if message_type == MessageType::Digest {
                    assert_eq!(
                        key.verify(algorithm, MessageType::Raw, b"the message", &signature),
                        Ok(true),
                        "{kind} {algorithm}: a DIGEST signature verifies as RAW"
                    );
                }
                let mut tampered = signature.clone();
                tampered[signature.len() / 2] ^= 1;
                assert_eq!(
                    key.verify(algorithm, message_type, &input, &tampered),
                    Ok(false),
                    "{kind} {algorithm} {message_type}: tampered"
                );
                let mut other = input.clone();
                other[0] ^= 1;
                assert_eq!(
                    key.verify(algorithm, message_type, &other, &signature),
                    Ok(false),
                    "{kind} {algorithm} {message_type}: another message"
                );
            }
        }
    }
}

#[test]
fn rsa_oaep_round_trips_and_refuses_a_plaintext_too_long_by_name() {
    let key = AwsLc
        .prepare(KeyKind::Rsa2048, material(KeyKind::Rsa2048))
        .expect("prepare");
    for (algorithm, max) in [
        (EncryptionAlgorithm::RsaesOaepSha256, 190),
        (EncryptionAlgorithm::RsaesOaepSha1, 214),
    ] {
        let longest = vec![0xa5; max];
        let ciphertext = key.encrypt(algorithm, &longest).expect("encrypt");
        assert_eq!(ciphertext.len(), 256);
        assert_eq!(
            key.decrypt(algorithm, &ciphertext)
                .expect("decrypt")
                .expose(),
            longest.as_slice()
        );
        assert_eq!(
            key.encrypt(algorithm, &[0xa5; 0]).map(|c| c.len()),
            Ok(256),
            "an empty plaintext"
        );
        let err = key
            .encrypt(algorithm, &vec![0; max + 1])
            .expect_err("too long");
        assert_eq!(
            err,
            CryptoError::PlaintextTooLong {
                kind: KeyKind::Rsa2048,
                algorithm,
                max,
                actual: max + 1
            }
        );
        assert!(
            err.to_string().contains(&format!(
                "under an RSA_2048 key encrypts at most {max} bytes of plaintext, not {}",
                max + 1
            )),
            "{err}"
        );
        // Tampering, the other hash, a truncated ciphertext: one opaque error.
        let mut tampered = ciphertext.clone();
        tampered[100] ^= 1;
        assert_eq!(
            key.decrypt(algorithm, &tampered).map(|_| ()),
            Err(CryptoError::Authentication)
        );
        let other = match algorithm {
            EncryptionAlgorithm::RsaesOaepSha256 => EncryptionAlgorithm::RsaesOaepSha1,
            _ => EncryptionAlgorithm::RsaesOaepSha256,
        };
        assert_eq!(
            key.decrypt(other, &ciphertext).map(|_| ()),
            Err(CryptoError::Authentication)
        );
        assert_eq!(
            key.decrypt(algorithm, &ciphertext[1..]).map(|_| ()),
            Err(CryptoError::Authentication)
        );
    }
}

#[test]
fn ecdh_agrees_both_ways_and_refuses_a_peer_on_another_curve_by_name() {
    let prepare = |kind: KeyKind| {
        let material = match kind {
            KeyKind::Rsa2048 => material(kind),
            _ => AwsLc.generate(kind).expect("generate"),
        };
        AwsLc.prepare(kind, material).expect("prepare")
    };
    for (kind, len) in [
        (KeyKind::EccNistP256, 32),
        (KeyKind::P384, 48),
        (KeyKind::EccNistP521, 66),
    ] {
        let (alice, bob) = (prepare(kind), prepare(kind));
        let ab = alice
            .derive_shared_secret(bob.public_key_spki().expect("spki"))
            .expect("derive");
        let ba = bob
            .derive_shared_secret(alice.public_key_spki().expect("spki"))
            .expect("derive");
        assert_eq!(ab, ba, "{kind}");
        assert_eq!(ab.len(), len, "{kind}");
    }
    let p256 = prepare(KeyKind::EccNistP256);
    for (other, found) in [
        (KeyKind::P384, "P-384"),
        (KeyKind::EccNistP521, "P-521"),
        (KeyKind::EccSecgP256k1, "secp256k1"),
    ] {
        let peer = prepare(other);
        let err = p256
            .derive_shared_secret(peer.public_key_spki().expect("spki"))
            .map(|_| ())
            .expect_err("another curve");
        assert_eq!(
            err,
            CryptoError::WrongCurve {
                expected: "P-256",
                found
            }
        );
        assert_eq!(
            err.to_string(),
            format!("the peer public key is on {found}, not P-256")
        );
    }
    let rsa = prepare(KeyKind::Rsa2048);
    assert_eq!(
        p256.derive_shared_secret(rsa.public_key_spki().expect("spki"))
            .map(|_| ()),
        Err(CryptoError::InvalidInput("peer public key: not an EC key"))
    );
    // A raw SEC1 point, trailing bytes, an off-curve point: refused, never a panic.
    let peer = prepare(KeyKind::EccNistP256);
    let spki = peer.public_key_spki().expect("spki").to_vec();
    let point = spki[spki.len() - 65..].to_vec();
    assert_eq!(
        p256.derive_shared_secret(&point).map(|_| ()),
        Err(CryptoError::InvalidInput(
            "peer public key: not SubjectPublicKeyInfo DER"
        ))
    );
    let mut trailing = spki.clone();
    trailing.push(0);
    assert!(p256.derive_shared_secret(&trailing).is_err());
    let mut off_curve = spki.clone();
    let last = off_curve.len() - 1;
    off_curve[last] ^= 1;
    assert_eq!(
        p256.derive_shared_secret(&off_curve).map(|_| ()),
        Err(CryptoError::InvalidInput(
            "peer public key: not a valid point on the key's curve"
        ))
    );
}

#[test]
fn hmac_keys_mac_with_their_own_size_and_verify_only_the_full_tag() {
    for (kind, algorithm) in [
        (KeyKind::Hmac224, MacAlgorithm::HmacSha224),
        (KeyKind::Hmac256, MacAlgorithm::HmacSha256),
        (KeyKind::HmacSha384, MacAlgorithm::HmacSha384),
        (KeyKind::Hmac512, MacAlgorithm::HmacSha512),
    ] {
        let material = AwsLc.generate(kind).expect("generate");
        let expected = aws_lc_rs::hmac::sign(
            &aws_lc_rs::hmac::Key::new(
                match algorithm {
                    MacAlgorithm::HmacSha224 => aws_lc_rs::hmac::HMAC_SHA224,
                    MacAlgorithm::HmacSha256 => aws_lc_rs::hmac::HMAC_SHA256,
                    MacAlgorithm::HmacSha384 => aws_lc_rs::hmac::HMAC_SHA384,
                    MacAlgorithm::HmacSha512 => aws_lc_rs::hmac::HMAC_SHA512,
                },
                material.expose(),
            ),
            b"message",
        );
        let key = AwsLc.prepare(kind, material).expect("prepare");
        let tag = key.mac(algorithm, b"message").expect("mac");
        assert_eq!(tag, expected.as_ref(), "{kind}");
        assert_eq!(tag.len(), algorithm.tag_len());
        assert_eq!(key.verify_mac(algorithm, b"message", &tag), Ok(true));
        assert_eq!(key.verify_mac(algorithm, b"messagE", &tag), Ok(false));
        assert_eq!(
            key.verify_mac(algorithm, b"message", &tag[..tag.len() - 1]),
            Ok(false),
            "{kind}: a truncated tag"
        );
        let mut flipped = tag.clone();
        flipped[0] ^= 1;
        assert_eq!(key.verify_mac(algorithm, b"message", &flipped), Ok(false));
    }
}

/// The PKCS#8 a release hands out reads back, with aws-lc-rs, as the same key: RSA as
/// its material; EC with the curve named and the public key included; ML-DSA in RFC
/// 9881's seed-only form holding the seed. Symmetric kinds have none.
#[test]
fn every_asymmetric_kind_gives_a_pkcs8_of_the_same_key() {
    use aws_lc_rs::encoding::AsDer as _;
    use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _, PqdsaKeyPair, RsaKeyPair};
    for key in prepared_keys() {
        let kind = key.kind();
        if !kind.is_asymmetric() {
            assert_eq!(
                key.private_key_pkcs8().map(|_| ()),
                Err(kind.unsupported("a PKCS#8 private key")),
                "{kind}"
            );
            continue;
        }
        let pkcs8 = key.private_key_pkcs8().expect("pkcs8");
        let der = pkcs8.expose();
        let spki = key.public_key_spki().expect("spki");
        let info = spki::SubjectPublicKeyInfoRef::try_from(spki).expect("spki");
        let point = info.subject_public_key.raw_bytes();
        let read_back = match kind.family() {
            KeyFamily::Rsa => {
                assert_eq!(der, material(kind).expose(), "{kind}: RSA holds PKCS#8");
                RsaKeyPair::from_pkcs8(der)
                    .expect("RSA PKCS#8")
                    .public_key()
                    .as_der()
                    .expect("der")
                    .as_ref()
                    .to_vec()
            }
            KeyFamily::Ec => {
                let (signing, oid): (_, &[u8]) = match kind {
                    KeyKind::EccNistP256 => (
                        &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
                    ),
                    KeyKind::P384 => (
                        &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
                        &[0x2b, 0x81, 0x04, 0x00, 0x22],
                    ),
                    KeyKind::EccNistP521 => (
                        &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
                        &[0x2b, 0x81, 0x04, 0x00, 0x23],
                    ),
                    _ => (
                        &signature::ECDSA_P256K1_SHA256_ASN1_SIGNING,
                        &[0x2b, 0x81, 0x04, 0x00, 0x0a],
                    ),
                };
                let scalar = material(kind);
                // ECPrivateKey's last field is [1] { BIT STRING 0x00 ‖ point }.
                assert!(der.ends_with(point), "{kind}: the public key is included");
                assert!(
                    der.windows(scalar.len()).any(|w| w == scalar.expose()),
                    "{kind}: the scalar"
                );
                assert!(
                    der.windows(oid.len()).any(|w| w == oid),
                    "{kind}: the named curve"
                );
                EcdsaKeyPair::from_pkcs8(signing, der)
                    .expect("EC PKCS#8")
                    .public_key()
                    .as_der()
                    .expect("der")
                    .as_ref()
                    .to_vec()
            }
            KeyFamily::MlDsa => {
                let seed = material(kind);
                // SEQUENCE { 0, SEQUENCE { OID }, OCTET STRING { [0] seed } }: 54 bytes.
                assert_eq!(der.len(), 54, "{kind}: the seed-only form");
                assert_eq!(&der[der.len() - 34..der.len() - 32], &[0x80, 0x20]);
                assert_eq!(&der[der.len() - 32..], seed.expose(), "{kind}: the seed");
                let signing = match kind {
                    KeyKind::MlDsa44 => &signature::ML_DSA_44_SIGNING,
                    KeyKind::MlDsa65 => &signature::ML_DSA_65_SIGNING,
                    _ => &signature::ML_DSA_87_SIGNING,
                };
                PqdsaKeyPair::from_pkcs8(signing, der)
                    .expect("ML-DSA PKCS#8")
                    .public_key()
                    .as_der()
                    .expect("der")
                    .as_ref()
                    .to_vec()
            }
            KeyFamily::Symmetric | KeyFamily::Hmac => unreachable!("asymmetric only"),
        };
        assert_eq!(read_back, spki, "{kind}: the same public key");
    }
}
