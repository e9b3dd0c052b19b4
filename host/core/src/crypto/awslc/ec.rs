//! Elliptic curves on aws-lc-rs: the prepared [`Ec`] key (ECDSA on P-256, P-384, P-521 and
//! secp256k1; ECDH on the NIST curves), generation, verification with a public key, and
//! the typed P-384 operations the key service used before `docs/key-types.md`.

use aws_lc_rs::agreement;
use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::encoding::{AsBigEndian as _, AsDer as _};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _, ParsedPublicKey};
use kastell_proto::algorithm::{MessageType, SigningAlgorithm};

use super::debug_prepared;
use crate::crypto::encoding::{self, NamedCurve};
use crate::crypto::prepared::check_message;
use crate::crypto::{CryptoError, KeyKind, PreparedKey};
use crate::secret::SecretBytes;

/// A curve and what aws-lc-rs calls its algorithms.
pub(super) struct Curve {
    /// The curve (name, OID, field length).
    named: &'static NamedCurve,
    /// The error for a scalar that is not a key on this curve.
    bad_scalar: &'static str,
    /// ECDSA with the curve's hash, DER signatures.
    signing: &'static signature::EcdsaSigningAlgorithm,
    /// Its verification.
    verification: &'static signature::EcdsaVerificationAlgorithm,
    /// The curve's hash.
    hash: &'static digest::Algorithm,
    /// ECDH, on the NIST curves.
    agreement: Option<&'static agreement::Algorithm>,
}

static P256: Curve = Curve {
    named: &encoding::P256,
    bad_scalar: "P-256 private scalar",
    signing: &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
    verification: &signature::ECDSA_P256_SHA256_ASN1,
    hash: &digest::SHA256,
    agreement: Some(&agreement::ECDH_P256),
};

static P384: Curve = Curve {
    named: &encoding::P384,
    bad_scalar: "P-384 private scalar",
    signing: &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
    verification: &signature::ECDSA_P384_SHA384_ASN1,
    hash: &digest::SHA384,
    agreement: Some(&agreement::ECDH_P384),
};

static P521: Curve = Curve {
    named: &encoding::P521,
    bad_scalar: "P-521 private scalar",
    signing: &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
    verification: &signature::ECDSA_P521_SHA512_ASN1,
    hash: &digest::SHA512,
    agreement: Some(&agreement::ECDH_P521),
};

static SECP256K1: Curve = Curve {
    named: &encoding::SECP256K1,
    bad_scalar: "secp256k1 private scalar",
    signing: &signature::ECDSA_P256K1_SHA256_ASN1_SIGNING,
    verification: &signature::ECDSA_P256K1_SHA256_ASN1,
    hash: &digest::SHA256,
    agreement: None,
};

/// The curve of an EC kind.
pub(super) fn curve(kind: KeyKind) -> Option<&'static Curve> {
    match kind {
        KeyKind::EccNistP256 => Some(&P256),
        KeyKind::P384 => Some(&P384),
        KeyKind::EccNistP521 => Some(&P521),
        KeyKind::EccSecgP256k1 => Some(&SECP256K1),
        _ => None,
    }
}

/// Checks that `spki` is an EC SubjectPublicKeyInfo on `curve`.
fn check_curve(curve: &Curve, spki: &[u8], whose: &'static str) -> Result<(), CryptoError> {
    encoding::check_curve(curve.named, spki, whose)
}

/// The scalar as an RFC 5915 `ECPrivateKey` (version 1, the key, the named curve), the
/// form AWS-LC reads without the public key.
fn rfc5915(
    curve: &Curve,
    private: &SecretBytes,
) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
    if private.len() != curve.named.field_len {
        return Err(CryptoError::InvalidKey(curve.bad_scalar));
    }
    let oid = curve.named.oid.as_bytes();
    // SEQUENCE { INTEGER 1, OCTET STRING scalar, [0] { OID } }; every length < 128.
    let body_len = 3 + 2 + private.len() + 2 + 2 + oid.len();
    let lengths = [body_len, private.len(), oid.len() + 2, oid.len()].map(u8::try_from);
    let [Ok(body), Ok(scalar), Ok(tagged), Ok(oid_len)] = lengths else {
        return Err(CryptoError::InvalidKey(curve.bad_scalar));
    };
    let mut der = zeroize::Zeroizing::new(Vec::with_capacity(2 + body_len));
    der.extend_from_slice(&[0x30, body, 0x02, 0x01, 0x01, 0x04, scalar]);
    der.extend_from_slice(private.expose());
    der.extend_from_slice(&[0xa0, tagged, 0x06, oid_len]);
    der.extend_from_slice(oid);
    Ok(der)
}

