//! The attested key release format: what a release is bound to (the HPKE `info`), what
//! it carries (the HPKE AAD) and how its plaintext is encoded ([`ReleaseFormat`]). The key service seals with it (`kastell-core`), relying
//! parties and tests open with it (`kastell_attest::hpke`), and workloads open with it
//! (`kastell_guest::release`): one definition, byte for byte.
//!
//! The HPKE suite is RFC 9180 base mode with DHKEM(P-384, HKDF-SHA384) (KEM `0x0011`),
//! HKDF-SHA384 (KDF `0x0002`) and AES-256-GCM (AEAD `0x0002`); points are SEC1
//! uncompressed P-384 points.

use alloc::vec::Vec;
use core::fmt;

use crate::KeySpec;
use crate::names::vocabulary;

/// Length of a SEC1 uncompressed P-384 point: public keys and encapsulated keys.
pub const POINT_LEN: usize = 97;
/// Length of a P-384 private key (a big-endian scalar).
pub const PRIVATE_KEY_LEN: usize = 48;
/// Longest nonce a release can be bound to (the attestation claims' limit, as the Nitro
/// attestation document's).
pub const MAX_NONCE_LEN: usize = 512;
/// Domain tag that starts the `info` of every Kastell key release.
pub const INFO_TAG: &[u8] = b"kastell-key-release-v1";
/// Length of a release's AAD: see [`aad`].
pub const AAD_LEN: usize = 5;

/// What is wrong with bytes that should be a SEC1 uncompressed P-384 point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PointError {
    /// Not 97 bytes long.
    Length {
        /// The length found.
        found: usize,
    },
    /// Does not start with `0x04` (only the uncompressed form is accepted).
    NotUncompressed {
        /// The first byte found.
        tag: u8,
    },
    /// The coordinates are not a point on P-384.
    NotOnCurve,
}

impl fmt::Display for PointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Length { found } => write!(
                f,
                "expected a {POINT_LEN}-byte uncompressed P-384 point, found {found} bytes"
            ),
            Self::NotUncompressed { tag } => write!(
                f,
                "starts with {tag:#04x}, not 0x04: only the uncompressed form is accepted"
            ),
            Self::NotOnCurve => f.write_str("not a point on P-384"),
        }
    }
}

impl core::error::Error for PointError {}

/// Checks the shape of a SEC1 uncompressed P-384 point (its length and its `0x04` tag),
/// then decodes it with `decode`, whose failure means the point is not on the curve.
///
/// # Errors
/// [`PointError`] naming what is wrong.
pub fn parse_point<T, E>(
    bytes: &[u8],
    decode: impl FnOnce(&[u8]) -> Result<T, E>,
) -> Result<T, PointError> {
    if bytes.len() != POINT_LEN {
        return Err(PointError::Length { found: bytes.len() });
    }
    match bytes.first() {
        Some(0x04) => decode(bytes).map_err(|_| PointError::NotOnCurve),
        Some(&tag) => Err(PointError::NotUncompressed { tag }),
        None => Err(PointError::Length { found: 0 }),
    }
}

/// What a release carries, the first byte of its AAD ([`aad`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum MaterialKind {
    /// The material of one key version, encoded as [`ReleaseFormat::of`] its spec says.
    Key = 1,
    /// A fresh 32-byte AES-256 data key (the key service also returns it wrapped under the
    /// key, as a Kastell ciphertext).
    DataKey = 2,
}

/// What a release hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ReleaseKind {
    /// The material of one key version.
    Key,
    /// A fresh AES-256 data key, also returned encrypted under the key's current version.
    DataKey,
}

impl ReleaseKind {
    /// `key` or `data-key`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Key => "key",
            Self::DataKey => "data-key",
        }
    }
}

impl From<ReleaseKind> for MaterialKind {
    fn from(kind: ReleaseKind) -> Self {
        match kind {
            ReleaseKind::Key => Self::Key,
            ReleaseKind::DataKey => Self::DataKey,
        }
    }
}

