//! Key release: RFC 9180 HPKE in base mode, with the suite DHKEM(P-384, HKDF-SHA384)
//! (KEM `0x0011`), HKDF-SHA384 (KDF `0x0002`) and AES-256-GCM (AEAD `0x0002`).
//!
//! A key service [`seal`]s a key to the public key of an attested guest, binding the
//! release to the key, the guest's measurement and the relying party's nonce through the
//! HPKE `info` ([`ReleaseInfo`]); the guest [`open`]s it with its [`RecipientKey`]. The
//! HPKE construction itself is the `hpke` crate's; this module fixes the suite, the `info`
//! layout and the error reporting.
//!
//! Points (public keys and encapsulated keys) are SEC1 uncompressed P-384 points,
//! `0x04 ‖ x ‖ y`, 97 bytes; the compressed form is refused. A sealed message is
//! [`Sealed`]: the encapsulated key and the AES-256-GCM ciphertext with its 16-byte tag.
//!
//! ```
//! use kastell_attest::Measurement;
//! use kastell_attest::hpke::{self, RecipientKey, ReleaseInfo};
//!
//! let guest_key = RecipientKey::generate()?;
//! let guest = Measurement::of(b"\0asm...");
//! let info = ReleaseInfo::new(&[7; 16], &guest, b"relying party nonce")?;
//!
//! let sealed = hpke::seal(&guest_key.public_key_sec1(), &info, b"aad", b"data key")?;
//! let opened = hpke::open(&guest_key, &info, b"aad", &sealed)?;
//! assert_eq!(opened.expose(), b"data key");
//! # Ok::<(), hpke::HpkeError>(())
//! ```

use std::fmt;

use ::hpke::rand_core as hpke_rand;
use ::hpke::{Deserializable as _, Kem as _, OpModeR, OpModeS, Serializable as _};
use kastell_proto::secret::SecretBytes;
use rand_core::RngCore as _;
use zeroize::{ZeroizeOnDrop, Zeroizing};

use crate::Measurement;

type Kem = ::hpke::kem::DhP384HkdfSha384;
type Kdf = ::hpke::kdf::HkdfSha384;
type Aead = ::hpke::aead::AesGcm256;
type PrivateKey = <Kem as ::hpke::Kem>::PrivateKey;
type PublicKey = <Kem as ::hpke::Kem>::PublicKey;
type EncappedKey = <Kem as ::hpke::Kem>::EncappedKey;

pub use kastell_proto::ciphertext::TAG_LEN;
pub use kastell_proto::release::{
    INFO_TAG, MAX_NONCE_LEN, MaterialKind, POINT_LEN, PRIVATE_KEY_LEN, PointError, ReleaseFormat,
    aad as release_aad,
};

/// What a release is bound to; its [`info_bytes`](Self::info_bytes) are the HPKE `info`,
/// laid out by [`kastell_proto::release::ReleaseInfo`].
///
/// Sealing and opening must use the same three values, or opening fails.
#[derive(Debug, Clone, Copy)]
pub struct ReleaseInfo<'a>(kastell_proto::release::ReleaseInfo<'a>);

impl<'a> ReleaseInfo<'a> {
    /// Binds a release of the key `key_id` (its UUID's 16 bytes) to the guest measured
    /// `guest` and the relying party's `nonce` (0 to [`MAX_NONCE_LEN`] bytes).
    ///
    /// # Errors
    /// [`HpkeError::NonceTooLong`] if the nonce is over [`MAX_NONCE_LEN`] bytes.
    pub fn new(
        key_id: &'a [u8; 16],
        guest: &'a Measurement,
        nonce: &'a [u8],
    ) -> Result<Self, HpkeError> {
        kastell_proto::release::ReleaseInfo::new(key_id, guest.as_bytes(), nonce)
            .map(Self)
            .map_err(|e| HpkeError::NonceTooLong { len: e.len })
    }

