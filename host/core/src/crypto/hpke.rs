//! HPKE (RFC 9180) base-mode sealing of key releases, the host's one HPKE implementation:
//! rustls's AWS-LC suite `DH_KEM_P384_HKDF_SHA384_AES_256`, the same suite as
//! [`kastell_attest::hpke`] (DHKEM(P-384, HKDF-SHA384), HKDF-SHA384, AES-256-GCM) with
//! AWS-LC's P-384 (the ephemeral key pair and the Diffie-Hellman dominate an attested
//! release). Guests open it with the `hpke` crate through `kastell_attest::hpke::open`; the
//! tests check that they do.
//!
//! [`open_with_dh`] opens the same suite when the KEM's Diffie-Hellman `DH(skR, pkE)` was
//! computed elsewhere (by a token whose private key never leaves it, [`crate::backup`]'s
//! token backup key): DHKEM's `ExtractAndExpand` and the key schedule (RFC 9180 §4.1,
//! §5.1) run here with HKDF-SHA384, the AEAD with AWS-LC.

use hkdf::Hkdf;
use kastell_attest::hpke::{HpkeError, ReleaseInfo, Sealed, check_public_key};
use rustls::crypto::aws_lc_rs::hpke::DH_KEM_P384_HKDF_SHA384_AES_256;
use rustls::crypto::hpke::{Hpke as _, HpkePublicKey};
use sha2::Sha384;
use zeroize::Zeroizing;

use super::{AwsLc, CryptoError, CryptoProvider as _, GCM_NONCE_LEN};
use crate::secret::SecretBytes;

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

/// `suite_id` of DHKEM(P-384, HKDF-SHA384): "KEM" ‖ I2OSP(0x0011, 2).
const KEM_SUITE: &[u8] = b"KEM\x00\x11";
/// `suite_id` of the HPKE suite: "HPKE" ‖ KEM 0x0011 ‖ KDF 0x0002 (HKDF-SHA384) ‖ AEAD
/// 0x0002 (AES-256-GCM).
const HPKE_SUITE: &[u8] = b"HPKE\x00\x11\x00\x02\x00\x02";
/// `Nh` of HKDF-SHA384, `Nsecret` of the KEM.
const NH: usize = 48;
/// Length of an uncompressed SEC1 P-384 point (`Npk`, `Nenc`).
const NPK: usize = 97;

/// `LabeledExtract(salt, label, ikm)` of RFC 9180 §4 under `suite`.
fn labeled_extract(suite: &[u8], salt: &[u8], label: &[u8], ikm: &[u8]) -> Zeroizing<[u8; NH]> {
    let mut labeled = Zeroizing::new(Vec::with_capacity(
        7 + suite.len() + label.len() + ikm.len(),
    ));
    for part in [b"HPKE-v1".as_slice(), suite, label, ikm] {
        labeled.extend_from_slice(part);
    }
    let (prk, _) = Hkdf::<Sha384>::extract(Some(salt), &labeled);
    let mut out = Zeroizing::new([0u8; NH]);
    out.copy_from_slice(&prk);
    out
}

/// `LabeledExpand(prk, label, info, L)` of RFC 9180 §4 under `suite`, into `out` (`L` its
/// length, at most 255 · 48).
fn labeled_expand(
    suite: &[u8],
    prk: &[u8; NH],
    label: &[u8],
    info: &[u8],
    out: &mut [u8],
) -> Result<(), CryptoError> {
    let length = u16::try_from(out.len())
        .map_err(|_| CryptoError::InvalidInput("HPKE: expand length"))?
        .to_be_bytes();
    Hkdf::<Sha384>::from_prk(prk)
        .map_err(|_| CryptoError::InvalidInput("HPKE: pseudorandom key length"))?
        .expand_multi_info(&[&length, b"HPKE-v1", suite, label, info], out)
        .map_err(|_| CryptoError::InvalidInput("HPKE: expand length"))
}

