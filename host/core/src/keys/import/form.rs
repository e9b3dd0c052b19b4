//! The import form of key material (AWS's) turned into its host form: AES, HMAC and RSA
//! keys are the same in both (bytes; PKCS#8 DER), an EC key arrives as PKCS#8 DER holding
//! a SEC 1 `ECPrivateKey` and is held as its private scalar. The curve named in the
//! PKCS#8 algorithm (and in the `ECPrivateKey`, if it names one) must be the key spec's.

use kastell_proto::{KeySpec, SecretBytes};
use pkcs8::der::Decode as _;
use pkcs8::der::asn1::ObjectIdentifier;

/// `id-ecPublicKey` (RFC 5480).
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

/// An EC key as imported: its private scalar and the public point it states, if any.
pub(super) struct EcImport {
    /// The private scalar, big-endian, the curve's length.
    pub(super) scalar: SecretBytes,
    /// The SEC 1 encoded public point the `ECPrivateKey` carries, if it carries one.
    pub(super) public_point: Option<Vec<u8>>,
}

/// The curve of `spec` (its OID and scalar length), for EC specs.
fn curve(spec: KeySpec) -> Option<(ObjectIdentifier, usize)> {
    Some(match spec {
        KeySpec::EccNistP256 => (ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7"), 32),
        KeySpec::EccNistP384 => (ObjectIdentifier::new_unwrap("1.3.132.0.34"), 48),
        KeySpec::EccNistP521 => (ObjectIdentifier::new_unwrap("1.3.132.0.35"), 66),
        KeySpec::EccSecgP256k1 => (ObjectIdentifier::new_unwrap("1.3.132.0.10"), 32),
        _ => return None,
    })
}

/// Whether `spec`'s material is imported as an EC private key.
pub(super) fn is_ec(spec: KeySpec) -> bool {
    curve(spec).is_some()
}

/// The EC key of `spec` in `material` (PKCS#8 DER), or why it is not one.
pub(super) fn ec_import(spec: KeySpec, material: &SecretBytes) -> Result<EcImport, String> {
    let (curve_oid, len) = curve(spec).ok_or_else(|| format!("{spec} keys are not EC keys"))?;
    let info = pkcs8::PrivateKeyInfo::from_der(material.expose())
        .map_err(|_| format!("the material is not a PKCS#8 DER private key ({spec} keys are)"))?;
    if info.algorithm.oid != EC_PUBLIC_KEY {
        return Err(format!(
            "the material is a PKCS#8 key of algorithm {}, not an EC key ({spec})",
            info.algorithm.oid
        ));
    }
    let named = info
        .algorithm
        .parameters_oid()
        .map_err(|_| "the PKCS#8 EC key names no curve".to_owned())?;
    if named != curve_oid {
        return Err(format!(
            "the material is an EC key on curve {named}, not {spec}'s ({curve_oid})"
        ));
    }
    let key = sec1::EcPrivateKey::from_der(info.private_key)
        .map_err(|_| "the PKCS#8 EC key does not hold a SEC 1 ECPrivateKey".to_owned())?;
    if let Some(parameters) = key.parameters
        && parameters.named_curve() != Some(curve_oid)
    {
        return Err(format!(
            "the ECPrivateKey names another curve than its PKCS#8 algorithm ({spec})"
        ));
    }
    if key.private_key.len() != len {
        return Err(format!(
            "the {spec} private key is {} bytes, not {len}",
            key.private_key.len()
        ));
    }
    Ok(EcImport {
        scalar: SecretBytes::new(key.private_key.to_vec()),
        public_point: key.public_key.map(<[u8]>::to_vec),
    })
}

/// Whether `stated` (a SEC 1 point, compressed or not) is the point `spki` (an SPKI DER
/// with an uncompressed point) holds.
pub(super) fn same_point(spki: &[u8], stated: &[u8]) -> bool {
    use pkcs8::der::Decode as _;
    let Ok(info) = spki::SubjectPublicKeyInfoRef::from_der(spki) else {
        return false;
    };
    let Some(held) = info.subject_public_key.as_bytes() else {
        return false;
    };
    match (held.split_first(), stated.split_first()) {
        (Some((0x04, xy)), Some((0x04, _))) if xy.len() % 2 == 0 => held == stated,
        (Some((0x04, xy)), Some((&tag @ (0x02 | 0x03), x))) if xy.len() % 2 == 0 => {
            let (held_x, held_y) = xy.split_at(xy.len() / 2);
            let odd = held_y.last().is_some_and(|b| b & 1 == 1);
            held_x == x && (tag == 0x03) == odd
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::expect_used,
        clippy::unwrap_used,
        reason = "a failed expectation is a failed test"
    )]

    use aws_lc_rs::encoding::AsDer as _;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair,
        EcdsaSigningAlgorithm, KeyPair as _,
    };

    use super::*;

    /// A new key of `algorithm`: its PKCS#8 DER (with the public key) and SPKI DER.
    fn key(algorithm: &'static EcdsaSigningAlgorithm) -> (SecretBytes, Vec<u8>) {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(algorithm, &SystemRandom::new()).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(algorithm, pkcs8.as_ref()).unwrap();
        let spki = pair.public_key().as_der().unwrap().as_ref().to_vec();
        (SecretBytes::new(pkcs8.as_ref().to_vec()), spki)
    }

    #[test]
    fn a_p384_pkcs8_key_gives_its_scalar_and_the_point_it_states() {
        let (pkcs8, spki) = key(&ECDSA_P384_SHA384_ASN1_SIGNING);
        let ec = ec_import(KeySpec::EccNistP384, &pkcs8).unwrap();
        assert_eq!(ec.scalar.len(), 48);
        let point = ec.public_point.expect("aws-lc states the public key");
        assert!(same_point(&spki, &point));
        // The same point compressed: the x coordinate and the parity of y.
        let (x, y) = point[1..].split_at(48);
        let odd = y[47] & 1 == 1;
        let mut compressed = vec![if odd { 0x03 } else { 0x02 }];
        compressed.extend_from_slice(x);
        assert!(same_point(&spki, &compressed));
        compressed[0] ^= 1;
        assert!(!same_point(&spki, &compressed), "the other y");
        let (_, other) = key(&ECDSA_P384_SHA384_ASN1_SIGNING);
        assert!(!same_point(&other, &point), "another key's point");
    }

    #[test]
    fn material_of_another_curve_kind_or_form_is_refused_by_what_is_wrong() {
        let (p256, _) = key(&ECDSA_P256_SHA256_ASN1_SIGNING);
        let why = ec_import(KeySpec::EccNistP384, &p256).err().unwrap();
        assert!(why.contains("on curve"), "{why}");
        assert!(ec_import(KeySpec::EccNistP256, &p256).is_ok());
        let why = ec_import(KeySpec::EccNistP384, &SecretBytes::new(vec![7; 48]))
            .err()
            .unwrap();
        assert!(why.contains("not a PKCS#8 DER private key"), "{why}");
        let why = ec_import(KeySpec::Rsa2048, &p256).err().unwrap();
        assert!(why.contains("not EC keys"), "{why}");
        assert!(!is_ec(KeySpec::Aes256) && is_ec(KeySpec::EccSecgP256k1));
    }
}