    /// The HPKE `info` ([`kastell_proto::release::ReleaseInfo::info_bytes`]): the domain
    /// tag, the key id, the guest's SHA-384 and the nonce, each length-prefixed; `94 +
    /// nonce.len()` bytes.
    #[must_use]
    pub fn info_bytes(&self) -> Vec<u8> {
        self.0.info_bytes()
    }
}

/// A message sealed to a recipient's public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The sender's ephemeral public key (HPKE `enc`), a 97-byte uncompressed P-384 point.
    pub encapsulated_key: Vec<u8>,
    /// AES-256-GCM ciphertext followed by its 16-byte tag.
    pub ciphertext: Vec<u8>,
}

/// A recipient's P-384 private key: the guest's side of a key release.
///
/// The scalar is zeroized when the key is dropped; `Debug` prints no part of it.
pub struct RecipientKey {
    private: PrivateKey,
}

impl RecipientKey {
    /// Generates a fresh key from the operating system's random number generator.
    ///
    /// # Errors
    /// [`HpkeError::Random`] if the operating system's generator fails.
    pub fn generate() -> Result<Self, HpkeError> {
        // RFC 9180 GenerateKeyPair as the `hpke` crate does it: DeriveKeyPair(random Nsk bytes).
        let mut ikm = Zeroizing::new([0u8; PRIVATE_KEY_LEN]);
        rand_core::OsRng
            .try_fill_bytes(ikm.as_mut_slice())
            .map_err(HpkeError::Random)?;
        let (private, _) = Kem::derive_keypair(ikm.as_slice());
        Ok(Self { private })
    }

    /// Reads a private key: a big-endian scalar in `[1, n - 1]`.
    ///
    /// # Errors
    /// [`HpkeError::MalformedPrivateKey`] for zero or a value not below the group order.
    pub fn from_bytes(bytes: &[u8; PRIVATE_KEY_LEN]) -> Result<Self, HpkeError> {
        let private = PrivateKey::from_bytes(bytes).map_err(|_| HpkeError::MalformedPrivateKey)?;
        Ok(Self { private })
    }

    /// The public key to seal to, as a SEC1 uncompressed point (`0x04 ‖ x ‖ y`).
    #[must_use]
    pub fn public_key_sec1(&self) -> [u8; POINT_LEN] {
        let mut out = [0u8; POINT_LEN];
        Kem::sk_to_pk(&self.private).write_exact(&mut out);
        out
    }
}

impl fmt::Debug for RecipientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecipientKey").finish_non_exhaustive()
    }
}

// The only field is the `hpke` crate's P-384 key, a `p384::SecretKey`, zeroized on drop.
impl ZeroizeOnDrop for RecipientKey {}

/// Seals `plaintext` to the recipient's public key (SEC1 uncompressed, 97 bytes), bound to
/// `info` and authenticated with `aad`.
///
/// # Errors
/// [`HpkeError::MalformedPublicKey`] names what is wrong with the public key;
/// [`HpkeError::Random`] if the operating system's generator fails; [`HpkeError::Internal`]
/// if the `hpke` crate refuses (a plaintext beyond AES-GCM's limit of about 64 GiB).
pub fn seal(
    recipient_public_sec1: &[u8],
    info: &ReleaseInfo<'_>,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Sealed, HpkeError> {
    let public: PublicKey =
        parse_point(recipient_public_sec1).map_err(HpkeError::MalformedPublicKey)?;
    let mut rng = OsRandom { failure: None };
    let sealed = ::hpke::single_shot_seal::<Aead, Kdf, Kem, _>(
        &OpModeS::Base,
        &public,
        &info.info_bytes(),
        plaintext,
        aad,
        &mut rng,
    );
    // A failed generator filled zeros: drop whatever came out of it.
    if let Some(failure) = rng.failure {
        return Err(HpkeError::Random(failure));
    }
    let (encapsulated, ciphertext) = sealed.map_err(HpkeError::Internal)?;
    Ok(Sealed {
        encapsulated_key: encapsulated.to_bytes().to_vec(),
        ciphertext,
    })
}

