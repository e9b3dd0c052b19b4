//! What the backup tests share: `kastell` run in a deployment's environment, escrow key
//! pairs as files, the clients' profiles carried to a restored host, a decryption through a
//! server, and the secrets of a soft token's table (for the key-leak scans).
//! Test helpers: they panic, naming what failed, instead of returning errors.

use std::path::{Path, PathBuf};

use p384::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};

use crate::server::{Deployment, TestServer};

/// A path as a command-line argument.
#[must_use]
pub fn arg(path: &Path) -> String {
    path.display().to_string()
}

/// `kastell args` in `deployment`'s environment: exit code, stdout, stderr.
///
/// # Panics
/// When `kastell` cannot be started.
#[must_use]
pub fn run(deployment: &Deployment, args: &[&str]) -> (i32, String, String) {
    let out = deployment
        .command()
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("kastell {args:?} did not start: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `kastell args` in `deployment`'s environment, which must succeed: its stdout.
///
/// # Panics
/// When the command fails (its output in the message).
pub fn ok(deployment: &Deployment, args: &[&str]) -> String {
    let (code, stdout, stderr) = run(deployment, args);
    assert_eq!(code, 0, "kastell {args:?}:\n{stdout}{stderr}");
    stdout
}

/// An escrow holder's P-384 key pair, as files in `dir`: `<name>.key` (PKCS#8 PEM) and
/// `<name>.pub` (SPKI PEM); (private, public).
///
/// # Panics
/// When the files cannot be written.
#[must_use]
pub fn escrow(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let secret = p384::SecretKey::random(&mut rand_core::OsRng);
    let key = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    let private_pem = secret
        .to_pkcs8_pem(LineEnding::LF)
        .unwrap_or_else(|e| panic!("escrow key as PKCS#8: {e}"));
    let public_pem = secret
        .public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap_or_else(|e| panic!("escrow key as SPKI: {e}"));
    for (path, text) in [(&key, private_pem.as_str()), (&public, public_pem.as_str())] {
        std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    (key, public)
}

/// Copies the clients' profiles (their own keys: never in a backup) from `from`'s data
/// directory to `to`'s, as each client keeps its profile when the host moves.
///
/// # Panics
/// When a profile cannot be read or written.
pub fn bring_profiles(from: &Deployment, to: &Deployment) {
    let copy_dir = |dir: &Path, into: &Path| -> std::io::Result<()> {
        std::fs::create_dir_all(into)?;
        for file in std::fs::read_dir(dir)? {
            let file = file?.path();
            if let Some(name) = file.file_name() {
                std::fs::copy(&file, into.join(name))?;
            }
        }
        Ok(())
    };
    let copy = || -> std::io::Result<()> {
        let target = to.data_dir().join("clients");
        for entry in std::fs::read_dir(from.data_dir().join("clients"))? {
            let dir = entry?.path();
            if let Some(name) = dir.file_name() {
                copy_dir(&dir, &target.join(name))?;
            }
        }
        Ok(())
    };
    copy().unwrap_or_else(|e| panic!("copying the clients' profiles: {e}"));
}

/// Decrypts `ciphertext` through `server` as the client of `profile`; the plaintext.
///
/// # Panics
/// When the decryption fails (its stderr in the message).
#[must_use]
pub fn decrypt(server: &TestServer, profile: &Path, ciphertext: &Path) -> Vec<u8> {
    let out = server
        .kastell(&[
            "key",
            "decrypt",
            "--in",
            &arg(ciphertext),
            "--profile",
            &arg(profile),
        ])
        .unwrap_or_else(|e| panic!("kastell key decrypt did not start: {e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Every (label, secret) of a soft token's table (`kind (1) ‖ label length (2, LE) ‖ label
/// ‖ secret length (2, LE) ‖ secret`).
///
/// # Panics
/// When the table is cut short or a label is not UTF-8.
#[must_use]
pub fn token_secrets(table: &[u8]) -> Vec<(String, Vec<u8>)> {
    fn take<'a>(rest: &mut &'a [u8], n: usize) -> &'a [u8] {
        assert!(rest.len() >= n, "the token table is cut short");
        let (head, tail) = rest.split_at(n);
        *rest = tail;
        head
    }
    fn length(rest: &mut &[u8]) -> usize {
        let bytes = take(rest, 2);
        usize::from(u16::from_le_bytes([bytes[0], bytes[1]]))
    }
    let mut out = Vec::new();
    let mut rest = table;
    while !rest.is_empty() {
        take(&mut rest, 1);
        let label_len = length(&mut rest);
        let label = String::from_utf8(take(&mut rest, label_len).to_vec())
            .unwrap_or_else(|e| panic!("a token label is not UTF-8: {e}"));
        let secret_len = length(&mut rest);
        out.push((label, take(&mut rest, secret_len).to_vec()));
    }
    out
}

/// Asserts that no 16-byte window of any named secret (every 8 bytes; the whole secret when
/// shorter), raw or in hex, appears in `file`: a key never appears, not even in part.
///
/// # Panics
/// When one does (naming the secret), or the file cannot be read.
pub fn assert_no_secret_in(file: &Path, secrets: &[(String, Vec<u8>)]) {
    let haystack = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    for (name, secret) in secrets {
        for window in secret.windows(16.min(secret.len())).step_by(8) {
            let hex = hex::encode(window).into_bytes();
            for needle in [window, hex.as_slice()] {
                assert!(
                    !haystack.windows(needle.len()).any(|w| w == needle),
                    "{name} appears in {}",
                    file.display()
                );
            }
        }
    }
}
