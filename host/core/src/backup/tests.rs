//! Unit tests of the file's pieces: the chunked encryption (round trip, a cut, a changed
//! chunk) and the header's version check.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation is a failed test"
)]

use std::io::{Read as _, Write as _};

use super::BackupError;
use super::format::{self, CHUNK_SIZE, HEADER_LEN};
use super::stream::{Opening, Sealing, unwrap_error};
use crate::secret::SecretBytes;

const PREFIX: [u8; 7] = [7; 7];

fn sealed(plaintext: &[u8]) -> (Vec<u8>, [u8; HEADER_LEN], SecretBytes) {
    let key = SecretBytes::from_slice(&[0x42; 32]);
    let header = format::header(&[9; 16]);
    let mut out = Vec::new();
    let mut sealing = Sealing::start(&mut out, &key, &PREFIX, &header).unwrap();
    sealing.write_all(plaintext).unwrap();
    sealing.finish().unwrap();
    (out, header, key)
}

fn opened(
    stream: &[u8],
    header: &[u8; HEADER_LEN],
    key: &SecretBytes,
) -> Result<Vec<u8>, BackupError> {
    let mut opening = Opening::start(stream, stream.len() as u64, key, header)?;
    let mut out = Vec::new();
    opening
        .read_to_end(&mut out)
        .map_err(|e| unwrap_error(e, std::path::Path::new("test")))?;
    Ok(out)
}

#[test]
fn content_of_any_length_round_trips_in_chunks() {
    let chunk = CHUNK_SIZE as usize;
    for len in [0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk] {
        let plaintext: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let (stream, header, key) = sealed(&plaintext);
        assert_eq!(opened(&stream, &header, &key).unwrap(), plaintext, "{len}");
    }
}

#[test]
fn a_stream_cut_at_a_chunk_boundary_is_named_truncated_and_a_changed_byte_tampered() {
    let chunk = CHUNK_SIZE as usize;
    let (stream, header, key) = sealed(&vec![1u8; 2 * chunk + 10]);
    // Parameters (11 bytes), then chunks of 4 + chunk + 16 bytes: keep the first two.
    let cut = &stream[..11 + 2 * (4 + chunk + 16)];
    let err = opened(cut, &header, &key).unwrap_err();
    assert!(matches!(err, BackupError::Truncated(_)), "{err}");
    assert!(err.to_string().contains("not its last"), "{err}");

    let mut changed = stream.clone();
    changed[11 + 4 + 100] ^= 1;
    let err = opened(&changed, &header, &key).unwrap_err();
    assert!(matches!(err, BackupError::Tampered(_)), "{err}");

    let other_header = format::header(&[8; 16]);
    let err = opened(&stream, &other_header, &key).unwrap_err();
    assert!(matches!(err, BackupError::Tampered(_)), "{err}");
}

#[test]
fn a_newer_format_is_refused_by_name_and_a_stranger_is_not_a_backup() {
    let mut header = format::header(&[1; 16]);
    header[9] = 2;
    let err = format::check_header("f", &header).unwrap_err();
    assert!(
        matches!(
            err,
            BackupError::NewerFormat {
                found: 2,
                supported: 1
            }
        ),
        "{err}"
    );
    let err = format::check_header("f", b"SQLite format 3\0").unwrap_err();
    assert!(matches!(err, BackupError::NotABackup(_)), "{err}");
}
