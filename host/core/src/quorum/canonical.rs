//! The canonical bytes officers sign (the format is in the [module docs](super)), and the
//! way back from a stored row to a [`PendingOperation`], checked against them.

use serde_json::Value;
use sha2::{Digest as _, Sha384};

use super::{Approval, PendingOperation};
use crate::audit::HASH_LEN;
use crate::store::{StoreError, StoredOperation};

/// The line that starts the canonical bytes (domain separation: an approval signature
/// cannot be mistaken for a signature over anything else).
pub const APPROVAL_DOMAIN: &[u8] = b"kastell-approval-v1\n";

/// The canonical bytes of `op`: what officers sign (the format is in the
/// [module docs](super)).
#[must_use]
pub fn canonical_bytes(op: &PendingOperation) -> Vec<u8> {
    let signed = serde_json::json!({
        "action": op.action,
        "class": op.class.as_str(),
        "created_ms": op.created_ms,
        "expires_ms": op.expires_ms,
        "id": op.id,
        "requester": op.requester,
    });
    let mut out = APPROVAL_DOMAIN.to_vec();
    out.extend_from_slice(&canonical_json(&signed));
    out
}

/// SHA-384 of [`canonical_bytes`].
#[must_use]
pub fn digest(op: &PendingOperation) -> [u8; HASH_LEN] {
    digest_of(&canonical_bytes(op))
}

/// SHA-384 of canonical bytes as a server sent them: an approving officer checks them
/// against the operation's digest before signing.
#[must_use]
pub fn digest_of(canonical: &[u8]) -> [u8; HASH_LEN] {
    Sha384::digest(canonical).into()
}

/// The canonical encoding of any JSON value (the rules are in the [module docs](super)).
#[must_use]
pub(super) fn canonical_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        // Integers print in decimal; fractions are refused before anything is signed.
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(members) => {
            // Sorted here, whatever order the map keeps (serde_json's `preserve_order`).
            let mut members: Vec<_> = members.iter().collect();
            members.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (name, member)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, name);
                out.push(b':');
                write_value(out, member);
            }
            out.push(b'}');
        }
    }
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if u32::from(c) < 0x20 => {
                let b = u8::try_from(u32::from(c)).unwrap_or(0);
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
            c => {
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// The serial (lowercase hex) of the certificate `der`, if it decodes.
pub(super) fn certificate_serial(der: &[u8]) -> Option<String> {
    kastell_attest::x509::decode_canonical::<kastell_attest::x509::Certificate>(der)
        .ok()
        .map(|certificate| crate::clients::serial_of(&certificate))
}

/// The operation a stored row holds, read from its canonical bytes and checked against
/// its columns and digest: a row edited in the database without re-signing is corrupt.
pub(super) fn from_stored(stored: StoredOperation) -> Result<PendingOperation, StoreError> {
    let row = stored.row;
    let corrupt = |what: &str| StoreError::Corrupt(format!("pending operation {}: {what}", row.id));
    let json = row
        .canonical
        .strip_prefix(APPROVAL_DOMAIN)
        .ok_or_else(|| corrupt("canonical bytes lack the approval domain"))?;
    let signed: Value =
        serde_json::from_slice(json).map_err(|_| corrupt("canonical bytes are not JSON"))?;
    let action = signed
        .get("action")
        .cloned()
        .ok_or_else(|| corrupt("no action"))?;
    let action = serde_json::from_value(action)
        .map_err(|e| corrupt(&format!("not an action this server knows: {e}")))?;
    let op = PendingOperation {
        id: row.id.clone(),
        class: row.class,
        action,
        requester: row.requester.clone(),
        created_ms: row.created_ms,
        expires_ms: row.expires_ms,
        state: row.state,
        outcome: row.outcome.clone(),
        digest: hex::encode(row.digest),
        approvals: stored
            .approvals
            .into_iter()
            .map(|a| {
                Ok(Approval {
                    serial: certificate_serial(&a.certificate)
                        .ok_or_else(|| corrupt("an approval's certificate does not decode"))?,
                    officer: a.officer,
                    at_ms: a.at_ms,
                })
            })
            .collect::<Result<_, StoreError>>()?,
    };
    if canonical_bytes(&op) != row.canonical {
        return Err(corrupt("canonical bytes do not match its columns"));
    }
    let actual: [u8; HASH_LEN] = Sha384::digest(&row.canonical).into();
    if actual != row.digest {
        return Err(corrupt("digest does not match its canonical bytes"));
    }
    Ok(op)
}
