//! What a PKCS#11 token must offer to hold a key spec's keys token-resident, asked of the
//! token before a key is made, and the key's generation: RSA key pairs with
//! `CKM_RSA_PKCS_OAEP` or the PKCS#1 v1.5 and PSS signatures, EC key pairs on a curve the
//! token generates keys on with `CKM_ECDSA` or `CKM_ECDH1_DERIVE`, HMAC secrets of the
//! spec's length with its `CKM_SHA*_HMAC`. ML-DSA is not driven on tokens (none to test
//! against); it is refused naming what the token offers.

use cryptoki::context::Pkcs11;
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::{Mechanism, MechanismInfo, MechanismType};
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki::slot::Slot;
use kastell_proto::KeyUsage;
use spki::der::Encode as _;

use super::super::TokenError;
use crate::crypto::encoding::{NamedCurve, named_curve};
use crate::crypto::{KeyFamily, KeyKind};

/// What a mechanism must do for a kind and usage.
#[derive(Debug, Clone, Copy)]
enum Need {
    /// Generate secret keys of the kind.
    Generate,
    /// Generate key pairs of this many bits.
    GenerateKeyPair(usize),
    /// Sign and verify.
    SignVerify,
    /// Encrypt and decrypt.
    EncryptDecrypt,
    /// Derive.
    Derive,
}

impl Need {
    /// Whether `info` does it; otherwise what it lacks.
    fn met_by(self, info: &MechanismInfo) -> Result<(), String> {
        let (done, what) = match self {
            Self::Generate => (info.generate(), "generate keys".to_owned()),
            Self::GenerateKeyPair(bits) => {
                if !info.generate_key_pair() {
                    (false, "generate key pairs".to_owned())
                } else {
                    let (min, max) = (info.min_key_size(), info.max_key_size());
                    (
                        (min..=max).contains(&bits),
                        format!("take {bits}-bit keys (only {min} to {max})"),
                    )
                }
            }
            Self::SignVerify => (info.sign() && info.verify(), "sign and verify".to_owned()),
            Self::EncryptDecrypt => (
                info.encrypt() && info.decrypt(),
                "encrypt and decrypt".to_owned(),
            ),
            Self::Derive => (info.derive(), "derive".to_owned()),
        };
        if done {
            Ok(())
        } else {
            Err(format!("does not {what}"))
        }
    }
}

/// The mechanisms `kind` keys for `usage` need, or why there are none.
fn needs(kind: KeyKind, usage: KeyUsage) -> Result<Vec<(MechanismType, Need)>, String> {
    use MechanismType as M;
    let pair = |mechanism, bits| (mechanism, Need::GenerateKeyPair(bits));
    Ok(match (kind.family(), usage) {
        (KeyFamily::Rsa, KeyUsage::EncryptDecrypt) => vec![
            pair(M::RSA_PKCS_KEY_PAIR_GEN, kind.rsa_bits().unwrap_or(0)),
            (M::RSA_PKCS_OAEP, Need::EncryptDecrypt),
        ],
        (KeyFamily::Rsa, KeyUsage::SignVerify) => {
            let mut needs = vec![pair(M::RSA_PKCS_KEY_PAIR_GEN, kind.rsa_bits().unwrap_or(0))];
            needs.extend(
                [
                    M::SHA256_RSA_PKCS,
                    M::SHA384_RSA_PKCS,
                    M::SHA512_RSA_PKCS,
                    M::SHA256_RSA_PKCS_PSS,
                    M::SHA384_RSA_PKCS_PSS,
                    M::SHA512_RSA_PKCS_PSS,
                    M::RSA_PKCS,
                    M::RSA_PKCS_PSS,
                ]
                .map(|mechanism| (mechanism, Need::SignVerify)),
            );
            needs
        }
        (KeyFamily::Ec, KeyUsage::SignVerify | KeyUsage::KeyAgreement) => {
            let bits = match kind {
                KeyKind::P384 => 384,
                KeyKind::EccNistP521 => 521,
                _ => 256,
            };
            let operation = if usage == KeyUsage::SignVerify {
                (M::ECDSA, Need::SignVerify)
            } else {
                (M::ECDH1_DERIVE, Need::Derive)
            };
            vec![pair(M::ECC_KEY_PAIR_GEN, bits), operation]
        }
        (KeyFamily::Hmac, KeyUsage::GenerateVerifyMac) => {
            let mac = match kind {
                KeyKind::Hmac224 => M::SHA224_HMAC,
                KeyKind::Hmac256 => M::SHA256_HMAC,
                KeyKind::HmacSha384 => M::SHA384_HMAC,
                _ => M::SHA512_HMAC,
            };
            vec![
                (M::GENERIC_SECRET_KEY_GEN, Need::Generate),
                (mac, Need::SignVerify),
            ]
        }
        (KeyFamily::Symmetric, KeyUsage::EncryptDecrypt) => vec![
            (M::AES_KEY_GEN, Need::Generate),
            (M::AES_GCM, Need::EncryptDecrypt),
        ],
        (KeyFamily::MlDsa, _) => {
            return Err(
                "Kastell does not drive ML-DSA on PKCS#11 tokens yet (the token offers \
                 CKM_ML_DSA)"
                    .into(),
            );
        }
        _ => return Err(format!("{kind} keys have no {usage} usage")),
    })
}

