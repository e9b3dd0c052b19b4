//! HMAC-SHA-2 on aws-lc-rs: the prepared [`Hmac`] key (the pads computed once), the MAC
//! and its verification in constant time.

use aws_lc_rs::hmac;
use kastell_proto::algorithm::MacAlgorithm;

use super::debug_prepared;
use crate::crypto::{CryptoError, KeyKind, PreparedKey};
use crate::secret::SecretBytes;

/// The aws-lc-rs HMAC algorithm of a MAC algorithm.
fn algorithm(mac: MacAlgorithm) -> hmac::Algorithm {
    match mac {
        MacAlgorithm::HmacSha224 => hmac::HMAC_SHA224,
        MacAlgorithm::HmacSha256 => hmac::HMAC_SHA256,
        MacAlgorithm::HmacSha384 => hmac::HMAC_SHA384,
        MacAlgorithm::HmacSha512 => hmac::HMAC_SHA512,
    }
}

/// A prepared HMAC key. AWS-LC cleanses the HMAC context on drop; the material is a
/// [`SecretBytes`].
pub(super) struct Hmac {
    kind: KeyKind,
    mac: MacAlgorithm,
    material: SecretBytes,
    key: hmac::Key,
}

impl Hmac {
    /// Checks the material's length: the spec's for the new sizes, any non-empty length
    /// for `HmacSha384` (as before).
    pub(super) fn new(kind: KeyKind, material: SecretBytes) -> Result<Self, CryptoError> {
        let Some(mac) = kind.mac_algorithm() else {
            return Err(kind.misuse());
        };
        if material.is_empty() {
            return Err(CryptoError::InvalidKey("empty HMAC key"));
        }
        if kind.material_len().is_some_and(|len| len != material.len()) {
            return Err(CryptoError::InvalidKey(
                "HMAC key of another length than its spec's (28, 32 or 64 bytes)",
            ));
        }
        Ok(Self {
            kind,
            mac,
            key: hmac::Key::new(algorithm(mac), material.expose()),
            material,
        })
    }
}

impl std::fmt::Debug for Hmac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        debug_prepared(f, self.kind)
    }
}

impl PreparedKey for Hmac {
    fn kind(&self) -> KeyKind {
        self.kind
    }

    fn material(&self) -> Result<&SecretBytes, CryptoError> {
        Ok(&self.material)
    }

    fn hmac_sha384(&self, message: &[u8]) -> Result<[u8; 48], CryptoError> {
        if self.kind != KeyKind::HmacSha384 {
            return Err(self.kind.misuse());
        }
        hmac::sign(&self.key, message)
            .as_ref()
            .try_into()
            .map_err(|_| CryptoError::InvalidKey("HMAC key"))
    }

    fn mac(&self, algorithm: MacAlgorithm, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.kind.check_mac(algorithm)?;
        debug_assert_eq!(algorithm, self.mac);
        Ok(hmac::sign(&self.key, message).as_ref().to_vec())
    }

    fn verify_mac(
        &self,
        algorithm: MacAlgorithm,
        message: &[u8],
        tag: &[u8],
    ) -> Result<bool, CryptoError> {
        self.kind.check_mac(algorithm)?;
        // aws-lc-rs compares with CRYPTO_memcmp (constant time); a tag of another length
        // (a truncated one included) does not verify.
        Ok(hmac::verify(&self.key, message, tag).is_ok())
    }
}
