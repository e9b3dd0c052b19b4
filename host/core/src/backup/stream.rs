//! The content's encryption: STREAM (Hoang, Reyhanitabar, Rogaway, Vizár 2015) over
//! AES-256-GCM, as the `aead` crate's `StreamBE32` builds it: each chunk's nonce is the
//! file's 7-byte prefix, the chunk's 32-bit position and a flag set on the last chunk
//! only, and each chunk's associated data is the file's header. A chunk moved, dropped,
//! repeated or altered fails to authenticate; a file cut at a chunk boundary is caught
//! because its new last chunk was sealed as not last.

use std::io::{Read, Write};

use aead::stream::{NewStream as _, StreamBE32, StreamPrimitive as _};
use aes_gcm::{Aes256Gcm, KeyInit as _};
use zeroize::Zeroizing;

use super::BackupError;
use super::format::{CHUNK_SIZE, HEADER_LEN, NONCE_PREFIX_LEN};
use crate::secret::SecretBytes;

const TAG_LEN: usize = 16;

fn chunk_len() -> usize {
    usize::try_from(CHUNK_SIZE).unwrap_or(usize::MAX)
}

fn primitive(
    key: &SecretBytes,
    prefix: &[u8; NONCE_PREFIX_LEN],
) -> Result<StreamBE32<Aes256Gcm>, BackupError> {
    let aead = Aes256Gcm::new_from_slice(key.expose())
        .map_err(|_| BackupError::Malformed("content key is not 32 bytes".into()))?;
    Ok(StreamBE32::from_aead(aead, prefix.into()))
}

/// Encrypts what is written into chunks on `inner`; [`Sealing::finish`] seals the last.
pub(super) struct Sealing<W: Write> {
    inner: W,
    stream: StreamBE32<Aes256Gcm>,
    aad: [u8; HEADER_LEN],
    /// Plaintext of the chunk being filled (then its ciphertext, in place).
    buffer: Zeroizing<Vec<u8>>,
    position: u32,
}

impl<W: Write> Sealing<W> {
    /// Writes the stream's parameters to `inner` and starts the first chunk.
    pub(super) fn start(
        mut inner: W,
        key: &SecretBytes,
        prefix: &[u8; NONCE_PREFIX_LEN],
        header: &[u8; HEADER_LEN],
    ) -> std::io::Result<Self> {
        inner.write_all(prefix)?;
        inner.write_all(&CHUNK_SIZE.to_be_bytes())?;
        let stream = primitive(key, prefix).map_err(std::io::Error::other)?;
        Ok(Self {
            inner,
            stream,
            aad: *header,
            // Room for the tag, so sealing in place never moves the plaintext.
            buffer: Zeroizing::new(Vec::with_capacity(chunk_len() + TAG_LEN)),
            position: 0,
        })
    }

    fn seal_chunk(&mut self, last: bool) -> std::io::Result<()> {
        self.stream
            .encrypt_in_place(self.position, last, &self.aad, &mut *self.buffer)
            .map_err(|_| std::io::Error::other("AES-GCM refused a chunk"))?;
        let len = u32::try_from(self.buffer.len()).map_err(std::io::Error::other)?;
        self.inner.write_all(&len.to_be_bytes())?;
        self.inner.write_all(&self.buffer)?;
        self.buffer.clear();
        self.position = self
            .position
            .checked_add(1)
            .ok_or_else(|| std::io::Error::other("backup content exceeds 2^32 chunks"))?;
        Ok(())
    }

