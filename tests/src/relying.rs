//! The relying party's side of an attested release, outside any workload: a P-384 key of
//! its own, certified by the host CA for a guest measurement (`kastell attest issue`, as
//! an enclave's attestation would be), and the HPKE open of a release sealed to it,
//! exactly as `kastell_attest::hpke` documents it.

use kastell_attest::Measurement;
use kastell_attest::hpke::{self, MaterialKind, RecipientKey, ReleaseInfo, Sealed};
use kastell_proto::secret::SecretBytes;
use p384::pkcs8::EncodePublicKey as _;
use serde_json::{Value, json};

use crate::server::{Result, TestServer, fail};
use crate::vault::{b64, unb64};

/// A fresh recipient key and its attestation certificate, issued by `server`'s host CA
/// (`kastell attest issue`) for the guest measured `guest`, the challenge `nonce` and a
/// validity of `seconds`: `{"certificate", "chain"}` (DER, base64), as a release takes them.
///
/// # Errors
/// When the key, the file or the command fails.
pub fn attested_key(
    server: &TestServer,
    guest: &str,
    nonce: &[u8],
    seconds: u64,
) -> Result<(RecipientKey, Value)> {
    let recipient = RecipientKey::generate().map_err(|e| fail(format!("key: {e}")))?;
    let public = p384::PublicKey::from_sec1_bytes(&recipient.public_key_sec1())
        .map_err(|e| fail(format!("point: {e}")))?;
    let pem = public
        .to_public_key_pem(p384::pkcs8::LineEnding::LF)
        .map_err(|e| fail(format!("pem: {e}")))?;
    let pem_path = server.deployment().data_dir().join("recipient.pem");
    std::fs::write(&pem_path, pem).map_err(|e| fail(format!("write: {e}")))?;
    let config = server.deployment().config().display().to_string();
    let issued = server.deployment().run(&[
        "attest".into(),
        "issue".into(),
        "--guest-hash".into(),
        guest.into(),
        "--nonce".into(),
        hex::encode(nonce),
        "--public-key".into(),
        pem_path.display().to_string(),
        "--chain".into(),
        "--seconds".into(),
        seconds.to_string(),
        "--config".into(),
        config,
    ])?;
    let certificates = kastell_attest::x509::parse_certificates(issued.as_bytes())
        .map_err(|e| fail(format!("certificates: {e}")))?;
    let der = certificates
        .iter()
        .map(|c| c.to_der_bytes().map(|der| b64(&der)))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| fail(format!("der: {e}")))?;
    let (leaf, chain) = der
        .split_first()
        .ok_or_else(|| fail("`attest issue` printed no certificate"))?;
    Ok((recipient, json!({"certificate": leaf, "chain": chain})))
}

/// Opens the release answer `release` with `recipient`: the `info` rebuilt from its key id,
/// the guest and the nonce, the AAD from `kind` and its key version.
///
/// # Errors
/// When a field is missing or malformed, or the box does not open.
pub fn open_release(
    recipient: &RecipientKey,
    release: &Value,
    guest: &Measurement,
    nonce: &[u8],
    kind: MaterialKind,
) -> Result<SecretBytes> {
    let key_id = uuid_bytes(
        release["key_id"]
            .as_str()
            .ok_or_else(|| fail(format!("no key_id in {release}")))?,
    )?;
    let info = ReleaseInfo::new(&key_id, guest, nonce).map_err(|e| fail(e.to_string()))?;
    let version = release["key_version"]
        .as_u64()
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| fail(format!("no key_version in {release}")))?;
    let sealed = Sealed {
        encapsulated_key: unb64(&release["encapsulated_key"])?,
        ciphertext: unb64(&release["ciphertext"])?,
    };
    hpke::open(recipient, &info, &hpke::release_aad(kind, version), &sealed)
        .map_err(|e| fail(format!("the release does not open: {e}")))
}

/// The 16 bytes of a hyphenated UUID (a key id).
///
/// # Errors
/// When `text` is not one.
pub fn uuid_bytes(text: &str) -> Result<[u8; 16]> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    let mut out = [0u8; 16];
    hex::decode_to_slice(&hex, &mut out).map_err(|e| fail(format!("key id {text}: {e}")))?;
    Ok(out)
}