/// Opens an HPKE base-mode message of this module's suite sealed to the P-384 key whose
/// public point is `recipient_public_sec1`, given `dh`: `DH(skR, pkE)` with `pkE` the
/// message's `enc`, computed by whoever holds `skR` (a token:
/// [`crate::token::Token::ecdh_p384`]). The KEM's `ExtractAndExpand` (RFC 9180 §4.1) and
/// the key schedule (§5.1, mode base, empty PSK) run here; then AES-256-GCM opens the first
/// message (sequence 0) under `aad`.
///
/// # Errors
/// [`CryptoError::Authentication`] when the message does not open (another recipient, a
/// wrong `dh`, `info` or `aad`, or any altered byte); [`CryptoError::InvalidInput`] for an
/// `enc` or recipient point of the wrong length.
pub fn open_with_dh(
    dh: &SecretBytes,
    recipient_public_sec1: &[u8],
    info: &[u8],
    aad: &[u8],
    sealed: &Sealed,
) -> Result<SecretBytes, CryptoError> {
    let enc = &sealed.encapsulated_key;
    if enc.len() != NPK || recipient_public_sec1.len() != NPK {
        return Err(CryptoError::InvalidInput(
            "HPKE: enc and recipient key are uncompressed P-384 points",
        ));
    }
    if dh.len() != NH {
        return Err(CryptoError::Authentication);
    }
    // DHKEM Decap: kem_context = enc ‖ pkRm; shared_secret = ExtractAndExpand(dh, kem_context).
    let mut kem_context = Vec::with_capacity(2 * NPK);
    kem_context.extend_from_slice(enc);
    kem_context.extend_from_slice(recipient_public_sec1);
    let eae_prk = labeled_extract(KEM_SUITE, b"", b"eae_prk", dh.expose());
    let mut shared_secret = Zeroizing::new([0u8; NH]);
    labeled_expand(
        KEM_SUITE,
        &eae_prk,
        b"shared_secret",
        &kem_context,
        shared_secret.as_mut_slice(),
    )?;
    // KeySchedule(mode_base, shared_secret, info, psk = "", psk_id = "").
    let psk_id_hash = labeled_extract(HPKE_SUITE, b"", b"psk_id_hash", b"");
    let info_hash = labeled_extract(HPKE_SUITE, b"", b"info_hash", info);
    let mut context = Vec::with_capacity(1 + 2 * NH);
    context.push(0x00);
    context.extend_from_slice(psk_id_hash.as_slice());
    context.extend_from_slice(info_hash.as_slice());
    let secret = labeled_extract(HPKE_SUITE, shared_secret.as_slice(), b"secret", b"");
    let mut key = Zeroizing::new([0u8; 32]);
    labeled_expand(HPKE_SUITE, &secret, b"key", &context, key.as_mut_slice())?;
    let mut base_nonce = [0u8; GCM_NONCE_LEN];
    labeled_expand(
        HPKE_SUITE,
        &secret,
        b"base_nonce",
        &context,
        &mut base_nonce,
    )?;
    // Sequence number 0: the nonce is the base nonce.
    AwsLc
        .aes256_gcm_open(
            &SecretBytes::from_slice(key.as_slice()),
            &base_nonce,
            aad,
            &sealed.ciphertext,
        )
        .map_err(|_| CryptoError::Authentication)
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

    /// The external-DH path against the `hpke` crate's software decapsulation (RFC 9180
    /// has no DHKEM(P-384) vectors): what AWS-LC sealed, both open alike, and nothing
    /// altered opens.
    #[test]
    fn opening_with_an_outside_dh_gives_what_the_software_decapsulation_gives() {
        let scalar = AwsLc.p384_generate().expect("scalar");
        let public = AwsLc.p384_public_key(&scalar).expect("public");
        let mut bytes = Zeroizing::new([0u8; 48]);
        bytes.copy_from_slice(scalar.expose());
        let recipient = RecipientKey::from_bytes(&bytes).expect("recipient");
        let info = b"kastell backup v1 content key";
        for plaintext in [&b""[..], b"k", &[0x5a; 32], &[1; 1000]] {
            let sealed = seal_with_info(&public, info, b"header", plaintext).expect("seal");
            let dh = AwsLc::p384_ecdh(&scalar, &sealed.encapsulated_key).expect("dh");
            let opened = open_with_dh(&dh, &public, info, b"header", &sealed).expect("open");
            assert_eq!(opened.expose(), plaintext);
            let software =
                kastell_attest::hpke::open_with_info(&recipient, info, b"header", &sealed)
                    .expect("software open");
            assert_eq!(software.expose(), opened.expose());

            let refused = |dh: &SecretBytes, info: &[u8], aad: &[u8], sealed: &Sealed| {
                matches!(
                    open_with_dh(dh, &public, info, aad, sealed),
                    Err(CryptoError::Authentication)
                )
            };
            assert!(refused(&dh, b"other info", b"header", &sealed));
            assert!(refused(&dh, info, b"other header", &sealed));
            let stranger = AwsLc.p384_generate().expect("scalar");
            let wrong_dh = AwsLc::p384_ecdh(&stranger, &sealed.encapsulated_key).expect("dh");
            assert!(refused(&wrong_dh, info, b"header", &sealed));
            let mut altered = sealed.clone();
            altered.ciphertext[0] ^= 1;
            assert!(refused(&dh, info, b"header", &altered));
            let mut other_enc = sealed.clone();
            other_enc.encapsulated_key = AwsLc.p384_public_key(&stranger).expect("another point");
            assert!(refused(&dh, info, b"header", &other_enc));
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