    /// Seals what remains as the last chunk and returns the inner writer.
    pub(super) fn finish(mut self) -> std::io::Result<W> {
        self.seal_chunk(true)?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for Sealing<W> {
    fn write(&mut self, mut buf: &[u8]) -> std::io::Result<usize> {
        let written = buf.len();
        while !buf.is_empty() {
            // A full chunk is sealed only once more follows: the last one is `finish`'s.
            if self.buffer.len() == chunk_len() {
                self.seal_chunk(false)?;
            }
            let take = buf.len().min(chunk_len() - self.buffer.len());
            self.buffer.extend_from_slice(&buf[..take]);
            buf = &buf[take..];
        }
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Decrypts the chunks of a stream of `len` bytes (parameters included) from `inner`.
pub(super) struct Opening<R: Read> {
    inner: R,
    stream: StreamBE32<Aes256Gcm>,
    aad: [u8; HEADER_LEN],
    /// Stream bytes not yet read.
    remaining: u64,
    position: u32,
    plaintext: Zeroizing<Vec<u8>>,
    offset: usize,
    done: bool,
}

impl<R: Read> Opening<R> {
    /// Reads the stream's parameters from `inner`.
    pub(super) fn start(
        mut inner: R,
        len: u64,
        key: &SecretBytes,
        header: &[u8; HEADER_LEN],
    ) -> Result<Self, BackupError> {
        let params = super::format::read_exact(&mut inner, NONCE_PREFIX_LEN + 4, "the stream")?;
        let prefix: [u8; NONCE_PREFIX_LEN] = params[..NONCE_PREFIX_LEN]
            .try_into()
            .map_err(|_| BackupError::Malformed("nonce prefix".into()))?;
        let chunk_size = u32::from_be_bytes([params[7], params[8], params[9], params[10]]);
        if chunk_size != CHUNK_SIZE {
            return Err(BackupError::Malformed(format!(
                "chunk size {chunk_size} (this format uses {CHUNK_SIZE})"
            )));
        }
        Ok(Self {
            inner,
            stream: primitive(key, &prefix)?,
            aad: *header,
            remaining: len.saturating_sub(11),
            position: 0,
            plaintext: Zeroizing::new(Vec::with_capacity(chunk_len() + TAG_LEN)),
            offset: 0,
            done: false,
        })
    }

    /// Reads and opens the next chunk into `plaintext`.
    fn next_chunk(&mut self) -> Result<(), BackupError> {
        let chunk = self.position;
        if self.remaining < 4 {
            return Err(BackupError::Truncated(format!(
                "the content ends before chunk {chunk}, and the chunk before it was not the last"
            )));
        }
        let len = super::format::read_exact(&mut self.inner, 4, "a chunk")?;
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]);
        if !(16..=CHUNK_SIZE + 16).contains(&len) || u64::from(len) > self.remaining - 4 {
            return Err(BackupError::Truncated(format!(
                "chunk {chunk} claims {len} bytes, more than the file holds or a chunk may"
            )));
        }
        self.remaining -= 4 + u64::from(len);
        let last = self.remaining == 0;
        let ciphertext = super::format::read_exact(
            &mut self.inner,
            usize::try_from(len).unwrap_or(0),
            "a chunk",
        )?;
        self.plaintext.clear();
        self.plaintext.extend_from_slice(&ciphertext);
        if self
            .stream
            .decrypt_in_place(chunk, last, &self.aad, &mut *self.plaintext)
            .is_err()
        {
            // The file's last chunk opening as a middle one: the rest was cut off.
            let mut middle = Zeroizing::new(ciphertext);
            let cut = last
                && self
                    .stream
                    .decrypt_in_place(chunk, false, &self.aad, &mut *middle)
                    .is_ok();
            return Err(if cut {
                BackupError::Truncated(format!(
                    "the content ends after chunk {chunk}, which was not its last"
                ))
            } else {
                BackupError::Tampered(format!(
                    "chunk {chunk} does not authenticate under the content key"
                ))
            });
        }
        self.position = self.position.saturating_add(1);
        self.offset = 0;
        self.done = last;
        Ok(())
    }

    /// Plaintext bytes into `out`; 0 once the last chunk is read.
    fn read_plain(&mut self, out: &mut [u8]) -> Result<usize, BackupError> {
        while self.offset == self.plaintext.len() {
            if self.done {
                return Ok(0);
            }
            self.next_chunk()?;
        }
        let n = out.len().min(self.plaintext.len() - self.offset);
        out[..n].copy_from_slice(&self.plaintext[self.offset..self.offset + n]);
        self.offset += n;
        Ok(n)
    }
}

impl<R: Read> Read for Opening<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        self.read_plain(out).map_err(std::io::Error::other)
    }
}

/// The [`BackupError`] an [`Opening`] reader failed with, or the I/O error on `what`.
pub(super) fn unwrap_error(err: std::io::Error, what: &std::path::Path) -> BackupError {
    super::format::carried(err).unwrap_or_else(|e| super::io(what)(e))
}
