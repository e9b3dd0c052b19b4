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
