#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]
//! The workload's side of key release (`kastell_guest::release`, feature `release`) against
//! the key service's (`kastell_attest::hpke`): the same `info` bytes, boxes sealed by the
//! one open with the other, each failure is an error and none a panic, and the release
//! known answers of `attest/tests/data` (see its `README.md` for their sources) open.
//! Then the release AAD's bytes, and records (the key service's ciphertext format, built
//! here with `aes-gcm` from the format's description) decrypted with a released key.

use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use kastell_attest::Measurement;
use kastell_attest::hpke as attest;
use kastell_guest::release::{
    MAX_NONCE_LEN, MaterialKind, POINT_LEN, PointError, RECORD_HEADER_LEN, RecipientKey, Record,
    RecordHeader, ReleaseError, ReleaseInfo, TAG_LEN, decrypt_record, release_aad,
};

/// The key service's vector file, read where `kastell-attest` keeps it.
const VECTORS: &str = include_str!("../../attest/tests/data/hpke-p384-sha384-aes256gcm.json");

/// A message sealed to a Kastell release `info`, with its recipient's private key.
#[derive(serde::Deserialize)]
#[allow(non_snake_case, reason = "the field names of the CFRG files")]
struct ReleaseVector {
    source: String,
    key_id: String,
    guest: String,
    nonce: String,
    info: String,
    skRm: String,
    pkRm: String,
    aad: String,
    enc: String,
    ct: String,
    pt: String,
}

#[derive(serde::Deserialize)]
struct VectorFile {
    release: Vec<ReleaseVector>,
}

fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text).expect("hex in the vector file")
}

const KEY_ID: [u8; 16] = [0x5a; 16];
const GUEST: [u8; 48] = [0x3c; 48];
const NONCE: &[u8] = b"n0nce";
const AAD: &[u8] = b"key=3f8a version=2";
const DATA_KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

/// A guest key made from `fill` bytes, as a workload makes one from the host's `random`.
fn guest_key(fill: u8) -> RecipientKey {
    RecipientKey::from_bytes(&[fill; 48]).expect("a scalar below the group order")
}

/// Seals `plaintext` the way the key service does, to `public_key`, bound to the values.
fn seal_to(
    public_key: &[u8],
    key_id: &[u8; 16],
    guest: &[u8; 48],
    nonce: &[u8],
    plaintext: &[u8],
) -> attest::Sealed {
    let guest = Measurement::from_bytes(*guest);
    let info = attest::ReleaseInfo::new(key_id, &guest, nonce).expect("valid nonce");
    attest::seal(public_key, &info, AAD, plaintext).expect("seals")
}

/// Opens `sealed` with `key`, bound to the fixture's values.
fn open(key: &RecipientKey, sealed: &attest::Sealed) -> Result<Vec<u8>, ReleaseError> {
    let info = ReleaseInfo::new(&KEY_ID, &GUEST, NONCE).expect("valid nonce");
    key.open(&info, AAD, &sealed.encapsulated_key, &sealed.ciphertext)
        .map(|pt| pt.expose().to_vec())
}

/// Asserts that opening failed with the one opaque error, saying which case failed.
fn assert_fails_opaquely(result: &Result<Vec<u8>, ReleaseError>, what: &str) {
    assert!(
        matches!(result, Err(ReleaseError::DecryptionFailed)),
        "{what}: {result:?}"
    );
}

#[test]
fn info_bytes_equal_the_key_services() {
    let long = [0xab; MAX_NONCE_LEN];
    let cases: [(&[u8; 16], &[u8; 48], &[u8]); 5] = [
        (&KEY_ID, &GUEST, NONCE),
        (&[0; 16], &[0; 48], b""),
        (&[0xff; 16], &[0x01; 48], b"\x00"),
        (&KEY_ID, &GUEST, &long),
        (&[1; 16], &[2; 48], &long[..MAX_NONCE_LEN - 1]),
    ];
    for (key_id, guest, nonce) in cases {
        let ours = ReleaseInfo::new(key_id, guest, nonce).expect("valid nonce");
        let measurement = Measurement::from_bytes(*guest);
        let theirs = attest::ReleaseInfo::new(key_id, &measurement, nonce).expect("valid");
        assert_eq!(
            ours.info_bytes(),
            theirs.info_bytes(),
            "nonce of {}",
            nonce.len()
        );
        assert_eq!(ours.info_bytes().len(), 94 + nonce.len());
    }
}