/// Asks the token whether it can hold `kind` keys for `usage`: each mechanism they need,
/// and for an EC kind a key pair on the curve, generated as session objects and destroyed
/// at once (PKCS#11 has no query for a named curve).
///
/// # Errors
/// [`TokenError::CannotHold`] naming what the token lacks, or the token's failure.
pub(super) fn can_hold(
    context: &Pkcs11,
    slot: Slot,
    session: &Session,
    kind: KeyKind,
    usage: KeyUsage,
) -> Result<(), TokenError> {
    let cannot = |why: String| TokenError::CannotHold { kind, usage, why };
    let info = |mechanism: MechanismType| match context.get_mechanism_info(slot, mechanism) {
        Ok(info) => Ok(info),
        Err(CkError::Pkcs11(RvError::MechanismInvalid, _)) => {
            Err(cannot(format!("it has no {mechanism}")))
        }
        Err(err) => Err(TokenError::from(err)),
    };
    if kind.family() == KeyFamily::MlDsa {
        // Asked first, so that the refusal names what the token lacks when it lacks it.
        info(MechanismType::ML_DSA_KEY_PAIR_GEN)?;
        info(MechanismType::ML_DSA)?;
    }
    for (mechanism, need) in needs(kind, usage).map_err(cannot)? {
        need.met_by(&info(mechanism)?)
            .map_err(|what| cannot(format!("its {mechanism} {what}")))?;
    }
    if kind.family() == KeyFamily::Rsa && usage == KeyUsage::EncryptDecrypt {
        return probe_oaep(session, kind, cannot);
    }
    if let Some(curve) = named_curve(kind) {
        let probe = generate_pair(session, None, curve, usage).map_err(|err| match err {
            TokenError::Pkcs11(CkError::Pkcs11(rv, _)) if curve_refused(rv) => cannot(format!(
                "it generates no key pair on {} ({rv:?})",
                curve.name
            )),
            other => other,
        })?;
        for object in [probe.0, probe.1] {
            session.destroy_object(object)?;
        }
    }
    Ok(())
}

/// PKCS#11 has no query for the hashes a token's `CKM_RSA_PKCS_OAEP` takes (SoftHSM2 2.6
/// takes SHA-1 only): a session key pair of the kind's size encrypts and decrypts a byte
/// with each algorithm the spec allows, and is destroyed.
fn probe_oaep(
    session: &Session,
    kind: KeyKind,
    cannot: impl Fn(String) -> TokenError,
) -> Result<(), TokenError> {
    let (public, private) = generate_rsa(session, None, kind, KeyUsage::EncryptDecrypt)?;
    let answer = kind
        .encryption_algorithms()
        .iter()
        .try_for_each(|&algorithm| {
            let mechanism = super::mechanisms::oaep(algorithm)?;
            let round_trip = session
                .encrypt(&mechanism, public, &[0x2a])
                .and_then(|ciphertext| session.decrypt(&mechanism, private, &ciphertext));
            match round_trip {
                Ok(plaintext) if plaintext == [0x2a] => Ok(()),
                Ok(_) => Err(cannot(format!(
                    "its CKM_RSA_PKCS_OAEP does not round-trip {algorithm}"
                ))),
                Err(CkError::Pkcs11(
                    rv @ (RvError::ArgumentsBad
                    | RvError::MechanismParamInvalid
                    | RvError::MechanismInvalid),
                    _,
                )) => Err(cannot(format!(
                    "its CKM_RSA_PKCS_OAEP does not take {algorithm} ({rv:?})"
                ))),
                Err(err) => Err(err.into()),
            }
        });
    for object in [public, private] {
        session.destroy_object(object)?;
    }
    answer
}

/// The return values with which a token refuses a curve it does not know.
fn curve_refused(rv: RvError) -> bool {
    matches!(
        rv,
        RvError::CurveNotSupported
            | RvError::DomainParamsInvalid
            | RvError::AttributeValueInvalid
            | RvError::TemplateInconsistent
            | RvError::KeySizeRange
    )
}

