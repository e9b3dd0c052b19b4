//! SHA-384 on the request path — audit record hashes, checkpoint digests, the digests of
//! sealed rows — through aws-lc-rs, whose SHA-512 assembly takes fewer instructions per
//! block than RustCrypto `sha2` (BENCHMARKS.md, "Issue 22: hashing and the audit record").
//! A message built from many small fields is serialised once into one buffer and hashed in
//! one call, instead of one hasher update per field. The bytes hashed, and so every digest,
//! are the same as before (`tests` compares both implementations).

use aws_lc_rs::digest;

/// Length of a SHA-384 digest.
pub const SHA384_LEN: usize = 48;

/// Room reserved for a message before its first field: an audit record with a reason of a
/// few dozen bytes fits without growing.
const TYPICAL: usize = 384;

/// SHA-384 of `message`.
#[must_use]
pub fn sha384(message: &[u8]) -> [u8; SHA384_LEN] {
    let mut out = [0u8; SHA384_LEN];
    out.copy_from_slice(digest::digest(&digest::SHA384, message).as_ref());
    out
}

/// SHA-384 of the concatenation of `parts`, for a few large parts (no copy into one buffer).
#[must_use]
pub fn sha384_concat(parts: &[&[u8]]) -> [u8; SHA384_LEN] {
    let mut context = digest::Context::new(&digest::SHA384);
    for part in parts {
        context.update(part);
    }
    let mut out = [0u8; SHA384_LEN];
    out.copy_from_slice(context.finish().as_ref());
    out
}

/// A message serialised field by field and hashed once by [`Sha384Message::finish`]: the
/// drop-in for a streaming hasher fed many small pieces.
#[derive(Debug, Clone)]
pub struct Sha384Message {
    bytes: Vec<u8>,
}

impl Default for Sha384Message {
    fn default() -> Self {
        Self::new()
    }
}

impl Sha384Message {
    /// An empty message.
    #[must_use]
    pub fn new() -> Self {
        Self {
            bytes: Vec::with_capacity(TYPICAL),
        }
    }

    /// Appends `bytes`.
    pub fn update(&mut self, bytes: impl AsRef<[u8]>) {
        self.bytes.extend_from_slice(bytes.as_ref());
    }

    /// Appends `bytes` prefixed with their length (8 bytes, big-endian): the framing of the
    /// audit trail's hashes.
    pub fn field(&mut self, bytes: &[u8]) {
        self.update(u64::try_from(bytes.len()).unwrap_or(u64::MAX).to_be_bytes());
        self.update(bytes);
    }

    /// SHA-384 of everything appended.
    #[must_use]
    pub fn finish(self) -> [u8; SHA384_LEN] {
        sha384(&self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest as _, Sha384};

    use super::*;

    #[test]
    fn the_digest_is_rustcrypto_sha384_for_every_length_around_the_block_size() {
        let data: Vec<u8> = (0..=600u32)
            .map(|i| u8::try_from(i % 251).unwrap())
            .collect();
        for len in [0, 1, 47, 48, 111, 112, 127, 128, 129, 255, 256, 257, 600] {
            let expected: [u8; 48] = Sha384::digest(&data[..len]).into();
            assert_eq!(sha384(&data[..len]), expected, "length {len}");
        }
    }

    #[test]
    fn a_message_built_in_pieces_hashes_as_the_streamed_pieces_did() {
        let mut streamed = Sha384::new();
        let mut built = Sha384Message::new();
        for piece in [&b"kastell"[..], b"", &[0u8; 200], b"x", &[7u8; 500]] {
            streamed.update(u64::try_from(piece.len()).unwrap().to_be_bytes());
            streamed.update(piece);
            built.field(piece);
        }
        let expected: [u8; 48] = streamed.finalize().into();
        assert_eq!(built.finish(), expected);
        let whole: [u8; 48] = Sha384::digest(b"seal row and seal").into();
        assert_eq!(sha384_concat(&[b"seal row", b" and ", b"seal"]), whole);
    }
}