vocabulary! {
    /// How the plaintext of a release is encoded: fixed by the key's spec and what is
    /// released ([`ReleaseFormat::of`]), and named in the release answer (`format`) so the
    /// receiver knows what it opened. Every form is a standard one that common tools load.
    pub enum ReleaseFormat as "release format" {
        /// The key's bytes as they are: an `AES_256` key or a data key (32 bytes, for
        /// AES-256-GCM), an HMAC key (the spec's length: `HMAC_224` 28, `HMAC_256` 32,
        /// `HMAC_384` 48, `HMAC_512` 64 bytes; what HMAC takes as its key, RFC 2104).
        Raw = "raw",
        /// A PKCS#8 `PrivateKeyInfo` (RFC 5208, version 1, as RFC 5958 `OneAsymmetricKey`
        /// v1), DER: for `RSA_*` an `rsaEncryption` key holding the RFC 8017
        /// `RSAPrivateKey` (CRT parameters included); for `ECC_*` an `id-ecPublicKey` key
        /// whose parameters name the curve (RFC 5480 OID) holding an RFC 5915
        /// `ECPrivateKey` with its public key; for `ML_DSA_*` an `id-ml-dsa-44/65/87` key
        /// holding the 32-byte seed ξ (RFC 9881's `seed` choice, `[0] IMPLICIT OCTET
        /// STRING`: the form that RFC recommends, from which FIPS 204 key generation
        /// derives the whole key).
        Pkcs8Der = "pkcs8-der",
    }
}

impl ReleaseFormat {
    /// The format of a release of `kind` from a key of `spec`: a data key is always
    /// [`Raw`](Self::Raw) (32 bytes); a key version's material is raw for `AES_256` and
    /// the HMAC specs, PKCS#8 for every asymmetric spec (RSA, ECC, ML-DSA).
    #[must_use]
    pub const fn of(spec: KeySpec, kind: ReleaseKind) -> Self {
        match (kind, spec) {
            (ReleaseKind::DataKey, _)
            | (
                ReleaseKind::Key,
                KeySpec::Aes256
                | KeySpec::Hmac224
                | KeySpec::Hmac256
                | KeySpec::HmacSha384
                | KeySpec::Hmac512,
            ) => Self::Raw,
            (
                ReleaseKind::Key,
                KeySpec::Rsa2048
                | KeySpec::Rsa3072
                | KeySpec::Rsa4096
                | KeySpec::EccNistP256
                | KeySpec::EccNistP384
                | KeySpec::EccNistP521
                | KeySpec::EccSecgP256k1
                | KeySpec::MlDsa44
                | KeySpec::MlDsa65
                | KeySpec::MlDsa87,
            ) => Self::Pkcs8Der,
        }
    }
}

/// The HPKE AAD of a release: exactly 5 bytes.
///
/// ```text
/// byte 0      kind: 0x01 = a key version's material (MaterialKind::Key),
///                   0x02 = a fresh data key           (MaterialKind::DataKey)
/// bytes 1..5  the key version, u32 big-endian
/// ```
///
/// So `aad(MaterialKind::Key, 3)` is `01 00 00 00 03`. Opening with another kind or
/// version fails.
#[must_use]
pub fn aad(kind: MaterialKind, version: u32) -> [u8; AAD_LEN] {
    let [v0, v1, v2, v3] = version.to_be_bytes();
    [kind as u8, v0, v1, v2, v3]
}

/// A release nonce over [`MAX_NONCE_LEN`] bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NonceTooLong {
    /// Its length.
    pub len: usize,
}

impl fmt::Display for NonceTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the release nonce is {} bytes, over the limit of {MAX_NONCE_LEN}",
            self.len
        )
    }
}

impl core::error::Error for NonceTooLong {}

/// What a release is bound to; its [`info_bytes`](Self::info_bytes) are the HPKE `info`.
///
/// Sealing and opening must use the same three values, or opening fails.
#[derive(Debug, Clone, Copy)]
pub struct ReleaseInfo<'a> {
    key_id: &'a [u8; 16],
    guest_sha384: &'a [u8; 48],
    nonce: &'a [u8],
}

impl<'a> ReleaseInfo<'a> {
    /// Binds a release of the key `key_id` (its UUID's 16 bytes, not its text form) to the
    /// guest measured `guest_sha384` (the 48-byte digest) and the relying party's `nonce`
    /// (0 to [`MAX_NONCE_LEN`] bytes).
    ///
    /// # Errors
    /// [`NonceTooLong`] if the nonce is over [`MAX_NONCE_LEN`] bytes.
    pub fn new(
        key_id: &'a [u8; 16],
        guest_sha384: &'a [u8; 48],
        nonce: &'a [u8],
    ) -> Result<Self, NonceTooLong> {
        if nonce.len() > MAX_NONCE_LEN {
            return Err(NonceTooLong { len: nonce.len() });
        }
        Ok(Self {
            key_id,
            guest_sha384,
            nonce,
        })
    }

