//! The DER forms every key holder shares, whoever does the arithmetic (aws-lc-rs on the
//! host, a PKCS#11 token): the named curves and their SubjectPublicKeyInfo checks, public
//! keys built from their parts (an RSA modulus and exponent, an EC point), and ECDSA
//! signatures between the fixed (r ‖ s) form tokens return and DER `ECDSA-Sig-Value`.

use kastell_proto::algorithm::HashAlgorithm;
use spki::der::asn1::{AnyRef, BitStringRef, UintRef};
use spki::der::{Decode as _, Encode as _};
use spki::{AlgorithmIdentifierRef, ObjectIdentifier, SubjectPublicKeyInfoRef};

use super::{CryptoError, KeyKind};

/// `id-ecPublicKey` (RFC 5480).
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

/// `rsaEncryption` (RFC 8017), the algorithm of an RSA SubjectPublicKeyInfo.
pub(crate) const RSA_ENCRYPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// A named curve of the EC key specs.
#[derive(Debug)]
pub(crate) struct NamedCurve {
    /// Its name in errors.
    pub(crate) name: &'static str,
    /// Its named-curve OID (RFC 5480).
    pub(crate) oid: ObjectIdentifier,
    /// The field's (and the private scalar's) length in bytes.
    pub(crate) field_len: usize,
    /// The hash ECDSA uses with it (the spec's own).
    pub(crate) hash: HashAlgorithm,
}

pub(crate) static P256: NamedCurve = NamedCurve {
    name: "P-256",
    oid: ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7"),
    field_len: 32,
    hash: HashAlgorithm::Sha256,
};

pub(crate) static P384: NamedCurve = NamedCurve {
    name: "P-384",
    oid: ObjectIdentifier::new_unwrap("1.3.132.0.34"),
    field_len: 48,
    hash: HashAlgorithm::Sha384,
};

pub(crate) static P521: NamedCurve = NamedCurve {
    name: "P-521",
    oid: ObjectIdentifier::new_unwrap("1.3.132.0.35"),
    field_len: 66,
    hash: HashAlgorithm::Sha512,
};

pub(crate) static SECP256K1: NamedCurve = NamedCurve {
    name: "secp256k1",
    oid: ObjectIdentifier::new_unwrap("1.3.132.0.10"),
    field_len: 32,
    hash: HashAlgorithm::Sha256,
};

/// Every curve, for naming the curve of a foreign key.
static CURVES: [&NamedCurve; 4] = [&P256, &P384, &P521, &SECP256K1];

/// The curve of an EC kind.
pub(crate) fn named_curve(kind: KeyKind) -> Option<&'static NamedCurve> {
    match kind {
        KeyKind::EccNistP256 => Some(&P256),
        KeyKind::P384 => Some(&P384),
        KeyKind::EccNistP521 => Some(&P521),
        KeyKind::EccSecgP256k1 => Some(&SECP256K1),
        _ => None,
    }
}

/// The algorithm OID and the parameters' OID (an EC key's curve) of a SubjectPublicKeyInfo;
/// trailing bytes, another encoding or a raw key are refused.
pub(crate) fn spki_algorithm(
    der: &[u8],
    whose: &'static str,
) -> Result<(ObjectIdentifier, Option<ObjectIdentifier>), CryptoError> {
    let info = SubjectPublicKeyInfoRef::try_from(der).map_err(|_| not_spki(whose))?;
    let parameters = info.algorithm.parameters_oid().ok();
    Ok((info.algorithm.oid, parameters))
}

fn not_spki(whose: &'static str) -> CryptoError {
    CryptoError::InvalidInput(match whose {
        "peer public key" => "peer public key: not SubjectPublicKeyInfo DER",
        _ => "public key: not SubjectPublicKeyInfo DER",
    })
}

/// Checks that `spki` is an EC SubjectPublicKeyInfo on `curve` (a raw SEC1 point is
/// refused: the interface is SPKI), naming the curve it is on instead.
///
/// # Errors
/// [`CryptoError::InvalidInput`] for what is not an EC SubjectPublicKeyInfo,
/// [`CryptoError::WrongCurve`] for a key on another curve.
pub(crate) fn check_curve(
    curve: &NamedCurve,
    spki: &[u8],
    whose: &'static str,
) -> Result<(), CryptoError> {
    let (algorithm, parameters) = spki_algorithm(spki, whose)?;
    if algorithm != EC_PUBLIC_KEY {
        return Err(CryptoError::InvalidInput(match whose {
            "peer public key" => "peer public key: not an EC key",
            _ => "public key: not an EC key",
        }));
    }
    match parameters {
        Some(oid) if oid == curve.oid => Ok(()),
        other => Err(CryptoError::WrongCurve {
            expected: curve.name,
            found: other
                .and_then(|oid| CURVES.iter().find(|known| known.oid == oid))
                .map_or("another or an unnamed curve", |known| known.name),
        }),
    }
}

