//! The document's payload: the NSM attestation document map, written and read field by
//! field with each CBOR type and size checked.

use std::collections::BTreeMap;

use coset::cbor::value::Value;

use super::{DIGEST, FIELDS, MAX_CERTIFICATE, MAX_PUBLIC_KEY, PCR_GUEST, PCR_POLICY, PCR_RUNTIME};
use crate::claims::{MAX_NONCE, MAX_USER_DATA};
use crate::verify::{Check, VerifyError, fail};

/// The payload's fields, their CBOR types and sizes checked on reading.
pub(super) struct Payload {
    pub(super) module_id: String,
    pub(super) timestamp_ms: u64,
    pub(super) pcrs: BTreeMap<u8, [u8; 48]>,
    pub(super) certificate: Vec<u8>,
    pub(super) cabundle: Vec<Vec<u8>>,
    pub(super) public_key: Option<Vec<u8>>,
    pub(super) user_data: Option<Vec<u8>>,
    pub(super) nonce: Option<Vec<u8>>,
}

pub(super) fn bad<T>(detail: impl Into<String>) -> Result<T, VerifyError> {
    fail(Check::Document, detail)
}

/// What is wrong with undecodable CBOR, in words.
pub(super) fn cbor_error(err: &ciborium::de::Error<std::io::Error>) -> String {
    match err {
        ciborium::de::Error::Io(_) => "truncated (the input ends inside an item)".into(),
        ciborium::de::Error::Syntax(at) => format!("malformed at byte {at}"),
        ciborium::de::Error::Semantic(at, why) => match at {
            Some(at) => format!("invalid at byte {at}: {why}"),
            None => format!("invalid: {why}"),
        },
        ciborium::de::Error::RecursionLimitExceeded => "nested too deeply".into(),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Integer(_) => "an integer",
        Value::Bytes(_) => "a byte string",
        Value::Float(_) => "a float",
        Value::Text(_) => "a text string",
        Value::Bool(_) => "a boolean",
        Value::Null => "null",
        Value::Tag(..) => "a tagged value",
        Value::Array(_) => "an array",
        Value::Map(_) => "a map",
        _ => "an unknown CBOR item",
    }
}

fn bytes_in(value: Value, field: &str, min: usize, max: usize) -> Result<Vec<u8>, VerifyError> {
    let Value::Bytes(bytes) = value else {
        return bad(format!("`{field}` is {}, not a byte string", kind(&value)));
    };
    if bytes.len() < min || bytes.len() > max {
        let wanted = if min == max {
            min.to_string()
        } else {
            format!("{min} to {max}")
        };
        return bad(format!("`{field}` has {} bytes, not {wanted}", bytes.len()));
    }
    Ok(bytes)
}

fn optional(
    value: Value,
    field: &str,
    min: usize,
    max: usize,
) -> Result<Option<Vec<u8>>, VerifyError> {
    match value {
        Value::Null => Ok(None),
        value => bytes_in(value, field, min, max).map(Some),
    }
}

fn decode_pcrs(value: Value) -> Result<BTreeMap<u8, [u8; 48]>, VerifyError> {
    let Value::Map(entries) = value else {
        return bad(format!("`pcrs` is {}, not a map", kind(&value)));
    };
    let mut pcrs = BTreeMap::new();
    for (index, value) in entries {
        let Some(index) = index
            .as_integer()
            .and_then(|i| u8::try_from(i).ok())
            .filter(|i| *i < 32)
        else {
            return bad(format!(
                "a PCR index is {index:?}, not an integer from 0 to 31"
            ));
        };
        let bytes = bytes_in(value, &format!("pcrs[{index}]"), 48, 48)?;
        let mut pcr = [0; 48];
        pcr.copy_from_slice(&bytes);
        if pcrs.insert(index, pcr).is_some() {
            return bad(format!("PCR{index} appears twice"));
        }
    }
    for (index, what) in [
        (PCR_GUEST, "guest"),
        (PCR_RUNTIME, "runtime"),
        (PCR_POLICY, "policy"),
    ] {
        if !pcrs.contains_key(&index) {
            return bad(format!("`pcrs` lacks PCR{index} (the {what} measurement)"));
        }
    }
    Ok(pcrs)
}