    /// The HPKE `info`: four fields, each a 2-byte big-endian length then its bytes.
    ///
    /// ```text
    /// 0x0016 ‖ "kastell-key-release-v1"      (INFO_TAG, 22 bytes)
    /// 0x0010 ‖ key id                         (16 bytes, the key's UUID)
    /// 0x0030 ‖ guest SHA-384                  (48 bytes)
    /// len    ‖ nonce                          (0 to 512 bytes)
    /// ```
    ///
    /// That is `94 + nonce.len()` bytes. A relying party that rebuilds it from these
    /// lines gets the same bytes, and no two different releases share an `info`.
    #[must_use]
    pub fn info_bytes(&self) -> Vec<u8> {
        let fields: [&[u8]; 4] = [INFO_TAG, self.key_id, self.guest_sha384, self.nonce];
        let mut info = Vec::with_capacity(fields.iter().map(|f| 2 + f.len()).sum());
        for field in fields {
            // Every field is at most MAX_NONCE_LEN bytes (checked in `new`), so it fits.
            let len = u16::try_from(field.len()).unwrap_or(u16::MAX);
            info.extend_from_slice(&len.to_be_bytes());
            info.extend_from_slice(field);
        }
        info
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_checked_for_length_and_tag_before_decoding() {
        let decode = |_: &[u8]| Ok::<_, ()>(7);
        let mut point = [4u8; POINT_LEN];
        assert_eq!(parse_point(&point, decode), Ok(7));
        assert_eq!(
            parse_point(&point[..96], decode),
            Err(PointError::Length { found: 96 })
        );
        point[0] = 2;
        assert_eq!(
            parse_point(&point, decode),
            Err(PointError::NotUncompressed { tag: 2 })
        );
        point[0] = 4;
        assert_eq!(
            parse_point(&point, |_: &[u8]| Err::<u8, _>(())),
            Err(PointError::NotOnCurve)
        );
    }

    #[test]
    fn every_asymmetric_spec_is_released_as_pkcs8_and_the_rest_raw() {
        for &spec in KeySpec::ALL {
            let asymmetric = !matches!(
                spec,
                KeySpec::Aes256
                    | KeySpec::Hmac224
                    | KeySpec::Hmac256
                    | KeySpec::HmacSha384
                    | KeySpec::Hmac512
            );
            let expected = if asymmetric {
                ReleaseFormat::Pkcs8Der
            } else {
                ReleaseFormat::Raw
            };
            assert_eq!(
                ReleaseFormat::of(spec, ReleaseKind::Key),
                expected,
                "{spec}"
            );
            assert_eq!(
                ReleaseFormat::of(spec, ReleaseKind::DataKey),
                ReleaseFormat::Raw
            );
        }
        assert_eq!(ReleaseFormat::Pkcs8Der.as_str(), "pkcs8-der");
        assert_eq!("raw".parse(), Ok(ReleaseFormat::Raw));
    }

    #[test]
    fn aad_is_kind_then_version_big_endian() {
        assert_eq!(aad(MaterialKind::Key, 1), [1, 0, 0, 0, 1]);
        assert_eq!(aad(MaterialKind::DataKey, 0x0102_0304), [2, 1, 2, 3, 4]);
    }

    #[test]
    fn info_is_length_prefixed_fields_and_long_nonces_are_refused() {
        let info = ReleaseInfo::new(&[7; 16], &[9; 48], b"n0").expect("info");
        let bytes = info.info_bytes();
        assert_eq!(bytes.len(), 94 + 2);
        assert_eq!(&bytes[..24], b"\x00\x16kastell-key-release-v1");
        assert_eq!(&bytes[24..26], &[0, 16]);
        assert_eq!(&bytes[bytes.len() - 4..], b"\x00\x02n0");
        let long = [0u8; MAX_NONCE_LEN + 1];
        assert_eq!(
            ReleaseInfo::new(&[7; 16], &[9; 48], &long).map(|_| ()),
            Err(NonceTooLong { len: 513 })
        );
    }
}
