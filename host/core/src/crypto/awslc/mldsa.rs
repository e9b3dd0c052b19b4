//! ML-DSA (FIPS 204) on aws-lc-rs: the prepared [`MlDsa`] key, expanded once from its
//! 32-byte seed; pure mode with an empty context, as AWS KMS signs `RAW` messages.

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::signature::{self, KeyPair as _, ParsedPublicKey, PqdsaKeyPair};
use kastell_proto::algorithm::{MessageType, SigningAlgorithm};
use spki::ObjectIdentifier;

use super::{debug_prepared, spki_algorithm};
use crate::crypto::prepared::check_message;
use crate::crypto::{CryptoError, KeyKind, PreparedKey};
use crate::secret::SecretBytes;

/// The seed ξ's length (FIPS 204, `ML-DSA.KeyGen_internal`).
pub(super) const SEED_LEN: usize = 32;

/// The signing and verification algorithms and the SPKI OID (NIST CSOR) of an ML-DSA kind.
fn parameters(
    kind: KeyKind,
) -> Result<
    (
        &'static signature::PqdsaSigningAlgorithm,
        &'static signature::PqdsaVerificationAlgorithm,
        ObjectIdentifier,
    ),
    CryptoError,
> {
    match kind {
        KeyKind::MlDsa44 => Ok((
            &signature::ML_DSA_44_SIGNING,
            &signature::ML_DSA_44,
            ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.3.17"),
        )),
        KeyKind::MlDsa65 => Ok((
            &signature::ML_DSA_65_SIGNING,
            &signature::ML_DSA_65,
            ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.3.18"),
        )),
        KeyKind::MlDsa87 => Ok((
            &signature::ML_DSA_87_SIGNING,
            &signature::ML_DSA_87,
            ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.3.19"),
        )),
        _ => Err(kind.misuse()),
    }
}

/// Verifies an ML-DSA signature with a `kind` public key (SubjectPublicKeyInfo DER).
pub(super) fn verify_with_public_key(
    kind: KeyKind,
    spki: &[u8],
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    input: &[u8],
    signature: &[u8],
) -> Result<bool, CryptoError> {
    check_message(kind, algorithm, message_type, input)?;
    let (_, verification, oid) = parameters(kind)?;
    if spki_algorithm(spki, "public key")?.0 != oid {
        return Err(CryptoError::InvalidKey(
            "public key: not an ML-DSA key of this parameter set",
        ));
    }
    let key = ParsedPublicKey::new(verification, spki)
        .map_err(|_| CryptoError::InvalidKey("public key: not a valid ML-DSA key"))?;
    Ok(key.verify_sig(input, signature).is_ok())
}

/// A prepared ML-DSA key: the expanded key pair and the public key (SPKI, parsed for
/// verification). AWS-LC cleanses its key objects when freed; the seed is a
/// [`SecretBytes`].
pub(super) struct MlDsa {
    kind: KeyKind,
    material: SecretBytes,
    key: PqdsaKeyPair,
    spki: Vec<u8>,
    verifier: ParsedPublicKey,
}

impl MlDsa {
    pub(super) fn new(kind: KeyKind, material: SecretBytes) -> Result<Self, CryptoError> {
        let (signing, verification, _) = parameters(kind)?;
        if material.len() != SEED_LEN {
            return Err(CryptoError::InvalidKey("ML-DSA seed: needs 32 bytes"));
        }
        let key = PqdsaKeyPair::from_seed(signing, material.expose())
            .map_err(|_| CryptoError::InvalidKey("ML-DSA seed"))?;
        let spki = key
            .public_key()
            .as_der()
            .map_err(|_| CryptoError::InvalidKey("ML-DSA public key"))?
            .as_ref()
            .to_vec();
        let verifier = ParsedPublicKey::new(verification, &spki)
            .map_err(|_| CryptoError::InvalidKey("ML-DSA public key"))?;
        Ok(Self {
            kind,
            material,
            key,
            spki,
            verifier,
        })
    }
}

impl std::fmt::Debug for MlDsa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        debug_prepared(f, self.kind)
    }
}

impl PreparedKey for MlDsa {
    fn kind(&self) -> KeyKind {
        self.kind
    }

    fn material(&self) -> Result<&SecretBytes, CryptoError> {
        Ok(&self.material)
    }

    fn public_key_spki(&self) -> Result<&[u8], CryptoError> {
        Ok(&self.spki)
    }

    fn sign(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        input: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        check_message(self.kind, algorithm, message_type, input)?;
        let mut signature = vec![0; self.key.algorithm().signature_len()];
        let len = self
            .key
            .sign(input, &mut signature)
            .map_err(|_| CryptoError::InvalidInput("ML-DSA signing failed"))?;
        signature.truncate(len);
        Ok(signature)
    }

    fn verify(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        input: &[u8],
        signature: &[u8],
    ) -> Result<bool, CryptoError> {
        check_message(self.kind, algorithm, message_type, input)?;
        Ok(self.verifier.verify_sig(input, signature).is_ok())
    }
}
