#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]
//! HPKE key release: known answers for the suite (see `data/README.md` for where they come
//! from), then `kastell_attest::hpke`'s round trip and each of its failures.

use hpke::aead::AesGcm256;
use hpke::kdf::HkdfSha384;
use hpke::kem::DhP384HkdfSha384;
use hpke::{Deserializable as _, Kem as _, OpModeR, OpModeS, Serializable as _};
use kastell_attest::Measurement;
use kastell_attest::hpke::{
    HpkeError, PointError, RecipientKey, ReleaseInfo, Sealed, TAG_LEN, open, seal,
};

type Kem = DhP384HkdfSha384;

const VECTORS: &str = include_str!("data/hpke-p384-sha384-aes256gcm.json");

/// The vector file: RFC 9180-style suite vectors, and messages sealed to a release `info`.
#[derive(serde::Deserialize)]
struct VectorFile {
    vectors: Vec<SuiteVector>,
    release: Vec<ReleaseVector>,
}

/// One suite vector, with the CFRG `test-vectors.json` field names (hex strings).
#[derive(serde::Deserialize)]
#[allow(non_snake_case, reason = "the field names of the CFRG files")]
struct SuiteVector {
    source: String,
    mode: u8,
    kem_id: u16,
    kdf_id: u16,
    aead_id: u16,
    info: String,
    ikmE: Option<String>,
    skEm: Option<String>,
    pkEm: Option<String>,
    ikmR: String,
    skRm: String,
    pkRm: String,
    enc: String,
    encryptions: Vec<Encryption>,
    #[serde(default)]
    exports: Vec<Export>,
}

#[derive(serde::Deserialize)]
struct Encryption {
    seq: u64,
    aad: String,
    pt: String,
    ct: String,
}

#[derive(serde::Deserialize)]
struct Export {
    exporter_context: String,
    #[serde(rename = "L")]
    len: usize,
    exported_value: String,
}

/// A message sealed to a Kastell release `info`.
#[derive(serde::Deserialize)]
#[allow(non_snake_case, reason = "the field names of the CFRG files")]
struct ReleaseVector {
    source: String,
    key_id: String,
    guest: String,
    nonce: String,
    info: String,
    ikmR: String,
    skRm: String,
    pkRm: String,
    aad: String,
    enc: String,
    ct: String,
    pt: String,
}

fn vectors() -> VectorFile {
    serde_json::from_str(VECTORS).expect("the vector file parses")
}

fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text).expect("hex in the vector file")
}

/// Hands the `hpke` crate a fixed `ikmE` where it asks for randomness: its ephemeral key
/// is `DeriveKeyPair(48 random bytes)`, so this reproduces a vector's `skEm`. If the crate
/// ever draws differently, the `enc` check below fails.
struct FixedIkm(Option<Vec<u8>>);

impl hpke::rand_core::RngCore for FixedIkm {
    fn next_u32(&mut self) -> u32 {
        panic!("the hpke crate asked for a u32, not an ikm")
    }

    fn next_u64(&mut self) -> u64 {
        panic!("the hpke crate asked for a u64, not an ikm")
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        let ikm = self.0.take().expect("ikmE is drawn once");
        dst.copy_from_slice(&ikm);
    }
}

impl hpke::rand_core::CryptoRng for FixedIkm {}

/// DeriveKeyPair(ikm) must give the vector's private and public keys.
fn derive_and_check(
    ikm: &str,
    sk: &str,
    pk: &str,
    what: &str,
) -> (
    <Kem as hpke::Kem>::PrivateKey,
    <Kem as hpke::Kem>::PublicKey,
) {
    let (private, public) = Kem::derive_keypair(&unhex(ikm));
    assert_eq!(hex::encode(private.to_bytes()), sk, "{what}: sk");
    assert_eq!(hex::encode(public.to_bytes()), pk, "{what}: pk");
    (private, public)
}

