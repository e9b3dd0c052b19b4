//! A token-resident key of the key specs on a PKCS#11 token: each operation is one token
//! call under the key's label (found again every time: a cached object handle could name
//! another object once the key is destroyed), after the same checks a host-held key makes
//! (the kind's algorithms, `DIGEST` lengths, the RSA-OAEP bound, the peer key's curve) and
//! with the same outputs: DER ECDSA signatures (the host hashes `RAW` messages and the
//! token signs the digest with `CKM_ECDSA`), RSA signatures with `CKM_SHA*_RSA_PKCS(_PSS)`
//! (a `DIGEST` with `CKM_RSA_PKCS` over its DigestInfo or `CKM_RSA_PKCS_PSS`), RSA-OAEP with
//! an empty label, full-length MACs compared in constant time, the ECDH x-coordinate, and
//! public keys as SubjectPublicKeyInfo read from the token's attributes.

use std::sync::{Arc, Mutex, OnceLock};

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use kastell_proto::algorithm::{
    EncryptionAlgorithm, MacAlgorithm, MessageType, SignatureScheme, SigningAlgorithm,
};
use spki::der::asn1::OctetStringRef;
use spki::der::{Decode as _, Encode as _};
use subtle::ConstantTimeEq as _;

use super::lock;
use super::mechanisms::{digest, hmac, oaep, rsa_signing, signature_wrong, token, undecryptable};
use crate::crypto::encoding::{self, NamedCurve, named_curve};
use crate::crypto::prepared::check_message;
use crate::crypto::{CryptoError, KeyFamily, KeyKind, PreparedKey};
use crate::secret::SecretBytes;

/// A token-resident key: the shared session, the label, the kind; the public key is read
/// once, on first use.
pub(super) struct Resident {
    session: Arc<Mutex<Session>>,
    label: String,
    kind: KeyKind,
    spki: OnceLock<Vec<u8>>,
}