#[test]
fn a_nonce_over_the_limit_is_refused_as_by_the_key_service() {
    let nonce = [0u8; MAX_NONCE_LEN + 1];
    assert!(matches!(
        ReleaseInfo::new(&KEY_ID, &GUEST, &nonce),
        Err(ReleaseError::NonceTooLong { len: 513 })
    ));
    let guest = Measurement::from_bytes(GUEST);
    assert!(attest::ReleaseInfo::new(&KEY_ID, &guest, &nonce).is_err());
}

#[test]
fn a_box_sealed_by_the_key_service_opens_in_the_guest() {
    let key = guest_key(0x42);
    let public_key = key.public_key_sec1();
    assert_eq!(public_key.len(), POINT_LEN);
    assert_eq!(public_key[0], 0x04);

    let sealed = seal_to(&public_key, &KEY_ID, &GUEST, NONCE, DATA_KEY);
    assert_eq!(open(&key, &sealed).expect("opens"), DATA_KEY);

    // The key service's own recipient key, made of the same bytes, agrees on the public key.
    let theirs = attest::RecipientKey::from_bytes(&[0x42; 48]).expect("valid scalar");
    assert_eq!(theirs.public_key_sec1(), public_key);

    // Empty plaintext and nonce are valid.
    let empty = seal_to(&public_key, &KEY_ID, &GUEST, b"", b"");
    let info = ReleaseInfo::new(&KEY_ID, &GUEST, b"").expect("empty nonce");
    let opened = key
        .open(&info, AAD, &empty.encapsulated_key, &empty.ciphertext)
        .expect("opens");
    assert!(opened.is_empty());
}

#[test]
fn another_key_id_guest_nonce_or_aad_fails_opaquely() {
    let key = guest_key(0x42);
    let public_key = key.public_key_sec1();
    let sealed_with = [
        (
            "key id",
            seal_to(&public_key, &[0x5b; 16], &GUEST, NONCE, DATA_KEY),
        ),
        (
            "guest",
            seal_to(&public_key, &KEY_ID, &[0x3d; 48], NONCE, DATA_KEY),
        ),
        (
            "nonce",
            seal_to(&public_key, &KEY_ID, &GUEST, b"n0nce!", DATA_KEY),
        ),
        (
            "empty nonce",
            seal_to(&public_key, &KEY_ID, &GUEST, b"", DATA_KEY),
        ),
    ];
    for (what, sealed) in sealed_with {
        assert_fails_opaquely(&open(&key, &sealed), what);
    }

    let sealed = seal_to(&public_key, &KEY_ID, &GUEST, NONCE, DATA_KEY);
    let info = ReleaseInfo::new(&KEY_ID, &GUEST, NONCE).expect("valid nonce");
    let (enc, ct) = (&sealed.encapsulated_key, &sealed.ciphertext);
    let result = key.open(&info, b"key=3f8a version=3", enc, ct);
    assert_fails_opaquely(&result.map(|pt| pt.expose().to_vec()), "aad");
    assert_eq!(
        ReleaseError::DecryptionFailed.to_string(),
        "decryption failed"
    );
}

#[test]
fn another_recipients_key_fails_opaquely() {
    let (ours, another_guests) = (guest_key(0x42), guest_key(0x43));
    let sealed = seal_to(&ours.public_key_sec1(), &KEY_ID, &GUEST, NONCE, DATA_KEY);
    assert_fails_opaquely(&open(&another_guests, &sealed), "another guest key");

    let other = attest::RecipientKey::generate().expect("OS random");
    let sealed = seal_to(&other.public_key_sec1(), &KEY_ID, &GUEST, NONCE, DATA_KEY);
    assert_fails_opaquely(&open(&ours, &sealed), "a random recipient's key");
}