#[test]
fn suite_vectors_are_reproduced_by_the_hpke_crate() {
    let (mut encryptions, mut exports) = (0, 0);
    for v in vectors().vectors {
        let src = v.source.as_str();
        assert_eq!(
            (v.mode, v.kem_id, v.kdf_id, v.aead_id),
            (0, 0x11, 0x02, 0x02),
            "{src}"
        );
        let info = unhex(&v.info);
        let (sk_r, pk_r) = derive_and_check(&v.ikmR, &v.skRm, &v.pkRm, src);
        let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&unhex(&v.enc)).expect("enc");
        let mut receiver =
            hpke::setup_receiver::<AesGcm256, HkdfSha384, Kem>(&OpModeR::Base, &sk_r, &enc, &info)
                .expect("setup_receiver");

        let Some(ikm_e) = &v.ikmE else {
            // Recipient's side only (the ephemeral key was random): open in order from 0.
            for (seq, e) in (0..).zip(&v.encryptions) {
                assert_eq!(e.seq, seq, "{src}: consecutive sequence numbers");
                let pt = receiver.open(&unhex(&e.ct), &unhex(&e.aad)).expect("open");
                assert_eq!(hex::encode(pt), e.pt, "{src}: seq {seq}");
                encryptions += 1;
            }
            continue;
        };

        let (sk_e, pk_e) = (v.skEm.as_deref(), v.pkEm.as_deref());
        derive_and_check(ikm_e, sk_e.expect("skEm"), pk_e.expect("pkEm"), src);
        let (sent_enc, mut sender) = hpke::setup_sender::<AesGcm256, HkdfSha384, Kem, _>(
            &OpModeS::Base,
            &pk_r,
            &info,
            &mut FixedIkm(Some(unhex(ikm_e))),
        )
        .expect("setup_sender");
        assert_eq!(hex::encode(sent_enc.to_bytes()), v.enc, "{src}: enc");

        // Both contexts walk every sequence number up to the last one in the vector;
        // numbers the vector skips are spent on an empty message.
        let last = v
            .encryptions
            .iter()
            .map(|e| e.seq)
            .max()
            .expect("encryptions");
        for seq in 0..=last {
            let Some(e) = v.encryptions.iter().find(|e| e.seq == seq) else {
                let filler = sender.seal(b"", b"").expect("seal");
                receiver.open(&filler, b"").expect("open");
                continue;
            };
            let (pt, aad) = (unhex(&e.pt), unhex(&e.aad));
            let ct = sender.seal(&pt, &aad).expect("seal");
            assert_eq!(hex::encode(&ct), e.ct, "{src}: ciphertext at seq {seq}");
            assert_eq!(
                receiver.open(&ct, &aad).expect("open"),
                pt,
                "{src}: seq {seq}"
            );
            encryptions += 1;
        }
        for x in &v.exports {
            let context = unhex(&x.exporter_context);
            let (mut from_sender, mut from_receiver) = (vec![0; x.len], vec![0; x.len]);
            sender.export(&context, &mut from_sender).expect("export");
            receiver
                .export(&context, &mut from_receiver)
                .expect("export");
            assert_eq!(hex::encode(&from_sender), x.exported_value, "{src}: export");
            assert_eq!(from_receiver, from_sender, "{src}: export");
            exports += 1;
        }
    }
    assert!(encryptions >= 7, "only {encryptions} encryptions checked");
    assert!(exports >= 3, "only {exports} exports checked");
}

#[test]
fn release_vectors_open_through_the_api() {
    let mut opened = 0;
    for v in vectors().release {
        let src = v.source.as_str();
        let key_id: [u8; 16] = unhex(&v.key_id).try_into().expect("16-byte key id");
        let guest = Measurement::from_bytes(unhex(&v.guest).try_into().expect("48 bytes"));
        let nonce = unhex(&v.nonce);
        let info = ReleaseInfo::new(&key_id, &guest, &nonce).expect("valid nonce");
        assert_eq!(hex::encode(info.info_bytes()), v.info, "{src}: info layout");

        derive_and_check(&v.ikmR, &v.skRm, &v.pkRm, src);
        let sk: [u8; 48] = unhex(&v.skRm).try_into().expect("48-byte skRm");
        let recipient = RecipientKey::from_bytes(&sk).expect("skRm");
        assert_eq!(hex::encode(recipient.public_key_sec1()), v.pkRm, "{src}");

        let sealed = Sealed {
            encapsulated_key: unhex(&v.enc),
            ciphertext: unhex(&v.ct),
        };
        let pt = open(&recipient, &info, &unhex(&v.aad), &sealed).expect("opens");
        assert_eq!(hex::encode(pt.expose()), v.pt, "{src}");
        opened += 1;
    }
    assert!(opened >= 2, "only {opened} release messages checked");
}

