//! The `attest` step, and the sealed state that carries the ephemeral key to `decrypt`.
//!
//! The ephemeral private key is 48 random bytes from the host. It leaves the instance only
//! encrypted under the state key (`encrypt` with the context [`STATE_CONTEXT`]), whose
//! policy lets only this workload's measurement use it: a modified build cannot unseal it.

use kastell_guest::release::{PRIVATE_KEY_LEN, RecipientKey, ReleaseError, SecretBytes};
use kastell_guest::workload::{KeyHandle, attest as host_attest, random};

use crate::protocol::{AttestRequest, AttestResponse, b64};

/// The encryption context the private key is sealed under.
const STATE_CONTEXT: (&str, &str) = ("purpose", "record-vault-state");
/// How many times to draw when the bytes are not a valid P-384 scalar (each time with a
/// probability below 2⁻¹⁸⁹).
const KEY_DRAWS: usize = 4;

/// `attest`: makes an ephemeral key, has the host attest its public key, and seals it.
///
/// # Errors
/// One line naming the stage that failed: drawing the key, attesting, or sealing.
pub fn attest(request: AttestRequest) -> Result<AttestResponse, String> {
    let (secret, key) = fresh_key()?;
    let public_key = key.public_key_sec1();
    let user_data = request.user_data.map(|b| b.0).unwrap_or_default();
    let evidence = host_attest(&request.nonce.0, &public_key, &user_data)
        .map_err(|e| format!("attest: {e}"))?;
    let sealed_state = seal(&request.state_key, secret.expose())?;
    Ok(AttestResponse {
        certificate: b64(&evidence.certificate),
        document: b64(&evidence.document),
        chain: evidence.chain.iter().map(|der| b64(der)).collect(),
        public_key: b64(&public_key),
        sealed_state: b64(&sealed_state),
    })
}

/// Draws 48 bytes from the host's token until they make a P-384 key (at most
/// [`KEY_DRAWS`] times), returning them and the key.
fn fresh_key() -> Result<(SecretBytes, RecipientKey), String> {
    let len = u32::try_from(PRIVATE_KEY_LEN).map_err(|e| e.to_string())?;
    for _ in 0..KEY_DRAWS {
        let secret = SecretBytes::new(random(len).map_err(|e| format!("random: {e}"))?);
        match RecipientKey::from_bytes(secret.expose()) {
            Ok(key) => return Ok((secret, key)),
            Err(ReleaseError::MalformedPrivateKey) => {}
            Err(e) => return Err(format!("ephemeral key: {e}")),
        }
    }
    Err(format!(
        "ephemeral key: {KEY_DRAWS} draws of random bytes were not a P-384 scalar"
    ))
}

fn state_context() -> [(String, String); 1] {
    [(STATE_CONTEXT.0.to_owned(), STATE_CONTEXT.1.to_owned())]
}

/// Encrypts the private key's bytes under `state_key`.
fn seal(state_key: &str, secret: &[u8]) -> Result<Vec<u8>, String> {
    KeyHandle::open(state_key)
        .and_then(|key| key.encrypt(secret, &state_context()))
        .map_err(|e| format!("seal state under {state_key:?}: {e}"))
}

/// Decrypts sealed state made by [`attest`] back into the ephemeral key.
///
/// # Errors
/// One line: the state key refused or failed to decrypt, or the bytes are not a key.
pub fn unseal(state_key: &str, sealed: &[u8]) -> Result<RecipientKey, String> {
    let secret = KeyHandle::open(state_key)
        .and_then(|key| key.decrypt(sealed, &state_context()))
        .map(SecretBytes::new)
        .map_err(|e| format!("unseal state under {state_key:?}: {e}"))?;
    RecipientKey::from_bytes(secret.expose()).map_err(|e| format!("unseal state: {e}"))
}