#[test]
fn a_flipped_or_truncated_ciphertext_is_refused() {
    let key = guest_key(0x42);
    let sealed = seal_to(&key.public_key_sec1(), &KEY_ID, &GUEST, NONCE, DATA_KEY);
    let len = sealed.ciphertext.len();
    assert_eq!(len, DATA_KEY.len() + TAG_LEN);
    for i in [0, len / 2, len - TAG_LEN, len - 1] {
        let mut tampered = sealed.clone();
        tampered.ciphertext[i] ^= 0x01;
        assert_fails_opaquely(&open(&key, &tampered), &format!("byte {i} flipped"));
    }
    for keep in [len - 1, TAG_LEN] {
        let mut truncated = sealed.clone();
        truncated.ciphertext.truncate(keep);
        assert_fails_opaquely(&open(&key, &truncated), &format!("{keep} bytes"));
    }
    for keep in [TAG_LEN - 1, 0] {
        let mut truncated = sealed.clone();
        truncated.ciphertext.truncate(keep);
        let result = open(&key, &truncated);
        assert!(
            matches!(result, Err(ReleaseError::CiphertextTooShort { len }) if len == keep),
            "{keep} bytes: {result:?}"
        );
    }
}

#[test]
fn a_malformed_encapsulated_key_is_refused_with_what_is_wrong() {
    let key = guest_key(0x42);
    let sealed = seal_to(&key.public_key_sec1(), &KEY_ID, &GUEST, NONCE, DATA_KEY);
    let enc = &sealed.encapsulated_key;
    let with_enc = |encapsulated_key: Vec<u8>| attest::Sealed {
        encapsulated_key,
        ciphertext: sealed.ciphertext.clone(),
    };

    // A valid point, but not the one sealed with.
    let another_point = guest_key(7).public_key_sec1().to_vec();
    assert_fails_opaquely(&open(&key, &with_enc(another_point)), "another point");

    let mut off_curve = enc.clone();
    off_curve[96] ^= 0x01;
    let compressed = [&[0x02 | (enc[96] & 1)], &enc[1..49]].concat();
    let cases = [
        (off_curve, PointError::NotOnCurve),
        ([&[0x04], &[0xff; 96][..]].concat(), PointError::NotOnCurve),
        ([&[0x04], &[0x00; 96][..]].concat(), PointError::NotOnCurve),
        (enc[..96].to_vec(), PointError::Length { found: 96 }),
        (enc[..1].to_vec(), PointError::Length { found: 1 }),
        (
            [enc.as_slice(), &[0]].concat(),
            PointError::Length { found: 98 },
        ),
        (compressed, PointError::Length { found: 49 }),
        (Vec::new(), PointError::Length { found: 0 }),
        (
            [&[0x05], &enc[1..]].concat(),
            PointError::NotUncompressed { tag: 0x05 },
        ),
    ];
    for (bytes, expected) in cases {
        let result = open(&key, &with_enc(bytes));
        assert!(
            matches!(&result, Err(ReleaseError::MalformedEncapsulatedKey(e)) if *e == expected),
            "{expected:?}: {result:?}"
        );
    }
}

#[test]
fn private_keys_are_validated_and_never_printed() {
    for len in [0, 32, 47, 49, 66] {
        let result = RecipientKey::from_bytes(&vec![0x42; len]);
        assert!(
            matches!(result, Err(ReleaseError::PrivateKeyLength { found }) if found == len),
            "{len} bytes"
        );
    }
    // Zero, the group order n, and 2^384 - 1 are not scalars in [1, n - 1]; n - 1 is.
    let n = unhex(concat!(
        "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf",
        "581a0db248b0a77aecec196accc52973"
    ));
    let mut n_minus_1 = n.clone();
    n_minus_1[47] -= 1;
    for bad in [vec![0; 48], n, vec![0xff; 48]] {
        assert!(matches!(
            RecipientKey::from_bytes(&bad),
            Err(ReleaseError::MalformedPrivateKey)
        ));
    }
    let key = RecipientKey::from_bytes(&n_minus_1).expect("n - 1 is a valid scalar");
    assert_eq!(format!("{key:?}"), "RecipientKey { .. }");
    assert_eq!(
        ReleaseError::PrivateKeyLength { found: 47 }.to_string(),
        "a P-384 private key is made of 48 secret bytes, found 47"
    );
}

