//! What a key's material is: one kind per key spec of `docs/key-types.md`, the form its
//! material takes on the host, and the algorithms the spec allows.

use kastell_proto::algorithm::{
    EncryptionAlgorithm, KeyAgreementAlgorithm, MacAlgorithm, SigningAlgorithm,
};

use super::CryptoError;

/// What a key's material is for; the variants mirror AWS KMS's key specs.
///
/// The host-held material of each kind ([`KeyKind::material_len`] where it is fixed):
/// AES and HMAC keys are their bytes; RSA keys a PKCS#8 `PrivateKeyInfo` (DER) holding an
/// `RSAPrivateKey`; EC keys the private scalar, big-endian, the curve's fixed length;
/// ML-DSA keys the 32-byte seed ξ of FIPS 204 key generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// AES-256-GCM (32 bytes).
    Aes256,
    /// RSA with a 2048-bit modulus.
    Rsa2048,
    /// RSA with a 3072-bit modulus.
    Rsa3072,
    /// RSA with a 4096-bit modulus.
    Rsa4096,
    /// NIST P-256 (a 32-byte private scalar).
    EccNistP256,
    /// NIST P-384 (a 48-byte private scalar).
    P384,
    /// NIST P-521 (a 66-byte private scalar).
    EccNistP521,
    /// SECG secp256k1 (a 32-byte private scalar); ECDSA only.
    EccSecgP256k1,
    /// HMAC-SHA-224 (28 bytes).
    Hmac224,
    /// HMAC-SHA-256 (32 bytes).
    Hmac256,
    /// HMAC-SHA-384 (48 bytes generated; any non-empty length is read, as before).
    HmacSha384,
    /// HMAC-SHA-512 (64 bytes).
    Hmac512,
    /// ML-DSA-44 (a 32-byte seed).
    MlDsa44,
    /// ML-DSA-65 (a 32-byte seed).
    MlDsa65,
    /// ML-DSA-87 (a 32-byte seed).
    MlDsa87,
}

/// The families of [`KeyKind`]: one prepared-key type each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyFamily {
    /// AES.
    Symmetric,
    /// RSA.
    Rsa,
    /// Elliptic curves (ECDSA, ECDH).
    Ec,
    /// HMAC.
    Hmac,
    /// ML-DSA.
    MlDsa,
}

