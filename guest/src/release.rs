//! Attested key release, the workload's side: opening a key that a key service sealed to it.
//!
//! Enabled by the cargo feature `release` (off by default: policies never receive key
//! material, and stay small without the P-384 and HPKE code).
//!
//! The flow, seen from a workload:
//!
//! 1. Draw 48 random bytes from the host's `random` import (`kastell:runtime/keys`; a
//!    workload has no other source of randomness) and make a [`RecipientKey`] of them.
//! 2. Pass [`RecipientKey::public_key_sec1`] as the `public-key` of
//!    `attest(nonce, public-key, user-data)`: the host binds it to the workload's SHA-384.
//! 3. The key service checks that attestation and seals the key with HPKE to that public
//!    key, binding the release to the key id, the workload's SHA-384 and the relying
//!    party's nonce through the HPKE `info` ([`ReleaseInfo`]), and to what it carries
//!    (which key version, or a fresh data key) through the AAD ([`release_aad`]).
//! 4. [`RecipientKey::open`] checks that binding and returns the key as [`SecretBytes`]
//!    (zeroized on drop, redacted in `Debug`), encoded as the release answer's `format`
//!    says ([`ReleaseFormat`]): the raw bytes of an AES or HMAC key (and of a data key),
//!    PKCS#8 DER of an RSA, EC or ML-DSA key.
//! 5. With a released AES-256 key version, [`decrypt_record`] decrypts the ciphertexts the
//!    key service's `encrypt` made under that version ("records"), checking their header
//!    and encryption context. [`uuid_bytes`] and [`parse_sha384`] read the key id and
//!    measurement of a release response from their text forms.
//!
//! The suite is RFC 9180 base mode with DHKEM(P-384, HKDF-SHA384) (KEM `0x0011`),
//! HKDF-SHA384 (KDF `0x0002`) and AES-256-GCM (AEAD `0x0002`), and the `info` layout is
//! byte for byte that of `kastell_attest::hpke`, which seals; the HPKE construction itself
//! is the `hpke` crate's, the same one the key service uses. Points are SEC1 uncompressed
//! P-384 points (`0x04 ‖ x ‖ y`, 97 bytes); the compressed form is refused.
//!
//! ```
//! use kastell_guest::release::{RecipientKey, ReleaseError, ReleaseInfo};
//!
//! // In a workload these bytes come from the host's `random` import.
//! # let random = |_len: usize| vec![0x42; 48];
//! let secret = kastell_guest::release::SecretBytes::new(random(48));
//! let key = RecipientKey::from_bytes(secret.expose())?;
//! let public_key = key.public_key_sec1(); // what the workload passes to `attest`
//!
//! // The key service, after checking the attestation, seals to `public_key`:
//! # let (key_id, guest, nonce) = ([7u8; 16], [9u8; 48], b"relying party nonce");
//! # let measurement = kastell_attest::Measurement::from_bytes(guest);
//! # let sealer_info = kastell_attest::hpke::ReleaseInfo::new(&key_id, &measurement, nonce).unwrap();
//! # let sealed = kastell_attest::hpke::seal(&public_key, &sealer_info, b"", b"data key").unwrap();
//! let info = ReleaseInfo::new(&key_id, &guest, nonce)?;
//! let data_key = key.open(&info, b"", &sealed.encapsulated_key, &sealed.ciphertext)?;
//! assert_eq!(data_key.expose(), b"data key");
//! # Ok::<(), ReleaseError>(())
//! ```

#![forbid(unsafe_code)]

mod error;
mod record;
mod text;

use core::fmt;

use hpke::{Deserializable as _, Kem as _, OpModeR, Serializable as _};
use zeroize::ZeroizeOnDrop;

pub use error::{PointError, ReleaseError};
/// What a released key (and a decrypted record) is returned as: zeroized when dropped,
/// shown by `Debug` as its type name only, read through `expose`.
pub use kastell_proto::secret::SecretBytes;
pub use record::{
    KEY_LEN, RECORD_FORMAT_V1, RECORD_HEADER_LEN, Record, RecordHeader, canonical_context,
    decrypt_record,
};
pub use text::{parse_sha384, uuid_bytes, uuid_text};

type Kem = hpke::kem::DhP384HkdfSha384;
type Kdf = hpke::kdf::HkdfSha384;
type Aead = hpke::aead::AesGcm256;
type PrivateKey = <Kem as hpke::Kem>::PrivateKey;
type EncappedKey = <Kem as hpke::Kem>::EncappedKey;

pub use kastell_proto::ciphertext::TAG_LEN;
pub use kastell_proto::release::{
    AAD_LEN as RELEASE_AAD_LEN, INFO_TAG, MAX_NONCE_LEN, MaterialKind, POINT_LEN, PRIVATE_KEY_LEN,
    ReleaseFormat, aad as release_aad,
};

/// What a release is bound to; its [`info_bytes`](Self::info_bytes) are the HPKE `info`,
/// laid out by [`kastell_proto::release::ReleaseInfo`] exactly as the key service seals.
#[derive(Debug, Clone, Copy)]
pub struct ReleaseInfo<'a>(kastell_proto::release::ReleaseInfo<'a>);

