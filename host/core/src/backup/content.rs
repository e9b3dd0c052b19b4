//! The sealed content: entries, each `tag (1) ‖ name length (2) ‖ name ‖ data length (8) ‖
//! data`, closed by an end entry. The store snapshot, the data directory's files a
//! deployment needs (configuration, CA certificates, stored components, the audit anchor)
//! and, with the soft token, its key table. Names are checked on restore: only the files
//! listed here are ever written, each inside the new data directory.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::BackupError;
use super::format::read_exact;
use crate::deployment::{AUDIT_ANCHOR_FILE, POLICIES_DIR, STORE_FILE, WORKLOADS_DIR};

/// The configuration file `kastell init` writes into the data directory.
pub(super) const CONFIG_FILE: &str = "kastell.toml";
/// Name of the soft token's key table entry.
pub(super) const TOKEN_KEYS: &str = "soft-token-keys";
/// Folders whose files a backup carries.
const FOLDERS: [&str; 3] = [crate::ca::CA_DIR, POLICIES_DIR, WORKLOADS_DIR];
/// Longest entry name.
const MAX_NAME: u16 = 1024;
/// Largest key table accepted on restore (a few hundred bytes per key).
pub(super) const MAX_TOKEN_KEYS: u64 = 64 << 20;

/// What an entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tag {
    /// The store snapshot (a SQLite database file).
    Store,
    /// A file of the data directory, by its relative name.
    File,
    /// The soft token's key table (its file format's entries).
    TokenKeys,
    /// The end of the content.
    End,
}

impl Tag {
    fn byte(self) -> u8 {
        match self {
            Self::Store => 1,
            Self::File => 2,
            Self::TokenKeys => 3,
            Self::End => 0xff,
        }
    }

    fn from_byte(byte: u8) -> Option<Self> {
        Some(match byte {
            1 => Self::Store,
            2 => Self::File,
            3 => Self::TokenKeys,
            0xff => Self::End,
            _ => return None,
        })
    }
}

/// An entry's tag, name and data length (its data follows).
#[derive(Debug)]
pub(super) struct Head {
    pub(super) tag: Tag,
    pub(super) name: String,
    pub(super) len: u64,
}

/// Writes an entry's head.
pub(super) fn put(out: &mut impl Write, tag: Tag, name: &str, len: u64) -> std::io::Result<()> {
    let name_len = u16::try_from(name.len())
        .ok()
        .filter(|n| *n <= MAX_NAME)
        .ok_or_else(|| std::io::Error::other(format!("entry name too long: {name}")))?;
    out.write_all(&[tag.byte()])?;
    out.write_all(&name_len.to_be_bytes())?;
    out.write_all(name.as_bytes())?;
    out.write_all(&len.to_be_bytes())
}

/// Reads the next entry's head.
pub(super) fn next(input: &mut impl Read) -> Result<Head, BackupError> {
    let what = "the content (no end entry)";
    let fixed = read_exact(input, 3, what)?;
    let tag = Tag::from_byte(fixed[0])
        .ok_or_else(|| BackupError::Malformed(format!("unknown entry tag {}", fixed[0])))?;
    let name_len = u16::from_be_bytes([fixed[1], fixed[2]]);
    if name_len > MAX_NAME {
        return Err(BackupError::Malformed(format!(
            "entry name of {name_len} bytes"
        )));
    }
    let name = String::from_utf8(read_exact(input, usize::from(name_len), what)?)
        .map_err(|_| BackupError::Malformed("an entry name is not UTF-8".into()))?;
    let len = read_exact(input, 8, what)?;
    let len = u64::from_be_bytes(len.try_into().unwrap_or([0xff; 8]));
    Ok(Head { tag, name, len })
}

/// The files of `data_dir` a backup carries, by relative name: the configuration file,
/// and the files in the CA, policies and workloads folders. (Not: the store, taken as a
/// snapshot; the soft token, carried as its key table; the audit anchor, made from the
/// snapshot; compiled artifacts, rebuilt; client profiles, which hold clients' keys.)
pub(super) fn data_files(data_dir: &Path) -> Result<Vec<(String, PathBuf)>, BackupError> {
    let mut out = Vec::new();
    let config = data_dir.join(CONFIG_FILE);
    if config.is_file() {
        out.push((CONFIG_FILE.to_owned(), config));
    }
    for folder in FOLDERS {
        let dir = data_dir.join(folder);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(super::io(&dir)(e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(super::io(&dir))?;
            let kind = entry.file_type().map_err(super::io(&entry.path()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if kind.is_file() && file_name_ok(&name) {
                names.push((format!("{folder}/{name}"), entry.path()));
            }
        }
        names.sort();
        out.extend(names);
    }
    Ok(out)
}

/// A plain file name: no separator, not hidden, not `.`/`..`.
fn file_name_ok(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && name.len() <= 255
}

/// Where the entry `name` is restored under `root`: only the names [`data_files`] and
/// the audit anchor give; anything else (an absolute path, `..`, another folder) is
/// refused by name.
pub(super) fn restored_path(root: &Path, name: &str) -> Result<PathBuf, BackupError> {
    let refuse =
        || BackupError::Malformed(format!("entry `{name}` is not a file a backup restores"));
    if name == CONFIG_FILE || name == AUDIT_ANCHOR_FILE {
        return Ok(root.join(name));
    }
    let (folder, file) = name.split_once('/').ok_or_else(refuse)?;
    if !FOLDERS.contains(&folder) || !file_name_ok(file) {
        return Err(refuse());
    }
    Ok(root.join(folder).join(file))
}

/// Where the store snapshot is restored under `root`.
pub(super) fn store_path(root: &Path) -> PathBuf {
    root.join(STORE_FILE)
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::expect_used,
        clippy::unwrap_used,
        reason = "a failed expectation is a failed test"
    )]

    use super::*;

    #[test]
    fn only_the_files_a_backup_carries_are_restored_and_inside_the_root() {
        let root = Path::new("/new");
        for ok in [
            "kastell.toml",
            "audit-anchor.jsonl",
            "ca/root.pem",
            "policies/ab.wasm",
        ] {
            assert!(restored_path(root, ok).unwrap().starts_with(root), "{ok}");
        }
        for bad in [
            "/etc/passwd",
            "../x",
            "ca/../../x",
            "ca/.hidden",
            "ca/",
            "compiled/x",
            "soft-token.kst",
            "kastell.db",
            "policies/a/b",
        ] {
            let err = restored_path(root, bad).unwrap_err();
            assert!(
                err.to_string().contains("not a file a backup restores"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn an_entry_head_round_trips_and_unknown_tags_are_named() {
        let mut out = Vec::new();
        put(&mut out, Tag::File, "ca/root.pem", 42).unwrap();
        let head = next(&mut out.as_slice()).unwrap();
        assert_eq!(
            (head.tag, head.name.as_str(), head.len),
            (Tag::File, "ca/root.pem", 42)
        );
        out[0] = 9;
        let err = next(&mut out.as_slice()).unwrap_err();
        assert!(err.to_string().contains("unknown entry tag 9"), "{err}");
    }
}