/// An ECDSA key pair for `signing` on `curve` from the scalar.
pub(super) fn key_pair(
    curve: &Curve,
    signing: &'static signature::EcdsaSigningAlgorithm,
    private: &SecretBytes,
) -> Result<EcdsaKeyPair, CryptoError> {
    EcdsaKeyPair::from_private_key_der(signing, &rfc5915(curve, private)?)
        .map_err(|_| CryptoError::InvalidKey(curve.bad_scalar))
}

/// ECDH on P-384 with a private scalar and a peer's uncompressed SEC1 point: the shared
/// secret Z (the x-coordinate, 48 bytes).
pub(super) fn p384_ecdh(
    private: &SecretBytes,
    peer_sec1: &[u8],
) -> Result<SecretBytes, CryptoError> {
    let key = agreement::PrivateKey::from_private_key(&agreement::ECDH_P384, private.expose())
        .map_err(|_| CryptoError::InvalidKey(P384.bad_scalar))?;
    agreement::agree(
        &key,
        agreement::UnparsedPublicKey::new(&agreement::ECDH_P384, peer_sec1),
        CryptoError::InvalidInput("peer public key: not a valid point on P-384"),
        |secret| Ok(SecretBytes::from_slice(secret)),
    )
}

/// The P-384 curve, for the typed P-384 operations.
pub(super) fn p384() -> &'static Curve {
    &P384
}

/// A new private scalar on `curve`, big-endian, the curve's fixed length.
pub(super) fn generate(curve: &Curve) -> Result<SecretBytes, CryptoError> {
    let key = EcdsaKeyPair::generate(curve.signing).map_err(|_| CryptoError::Random)?;
    let scalar = key
        .private_key()
        .as_be_bytes()
        .map_err(|_| CryptoError::Random)?;
    if scalar.as_ref().len() != curve.named.field_len {
        return Err(CryptoError::Random);
    }
    Ok(SecretBytes::from_slice(scalar.as_ref()))
}

/// A DIGEST message as aws-lc-rs takes it (its length checked by `check_message`).
fn import_digest(curve: &Curve, input: &[u8]) -> Result<Digest, CryptoError> {
    Digest::import_less_safe(input, curve.hash).map_err(|_| CryptoError::InvalidInput("digest"))
}

fn verify_parsed(
    curve: &Curve,
    key: &ParsedPublicKey,
    message_type: MessageType,
    input: &[u8],
    signature: &[u8],
) -> Result<bool, CryptoError> {
    Ok(match message_type {
        MessageType::Raw => key.verify_sig(input, signature).is_ok(),
        MessageType::Digest => key
            .verify_digest_sig(&import_digest(curve, input)?, signature)
            .is_ok(),
    })
}

/// Verifies a DER ECDSA signature with a `kind` public key (SubjectPublicKeyInfo DER).
pub(super) fn verify_with_public_key(
    kind: KeyKind,
    spki: &[u8],
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    input: &[u8],
    signature: &[u8],
) -> Result<bool, CryptoError> {
    check_message(kind, algorithm, message_type, input)?;
    let curve = curve(kind).ok_or_else(|| kind.misuse())?;
    check_curve(curve, spki, "public key")?;
    let key = ParsedPublicKey::new(curve.verification, spki)
        .map_err(|_| CryptoError::InvalidKey("public key: not a valid point on its curve"))?;
    verify_parsed(curve, &key, message_type, input, signature)
}

/// The typed P-384 operations' key: fixed-length (r ‖ s) signatures, the SEC1 point.
struct P384Fixed {
    key: EcdsaKeyPair,
    sec1: Vec<u8>,
}

/// A prepared EC key: the ECDSA key pair, the public key (SPKI, parsed for verification),
/// the ECDH private key on the NIST curves. AWS-LC cleanses its key objects when freed.
pub(super) struct Ec {
    kind: KeyKind,
    curve: &'static Curve,
    material: SecretBytes,
    signer: EcdsaKeyPair,
    spki: Vec<u8>,
    verifier: ParsedPublicKey,
    agreement: Option<agreement::PrivateKey>,
    p384: Option<P384Fixed>,
}

