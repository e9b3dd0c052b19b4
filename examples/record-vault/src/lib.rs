//! record-vault: decrypts records that were encrypted through the ordinary key API, with
//! the key's material released to this workload by attestation.
//!
//! A workload instance lives for one invocation, so the release takes two: `attest` makes
//! an ephemeral P-384 key and has the host attest its public key; the relying party asks
//! the key service for a release against that evidence; `decrypt` opens the release and
//! decrypts the records. Between the two, the ephemeral private key travels with the
//! caller *sealed* (as in enclaves) under the `state_key`, a host key whose policy lets only
//! this workload's measurement encrypt and decrypt (`allow-measured`).
//!
//! The protocol: JSON in, JSON out; bytes are base64 (standard alphabet, with padding).
//! Every error is one line of at most 1024 bytes returned as `Err`, naming the field or
//! step that failed, e.g. "malformed decrypt request: field \`records[1].ciphertext\`:
//! invalid base64 …", "open release: decryption failed" or "unseal state under …".
//!
//! ```text
//! {"step":"ping"}
//!   → {"pong":true,"variant":"original"}
//!
//! {"step":"attest","nonce":B64,"state_key":"alias/…" or key id,"user_data":B64 (optional)}
//!   → {"certificate":B64 DER,"document":B64,"chain":[B64 DER,…],
//!      "public_key":B64 (SEC1, 97 bytes),"sealed_state":B64}
//!
//! {"step":"decrypt","state_key":…,"sealed_state":B64,"nonce":B64,
//!  "release":{"key_id":"<uuid>","key_version":N,"guest_sha384":"sha384:<hex>" or hex,
//!             "encapsulated_key":B64,"ciphertext":B64, other keys ignored},
//!  "records":[{"ciphertext":B64,"context":{"name":"value",…} (optional)},…]}
//!   → {"records":[{"plaintext":B64} or {"error":"…"},…],"variant":"original"}
//! ```
//!
//! The `nonce` of `decrypt` is the one the release was bound to (the relying party's, as
//! passed to `attest`). The release must carry an AES-256 key version (sealed with the AAD
//! `release_aad(MaterialKind::Key, key_version)`); each record must name that key and
//! version, or it gets an `error` of its own while the others are still decrypted.
//!
//! Built with the feature `modified`, `variant` reads `"modified"`: a different component,
//! with a different SHA-384, to which the key service must refuse to release.

mod decrypt;
mod protocol;
mod state;

use kastell_guest::export_workload;
use kastell_guest::workload::Workload;

use protocol::{Pong, Step, parse, to_json};

/// Which build this is: `"modified"` with the cargo feature `modified`, else `"original"`.
const VARIANT: &str = if cfg!(feature = "modified") {
    "modified"
} else {
    "original"
};

/// Longest error text the host accepts from a workload, in bytes (a longer one is a fault).
const MAX_ERROR: usize = 1024;

struct RecordVault;

impl Workload for RecordVault {
    fn run(input: Vec<u8>) -> Result<Vec<u8>, String> {
        dispatch(&input).map_err(one_line)
    }
}

fn dispatch(input: &[u8]) -> Result<Vec<u8>, String> {
    let Step { step } = parse(input, None)?;
    match step.as_str() {
        "ping" => to_json(&Pong {
            pong: true,
            variant: VARIANT,
        }),
        "attest" => to_json(&state::attest(parse(input, Some("attest"))?)?),
        "decrypt" => to_json(&decrypt::decrypt(parse(input, Some("decrypt"))?)?),
        other => Err(format!(
            "unknown step {other:?}: expected \"ping\", \"attest\" or \"decrypt\""
        )),
    }
}

/// The error as one line of at most [`MAX_ERROR`] bytes (cut at a character boundary).
fn one_line(error: String) -> String {
    let mut line = error.replace(['\n', '\r'], " ");
    if line.len() > MAX_ERROR {
        let mut end = MAX_ERROR - "…".len();
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        line.push('…');
    }
    line
}

export_workload!(RecordVault);
