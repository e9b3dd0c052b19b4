//! `CiphertextForRecipient` as AWS KMS builds it for an RSA key: a CMS `ContentInfo`
//! holding `EnvelopedData` (RFC 5652, version 2) with one `KeyTransRecipientInfo`
//! (version 2, identified by the key's subject key identifier, RFC 5280 method 1), the
//! content key encrypted with RSAES-OAEP (SHA-256, MGF1 with SHA-256, empty label;
//! RFC 4055 parameters), and the secret encrypted with AES-256-CBC and PKCS#7 padding
//! under a fresh content key, the IV in the algorithm's parameters. `openssl cms -decrypt
//! -inform DER -inkey key.pem` opens it, as do the Nitro Enclaves SDK and other CMS
//! readers. The ASN.1 types are RustCrypto's (`cms`, `pkcs1`, `spki`); the crypto is
//! AWS-LC.

use aws_lc_rs::cipher::{AES_256, PaddedBlockEncryptingKey, UnboundCipherKey};
use aws_lc_rs::rsa::{OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, PublicEncryptingKey};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::enveloped_data::{
    EncryptedContentInfo, EnvelopedData, KeyTransRecipientInfo, RecipientIdentifier, RecipientInfo,
    RecipientInfos,
};
use const_oid::db::{rfc5911, rfc5912};
use der::asn1::{Any, AnyRef, OctetString, SetOfVec};
use der::{Decode as _, Encode as _};
use spki::{AlgorithmIdentifier, AlgorithmIdentifierOwned, AlgorithmIdentifierRef};
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use zeroize::Zeroizing;

/// Why an envelope was not made (an internal failure: the key was checked when the
/// document was verified).
#[derive(Debug, thiserror::Error)]
#[error("CMS envelope: {0}")]
pub(crate) struct EnvelopeError(&'static str);

fn fail<E>(what: &'static str) -> impl FnOnce(E) -> EnvelopeError {
    move |_| EnvelopeError(what)
}

/// The AES-256-CBC content key and IV length.
const CONTENT_KEY: usize = 32;

/// The RSAES-OAEP algorithm identifier with SHA-256 and MGF1-SHA-256 (RFC 4055).
fn oaep_sha256() -> Result<AlgorithmIdentifierOwned, EnvelopeError> {
    let sha256 = AlgorithmIdentifierRef {
        oid: rfc5912::ID_SHA_256,
        parameters: Some(AnyRef::NULL),
    };
    let params = pkcs1::RsaOaepParams {
        hash: sha256,
        mask_gen: AlgorithmIdentifier {
            oid: rfc5912::ID_MGF_1,
            parameters: Some(sha256),
        },
        ..pkcs1::RsaOaepParams::default()
    };
    let der = params.to_der().map_err(fail("OAEP parameters"))?;
    Ok(AlgorithmIdentifierOwned {
        oid: rfc5912::ID_RSAES_OAEP,
        parameters: Some(Any::from_der(&der).map_err(fail("OAEP parameters"))?),
    })
}

/// RFC 5280's method 1: the SHA-1 of the key's `subjectPublicKey` bits.
fn subject_key_identifier(spki_der: &[u8]) -> Result<SubjectKeyIdentifier, EnvelopeError> {
    let info = spki::SubjectPublicKeyInfoRef::from_der(spki_der).map_err(fail("recipient key"))?;
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        info.subject_public_key.raw_bytes(),
    );
    OctetString::new(digest.as_ref())
        .map(SubjectKeyIdentifier)
        .map_err(fail("subject key identifier"))
}

