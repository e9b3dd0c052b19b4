//! What a key of each spec may do: its crypto kind, the usages checked at creation, and
//! the algorithm of one request (the spec's single algorithm where it has one, else the
//! one named), refused by name when the spec and usage do not allow it.

use kastell_proto::algorithm::{
    EncryptionAlgorithm, KeyAgreementAlgorithm, MacAlgorithm, MessageType, SigningAlgorithm,
};
use kastell_proto::{KeySpec, KeyUsage};

use super::error::KeyError;
use crate::crypto::{CryptoError, KeyKind};

/// The crypto layer's kind of a key spec.
#[must_use]
pub const fn kind_of(spec: KeySpec) -> KeyKind {
    match spec {
        KeySpec::Aes256 => KeyKind::Aes256,
        KeySpec::Rsa2048 => KeyKind::Rsa2048,
        KeySpec::Rsa3072 => KeyKind::Rsa3072,
        KeySpec::Rsa4096 => KeyKind::Rsa4096,
        KeySpec::EccNistP256 => KeyKind::EccNistP256,
        KeySpec::EccNistP384 => KeyKind::P384,
        KeySpec::EccNistP521 => KeyKind::EccNistP521,
        KeySpec::EccSecgP256k1 => KeyKind::EccSecgP256k1,
        KeySpec::Hmac224 => KeyKind::Hmac224,
        KeySpec::Hmac256 => KeyKind::Hmac256,
        KeySpec::HmacSha384 => KeyKind::HmacSha384,
        KeySpec::Hmac512 => KeyKind::Hmac512,
        KeySpec::MlDsa44 => KeyKind::MlDsa44,
        KeySpec::MlDsa65 => KeyKind::MlDsa65,
        KeySpec::MlDsa87 => KeyKind::MlDsa87,
    }
}

/// The usage a new key gets: `asked`, or the spec's default; a usage the spec does not
/// allow is refused by name.
///
/// # Errors
/// [`KeyError::UnsupportedSpec`].
pub fn usage_for(spec: KeySpec, asked: Option<KeyUsage>) -> Result<KeyUsage, KeyError> {
    let usage = asked.unwrap_or_else(|| KeyUsage::of(spec));
    if spec.allows(usage) {
        Ok(usage)
    } else {
        Err(KeyError::UnsupportedSpec(format!(
            "{spec} keys allow {}, not {usage}",
            names(spec.usages())
        )))
    }
}

fn names<T: core::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The algorithm of one request, as policies and audit records name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// Encrypt or decrypt.
    Encryption(EncryptionAlgorithm),
    /// Sign or verify, with the message type.
    Signing(SigningAlgorithm, MessageType),
    /// Generate or verify a MAC.
    Mac(MacAlgorithm),
    /// Derive a shared secret.
    KeyAgreement(KeyAgreementAlgorithm),
}

impl Algorithm {
    /// The AWS name (`RSASSA_PSS_SHA_256`, `SYMMETRIC_DEFAULT`, `HMAC_SHA_384`, `ECDH`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Encryption(algorithm) => algorithm.as_str(),
            Self::Signing(algorithm, _) => algorithm.as_str(),
            Self::Mac(algorithm) => algorithm.as_str(),
            Self::KeyAgreement(algorithm) => algorithm.as_str(),
        }
    }

    /// The message type of a signing algorithm.
    #[must_use]
    pub const fn message_type(self) -> Option<MessageType> {
        match self {
            Self::Signing(_, message_type) => Some(message_type),
            _ => None,
        }
    }

    /// Whether `spec` allows it (its message type included).
    ///
    /// # Errors
    /// [`KeyError::UnsupportedAlgorithm`] naming the spec and the algorithm.
    pub fn check(self, spec: KeySpec) -> Result<(), KeyError> {
        let kind = kind_of(spec);
        let checked = match self {
            Self::Encryption(algorithm) => kind.check_encryption(algorithm),
            Self::Signing(algorithm, message_type) => {
                kind.check_signing(algorithm).and_then(|()| {
                    if algorithm.accepts(message_type) {
                        Ok(())
                    } else {
                        Err(CryptoError::Unsupported {
                            kind,
                            what: "a DIGEST message (it signs RAW messages only)",
                        })
                    }
                })
            }
            Self::Mac(algorithm) => kind.check_mac(algorithm),
            Self::KeyAgreement(_) => kind.check_key_agreement(),
        };
        checked.map_err(|err| KeyError::UnsupportedAlgorithm(err.to_string()))
    }
}