impl std::fmt::Debug for Resident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resident")
            .field("label", &self.label)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Resident {
    pub(super) fn new(session: Arc<Mutex<Session>>, label: &str, kind: KeyKind) -> Self {
        Self {
            session,
            label: label.to_owned(),
            kind,
            spki: OnceLock::new(),
        }
    }

    /// The key's object of `class` (private, public or secret) in `session`.
    fn object(&self, session: &Session, class: ObjectClass) -> Result<ObjectHandle, CryptoError> {
        session
            .find_objects(&[
                Attribute::Class(class),
                Attribute::Label(self.label.as_bytes().to_vec()),
            ])
            .map_err(token)?
            .first()
            .copied()
            .ok_or_else(|| {
                CryptoError::Token(format!(
                    "no key `{}` of this class on the token",
                    self.label
                ))
            })
    }

    /// The private (or secret) key's class.
    fn private_class(&self) -> ObjectClass {
        if self.kind.family() == KeyFamily::Hmac {
            ObjectClass::SECRET_KEY
        } else {
            ObjectClass::PRIVATE_KEY
        }
    }

    /// The curve of an EC kind.
    fn curve(&self) -> Result<&'static NamedCurve, CryptoError> {
        named_curve(self.kind).ok_or_else(|| self.kind.misuse())
    }

    /// The public key as SubjectPublicKeyInfo, from the public key object's attributes.
    fn read_spki(&self) -> Result<Vec<u8>, CryptoError> {
        if !self.kind.is_asymmetric() {
            return Err(self.kind.unsupported("GetPublicKey"));
        }
        let session = lock(&self.session);
        let public = self.object(&session, ObjectClass::PUBLIC_KEY)?;
        let malformed = |what| CryptoError::Token(format!("the token returned a malformed {what}"));
        match self.kind.family() {
            KeyFamily::Rsa => {
                let attributes = session
                    .get_attributes(
                        public,
                        &[AttributeType::Modulus, AttributeType::PublicExponent],
                    )
                    .map_err(token)?;
                let (Some(Attribute::Modulus(n)), Some(Attribute::PublicExponent(e))) =
                    (attributes.first(), attributes.get(1))
                else {
                    return Err(malformed("RSA public key"));
                };
                let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
                if Some(bits) != self.kind.rsa_bits() {
                    return Err(malformed("RSA modulus (of another size than its spec's)"));
                }
                encoding::rsa_spki(n, e)
            }
            KeyFamily::Ec => {
                let curve = self.curve()?;
                let attributes = session
                    .get_attributes(public, &[AttributeType::EcParams, AttributeType::EcPoint])
                    .map_err(token)?;
                let (Some(Attribute::EcParams(params)), Some(Attribute::EcPoint(point))) =
                    (attributes.first(), attributes.get(1))
                else {
                    return Err(malformed("EC public key"));
                };
                if curve.oid.to_der().ok().as_deref() != Some(params.as_slice()) {
                    return Err(malformed(
                        "EC public key (on another curve than its spec's)",
                    ));
                }
                // CKA_EC_POINT is a DER OCTET STRING around the point; some modules omit it.
                // The lengths tell them apart (the raw point's first byte is 0x04 too).
                let raw = 1 + 2 * curve.field_len;
                let point = if point.len() == raw {
                    point.as_slice()
                } else {
                    OctetStringRef::from_der(point)
                        .map_err(|_| malformed("EC point"))?
                        .as_bytes()
                };
                encoding::ec_spki(curve, point)
            }
            KeyFamily::Symmetric | KeyFamily::Hmac | KeyFamily::MlDsa => {
                Err(self.kind.unsupported("GetPublicKey"))
            }
        }
    }

    /// Verifies with the public key object; a wrong signature is `Ok(false)`.
    fn token_verify(
        &self,
        mechanism: &Mechanism<'_>,
        data: &[u8],
        signature: &[u8],
    ) -> Result<bool, CryptoError> {
        let session = lock(&self.session);
        let public = self.object(&session, ObjectClass::PUBLIC_KEY)?;
        match session.verify(mechanism, public, data, signature) {
            Ok(()) => Ok(true),
            Err(err) if signature_wrong(&err) => Ok(false),
            Err(err) => Err(token(err)),
        }
    }

    /// Signs (or MACs) with the private or secret key.
    fn token_sign(&self, mechanism: &Mechanism<'_>, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let session = lock(&self.session);
        let key = self.object(&session, self.private_class())?;
        session.sign(mechanism, key, data).map_err(token)
    }
}

impl PreparedKey for Resident {
    fn kind(&self) -> KeyKind {
        self.kind
    }

    fn material(&self) -> Result<&SecretBytes, CryptoError> {
        Err(CryptoError::InvalidKey(
            "a token-resident key has no material on the host",
        ))
    }

    fn public_key_spki(&self) -> Result<&[u8], CryptoError> {
        if let Some(spki) = self.spki.get() {
            return Ok(spki);
        }
        let spki = self.read_spki()?;
        Ok(self.spki.get_or_init(|| spki))
    }

    fn sign(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        input: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        check_message(self.kind, algorithm, message_type, input)?;
        if algorithm.scheme() == SignatureScheme::Ecdsa {
            let curve = self.curve()?;
            let fixed =
                self.token_sign(&Mechanism::Ecdsa, &digest(curve.hash, message_type, input)?)?;
            if fixed.len() != 2 * curve.field_len {
                return Err(CryptoError::Token(
                    "the token returned a malformed ECDSA signature".into(),
                ));
            }
            return encoding::ecdsa_der(&fixed);
        }
        let (mechanism, data) = rsa_signing(algorithm, message_type, input)?;
        self.token_sign(&mechanism, &data)
    }

    fn verify(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        input: &[u8],
        signature: &[u8],
    ) -> Result<bool, CryptoError> {
        check_message(self.kind, algorithm, message_type, input)?;
        if algorithm.scheme() == SignatureScheme::Ecdsa {
            let curve = self.curve()?;
            let Some(fixed) = encoding::ecdsa_fixed(signature, curve.field_len) else {
                return Ok(false);
            };
            let digest = digest(curve.hash, message_type, input)?;
            return self.token_verify(&Mechanism::Ecdsa, &digest, &fixed);
        }
        let (mechanism, data) = rsa_signing(algorithm, message_type, input)?;
        self.token_verify(&mechanism, &data, signature)
    }

