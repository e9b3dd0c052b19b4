//! HPKE (RFC 9180) base-mode sealing of key releases, the host's one HPKE implementation:
//! rustls's AWS-LC suite `DH_KEM_P384_HKDF_SHA384_AES_256`, the same suite as
//! [`kastell_attest::hpke`] (DHKEM(P-384, HKDF-SHA384), HKDF-SHA384, AES-256-GCM) with
//! AWS-LC's P-384 (the ephemeral key pair and the Diffie-Hellman dominate an attested
//! release). Guests open it with the `hpke` crate through `kastell_attest::hpke::open`; the
//! tests check that they do.

use kastell_attest::hpke::{HpkeError, ReleaseInfo, Sealed, check_public_key};
use rustls::crypto::aws_lc_rs::hpke::DH_KEM_P384_HKDF_SHA384_AES_256;
use rustls::crypto::hpke::{Hpke as _, HpkePublicKey};

use super::CryptoError;

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
    seal_with_info(recipient_public_sec1, &info.info_bytes(), aad, plaintext)
}

/// Seals `plaintext` to the recipient's public key with the HPKE `info` bytes given (for
/// what is not a key release: an access key's secret, bound by
/// [`kastell_proto::api::delivery_info`]); [`kastell_attest::hpke::open_with_info`] opens
/// it.
///
/// # Errors
/// As [`seal`].
pub fn seal_with_info(
    recipient_public_sec1: &[u8],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Sealed, SealError> {
    check_public_key(recipient_public_sec1)?;
    let recipient = HpkePublicKey(recipient_public_sec1.to_vec());
    let (enc, ciphertext) = DH_KEM_P384_HKDF_SHA384_AES_256
        .seal(info, aad, plaintext, &recipient)
        .map_err(|_| CryptoError::InvalidInput("HPKE seal (randomness or message length)"))?;
    Ok(Sealed {
        encapsulated_key: enc.0,
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
                    .expose(),
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