/// A recipient, a release bound to it, and a message sealed under that release.
struct Fixture {
    recipient: RecipientKey,
    key_id: [u8; 16],
    guest: Measurement,
    nonce: Vec<u8>,
    sealed: Sealed,
}

const AAD: &[u8] = b"key=3f8a version=2";
const DATA_KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

impl Fixture {
    fn new() -> Self {
        let recipient = RecipientKey::generate().expect("OS random");
        let (key_id, guest, nonce) = ([0x5a; 16], Measurement::of(b"guest"), b"n0nce".to_vec());
        let info = ReleaseInfo::new(&key_id, &guest, &nonce).expect("valid");
        let sealed = seal(&recipient.public_key_sec1(), &info, AAD, DATA_KEY).expect("seals");
        Self {
            recipient,
            key_id,
            guest,
            nonce,
            sealed,
        }
    }

    fn info(&self) -> ReleaseInfo<'_> {
        ReleaseInfo::new(&self.key_id, &self.guest, &self.nonce).expect("valid")
    }

    /// Opens `sealed` with the fixture's key, info and aad.
    fn open(&self, sealed: &Sealed) -> Result<Vec<u8>, HpkeError> {
        open(&self.recipient, &self.info(), AAD, sealed).map(|pt| pt.expose().to_vec())
    }
}

#[test]
fn round_trip_through_the_api() {
    let f = Fixture::new();
    assert_eq!(f.sealed.encapsulated_key.len(), 97);
    assert_eq!(f.sealed.encapsulated_key[0], 0x04);
    assert_eq!(f.sealed.ciphertext.len(), DATA_KEY.len() + TAG_LEN);
    assert_eq!(f.open(&f.sealed).expect("opens"), DATA_KEY);

    // A fresh ephemeral key each time.
    let again = seal(&f.recipient.public_key_sec1(), &f.info(), AAD, DATA_KEY).expect("seals");
    assert_ne!(again.encapsulated_key, f.sealed.encapsulated_key);
    assert_ne!(again.ciphertext, f.sealed.ciphertext);

    // Empty plaintext, aad and nonce are valid inputs.
    let guest = Measurement::of(b"");
    let info = ReleaseInfo::new(&[0; 16], &guest, b"").expect("empty nonce");
    let empty = seal(&f.recipient.public_key_sec1(), &info, b"", b"").expect("seals");
    assert_eq!(empty.ciphertext.len(), TAG_LEN);
    let opened = open(&f.recipient, &info, b"", &empty).expect("opens");
    assert!(opened.is_empty());
}

#[test]
fn a_different_key_info_or_aad_fails_opaquely() {
    let f = Fixture::new();
    let other_key = RecipientKey::generate().expect("OS random");
    let other_guest = Measurement::of(b"another guest");
    let info = f.info();
    let infos = [
        ("key id", ReleaseInfo::new(&[0x5b; 16], &f.guest, &f.nonce)),
        ("guest", ReleaseInfo::new(&f.key_id, &other_guest, &f.nonce)),
        ("nonce", ReleaseInfo::new(&f.key_id, &f.guest, b"n0nce!")),
    ];
    for (what, other) in infos {
        let result = open(&f.recipient, &other.expect("valid"), AAD, &f.sealed);
        assert!(matches!(result, Err(HpkeError::DecryptionFailed)), "{what}");
    }
    let result = open(&other_key, &info, AAD, &f.sealed);
    assert!(
        matches!(result, Err(HpkeError::DecryptionFailed)),
        "recipient key"
    );
    let result = open(&f.recipient, &info, b"key=3f8a version=3", &f.sealed);
    assert!(matches!(result, Err(HpkeError::DecryptionFailed)), "aad");
    let result = open(&f.recipient, &info, b"", &f.sealed);
    assert!(
        matches!(result, Err(HpkeError::DecryptionFailed)),
        "empty aad"
    );
    assert_eq!(HpkeError::DecryptionFailed.to_string(), "decryption failed");
}