impl Payload {
    /// The CBOR map, fields in the NSM's order, absent optional fields left out.
    ///
    /// # Errors
    /// The encoder's failure (a bug).
    pub(super) fn encode(&self) -> Result<Vec<u8>, String> {
        let text = |s: &str| Value::Text(s.to_owned());
        let pcrs = self
            .pcrs
            .iter()
            .map(|(i, p)| (Value::Integer((*i).into()), Value::Bytes(p.to_vec())))
            .collect();
        let mut map = vec![
            (text("module_id"), text(&self.module_id)),
            (text("digest"), text(DIGEST)),
            (text("timestamp"), Value::Integer(self.timestamp_ms.into())),
            (text("pcrs"), Value::Map(pcrs)),
            (text("certificate"), Value::Bytes(self.certificate.clone())),
            (
                text("cabundle"),
                Value::Array(self.cabundle.iter().cloned().map(Value::Bytes).collect()),
            ),
        ];
        for (name, value) in [
            ("public_key", &self.public_key),
            ("user_data", &self.user_data),
            ("nonce", &self.nonce),
        ] {
            if let Some(value) = value {
                map.push((text(name), Value::Bytes(value.clone())));
            }
        }
        let mut out = Vec::new();
        ciborium::ser::into_writer(&Value::Map(map), &mut out).map_err(|e| e.to_string())?;
        Ok(out)
    }

    /// Reads and checks the payload: a map of exactly the known fields, each of its type and
    /// size, no duplicates, PCR0 to PCR2 present.
    ///
    /// # Errors
    /// [`Check::Document`] naming the first wrong field.
    pub(super) fn decode(payload: &[u8]) -> Result<Self, VerifyError> {
        let mut rest = payload;
        let value: Value = ciborium::de::from_reader(&mut rest).map_err(|e| VerifyError {
            check: Check::Document,
            detail: format!("the payload is not CBOR: {}", cbor_error(&e)),
        })?;
        if !rest.is_empty() {
            return bad(format!("{} bytes follow the payload's map", rest.len()));
        }
        let Value::Map(entries) = value else {
            return bad(format!("the payload is {}, not a map", kind(&value)));
        };
        let mut fields: BTreeMap<&'static str, Value> = BTreeMap::new();
        for (key, value) in entries {
            let Some(name) = key.as_text().and_then(|k| FIELDS.iter().find(|f| **f == k)) else {
                return bad(format!("unexpected payload key {key:?}"));
            };
            if fields.insert(name, value).is_some() {
                return bad(format!("`{name}` appears twice"));
            }
        }
        let mut take = |name: &str| fields.remove(name).unwrap_or(Value::Null);
        let required = |name: &str, value: Value| match value {
            Value::Null => bad(format!("the required field `{name}` is missing or null")),
            value => Ok(value),
        };
        let module_id = match required("module_id", take("module_id"))? {
            Value::Text(t) if !t.is_empty() => t,
            Value::Text(_) => return bad("`module_id` is empty"),
            other => {
                return bad(format!(
                    "`module_id` is {}, not a text string",
                    kind(&other)
                ));
            }
        };
        match required("digest", take("digest"))? {
            Value::Text(t) if t == DIGEST => {}
            other => return bad(format!("`digest` is {other:?}, not \"{DIGEST}\"")),
        }
        let timestamp = required("timestamp", take("timestamp"))?;
        let Some(timestamp_ms) = timestamp
            .as_integer()
            .and_then(|i| u64::try_from(i).ok())
            .filter(|t| *t > 0)
        else {
            return bad(format!(
                "`timestamp` is {timestamp:?}, not a positive integer"
            ));
        };
        let pcrs = decode_pcrs(required("pcrs", take("pcrs"))?)?;
        let certificate = bytes_in(
            required("certificate", take("certificate"))?,
            "certificate",
            1,
            MAX_CERTIFICATE,
        )?;
        let cabundle = match required("cabundle", take("cabundle"))? {
            Value::Array(items) if !items.is_empty() => items
                .into_iter()
                .enumerate()
                .map(|(i, c)| bytes_in(c, &format!("cabundle[{i}]"), 1, MAX_CERTIFICATE))
                .collect::<Result<_, _>>()?,
            Value::Array(_) => return bad("`cabundle` is empty; it must hold at least the root"),
            other => return bad(format!("`cabundle` is {}, not an array", kind(&other))),
        };
        Ok(Payload {
            module_id,
            timestamp_ms,
            pcrs,
            certificate,
            cabundle,
            public_key: optional(take("public_key"), "public_key", 1, MAX_PUBLIC_KEY)?,
            user_data: optional(take("user_data"), "user_data", 0, MAX_USER_DATA)?,
            nonce: optional(take("nonce"), "nonce", 0, MAX_NONCE)?,
        })
    }
}
