//! HPKE (RFC 9180) base-mode sealing of key releases on aws-lc-rs: the same suite as
//! [`kastell_attest::hpke`] (DHKEM(P-384, HKDF-SHA384), HKDF-SHA384, AES-256-GCM), with
//! AWS-LC's P-384, HMAC and AES-GCM instead of RustCrypto's (the ephemeral key pair and the
//! Diffie-Hellman dominate an attested release). Guests open it with the `hpke` crate
//! through `kastell_attest::hpke::open`; the tests check that they do.
//!
//! Every output of HKDF here is at most one hash long, so HKDF-Expand is one HMAC block
//! (`T(1) = HMAC(PRK, info ‖ 0x01)`), and HKDF-Extract with an empty salt is HMAC under
//! an empty key (equal to the hash-length zero key RFC 5869 prescribes).

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{ECDH_P384, PrivateKey, UnparsedPublicKey, agree};
use aws_lc_rs::hmac;
use kastell_attest::hpke::{HpkeError, ReleaseInfo, Sealed, check_public_key};
use zeroize::Zeroizing;

use super::CryptoError;

/// `"KEM" ‖ I2OSP(kem_id = 0x0011, 2)`.
const KEM_SUITE: &[u8] = b"KEM\x00\x11";
/// `"HPKE" ‖ kem_id 0x0011 ‖ kdf_id 0x0002 ‖ aead_id 0x0002`.
const HPKE_SUITE: &[u8] = b"HPKE\x00\x11\x00\x02\x00\x02";
const VERSION: &[u8] = b"HPKE-v1";
const HASH_LEN: usize = 48;