    fn encrypt(
        &self,
        algorithm: EncryptionAlgorithm,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.kind.check_encryption(algorithm)?;
        let modulus_len = self.kind.rsa_bits().unwrap_or(0) / 8;
        let max = algorithm.max_oaep_plaintext(modulus_len).unwrap_or(0);
        if plaintext.len() > max {
            return Err(CryptoError::PlaintextTooLong {
                kind: self.kind,
                algorithm,
                max,
                actual: plaintext.len(),
            });
        }
        let session = lock(&self.session);
        let public = self.object(&session, ObjectClass::PUBLIC_KEY)?;
        session
            .encrypt(&oaep(algorithm)?, public, plaintext)
            .map_err(token)
    }

    fn decrypt(
        &self,
        algorithm: EncryptionAlgorithm,
        ciphertext: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        self.kind.check_encryption(algorithm)?;
        let session = lock(&self.session);
        let private = self.object(&session, ObjectClass::PRIVATE_KEY)?;
        match session.decrypt(&oaep(algorithm)?, private, ciphertext) {
            Ok(plaintext) => Ok(SecretBytes::new(plaintext)),
            Err(err) if undecryptable(&err) => Err(CryptoError::Authentication),
            Err(err) => Err(token(err)),
        }
    }

    fn mac(&self, algorithm: MacAlgorithm, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.kind.check_mac(algorithm)?;
        let tag = self.token_sign(&hmac(algorithm), message)?;
        if tag.len() != algorithm.tag_len() {
            return Err(CryptoError::Token(
                "the token returned a truncated MAC".into(),
            ));
        }
        Ok(tag)
    }

    fn verify_mac(
        &self,
        algorithm: MacAlgorithm,
        message: &[u8],
        tag: &[u8],
    ) -> Result<bool, CryptoError> {
        let expected = self.mac(algorithm, message)?;
        Ok(bool::from(expected.as_slice().ct_eq(tag)))
    }

    fn derive_shared_secret(
        &self,
        peer_public_key_spki: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        self.kind.check_key_agreement()?;
        let curve = self.curve()?;
        let point = encoding::ec_point(curve, peer_public_key_spki, "peer public key")?;
        let not_a_point =
            CryptoError::InvalidInput("peer public key: not a valid point on the key's curve");
        if point.first() != Some(&0x04) || point.len() != 1 + 2 * curve.field_len {
            return Err(not_a_point);
        }
        let session = lock(&self.session);
        let private = self.object(&session, ObjectClass::PRIVATE_KEY)?;
        let mechanism = Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::null(), point));
        let secret = session
            .derive_key(
                &mechanism,
                private,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::GENERIC_SECRET),
                    Attribute::ValueLen(curve.field_len.try_into().map_err(token)?),
                    Attribute::Token(false),
                    Attribute::Sensitive(false),
                    Attribute::Extractable(true),
                ],
            )
            .map_err(|err| match err {
                CkError::Pkcs11(
                    RvError::GeneralError
                    | RvError::ArgumentsBad
                    | RvError::MechanismParamInvalid
                    | RvError::DomainParamsInvalid
                    | RvError::AttributeValueInvalid,
                    _,
                ) => not_a_point.clone(),
                other => token(other),
            })?;
        let value = session.get_attributes(secret, &[AttributeType::Value]);
        session.destroy_object(secret).map_err(token)?;
        let shared = match value.map_err(token)?.into_iter().next() {
            Some(Attribute::Value(bytes)) => SecretBytes::new(bytes),
            _ => SecretBytes::new(Vec::new()),
        };
        if shared.len() != curve.field_len {
            return Err(CryptoError::Token(
                "the token returned a malformed shared secret".into(),
            ));
        }
        Ok(shared)
    }
}
