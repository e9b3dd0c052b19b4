//! The PKCS#11 mechanisms of the key specs' algorithms, as token-resident keys use them:
//! RSA signatures (`CKM_SHA*_RSA_PKCS(_PSS)` for `RAW` messages, `CKM_RSA_PKCS` over a
//! DigestInfo or `CKM_RSA_PKCS_PSS` for a `DIGEST`; PSS with MGF1 of the same hash and a
//! salt of its length), RSA-OAEP with an empty label, `CKM_SHA*_HMAC`, the digest the host
//! computes for `CKM_ECDSA`, and which return values mean a wrong signature or an
//! undecryptable ciphertext rather than a token fault.

use std::borrow::Cow;

use cryptoki::context::Function;
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use kastell_proto::algorithm::{
    EncryptionAlgorithm, HashAlgorithm, MacAlgorithm, MessageType, SignatureScheme,
    SigningAlgorithm,
};
use sha2::Digest as _;

use crate::crypto::CryptoError;

/// A failed token call, named by its function and return value.
pub(super) fn token(err: CkError) -> CryptoError {
    CryptoError::Token(err.to_string())
}

/// The `CKM_SHA*` mechanism of a hash.
fn hash_mechanism(hash: HashAlgorithm) -> MechanismType {
    match hash {
        HashAlgorithm::Sha1 => MechanismType::SHA1,
        HashAlgorithm::Sha224 => MechanismType::SHA224,
        HashAlgorithm::Sha256 => MechanismType::SHA256,
        HashAlgorithm::Sha384 => MechanismType::SHA384,
        HashAlgorithm::Sha512 => MechanismType::SHA512,
    }
}

/// MGF1 with a hash.
fn mgf1(hash: HashAlgorithm) -> PkcsMgfType {
    match hash {
        HashAlgorithm::Sha1 => PkcsMgfType::MGF1_SHA1,
        HashAlgorithm::Sha224 => PkcsMgfType::MGF1_SHA224,
        HashAlgorithm::Sha256 => PkcsMgfType::MGF1_SHA256,
        HashAlgorithm::Sha384 => PkcsMgfType::MGF1_SHA384,
        HashAlgorithm::Sha512 => PkcsMgfType::MGF1_SHA512,
    }
}

/// The digest an ECDSA key signs: the input itself for a `DIGEST` (its length checked by
/// `check_message`), else the host's hash of it with the curve's hash.
pub(super) fn digest(
    hash: HashAlgorithm,
    message_type: MessageType,
    input: &[u8],
) -> Result<Cow<'_, [u8]>, CryptoError> {
    if message_type == MessageType::Digest {
        return Ok(Cow::Borrowed(input));
    }
    Ok(Cow::Owned(match hash {
        HashAlgorithm::Sha256 => sha2::Sha256::digest(input).to_vec(),
        HashAlgorithm::Sha384 => sha2::Sha384::digest(input).to_vec(),
        HashAlgorithm::Sha512 => sha2::Sha512::digest(input).to_vec(),
        HashAlgorithm::Sha1 | HashAlgorithm::Sha224 => {
            return Err(CryptoError::InvalidInput("no ECDSA with this hash"));
        }
    }))
}

/// The DER prefix of a PKCS#1 v1.5 `DigestInfo` for a SHA-2 hash (RFC 8017, 9.2, note 1).
fn digest_info_prefix(hash: HashAlgorithm) -> &'static [u8] {
    match hash {
        HashAlgorithm::Sha256 => &[
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ],
        HashAlgorithm::Sha384 => &[
            0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x02, 0x05, 0x00, 0x04, 0x30,
        ],
        HashAlgorithm::Sha512 => &[
            0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x03, 0x05, 0x00, 0x04, 0x40,
        ],
        HashAlgorithm::Sha1 | HashAlgorithm::Sha224 => &[],
    }
}