#[test]
fn the_key_services_release_vectors_open_in_the_guest() {
    let file: VectorFile = serde_json::from_str(VECTORS).expect("the vector file parses");
    let mut opened = 0;
    for v in file.release {
        let src = v.source.as_str();
        let key_id: [u8; 16] = unhex(&v.key_id).try_into().expect("16-byte key id");
        let guest: [u8; 48] = unhex(&v.guest).try_into().expect("48-byte guest");
        let nonce = unhex(&v.nonce);
        let info = ReleaseInfo::new(&key_id, &guest, &nonce).expect("valid nonce");
        assert_eq!(hex::encode(info.info_bytes()), v.info, "{src}: info layout");

        let key = RecipientKey::from_bytes(&unhex(&v.skRm)).expect("skRm");
        assert_eq!(hex::encode(key.public_key_sec1()), v.pkRm, "{src}: pkRm");
        let pt = key
            .open(&info, &unhex(&v.aad), &unhex(&v.enc), &unhex(&v.ct))
            .expect("opens");
        assert_eq!(hex::encode(pt.expose()), v.pt, "{src}: pt");

        let result = key.open(&info, b"another aad", &unhex(&v.enc), &unhex(&v.ct));
        assert_fails_opaquely(&result.map(|pt| pt.expose().to_vec()), src);
        opened += 1;
    }
    assert!(opened >= 2, "only {opened} release vectors opened");
}

#[test]
fn the_release_aad_is_kind_then_version_big_endian() {
    assert_eq!(release_aad(MaterialKind::Key, 3), [0x01, 0, 0, 0, 3]);
    assert_eq!(
        release_aad(MaterialKind::DataKey, 0x0102_0304),
        [0x02, 0x01, 0x02, 0x03, 0x04]
    );
    assert_eq!(
        release_aad(MaterialKind::Key, u32::MAX),
        [0x01, 0xff, 0xff, 0xff, 0xff]
    );
    // The same bytes as the key service seals with.
    for version in [0, 1, 3, 0x0102_0304, u32::MAX] {
        assert_eq!(
            release_aad(MaterialKind::Key, version),
            attest::release_aad(attest::MaterialKind::Key, version)
        );
        assert_eq!(
            release_aad(MaterialKind::DataKey, version),
            attest::release_aad(attest::MaterialKind::DataKey, version)
        );
    }
}

/// The released AES-256 key of the record tests, its id and version.
const RECORD_KEY: [u8; 32] = [0x11; 32];
const RECORD_KEY_ID: [u8; 16] = [
    0x0f, 0x8e, 0x6a, 0x3c, 0x1b, 0x2d, 0x4e, 0x5f, 0x8a, 0x9b, 0x0c, 0x1d, 0x2e, 0x3f, 0x4a, 0x5b,
];
const RECORD_VERSION: u32 = 3;
const RECORD_PLAINTEXT: &[u8] = b"patient 7: blood type AB-";