/// The EC point (SEC1 octets) of an EC SubjectPublicKeyInfo on `curve` (checked as
/// [`check_curve`] does).
///
/// # Errors
/// As [`check_curve`].
pub(crate) fn ec_point<'a>(
    curve: &NamedCurve,
    spki: &'a [u8],
    whose: &'static str,
) -> Result<&'a [u8], CryptoError> {
    check_curve(curve, spki, whose)?;
    let info = SubjectPublicKeyInfoRef::try_from(spki).map_err(|_| not_spki(whose))?;
    info.subject_public_key
        .as_bytes()
        .ok_or_else(|| not_spki(whose))
}

fn encoding_failed(_: spki::der::Error) -> CryptoError {
    CryptoError::InvalidKey("public key: cannot be encoded as SubjectPublicKeyInfo")
}

fn spki_der(
    oid: ObjectIdentifier,
    parameters: AnyRef<'_>,
    key: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    SubjectPublicKeyInfoRef {
        algorithm: AlgorithmIdentifierRef {
            oid,
            parameters: Some(parameters),
        },
        subject_public_key: BitStringRef::from_bytes(key).map_err(encoding_failed)?,
    }
    .to_der()
    .map_err(encoding_failed)
}

/// The SubjectPublicKeyInfo (DER) of an RSA public key: `rsaEncryption` with NULL
/// parameters around `RSAPublicKey { modulus, publicExponent }` (RFC 8017), big-endian
/// unsigned integers as a token holds them.
///
/// # Errors
/// [`CryptoError::InvalidKey`] for an empty modulus or exponent.
pub(crate) fn rsa_spki(modulus: &[u8], exponent: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let integers = [modulus, exponent]
        .into_iter()
        .map(UintRef::new)
        .collect::<Result<Vec<_>, _>>()
        .map_err(encoding_failed)?;
    if integers.iter().any(|n| n.as_bytes() == [0]) {
        return Err(CryptoError::InvalidKey(
            "RSA public key: a zero modulus or exponent",
        ));
    }
    let key = integers.to_der().map_err(encoding_failed)?;
    spki_der(RSA_ENCRYPTION, AnyRef::NULL, &key)
}

/// The SubjectPublicKeyInfo (DER) of an EC public key: `id-ecPublicKey` with the curve's
/// OID around the uncompressed SEC1 point.
///
/// # Errors
/// [`CryptoError::InvalidKey`] for a point that is not uncompressed and the curve's size.
pub(crate) fn ec_spki(curve: &NamedCurve, point: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if point.first() != Some(&0x04) || point.len() != 1 + 2 * curve.field_len {
        return Err(CryptoError::InvalidKey(
            "EC public key: not an uncompressed point of its curve's size",
        ));
    }
    spki_der(EC_PUBLIC_KEY, AnyRef::from(&curve.oid), point)
}

/// A fixed-size (r ‖ s) ECDSA signature, each half `field_len` bytes, as DER
/// `ECDSA-Sig-Value` (what AWS KMS, OpenSSL and the API use).
///
/// # Errors
/// [`CryptoError::InvalidInput`] for a signature that is not two halves.
pub(crate) fn ecdsa_der(fixed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let malformed = CryptoError::InvalidInput("ECDSA signature: not r ‖ s of equal halves");
    if fixed.is_empty() || !fixed.len().is_multiple_of(2) {
        return Err(malformed);
    }
    let (r, s) = fixed.split_at(fixed.len() / 2);
    let pair = [UintRef::new(r), UintRef::new(s)];
    let [Ok(r), Ok(s)] = pair else {
        return Err(malformed);
    };
    vec![r, s].to_der().map_err(|_| malformed)
}