/// Checks that `recipient_public_sec1` is a key [`seal`] accepts (an uncompressed point on
/// P-384), for senders that seal with another implementation of the same suite.
///
/// # Errors
/// [`HpkeError::MalformedPublicKey`] naming what is wrong.
pub fn check_public_key(recipient_public_sec1: &[u8]) -> Result<(), HpkeError> {
    parse_point::<PublicKey>(recipient_public_sec1)
        .map(|_| ())
        .map_err(HpkeError::MalformedPublicKey)
}

/// Opens a message sealed to `recipient`, checking it was bound to `info` and `aad`.
///
/// # Errors
/// [`HpkeError::MalformedEncapsulatedKey`] names what is wrong with the encapsulated key;
/// [`HpkeError::CiphertextTooShort`] if the ciphertext cannot even hold the tag;
/// [`HpkeError::DecryptionFailed`], without saying why, for a message sealed to another key,
/// bound to another `info` or `aad`, or altered.
pub fn open(
    recipient: &RecipientKey,
    info: &ReleaseInfo<'_>,
    aad: &[u8],
    sealed: &Sealed,
) -> Result<SecretBytes, HpkeError> {
    open_with_info(recipient, &info.info_bytes(), aad, sealed)
}

/// Opens a message sealed to `recipient` with the HPKE `info` bytes given (what is not a
/// key release: an access key's secret, bound by `kastell_proto::api::delivery_info`).
///
/// # Errors
/// As [`open`].
pub fn open_with_info(
    recipient: &RecipientKey,
    info: &[u8],
    aad: &[u8],
    sealed: &Sealed,
) -> Result<SecretBytes, HpkeError> {
    let encapsulated: EncappedKey =
        parse_point(&sealed.encapsulated_key).map_err(HpkeError::MalformedEncapsulatedKey)?;
    if sealed.ciphertext.len() < TAG_LEN {
        return Err(HpkeError::CiphertextTooShort {
            len: sealed.ciphertext.len(),
        });
    }
    ::hpke::single_shot_open::<Aead, Kdf, Kem>(
        &OpModeR::Base,
        &recipient.private,
        &encapsulated,
        info,
        &sealed.ciphertext,
        aad,
    )
    .map(SecretBytes::new)
    .map_err(|e| match e {
        ::hpke::HpkeError::OpenError => HpkeError::DecryptionFailed,
        other => HpkeError::Internal(other),
    })
}

fn parse_point<T: ::hpke::Deserializable>(bytes: &[u8]) -> Result<T, PointError> {
    kastell_proto::release::parse_point(bytes, T::from_bytes)
}

/// The operating system's generator behind the `hpke` crate's RNG traits; it records a
/// failure (and fills zeros) where `OsRng` would panic, and the caller checks the record.
struct OsRandom {
    failure: Option<rand_core::Error>,
}

impl hpke_rand::RngCore for OsRandom {
    fn next_u32(&mut self) -> u32 {
        hpke_rand::impls::next_u32_via_fill(self)
    }

    fn next_u64(&mut self) -> u64 {
        hpke_rand::impls::next_u64_via_fill(self)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        if self.failure.is_none() {
            match rand_core::OsRng.try_fill_bytes(dst) {
                Ok(()) => return,
                Err(e) => self.failure = Some(e),
            }
        }
        dst.fill(0);
    }
}

impl hpke_rand::CryptoRng for OsRandom {}