/// `secret` in a CMS envelope to the RSA key `spki_der` (SubjectPublicKeyInfo DER).
///
/// # Errors
/// An [`EnvelopeError`] when AWS-LC refuses the key or fails (randomness).
pub(crate) fn seal(spki_der: &[u8], secret: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    let mut content_key = Zeroizing::new([0u8; CONTENT_KEY]);
    aws_lc_rs::rand::fill(content_key.as_mut_slice()).map_err(fail("randomness"))?;
    let cipher = UnboundCipherKey::new(&AES_256, content_key.as_slice())
        .and_then(PaddedBlockEncryptingKey::cbc_pkcs7)
        .map_err(fail("content key"))?;
    // Room for the padding up front: the secret is encrypted in place, never copied by a
    // reallocation.
    let mut content = Vec::with_capacity(secret.len() + 16);
    content.extend_from_slice(secret);
    let context = cipher
        .encrypt(&mut content)
        .map_err(fail("content encryption"))?;
    let iv: &[u8] = (&context).try_into().map_err(fail("content IV"))?;

    let public = PublicEncryptingKey::from_der(spki_der).map_err(fail("recipient key"))?;
    let public = OaepPublicEncryptingKey::new(public).map_err(fail("recipient key"))?;
    let mut wrapped = vec![0u8; public.ciphertext_size()];
    let wrapped = public
        .encrypt(
            &OAEP_SHA256_MGF1SHA256,
            content_key.as_slice(),
            &mut wrapped,
            None,
        )
        .map_err(fail("key transport"))?
        .to_vec();

    let recipient = RecipientInfo::Ktri(KeyTransRecipientInfo {
        version: CmsVersion::V2,
        rid: RecipientIdentifier::SubjectKeyIdentifier(subject_key_identifier(spki_der)?),
        key_enc_alg: oaep_sha256()?,
        enc_key: OctetString::new(wrapped).map_err(fail("encrypted key"))?,
    });
    let iv = OctetString::new(iv).map_err(fail("content IV"))?;
    let enveloped = EnvelopedData {
        version: CmsVersion::V2,
        originator_info: None,
        recip_infos: RecipientInfos::from(
            SetOfVec::try_from(vec![recipient]).map_err(fail("recipients"))?,
        ),
        encrypted_content: EncryptedContentInfo {
            content_type: rfc5911::ID_DATA,
            content_enc_alg: AlgorithmIdentifierOwned {
                oid: rfc5911::ID_AES_256_CBC,
                parameters: Some(Any::encode_from(&iv).map_err(fail("content IV"))?),
            },
            encrypted_content: Some(OctetString::new(content).map_err(fail("content"))?),
        },
        unprotected_attrs: None,
    };
    ContentInfo {
        content_type: rfc5911::ID_ENVELOPED_DATA,
        content: Any::encode_from(&enveloped).map_err(fail("enveloped data"))?,
    }
    .to_der()
    .map_err(fail("content info"))
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::expect_used,
        clippy::unwrap_used,
        reason = "a failed expectation is a failed test"
    )]
    use super::*;
    use aws_lc_rs::cipher::{DecryptionContext, PaddedBlockDecryptingKey};
    use aws_lc_rs::encoding::AsDer as _;
    use aws_lc_rs::iv::FixedLength;
    use aws_lc_rs::rsa::{KeySize, OaepPrivateDecryptingKey, PrivateDecryptingKey};

    /// The envelope read back with RustCrypto's CMS types has the shape AWS's Nitro SDK
    /// insists on (versions 2 and 2, one recipient named by its key identifier, RSAES-OAEP
    /// with SHA-256 and MGF1-SHA-256, AES-256-CBC with its IV) and opens to the secret.
    #[test]
    fn the_envelope_has_awss_shape_and_opens_with_the_private_key() {
        let private = PrivateDecryptingKey::generate(KeySize::Rsa2048).unwrap();
        let spki = private.public_key().as_der().unwrap();
        let secret = b"a data key of thirty-two bytes!!";
        let sealed = seal(spki.as_ref(), secret).unwrap();

        let info = ContentInfo::from_der(&sealed).unwrap();
        assert_eq!(info.content_type, rfc5911::ID_ENVELOPED_DATA);
        let enveloped: EnvelopedData = info.content.decode_as().unwrap();
        assert_eq!(enveloped.version, CmsVersion::V2);
        let recipients: Vec<_> = enveloped.recip_infos.0.iter().collect();
        assert_eq!(recipients.len(), 1);
        let RecipientInfo::Ktri(ktri) = recipients[0] else {
            panic!("not a KeyTransRecipientInfo");
        };
        assert_eq!(ktri.version, CmsVersion::V2);
        assert_eq!(
            ktri.rid,
            RecipientIdentifier::SubjectKeyIdentifier(
                subject_key_identifier(spki.as_ref()).unwrap()
            )
        );
        assert_eq!(ktri.key_enc_alg, oaep_sha256().unwrap());
        let params: pkcs1::RsaOaepParams<'_> = ktri
            .key_enc_alg
            .parameters
            .as_ref()
            .unwrap()
            .decode_as()
            .unwrap();
        assert_eq!(params.hash.oid, rfc5912::ID_SHA_256);
        assert_eq!(params.mask_gen.parameters.unwrap().oid, rfc5912::ID_SHA_256);

        let content = &enveloped.encrypted_content;
        assert_eq!(content.content_type, rfc5911::ID_DATA);
        assert_eq!(content.content_enc_alg.oid, rfc5911::ID_AES_256_CBC);
        let iv: OctetString = content
            .content_enc_alg
            .parameters
            .as_ref()
            .unwrap()
            .decode_as()
            .unwrap();

        let oaep = OaepPrivateDecryptingKey::new(private).unwrap();
        let mut key = vec![0u8; oaep.min_output_size()];
        let key = oaep
            .decrypt(
                &OAEP_SHA256_MGF1SHA256,
                ktri.enc_key.as_bytes(),
                &mut key,
                None,
            )
            .unwrap();
        assert_eq!(key.len(), CONTENT_KEY);
        let cipher =
            PaddedBlockDecryptingKey::cbc_pkcs7(UnboundCipherKey::new(&AES_256, key).unwrap())
                .unwrap();
        let iv = FixedLength::<16>::try_from(iv.as_bytes()).unwrap();
        let mut data = content
            .encrypted_content
            .as_ref()
            .unwrap()
            .as_bytes()
            .to_vec();
        let opened = cipher
            .decrypt(&mut data, DecryptionContext::Iv128(iv))
            .unwrap();
        assert_eq!(opened, secret);
    }

    #[test]
    fn a_key_that_is_not_rsa_is_refused() {
        let p384 = p384::SecretKey::from_slice(&[7; 48]).unwrap().public_key();
        let spki = p384::pkcs8::EncodePublicKey::to_public_key_der(&p384).unwrap();
        assert!(seal(spki.as_bytes(), b"secret").is_err());
    }
}