#[test]
fn a_tampered_or_truncated_ciphertext_is_refused() {
    let f = Fixture::new();
    let len = f.sealed.ciphertext.len();
    for i in [0, len / 2, len - TAG_LEN, len - 1] {
        let mut sealed = f.sealed.clone();
        sealed.ciphertext[i] ^= 0x01;
        assert!(
            matches!(f.open(&sealed), Err(HpkeError::DecryptionFailed)),
            "byte {i} flipped"
        );
    }
    for keep in [len - 1, TAG_LEN] {
        let mut sealed = f.sealed.clone();
        sealed.ciphertext.truncate(keep);
        assert!(
            matches!(f.open(&sealed), Err(HpkeError::DecryptionFailed)),
            "{keep} bytes"
        );
    }
    for keep in [TAG_LEN - 1, 0] {
        let mut sealed = f.sealed.clone();
        sealed.ciphertext.truncate(keep);
        assert!(
            matches!(f.open(&sealed), Err(HpkeError::CiphertextTooShort { len }) if len == keep),
            "{keep} bytes"
        );
    }
}

#[test]
fn a_tampered_or_truncated_encapsulated_key_is_refused() {
    let f = Fixture::new();
    let with_enc = |encapsulated_key: Vec<u8>| Sealed {
        encapsulated_key,
        ciphertext: f.sealed.ciphertext.clone(),
    };
    let enc = &f.sealed.encapsulated_key;

    // A valid point, but not the one sealed with.
    let other = RecipientKey::generate()
        .expect("OS random")
        .public_key_sec1();
    let result = f.open(&with_enc(other.to_vec()));
    assert!(matches!(result, Err(HpkeError::DecryptionFailed)));

    let mut off_curve = enc.clone();
    off_curve[96] ^= 0x01;
    let cases = [
        (off_curve, PointError::NotOnCurve),
        (enc[..96].to_vec(), PointError::Length { found: 96 }),
        (
            [enc.as_slice(), &[0]].concat(),
            PointError::Length { found: 98 },
        ),
        (Vec::new(), PointError::Length { found: 0 }),
        (
            [&[0x05], &enc[1..]].concat(),
            PointError::NotUncompressed { tag: 0x05 },
        ),
    ];
    for (bytes, expected) in cases {
        let result = f.open(&with_enc(bytes));
        assert!(
            matches!(&result, Err(HpkeError::MalformedEncapsulatedKey(e)) if *e == expected),
            "{expected:?}: {result:?}"
        );
    }
}

#[test]
fn a_malformed_public_key_is_refused_with_what_is_wrong() {
    let guest = Measurement::of(b"guest");
    let info = ReleaseInfo::new(&[1; 16], &guest, b"nonce").expect("valid");
    let good = RecipientKey::generate()
        .expect("OS random")
        .public_key_sec1();
    let mut off_curve = good;
    off_curve[50] ^= 0x80;
    let compressed = [&[0x02 | (good[96] & 1)], &good[1..49]].concat();
    let cases: [(Vec<u8>, PointError); 7] = [
        (good[..96].to_vec(), PointError::Length { found: 96 }),
        (compressed, PointError::Length { found: 49 }),
        (vec![0x00], PointError::Length { found: 1 }),
        (Vec::new(), PointError::Length { found: 0 }),
        (
            [&[0x06], &good[1..]].concat(),
            PointError::NotUncompressed { tag: 0x06 },
        ),
        (off_curve.to_vec(), PointError::NotOnCurve),
        ([&[0x04], &[0xff; 96][..]].concat(), PointError::NotOnCurve),
    ];
    for (bytes, expected) in cases {
        let result = seal(&bytes, &info, b"", b"secret");
        assert!(
            matches!(&result, Err(HpkeError::MalformedPublicKey(e)) if *e == expected),
            "{expected:?}: {result:?}"
        );
    }
    let message = seal(&good[..96], &info, b"", b"").unwrap_err().to_string();
    assert_eq!(
        message,
        "malformed recipient public key: expected a 97-byte uncompressed P-384 point, found 96 bytes"
    );
}

#[test]
fn private_keys_are_checked_and_never_printed() {
    // P-384's group order n: n is refused, n - 1 is the largest key.
    let order = "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973";
    let n: [u8; 48] = unhex(order).try_into().expect("48 bytes");
    let mut n_minus_1 = n;
    n_minus_1[47] -= 1;
    for bad in [[0u8; 48], n, [0xff; 48]] {
        assert!(matches!(
            RecipientKey::from_bytes(&bad),
            Err(HpkeError::MalformedPrivateKey)
        ));
    }
    let largest = RecipientKey::from_bytes(&n_minus_1).expect("n - 1 is a key");
    assert_eq!(format!("{largest:?}"), "RecipientKey { .. }");
    let generated = RecipientKey::generate().expect("OS random");
    assert_eq!(format!("{generated:?}"), "RecipientKey { .. }");
}