/// The mechanism and the data of an RSA signature: the token hashes a `RAW` message; a
/// `DIGEST` is signed as it is (PSS) or inside its DigestInfo (PKCS#1 v1.5).
pub(super) fn rsa_signing<'a>(
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    input: &'a [u8],
) -> Result<(Mechanism<'static>, Cow<'a, [u8]>), CryptoError> {
    let hash = algorithm
        .hash()
        .ok_or(CryptoError::InvalidInput("not an RSA signing algorithm"))?;
    let pss = PkcsPssParams {
        hash_alg: hash_mechanism(hash),
        mgf: mgf1(hash),
        s_len: hash.output_len().try_into().map_err(token)?,
    };
    let raw = message_type == MessageType::Raw;
    Ok(match (algorithm.scheme(), raw, hash) {
        (SignatureScheme::RsaPss, false, _) => (Mechanism::RsaPkcsPss(pss), Cow::Borrowed(input)),
        (SignatureScheme::RsaPkcs1V15, false, _) => {
            let mut info = digest_info_prefix(hash).to_vec();
            info.extend_from_slice(input);
            (Mechanism::RsaPkcs, Cow::Owned(info))
        }
        (SignatureScheme::RsaPss, true, HashAlgorithm::Sha256) => {
            (Mechanism::Sha256RsaPkcsPss(pss), Cow::Borrowed(input))
        }
        (SignatureScheme::RsaPss, true, HashAlgorithm::Sha384) => {
            (Mechanism::Sha384RsaPkcsPss(pss), Cow::Borrowed(input))
        }
        (SignatureScheme::RsaPss, true, _) => {
            (Mechanism::Sha512RsaPkcsPss(pss), Cow::Borrowed(input))
        }
        (SignatureScheme::RsaPkcs1V15, true, HashAlgorithm::Sha256) => {
            (Mechanism::Sha256RsaPkcs, Cow::Borrowed(input))
        }
        (SignatureScheme::RsaPkcs1V15, true, HashAlgorithm::Sha384) => {
            (Mechanism::Sha384RsaPkcs, Cow::Borrowed(input))
        }
        (SignatureScheme::RsaPkcs1V15, true, _) => (Mechanism::Sha512RsaPkcs, Cow::Borrowed(input)),
        (SignatureScheme::Ecdsa | SignatureScheme::MlDsa, _, _) => {
            return Err(CryptoError::InvalidInput("not an RSA signing algorithm"));
        }
    })
}

/// RSA-OAEP with `algorithm`'s hash for OAEP and MGF1, and an empty label (as AWS KMS and
/// the host's keys).
pub(super) fn oaep(algorithm: EncryptionAlgorithm) -> Result<Mechanism<'static>, CryptoError> {
    let hash = algorithm
        .oaep_hash()
        .ok_or(CryptoError::InvalidInput("not an RSA-OAEP algorithm"))?;
    Ok(Mechanism::RsaPkcsOaep(PkcsOaepParams::new(
        hash_mechanism(hash),
        mgf1(hash),
        PkcsOaepSource::empty(),
    )))
}

/// The `CKM_SHA*_HMAC` mechanism of a MAC algorithm.
pub(super) fn hmac(algorithm: MacAlgorithm) -> Mechanism<'static> {
    match algorithm {
        MacAlgorithm::HmacSha224 => Mechanism::Sha224Hmac,
        MacAlgorithm::HmacSha256 => Mechanism::Sha256Hmac,
        MacAlgorithm::HmacSha384 => Mechanism::Sha384Hmac,
        MacAlgorithm::HmacSha512 => Mechanism::Sha512Hmac,
    }
}

/// Whether a verification's failure means "this signature is wrong" (not a token fault).
pub(super) fn signature_wrong(err: &CkError) -> bool {
    matches!(
        err,
        CkError::Pkcs11(RvError::SignatureInvalid | RvError::SignatureLenRange, _)
    )
}

/// Whether a decryption's failure means "this ciphertext does not decrypt": one opaque
/// answer for each, as for host-held keys (SoftHSM2 reports a failed OAEP check as
/// `CKR_GENERAL_ERROR`).
pub(super) fn undecryptable(err: &CkError) -> bool {
    matches!(
        err,
        CkError::Pkcs11(
            RvError::EncryptedDataInvalid
                | RvError::EncryptedDataLenRange
                | RvError::DataLenRange
                | RvError::DataInvalid,
            _
        ) | CkError::Pkcs11(RvError::GeneralError, Function::Decrypt)
    )
}