impl KeyKind {
    /// Every kind.
    pub const ALL: &'static [Self] = &[
        Self::Aes256,
        Self::Rsa2048,
        Self::Rsa3072,
        Self::Rsa4096,
        Self::EccNistP256,
        Self::P384,
        Self::EccNistP521,
        Self::EccSecgP256k1,
        Self::Hmac224,
        Self::Hmac256,
        Self::HmacSha384,
        Self::Hmac512,
        Self::MlDsa44,
        Self::MlDsa65,
        Self::MlDsa87,
    ];

    /// The key spec's name (AWS KMS's; `HMAC_384` is what the store calls `HMAC_SHA384`
    /// until the migration of `docs/key-types.md`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Aes256 => "AES_256",
            Self::Rsa2048 => "RSA_2048",
            Self::Rsa3072 => "RSA_3072",
            Self::Rsa4096 => "RSA_4096",
            Self::EccNistP256 => "ECC_NIST_P256",
            Self::P384 => "ECC_NIST_P384",
            Self::EccNistP521 => "ECC_NIST_P521",
            Self::EccSecgP256k1 => "ECC_SECG_P256K1",
            Self::Hmac224 => "HMAC_224",
            Self::Hmac256 => "HMAC_256",
            Self::HmacSha384 => "HMAC_384",
            Self::Hmac512 => "HMAC_512",
            Self::MlDsa44 => "ML_DSA_44",
            Self::MlDsa65 => "ML_DSA_65",
            Self::MlDsa87 => "ML_DSA_87",
        }
    }

    /// The kind's family.
    #[must_use]
    pub const fn family(self) -> KeyFamily {
        match self {
            Self::Aes256 => KeyFamily::Symmetric,
            Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096 => KeyFamily::Rsa,
            Self::EccNistP256 | Self::P384 | Self::EccNistP521 | Self::EccSecgP256k1 => {
                KeyFamily::Ec
            }
            Self::Hmac224 | Self::Hmac256 | Self::HmacSha384 | Self::Hmac512 => KeyFamily::Hmac,
            Self::MlDsa44 | Self::MlDsa65 | Self::MlDsa87 => KeyFamily::MlDsa,
        }
    }

    /// Whether the kind has a public key (RSA, EC, ML-DSA).
    #[must_use]
    pub const fn is_asymmetric(self) -> bool {
        matches!(
            self.family(),
            KeyFamily::Rsa | KeyFamily::Ec | KeyFamily::MlDsa
        )
    }

    /// The material's length where it is fixed (AES, EC scalars, ML-DSA seeds, the new HMAC
    /// sizes); `None` for RSA (PKCS#8 DER) and `HmacSha384` (any non-empty length).
    #[must_use]
    pub const fn material_len(self) -> Option<usize> {
        match self {
            Self::Aes256
            | Self::EccNistP256
            | Self::EccSecgP256k1
            | Self::Hmac256
            | Self::MlDsa44
            | Self::MlDsa65
            | Self::MlDsa87 => Some(32),
            Self::P384 => Some(48),
            Self::EccNistP521 => Some(66),
            Self::Hmac224 => Some(28),
            Self::Hmac512 => Some(64),
            Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096 | Self::HmacSha384 => None,
        }
    }

    /// The RSA modulus's length in bits, or `None` for other kinds.
    #[must_use]
    pub const fn rsa_bits(self) -> Option<usize> {
        match self {
            Self::Rsa2048 => Some(2048),
            Self::Rsa3072 => Some(3072),
            Self::Rsa4096 => Some(4096),
            _ => None,
        }
    }

    /// The signing algorithms the spec allows (the curve's own hash for ECDSA).
    #[must_use]
    pub const fn signing_algorithms(self) -> &'static [SigningAlgorithm] {
        use SigningAlgorithm as S;
        match self {
            Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096 => &[
                S::RsassaPssSha256,
                S::RsassaPssSha384,
                S::RsassaPssSha512,
                S::RsassaPkcs1V15Sha256,
                S::RsassaPkcs1V15Sha384,
                S::RsassaPkcs1V15Sha512,
            ],
            Self::EccNistP256 | Self::EccSecgP256k1 => &[S::EcdsaSha256],
            Self::P384 => &[S::EcdsaSha384],
            Self::EccNistP521 => &[S::EcdsaSha512],
            Self::MlDsa44 | Self::MlDsa65 | Self::MlDsa87 => &[S::MlDsaShake256],
            Self::Aes256 | Self::Hmac224 | Self::Hmac256 | Self::HmacSha384 | Self::Hmac512 => &[],
        }
    }

    /// The encryption algorithms the spec allows.
    #[must_use]
    pub const fn encryption_algorithms(self) -> &'static [EncryptionAlgorithm] {
        match self.family() {
            KeyFamily::Symmetric => &[EncryptionAlgorithm::SymmetricDefault],
            KeyFamily::Rsa => &[
                EncryptionAlgorithm::RsaesOaepSha1,
                EncryptionAlgorithm::RsaesOaepSha256,
            ],
            KeyFamily::Ec | KeyFamily::Hmac | KeyFamily::MlDsa => &[],
        }
    }

    /// The MAC algorithm the spec allows (its own size), if any.
    #[must_use]
    pub const fn mac_algorithm(self) -> Option<MacAlgorithm> {
        match self {
            Self::Hmac224 => Some(MacAlgorithm::HmacSha224),
            Self::Hmac256 => Some(MacAlgorithm::HmacSha256),
            Self::HmacSha384 => Some(MacAlgorithm::HmacSha384),
            Self::Hmac512 => Some(MacAlgorithm::HmacSha512),
            _ => None,
        }
    }

    /// The key agreement the spec allows: ECDH on the NIST curves.
    #[must_use]
    pub const fn key_agreement(self) -> Option<KeyAgreementAlgorithm> {
        match self {
            Self::EccNistP256 | Self::P384 | Self::EccNistP521 => Some(KeyAgreementAlgorithm::Ecdh),
            _ => None,
        }
    }

    /// `Ok` when the spec allows `algorithm` for signing, else [`CryptoError::Unsupported`].
    ///
    /// # Errors
    /// [`CryptoError::Unsupported`] naming the kind and the algorithm.
    pub fn check_signing(self, algorithm: SigningAlgorithm) -> Result<(), CryptoError> {
        if self.signing_algorithms().contains(&algorithm) {
            Ok(())
        } else {
            Err(self.unsupported(algorithm.as_str()))
        }
    }

    /// `Ok` when the spec allows `algorithm` for encryption, else
    /// [`CryptoError::Unsupported`].
    ///
    /// # Errors
    /// [`CryptoError::Unsupported`] naming the kind and the algorithm.
    pub fn check_encryption(self, algorithm: EncryptionAlgorithm) -> Result<(), CryptoError> {
        if self.encryption_algorithms().contains(&algorithm) {
            Ok(())
        } else {
            Err(self.unsupported(algorithm.as_str()))
        }
    }

    /// `Ok` when the spec's MAC algorithm is `algorithm`, else [`CryptoError::Unsupported`].
    ///
    /// # Errors
    /// [`CryptoError::Unsupported`] naming the kind and the algorithm.
    pub fn check_mac(self, algorithm: MacAlgorithm) -> Result<(), CryptoError> {
        if self.mac_algorithm() == Some(algorithm) {
            Ok(())
        } else {
            Err(self.unsupported(algorithm.as_str()))
        }
    }

    /// `Ok` when the spec allows ECDH, else [`CryptoError::Unsupported`].
    ///
    /// # Errors
    /// [`CryptoError::Unsupported`] naming the kind and `ECDH`.
    pub fn check_key_agreement(self) -> Result<(), CryptoError> {
        match self.key_agreement() {
            Some(_) => Ok(()),
            None => Err(self.unsupported(KeyAgreementAlgorithm::Ecdh.as_str())),
        }
    }

    /// The error for a request this kind does not allow.
    #[must_use]
    pub const fn unsupported(self, what: &'static str) -> CryptoError {
        CryptoError::Unsupported { kind: self, what }
    }

    /// The error for using a key through a legacy typed operation of another kind.
    pub(crate) fn misuse(self) -> CryptoError {
        CryptoError::InvalidKey(match self.family() {
            KeyFamily::Symmetric => "an AES-256 key cannot do this",
            KeyFamily::Rsa => "an RSA key cannot do this",
            KeyFamily::Ec if matches!(self, Self::P384) => "a P-384 key cannot do this",
            KeyFamily::Ec => "this EC key cannot do this",
            KeyFamily::Hmac => "an HMAC key cannot do this",
            KeyFamily::MlDsa => "an ML-DSA key cannot do this",
        })
    }
}