/// Why sealing or opening failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HpkeError {
    /// The recipient's public key is not an uncompressed P-384 point.
    #[error("malformed recipient public key: {0}")]
    MalformedPublicKey(#[source] PointError),
    /// The encapsulated key of a sealed message is not an uncompressed P-384 point.
    #[error("malformed encapsulated key: {0}")]
    MalformedEncapsulatedKey(#[source] PointError),
    /// The private key is zero or not below the P-384 group order.
    #[error("malformed private key: not a P-384 scalar in [1, n - 1]")]
    MalformedPrivateKey,
    /// The nonce is longer than [`MAX_NONCE_LEN`].
    #[error("the release nonce is {len} bytes, over the limit of 512")]
    NonceTooLong {
        /// The nonce's length.
        len: usize,
    },
    /// The ciphertext is shorter than the 16-byte tag, so it cannot be a sealed message.
    #[error("the ciphertext is {len} bytes, shorter than the 16-byte AES-GCM tag")]
    CiphertextTooShort {
        /// The ciphertext's length.
        len: usize,
    },
    /// Wrong recipient key, different `info` or `aad`, or an altered message: deliberately
    /// not told apart.
    #[error("decryption failed")]
    DecryptionFailed,
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed")]
    Random(#[source] rand_core::Error),
    /// The `hpke` crate refused for a reason the checks above do not cover.
    #[error("HPKE failed: {0}")]
    Internal(::hpke::HpkeError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_aad_is_kind_then_version_big_endian() {
        assert_eq!(release_aad(MaterialKind::Key, 1), [1, 0, 0, 0, 1]);
        assert_eq!(
            release_aad(MaterialKind::DataKey, 0x0102_0304),
            [2, 1, 2, 3, 4]
        );
    }

    const KEY_ID: [u8; 16] = [0x11; 16];

    fn hex_of(info: &ReleaseInfo<'_>) -> String {
        hex::encode(info.info_bytes())
    }

    #[test]
    fn info_layout_is_the_documented_one() {
        let guest = Measurement::from_bytes([0x22; 48]);
        let info = ReleaseInfo::new(&KEY_ID, &guest, b"abc").expect("short nonce");
        let expected = [
            "0016".to_owned() + &hex::encode("kastell-key-release-v1"),
            "0010".to_owned() + &"11".repeat(16),
            "0030".to_owned() + &"22".repeat(48),
            "0003".to_owned() + "616263",
        ]
        .concat();
        assert_eq!(hex_of(&info), expected);
        assert_eq!(info.info_bytes().len(), 94 + 3);
    }

    #[test]
    fn empty_and_longest_nonces_are_length_prefixed() {
        let guest = Measurement::of(b"guest");
        let empty = ReleaseInfo::new(&KEY_ID, &guest, b"").expect("empty nonce");
        assert!(hex_of(&empty).ends_with(&(guest.to_hex() + "0000")));
        assert_eq!(empty.info_bytes().len(), 94);

        let longest = [0xab; MAX_NONCE_LEN];
        let info = ReleaseInfo::new(&KEY_ID, &guest, &longest).expect("512 bytes");
        let bytes = info.info_bytes();
        assert_eq!(bytes.len(), 94 + MAX_NONCE_LEN);
        assert_eq!(bytes[92..94], [0x02, 0x00]);
    }

    #[test]
    fn nonce_over_the_limit_is_refused() {
        let guest = Measurement::of(b"guest");
        let nonce = [0u8; MAX_NONCE_LEN + 1];
        assert!(matches!(
            ReleaseInfo::new(&KEY_ID, &guest, &nonce),
            Err(HpkeError::NonceTooLong { len: 513 })
        ));
    }

    #[test]
    fn each_field_changes_the_info() {
        let guest = Measurement::of(b"guest");
        let other_guest = Measurement::of(b"other guest");
        let base = ReleaseInfo::new(&KEY_ID, &guest, b"nonce").expect("valid");
        let variants = [
            ReleaseInfo::new(&[0x12; 16], &guest, b"nonce").expect("valid"),
            ReleaseInfo::new(&KEY_ID, &other_guest, b"nonce").expect("valid"),
            ReleaseInfo::new(&KEY_ID, &guest, b"nonce2").expect("valid"),
            ReleaseInfo::new(&KEY_ID, &guest, b"nonc").expect("valid"),
        ];
        for variant in variants {
            assert_ne!(variant.info_bytes(), base.info_bytes(), "{variant:?}");
        }
    }
}