fn pairs(entries: &[(&str, &str)]) -> Vec<(String, String)> {
    entries
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

/// Encrypts as the key service's `encrypt` does, written out from the format's description:
/// `01 ‖ key id ‖ version (u32 BE) ‖ nonce ‖ ciphertext ‖ tag`, AAD the 21-byte header
/// without the nonce then the canonical context, here given as its encoded bytes.
fn encrypt_record(
    key_id: &[u8; 16],
    version: u32,
    context_bytes: &[u8],
    plaintext: &[u8],
) -> Vec<u8> {
    let nonce = [0x07; 12];
    let mut aad = vec![0x01];
    aad.extend_from_slice(key_id);
    aad.extend_from_slice(&version.to_be_bytes());
    aad.extend_from_slice(context_bytes);
    let cipher = Aes256Gcm::new_from_slice(&RECORD_KEY).expect("32-byte key");
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .expect("encrypts");
    [&aad[..21], &nonce, &sealed].concat()
}

/// The canonical encoding of `{"record": "7", "tenant": "acme"}`, byte for byte: the count,
/// then each entry in name order as length-prefixed name and value (u32 BE lengths).
fn two_entry_context_bytes() -> Vec<u8> {
    let mut out = vec![0, 0, 0, 2];
    for part in ["record", "7", "tenant", "acme"] {
        let len = u32::try_from(part.len()).expect("short");
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out
}

/// A record under the fixture's key, version 3, encrypted with `tenant=acme, record=7`.
fn fixture_record() -> Vec<u8> {
    encrypt_record(
        &RECORD_KEY_ID,
        RECORD_VERSION,
        &two_entry_context_bytes(),
        RECORD_PLAINTEXT,
    )
}

/// The fixture's context, given out of name order.
fn fixture_context() -> Vec<(String, String)> {
    pairs(&[("tenant", "acme"), ("record", "7")])
}

fn decrypt(record: &[u8], context: &[(String, String)]) -> Result<Record, ReleaseError> {
    decrypt_record(&RECORD_KEY, &RECORD_KEY_ID, record, context)
}

#[test]
fn a_record_decrypts_with_its_context_in_any_order() {
    let record = fixture_record();
    let header = RecordHeader::parse(&record).expect("header");
    assert_eq!(header.key_id, RECORD_KEY_ID);
    assert_eq!(header.key_version, RECORD_VERSION);

    for context in [
        fixture_context(),
        pairs(&[("record", "7"), ("tenant", "acme")]),
    ] {
        let opened = decrypt(&record, &context).expect("decrypts");
        assert_eq!(opened.key_version, RECORD_VERSION);
        assert_eq!(opened.plaintext.expose(), RECORD_PLAINTEXT);
        assert_eq!(format!("{opened:?}"), "Record { key_version: 3, .. }");
    }

    // The smallest record: empty plaintext, empty context (encoded as a zero count).
    let empty = encrypt_record(&RECORD_KEY_ID, 1, &[0, 0, 0, 0], b"");
    assert_eq!(empty.len(), RECORD_HEADER_LEN + TAG_LEN);
    let opened = decrypt(&empty, &[]).expect("decrypts");
    assert!(opened.plaintext.is_empty());
    assert_eq!(opened.key_version, 1);
}

#[test]
fn a_released_key_decrypts_its_records() {
    // The key service releases version 3 of the key, sealed with the release AAD.
    let recipient = guest_key(0x42);
    let guest = Measurement::from_bytes(GUEST);
    let info = attest::ReleaseInfo::new(&RECORD_KEY_ID, &guest, NONCE).expect("valid nonce");
    let aad = release_aad(MaterialKind::Key, RECORD_VERSION);
    let sealed =
        attest::seal(&recipient.public_key_sec1(), &info, &aad, &RECORD_KEY).expect("seals");

    let info = ReleaseInfo::new(&RECORD_KEY_ID, &GUEST, NONCE).expect("valid nonce");
    let (enc, ct) = (&sealed.encapsulated_key, &sealed.ciphertext);
    let key = recipient.open(&info, &aad, enc, ct).expect("opens");
    let opened = decrypt_record(
        key.expose(),
        &RECORD_KEY_ID,
        &fixture_record(),
        &fixture_context(),
    )
    .expect("decrypts");
    assert_eq!(opened.plaintext.expose(), RECORD_PLAINTEXT);

    // Opened as another version or as a data key, the release fails.
    for wrong in [
        release_aad(MaterialKind::Key, RECORD_VERSION + 1),
        release_aad(MaterialKind::DataKey, RECORD_VERSION),
    ] {
        let result = recipient
            .open(&info, &wrong, enc, ct)
            .map(|pt| pt.expose().to_vec());
        assert_fails_opaquely(&result, &format!("aad {wrong:02x?}"));
    }
}

/// Asserts that decrypting a record failed with the one opaque error.
fn assert_record_fails_opaquely(result: &Result<Record, ReleaseError>, what: &str) {
    assert!(
        matches!(result, Err(ReleaseError::DecryptionFailed)),
        "{what}: {result:?}"
    );
}

#[test]
fn a_tampered_record_fails_opaquely() {
    let record = fixture_record();
    // The version, nonce, ciphertext and tag (a changed key id is refused by name, below).
    let len = record.len();
    for i in [17, 20, 21, 32, 33, len / 2 + 10, len - TAG_LEN, len - 1] {
        let mut tampered = record.clone();
        tampered[i] ^= 0x01;
        assert_record_fails_opaquely(
            &decrypt(&tampered, &fixture_context()),
            &format!("byte {i}"),
        );
    }
    let mut longer = record.clone();
    longer.push(0);
    assert_record_fails_opaquely(&decrypt(&longer, &fixture_context()), "a byte appended");
    let shorter = &record[..len - 1];
    assert_record_fails_opaquely(&decrypt(shorter, &fixture_context()), "a byte removed");
    let other_key = [0x12; 32];
    let result = decrypt_record(&other_key, &RECORD_KEY_ID, &record, &fixture_context());
    assert_record_fails_opaquely(&result, "another key's material");
}

#[test]
fn a_record_under_another_context_fails_opaquely() {
    let record = fixture_record();
    let contexts = [
        (
            "another value",
            pairs(&[("tenant", "globex"), ("record", "7")]),
        ),
        ("an entry missing", pairs(&[("tenant", "acme")])),
        (
            "an entry more",
            pairs(&[("tenant", "acme"), ("record", "7"), ("x", "")]),
        ),
        ("no context", Vec::new()),
        (
            "names swapped",
            pairs(&[("tenant", "7"), ("record", "acme")]),
        ),
        // "ab" + "c" must not read as "a" + "bc".
        ("shifted", pairs(&[("tenant", "acme"), ("recor", "d7")])),
    ];
    for (what, context) in contexts {
        assert_record_fails_opaquely(&decrypt(&record, &context), what);
    }
}

#[test]
fn a_duplicate_context_name_is_refused() {
    let context = pairs(&[("tenant", "acme"), ("record", "7"), ("tenant", "acme")]);
    let result = decrypt(&fixture_record(), &context);
    assert!(
        matches!(&result, Err(ReleaseError::DuplicateContextName { name }) if name == "tenant"),
        "{result:?}"
    );
}

#[test]
fn a_record_of_another_key_is_refused_naming_it() {
    let other_id = [0xee; 16];
    let record = encrypt_record(&other_id, RECORD_VERSION, &two_entry_context_bytes(), b"x");
    let result = decrypt(&record, &fixture_context());
    assert!(
        matches!(result, Err(ReleaseError::RecordKeyMismatch { found }) if found == other_id),
        "{result:?}"
    );
    assert_eq!(
        ReleaseError::RecordKeyMismatch { found: other_id }.to_string(),
        "the record was encrypted under key eeeeeeee-eeee-eeee-eeee-eeeeeeeeeeee, not the released key"
    );
}

#[test]
fn a_truncated_record_is_refused_with_its_length() {
    let record = fixture_record();
    for keep in [RECORD_HEADER_LEN + TAG_LEN - 1, RECORD_HEADER_LEN, 1, 0] {
        let result = decrypt(&record[..keep], &fixture_context());
        assert!(
            matches!(result, Err(ReleaseError::RecordTooShort { len }) if len == keep),
            "{keep} bytes: {result:?}"
        );
    }
}

#[test]
fn an_unknown_record_format_is_refused() {
    for format in [0x00, 0x02, 0xff] {
        let mut record = fixture_record();
        record[0] = format;
        let result = decrypt(&record, &fixture_context());
        assert!(
            matches!(result, Err(ReleaseError::UnknownRecordFormat { format: f }) if f == format),
            "{format:#04x}: {result:?}"
        );
    }
}

#[test]
fn a_key_of_the_wrong_length_is_refused() {
    let record = fixture_record();
    for len in [0, 16, 31, 33, 64] {
        let result = decrypt_record(&vec![0x11; len], &RECORD_KEY_ID, &record, &[]);
        assert!(
            matches!(result, Err(ReleaseError::KeyLength { found }) if found == len),
            "{len} bytes: {result:?}"
        );
    }
}