impl<'a> ReleaseInfo<'a> {
    /// Binds a release of the key `key_id` (its UUID's 16 bytes, not its text form) to the
    /// workload measured `guest_sha384` (the 48-byte digest) and the relying party's
    /// `nonce` (0 to [`MAX_NONCE_LEN`] bytes).
    ///
    /// # Errors
    /// [`ReleaseError::NonceTooLong`] if the nonce is over [`MAX_NONCE_LEN`] bytes.
    pub fn new(
        key_id: &'a [u8; 16],
        guest_sha384: &'a [u8; 48],
        nonce: &'a [u8],
    ) -> Result<Self, ReleaseError> {
        kastell_proto::release::ReleaseInfo::new(key_id, guest_sha384, nonce)
            .map(Self)
            .map_err(|e| ReleaseError::NonceTooLong { len: e.len })
    }

    /// The HPKE `info`: the domain tag, the key id, the guest's SHA-384 and the nonce, each
    /// length-prefixed; `94 + nonce.len()` bytes, the same as
    /// `kastell_attest::hpke::ReleaseInfo`.
    #[must_use]
    pub fn info_bytes(&self) -> Vec<u8> {
        self.0.info_bytes()
    }
}

/// The workload's ephemeral P-384 private key, to which a key service seals a release.
///
/// The scalar is zeroized when the key is dropped; `Debug` prints no part of it.
pub struct RecipientKey {
    private: PrivateKey,
}

impl RecipientKey {
    /// Makes a key of 48 secret bytes, read as a big-endian scalar in `[1, n - 1]`.
    ///
    /// Pass fresh random bytes: in a workload, those of the host's `random` import
    /// (`random(48)`), held in [`SecretBytes`], since a workload has no other source
    /// of randomness. The bytes are copied into the key; the caller's buffer is left as it
    /// is. Uniformly random bytes fall outside `[1, n - 1]` with a probability below
    /// 2⁻¹⁸⁹; on [`ReleaseError::MalformedPrivateKey`], draw again.
    ///
    /// # Errors
    /// [`ReleaseError::PrivateKeyLength`] unless `secret` is [`PRIVATE_KEY_LEN`] bytes long;
    /// [`ReleaseError::MalformedPrivateKey`] for zero or a value not below the group order.
    pub fn from_bytes(secret: &[u8]) -> Result<Self, ReleaseError> {
        if secret.len() != PRIVATE_KEY_LEN {
            return Err(ReleaseError::PrivateKeyLength {
                found: secret.len(),
            });
        }
        let private =
            PrivateKey::from_bytes(secret).map_err(|_| ReleaseError::MalformedPrivateKey)?;
        Ok(Self { private })
    }

    /// The public key, as a SEC1 uncompressed point (`0x04 ‖ x ‖ y`): the `public-key` the
    /// workload passes to `attest`, and the key a release is sealed to.
    #[must_use]
    pub fn public_key_sec1(&self) -> [u8; POINT_LEN] {
        let mut out = [0u8; POINT_LEN];
        Kem::sk_to_pk(&self.private).write_exact(&mut out);
        out
    }

    /// Opens a key release sealed to this key: `encapsulated_key` (HPKE `enc`, a 97-byte
    /// uncompressed point) and `ciphertext` (AES-256-GCM, tag last), checking that it was
    /// bound to `info` and authenticated with `aad`, as the key service sealed it.
    ///
    /// # Errors
    /// [`ReleaseError::MalformedEncapsulatedKey`] names what is wrong with the encapsulated
    /// key; [`ReleaseError::CiphertextTooShort`] if the ciphertext cannot even hold the tag;
    /// [`ReleaseError::DecryptionFailed`], without saying why, for a release sealed to
    /// another key, bound to another key id, guest or nonce, under another `aad`, or
    /// altered; [`ReleaseError::Internal`] if the `hpke` crate refuses for another reason.
    pub fn open(
        &self,
        info: &ReleaseInfo<'_>,
        aad: &[u8],
        encapsulated_key: &[u8],
        ciphertext: &[u8],
    ) -> Result<SecretBytes, ReleaseError> {
        let encapsulated: EncappedKey =
            parse_point(encapsulated_key).map_err(ReleaseError::MalformedEncapsulatedKey)?;
        if ciphertext.len() < TAG_LEN {
            return Err(ReleaseError::CiphertextTooShort {
                len: ciphertext.len(),
            });
        }
        hpke::single_shot_open::<Aead, Kdf, Kem>(
            &OpModeR::Base,
            &self.private,
            &encapsulated,
            &info.info_bytes(),
            ciphertext,
            aad,
        )
        .map(SecretBytes::new)
        .map_err(|e| match e {
            hpke::HpkeError::OpenError => ReleaseError::DecryptionFailed,
            other => ReleaseError::Internal(other),
        })
    }
}

impl fmt::Debug for RecipientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecipientKey").finish_non_exhaustive()
    }
}

// The only field is the `hpke` crate's P-384 key, a `p384::SecretKey`, zeroized on drop.
impl ZeroizeOnDrop for RecipientKey {}

fn parse_point<T: hpke::Deserializable>(bytes: &[u8]) -> Result<T, PointError> {
    kastell_proto::release::parse_point(bytes, T::from_bytes)
}
