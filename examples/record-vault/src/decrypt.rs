//! The `decrypt` step: unseal the ephemeral key, open the release, decrypt each record.

use kastell_guest::release::{
    KEY_LEN, MaterialKind, RecipientKey, RecordHeader, ReleaseInfo, SecretBytes, decrypt_record,
    parse_sha384, release_aad, uuid_bytes, uuid_text,
};

use crate::VARIANT;
use crate::protocol::{DecryptRequest, DecryptResponse, RecordIn, RecordOut, Release, b64};
use crate::state::unseal;

/// `decrypt`: the records' plaintexts, or per record why not.
///
/// # Errors
/// One line if the state cannot be unsealed or the release cannot be opened; a record
/// that cannot be decrypted is reported in its own entry instead.
pub fn decrypt(request: DecryptRequest) -> Result<DecryptResponse, String> {
    let recipient = unseal(&request.state_key, &request.sealed_state.0)?;
    let release = &request.release;
    let key_id = uuid_bytes(&release.key_id).map_err(|e| format!("release.key_id: {e}"))?;
    let key = open_release(&recipient, &key_id, release, &request.nonce.0)?;
    let records = request
        .records
        .iter()
        .enumerate()
        .map(
            |(i, record)| match decrypt_one(key.expose(), &key_id, release.key_version, record) {
                Ok(plaintext) => RecordOut::Plaintext {
                    plaintext: b64(plaintext.expose()),
                },
                Err(error) => RecordOut::Error {
                    error: format!("records[{i}]: {error}"),
                },
            },
        )
        .collect();
    Ok(DecryptResponse {
        records,
        variant: VARIANT,
    })
}

/// Opens the release: the key version's AES-256 material, sealed to `recipient` and bound
/// to the key id, this workload's measurement (as the key service saw it) and `nonce`.
fn open_release(
    recipient: &RecipientKey,
    key_id: &[u8; 16],
    release: &Release,
    nonce: &[u8],
) -> Result<SecretBytes, String> {
    let guest =
        parse_sha384(&release.guest_sha384).map_err(|e| format!("release.guest_sha384: {e}"))?;
    let info = ReleaseInfo::new(key_id, &guest, nonce).map_err(|e| format!("nonce: {e}"))?;
    let aad = release_aad(MaterialKind::Key, release.key_version);
    let key = recipient
        .open(
            &info,
            &aad,
            &release.encapsulated_key.0,
            &release.ciphertext.0,
        )
        .map_err(|e| format!("open release: {e}"))?;
    if key.len() != KEY_LEN {
        return Err(format!(
            "open release: the released material is {} bytes, not an AES-256 key",
            key.len()
        ));
    }
    Ok(key)
}

/// Decrypts one record, which must name the released key and version.
fn decrypt_one(
    key: &[u8],
    key_id: &[u8; 16],
    key_version: u32,
    record: &RecordIn,
) -> Result<SecretBytes, String> {
    let ciphertext = &record.ciphertext.0;
    let header = RecordHeader::parse(ciphertext).map_err(|e| e.to_string())?;
    if header.key_id != *key_id {
        return Err(format!(
            "encrypted under key {}, not the released key {}",
            uuid_text(&header.key_id),
            uuid_text(key_id)
        ));
    }
    if header.key_version != key_version {
        return Err(format!(
            "encrypted under key version {}, but version {key_version} was released",
            header.key_version
        ));
    }
    let context: Vec<(String, String)> = record
        .context
        .iter()
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    decrypt_record(key, key_id, ciphertext, &context)
        .map(|opened| opened.plaintext)
        .map_err(|e| e.to_string())
}