/// The fixed-size (r ‖ s) form of a DER `ECDSA-Sig-Value` on a curve of `field_len`
/// bytes; `None` when it is not strict DER of two integers that fit the field (such a
/// signature verifies under no key).
pub(crate) fn ecdsa_fixed(der: &[u8], field_len: usize) -> Option<Vec<u8>> {
    let pair = Vec::<UintRef<'_>>::from_der(der).ok()?;
    let [r, s] = pair.as_slice() else {
        return None;
    };
    let mut fixed = vec![0u8; 2 * field_len];
    for (half, n) in fixed.chunks_mut(field_len).zip([r, s]) {
        let bytes = n.as_bytes();
        let start = field_len.checked_sub(bytes.len())?;
        half[start..].copy_from_slice(bytes);
    }
    Some(fixed)
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::expect_used,
        clippy::unwrap_used,
        reason = "a failed expectation is a failed test"
    )]

    use super::*;
    use crate::crypto::{AwsLc, CryptoProvider as _};

    /// The SPKI built from a key's parts is byte for byte the one aws-lc-rs exports for
    /// the same key: a token-resident key's public key reads as a wrapped one's.
    #[test]
    fn public_keys_built_from_their_parts_equal_aws_lc_rs_exports() {
        for kind in [KeyKind::Rsa2048, KeyKind::Rsa3072] {
            let prepared = AwsLc.prepare(kind, AwsLc.generate(kind).unwrap()).unwrap();
            let spki = prepared.public_key_spki().unwrap().to_vec();
            let info = SubjectPublicKeyInfoRef::try_from(spki.as_slice()).unwrap();
            let key = Vec::<UintRef<'_>>::from_der(info.subject_public_key.raw_bytes()).unwrap();
            let rebuilt = rsa_spki(key[0].as_bytes(), key[1].as_bytes()).unwrap();
            assert_eq!(rebuilt, spki, "{kind}");
        }
        for kind in [
            KeyKind::EccNistP256,
            KeyKind::P384,
            KeyKind::EccNistP521,
            KeyKind::EccSecgP256k1,
        ] {
            let curve = named_curve(kind).unwrap();
            let prepared = AwsLc.prepare(kind, AwsLc.generate(kind).unwrap()).unwrap();
            let spki = prepared.public_key_spki().unwrap().to_vec();
            let point = ec_point(curve, &spki, "public key").unwrap();
            assert_eq!(ec_spki(curve, point).unwrap(), spki, "{kind}");
        }
        assert!(matches!(
            ec_spki(&P256, &[0x04; 64]),
            Err(CryptoError::InvalidKey(_))
        ));
        assert_eq!(
            ec_point(
                &P384,
                &rsa_spki(&[0xc5; 256], &[1, 0, 1]).unwrap(),
                "peer public key"
            ),
            Err(CryptoError::InvalidInput("peer public key: not an EC key"))
        );
    }

    #[test]
    fn ecdsa_signatures_convert_between_fixed_and_der_exactly() {
        for kind in [KeyKind::EccNistP256, KeyKind::EccNistP521] {
            let curve = named_curve(kind).unwrap();
            let prepared = AwsLc.prepare(kind, AwsLc.generate(kind).unwrap()).unwrap();
            let der = prepared
                .sign(
                    kind.signing_algorithms()[0],
                    kastell_proto::algorithm::MessageType::Raw,
                    b"m",
                )
                .unwrap();
            let fixed = ecdsa_fixed(&der, curve.field_len).unwrap();
            assert_eq!(fixed.len(), 2 * curve.field_len);
            assert_eq!(ecdsa_der(&fixed).unwrap(), der, "{kind}");
        }
        // High bits and leading zeros: minimal DER either way.
        let mut fixed = vec![0u8; 64];
        fixed[0] = 0x80;
        fixed[63] = 1;
        let der = ecdsa_der(&fixed).unwrap();
        assert_eq!(&der[..5], &[0x30, 0x26, 0x02, 0x21, 0x00]);
        assert_eq!(&der[der.len() - 3..], &[0x02, 0x01, 0x01]);
        assert_eq!(ecdsa_fixed(&der, 32).unwrap(), fixed);
        // Not DER, non-canonical, a third integer, too long for the field: none.
        assert_eq!(ecdsa_fixed(b"\x30\x00", 32), None);
        assert_eq!(ecdsa_fixed(&[0x30, 0x06, 2, 1, 1, 2, 1, 1, 0], 32), None);
        assert_eq!(ecdsa_fixed(&[0x30, 0x07, 2, 2, 0, 1, 2, 1, 1], 32), None);
        assert_eq!(
            ecdsa_fixed(&[0x30, 0x09, 2, 1, 1, 2, 1, 1, 2, 1, 1], 32),
            None
        );
        assert_eq!(ecdsa_fixed(&der, 31), None);
    }
}