/// The algorithm a request uses: the one `asked`, else the spec's only one; a spec with
/// several needs one named.
fn chosen<T: Copy + core::fmt::Display>(
    spec: KeySpec,
    asked: Option<T>,
    allowed: &[T],
    what: &str,
) -> Result<T, KeyError> {
    match (asked, allowed) {
        (Some(algorithm), _) => Ok(algorithm),
        (None, [only]) => Ok(*only),
        (None, []) => Err(KeyError::UnsupportedAlgorithm(format!(
            "{spec} keys have no {what} algorithm"
        ))),
        (None, several) => Err(KeyError::UnsupportedAlgorithm(format!(
            "{spec} keys need the {what} algorithm named: one of {}",
            names(several)
        ))),
    }
}

/// The encryption algorithm of a request on a `spec` key.
///
/// # Errors
/// [`KeyError::UnsupportedAlgorithm`] when none is named and the spec has several.
pub fn encryption(
    spec: KeySpec,
    asked: Option<EncryptionAlgorithm>,
) -> Result<EncryptionAlgorithm, KeyError> {
    let allowed = kind_of(spec).encryption_algorithms();
    chosen(spec, asked, allowed, "encryption")
}

/// The signing algorithm of a request on a `spec` key.
///
/// # Errors
/// [`KeyError::UnsupportedAlgorithm`] when none is named and the spec has several.
pub fn signing(
    spec: KeySpec,
    asked: Option<SigningAlgorithm>,
) -> Result<SigningAlgorithm, KeyError> {
    let allowed = kind_of(spec).signing_algorithms();
    chosen(spec, asked, allowed, "signing")
}

/// The MAC algorithm of a request on a `spec` key.
///
/// # Errors
/// [`KeyError::UnsupportedAlgorithm`] when the spec has none.
pub fn mac(spec: KeySpec, asked: Option<MacAlgorithm>) -> Result<MacAlgorithm, KeyError> {
    let allowed: &[MacAlgorithm] = match kind_of(spec).mac_algorithm() {
        Some(MacAlgorithm::HmacSha224) => &[MacAlgorithm::HmacSha224],
        Some(MacAlgorithm::HmacSha256) => &[MacAlgorithm::HmacSha256],
        Some(MacAlgorithm::HmacSha384) => &[MacAlgorithm::HmacSha384],
        Some(MacAlgorithm::HmacSha512) => &[MacAlgorithm::HmacSha512],
        None => &[],
    };
    chosen(spec, asked, allowed, "MAC")
}

/// A crypto refusal of bad input (after the gate) as the key error it is: an algorithm or
/// message type not allowed, a digest of the wrong length, a plaintext too long for
/// RSA-OAEP, a peer key on another curve or malformed. `None` for failures that are not
/// the caller's (they stay internal).
#[must_use]
pub fn refusal(err: &CryptoError) -> Option<KeyError> {
    match err {
        CryptoError::Unsupported { .. } => Some(KeyError::UnsupportedAlgorithm(err.to_string())),
        CryptoError::DigestLength { .. }
        | CryptoError::PlaintextTooLong { .. }
        | CryptoError::WrongCurve { .. }
        | CryptoError::InvalidInput(_) => Some(KeyError::InvalidInput(err.to_string())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, reason = "a failed expectation is a failed test")]

    use super::*;

    #[test]
    fn every_spec_maps_to_the_kind_of_the_same_name() {
        for &spec in KeySpec::ALL {
            assert_eq!(kind_of(spec).as_str(), spec.as_str());
        }
    }

    #[test]
    fn defaults_exist_only_where_the_spec_has_one_algorithm() {
        assert_eq!(
            signing(KeySpec::EccNistP384, None).ok(),
            Some(SigningAlgorithm::EcdsaSha384)
        );
        let err = signing(KeySpec::Rsa2048, None).expect_err("several");
        assert!(err.to_string().starts_with(
            "UnsupportedAlgorithm: RSA_2048 keys need the signing algorithm named: one of RSASSA_PSS_SHA_256"
        ), "{err}");
        let err = Algorithm::Signing(SigningAlgorithm::RsassaPssSha256, MessageType::Raw)
            .check(KeySpec::EccNistP256)
            .expect_err("not allowed");
        assert_eq!(
            err.to_string(),
            "UnsupportedAlgorithm: ECC_NIST_P256 does not allow RSASSA_PSS_SHA_256"
        );
        let err = usage_for(KeySpec::EccSecgP256k1, Some(KeyUsage::KeyAgreement))
            .expect_err("no ECDH on secp256k1");
        assert_eq!(
            err.to_string(),
            "UnsupportedSpec: ECC_SECG_P256K1 keys allow SIGN_VERIFY, not KEY_AGREEMENT"
        );
        assert_eq!(
            mac(KeySpec::Hmac256, None).ok(),
            Some(MacAlgorithm::HmacSha256)
        );
    }
}