/// Why sealing failed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The recipient's key (named by the attest crate's check).
    #[error(transparent)]
    Recipient(#[from] HpkeError),
    /// AWS-LC failed (randomness, or a plaintext beyond AES-GCM's limit).
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

fn labeled_extract(salt: &[u8], suite: &[u8], label: &[u8], ikm: &[u8]) -> Zeroizing<[u8; 48]> {
    let key = hmac::Key::new(hmac::HMAC_SHA384, salt);
    let mut context = hmac::Context::with_key(&key);
    for part in [VERSION, suite, label, ikm] {
        context.update(part);
    }
    let mut out = Zeroizing::new([0u8; HASH_LEN]);
    out.copy_from_slice(context.sign().as_ref());
    out
}

fn labeled_expand(
    prk: &[u8],
    suite: &[u8],
    label: &[u8],
    info: &[&[u8]],
    len: usize,
) -> Zeroizing<Vec<u8>> {
    debug_assert!(len <= HASH_LEN, "one HMAC block");
    let key = hmac::Key::new(hmac::HMAC_SHA384, prk);
    let mut context = hmac::Context::with_key(&key);
    let length = u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes();
    for part in [&length[..], VERSION, suite, label] {
        context.update(part);
    }
    for part in info {
        context.update(part);
    }
    context.update(&[1]);
    Zeroizing::new(context.sign().as_ref()[..len].to_vec())
}

/// Seals `plaintext` to the recipient's public key (SEC1 uncompressed, 97 bytes), bound to
/// `info` and authenticated with `aad`: the result [`kastell_attest::hpke::open`] opens.
///
/// # Errors
/// [`SealError::Recipient`] naming what is wrong with the public key; [`SealError::Crypto`]
/// when AWS-LC fails.
pub fn seal(
    recipient_public_sec1: &[u8],
    info: &ReleaseInfo<'_>,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Sealed, SealError> {
    check_public_key(recipient_public_sec1)?;
    // Encap: an ephemeral key pair, the Diffie-Hellman secret, ExtractAndExpand.
    let ephemeral = PrivateKey::generate(&ECDH_P384).map_err(|_| CryptoError::Random)?;
    let enc = ephemeral
        .compute_public_key()
        .map_err(|_| CryptoError::Random)?
        .as_ref()
        .to_vec();
    let dh = agree(
        &ephemeral,
        UnparsedPublicKey::new(&ECDH_P384, recipient_public_sec1),
        CryptoError::InvalidKey("recipient public key"),
        |secret| Ok(Zeroizing::new(secret.to_vec())),
    )?;
    let eae_prk = labeled_extract(&[], KEM_SUITE, b"eae_prk", &dh);
    let shared = labeled_expand(
        &*eae_prk,
        KEM_SUITE,
        b"shared_secret",
        &[&enc, recipient_public_sec1],
        HASH_LEN,
    );
    // KeySchedule, mode_base (no PSK).
    let psk_id_hash = labeled_extract(&[], HPKE_SUITE, b"psk_id_hash", &[]);
    let info_hash = labeled_extract(&[], HPKE_SUITE, b"info_hash", &info.info_bytes());
    let context: [&[u8]; 3] = [&[0], &*psk_id_hash, &*info_hash];
    let secret = labeled_extract(&shared, HPKE_SUITE, b"secret", &[]);
    let key = labeled_expand(&*secret, HPKE_SUITE, b"key", &context, 32);
    let base_nonce = labeled_expand(&*secret, HPKE_SUITE, b"base_nonce", &context, 12);
    // The first (and only) message: sequence number 0, so the nonce is the base nonce.
    let key = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, &key).map_err(|_| CryptoError::InvalidKey("HPKE key"))?,
    );
    let nonce = Nonce::try_assume_unique_for_key(&base_nonce)
        .map_err(|_| CryptoError::InvalidInput("HPKE nonce"))?;
    let mut ciphertext = plaintext.to_vec();
    key.seal_in_place_append_tag(nonce, Aad::from(aad), &mut ciphertext)
        .map_err(|_| CryptoError::InvalidInput("plaintext too long for AES-GCM"))?;
    Ok(Sealed {
        encapsulated_key: enc,
        ciphertext,
    })
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::expect_used,
        clippy::unwrap_used,
        reason = "a failed expectation is a failed test"
    )]

    use kastell_attest::Measurement;
    use kastell_attest::hpke::{MaterialKind, RecipientKey, open, release_aad};

    use super::*;

    #[test]
    fn the_hpke_crate_opens_what_aws_lc_sealed_and_nothing_altered() {
        let recipient = RecipientKey::generate().expect("key");
        let guest = Measurement::of(b"guest");
        let key_id = [7u8; 16];
        let info = ReleaseInfo::new(&key_id, &guest, b"nonce-0123456789").expect("info");
        let aad = release_aad(MaterialKind::Key, 3);
        for plaintext in [&b""[..], b"k", &[0x5a; 32], &[0xa5; 48], &[1; 1000]] {
            let sealed = seal(&recipient.public_key_sec1(), &info, &aad, plaintext).expect("seal");
            assert_eq!(sealed.encapsulated_key.len(), 97);
            assert_eq!(
                open(&recipient, &info, &aad, &sealed)
                    .expect("open")
                    .as_slice(),
                plaintext
            );
            // Another AAD, another info, another recipient, an altered byte: refused.
            let other_aad = release_aad(MaterialKind::DataKey, 3);
            assert!(open(&recipient, &info, &other_aad, &sealed).is_err());
            let other_info = ReleaseInfo::new(&key_id, &guest, b"nonce-other-nonce").expect("info");
            assert!(open(&recipient, &other_info, &aad, &sealed).is_err());
            let stranger = RecipientKey::generate().expect("key");
            assert!(open(&stranger, &info, &aad, &sealed).is_err());
            let mut altered = sealed.clone();
            altered.ciphertext[0] ^= 1;
            assert!(open(&recipient, &info, &aad, &altered).is_err());
        }
    }

    #[test]
    fn two_seals_of_the_same_message_differ_and_bad_keys_are_named() {
        let recipient = RecipientKey::generate().expect("key");
        let guest = Measurement::of(b"guest");
        let info = ReleaseInfo::new(&[1; 16], &guest, b"n").expect("info");
        let a = seal(&recipient.public_key_sec1(), &info, b"", b"same").expect("seal");
        let b = seal(&recipient.public_key_sec1(), &info, b"", b"same").expect("seal");
        assert_ne!(
            a.encapsulated_key, b.encapsulated_key,
            "fresh ephemeral key"
        );
        assert_ne!(a.ciphertext, b.ciphertext);
        let mut off_curve = recipient.public_key_sec1();
        off_curve[50] ^= 1;
        for bad in [&off_curve[..], &off_curve[..96], b""] {
            let err = seal(bad, &info, b"", b"x").expect_err("refused");
            assert!(
                matches!(err, SealError::Recipient(HpkeError::MalformedPublicKey(_))),
                "{err}"
            );
        }
    }
}