impl Ec {
    pub(super) fn new(kind: KeyKind, material: SecretBytes) -> Result<Self, CryptoError> {
        let curve = curve(kind).ok_or_else(|| kind.misuse())?;
        let invalid = |_| CryptoError::InvalidKey(curve.bad_scalar);
        // Read from the scalar alone, AWS-LC would also write the key without its public
        // key; made again from both, its PKCS#8 (data key pairs, release) carries it.
        let derived = key_pair(curve, curve.signing, &material)?;
        let signer = EcdsaKeyPair::from_private_key_and_public_key(
            curve.signing,
            material.expose(),
            derived.public_key().as_ref(),
        )
        .map_err(invalid)?;
        let spki = signer
            .public_key()
            .as_der()
            .map_err(|_| CryptoError::InvalidKey(curve.bad_scalar))?
            .as_ref()
            .to_vec();
        let verifier = ParsedPublicKey::new(curve.verification, &spki).map_err(invalid)?;
        let agreement = match curve.agreement {
            Some(algorithm) => Some(
                agreement::PrivateKey::from_private_key(algorithm, material.expose())
                    .map_err(invalid)?,
            ),
            None => None,
        };
        let p384 = if kind == KeyKind::P384 {
            let key = key_pair(
                curve,
                &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
                &material,
            )?;
            let sec1 = key.public_key().as_ref().to_vec();
            Some(P384Fixed { key, sec1 })
        } else {
            None
        };
        Ok(Self {
            kind,
            curve,
            material,
            signer,
            spki,
            verifier,
            agreement,
            p384,
        })
    }
}

impl std::fmt::Debug for Ec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        debug_prepared(f, self.kind)
    }
}

impl PreparedKey for Ec {
    fn kind(&self) -> KeyKind {
        self.kind
    }

    fn material(&self) -> Result<&SecretBytes, CryptoError> {
        Ok(&self.material)
    }

    fn p384_sign_digest(&self, digest_bytes: &[u8; 48]) -> Result<Vec<u8>, CryptoError> {
        let fixed = self.p384.as_ref().ok_or_else(|| self.kind.misuse())?;
        fixed
            .key
            .sign_digest(&import_digest(self.curve, digest_bytes)?)
            .map(|signature| signature.as_ref().to_vec())
            .map_err(|_| CryptoError::InvalidInput("digest"))
    }

    fn p384_public_key(&self) -> Result<&[u8], CryptoError> {
        self.p384
            .as_ref()
            .map(|fixed| fixed.sec1.as_slice())
            .ok_or_else(|| self.kind.misuse())
    }

    fn private_key_pkcs8(&self) -> Result<SecretBytes, CryptoError> {
        let document = self
            .signer
            .to_pkcs8v1()
            .map_err(|_| CryptoError::InvalidKey(self.curve.bad_scalar))?;
        Ok(SecretBytes::from_slice(document.as_ref()))
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
        let signature = match message_type {
            MessageType::Raw => self.signer.sign(&SystemRandom::new(), input),
            MessageType::Digest => self.signer.sign_digest(&import_digest(self.curve, input)?),
        };
        signature
            .map(|signature| signature.as_ref().to_vec())
            .map_err(|_| CryptoError::InvalidInput("ECDSA signing failed"))
    }

    fn verify(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        input: &[u8],
        signature: &[u8],
    ) -> Result<bool, CryptoError> {
        check_message(self.kind, algorithm, message_type, input)?;
        verify_parsed(self.curve, &self.verifier, message_type, input, signature)
    }

    fn derive_shared_secret(
        &self,
        peer_public_key_spki: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        self.kind.check_key_agreement()?;
        let (Some(private), Some(algorithm)) = (&self.agreement, self.curve.agreement) else {
            return Err(self.kind.unsupported("ECDH"));
        };
        check_curve(self.curve, peer_public_key_spki, "peer public key")?;
        agreement::agree(
            private,
            agreement::UnparsedPublicKey::new(algorithm, peer_public_key_spki),
            CryptoError::InvalidInput("peer public key: not a valid point on the key's curve"),
            |secret| Ok(SecretBytes::from_slice(secret)),
        )
    }
}