impl core::fmt::Display for KeyKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_allows_exactly_the_algorithms_of_its_spec() {
        for &kind in KeyKind::ALL {
            for &algorithm in SigningAlgorithm::ALL {
                let allowed = kind.check_signing(algorithm).is_ok();
                let expected = match kind.family() {
                    KeyFamily::Rsa => algorithm.as_str().starts_with("RSASSA_"),
                    KeyFamily::Ec => {
                        algorithm.as_str().starts_with("ECDSA_")
                            && algorithm.digest_len()
                                == Some(match kind {
                                    KeyKind::P384 => 48,
                                    KeyKind::EccNistP521 => 64,
                                    _ => 32,
                                })
                    }
                    KeyFamily::MlDsa => algorithm == SigningAlgorithm::MlDsaShake256,
                    KeyFamily::Symmetric | KeyFamily::Hmac => false,
                };
                assert_eq!(allowed, expected, "{kind} {algorithm}");
            }
            for &algorithm in MacAlgorithm::ALL {
                let allowed = kind.check_mac(algorithm).is_ok();
                let size = &kind.as_str()[kind.as_str().len() - 3..];
                assert_eq!(
                    allowed,
                    kind.family() == KeyFamily::Hmac && algorithm.as_str().ends_with(size),
                    "{kind} {algorithm}"
                );
            }
            assert_eq!(
                kind.check_key_agreement().is_ok(),
                matches!(
                    kind,
                    KeyKind::EccNistP256 | KeyKind::P384 | KeyKind::EccNistP521
                ),
                "{kind}"
            );
        }
        assert_eq!(
            KeyKind::EccNistP256
                .check_signing(SigningAlgorithm::RsassaPssSha256)
                .map_err(|err| err.to_string()),
            Err("ECC_NIST_P256 does not allow RSASSA_PSS_SHA_256".into())
        );
        assert_eq!(
            KeyKind::EccSecgP256k1
                .check_key_agreement()
                .map_err(|err| err.to_string()),
            Err("ECC_SECG_P256K1 does not allow ECDH".into())
        );
    }
}