/// The operations a key for `usage` may do, as the private (or secret) key's and the
/// public key's attributes; every other operation is off.
fn operations(usage: KeyUsage) -> (Vec<Attribute>, Vec<Attribute>) {
    let (sign, crypt, derive) = (
        usage == KeyUsage::SignVerify || usage == KeyUsage::GenerateVerifyMac,
        usage == KeyUsage::EncryptDecrypt,
        usage == KeyUsage::KeyAgreement,
    );
    let private = vec![
        Attribute::Sign(sign),
        Attribute::Decrypt(crypt),
        Attribute::Unwrap(false),
        Attribute::Derive(derive),
    ];
    let public = vec![
        Attribute::Verify(sign),
        Attribute::Encrypt(crypt),
        Attribute::Wrap(false),
        Attribute::Derive(false),
    ];
    (private, public)
}

/// The attributes of a key that never leaves the token; a token object when `label` is
/// given (else a session object: a probe).
fn resident(label: Option<&str>) -> Vec<Attribute> {
    let mut attributes = vec![
        Attribute::Token(label.is_some()),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
    ];
    attributes.extend(named(label));
    attributes
}

/// The label, and the same bytes as `CKA_ID` (which ties a key pair's halves together and
/// is how tools such as `pkcs11-tool` select a key); nothing for a session object.
fn named(label: Option<&str>) -> Vec<Attribute> {
    label.map_or_else(Vec::new, |label| {
        vec![
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(label.as_bytes().to_vec()),
        ]
    })
}

fn generate_pair(
    session: &Session,
    label: Option<&str>,
    curve: &NamedCurve,
    usage: KeyUsage,
) -> Result<(ObjectHandle, ObjectHandle), TokenError> {
    let params = curve
        .oid
        .to_der()
        .map_err(|_| TokenError::Malformed("curve OID"))?;
    let (mut private, mut public) = operations(usage);
    private.extend(resident(label));
    public.push(Attribute::Token(label.is_some()));
    public.push(Attribute::EcParams(params));
    public.extend(named(label));
    Ok(session.generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private)?)
}

/// An RSA key pair of `kind`'s size for `usage` (public exponent 65537): public and private
/// key.
fn generate_rsa(
    session: &Session,
    label: Option<&str>,
    kind: KeyKind,
    usage: KeyUsage,
) -> Result<(ObjectHandle, ObjectHandle), TokenError> {
    let (mut private, mut public) = operations(usage);
    private.extend(resident(label));
    public.extend([
        Attribute::Token(label.is_some()),
        Attribute::ModulusBits(kind.rsa_bits().unwrap_or(0).try_into()?),
        Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
    ]);
    public.extend(named(label));
    Ok(session.generate_key_pair(&Mechanism::RsaPkcsKeyPairGen, &public, &private)?)
}

/// Generates the `kind` key for `usage` labelled `label` (a session object when `None`):
/// sensitive, never extractable, its usage's operations only. Returns the private (or
/// secret) key.
///
/// # Errors
/// [`TokenError::CannotHold`] for a kind and usage no token key is made for, or the
/// token's failure.
pub(super) fn generate(
    session: &Session,
    label: Option<&str>,
    kind: KeyKind,
    usage: KeyUsage,
) -> Result<ObjectHandle, TokenError> {
    let (mut private, _) = operations(usage);
    match (kind.family(), named_curve(kind), kind.rsa_bits()) {
        (KeyFamily::Ec, Some(curve), _) => Ok(generate_pair(session, label, curve, usage)?.1),
        (KeyFamily::Rsa, _, Some(_)) => Ok(generate_rsa(session, label, kind, usage)?.1),
        (KeyFamily::Hmac, _, _) if usage == KeyUsage::GenerateVerifyMac => {
            let len = kind
                .mac_algorithm()
                .map_or(48, kastell_proto::algorithm::MacAlgorithm::tag_len);
            private.extend([
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::GENERIC_SECRET),
                Attribute::ValueLen(len.try_into()?),
                Attribute::Verify(true),
                Attribute::Encrypt(false),
                Attribute::Wrap(false),
            ]);
            private.extend(resident(label));
            Ok(session.generate_key(&Mechanism::GenericSecretKeyGen, &private)?)
        }
        _ => Err(TokenError::CannotHold {
            kind,
            usage,
            why: needs(kind, usage)
                .err()
                .unwrap_or_else(|| "Kastell makes no such token key".into()),
        }),
    }
}
