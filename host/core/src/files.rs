//! Files the host writes: one way to write a file atomically and privately, one way to
//! create a private folder. Every file Kastell writes goes through [`write_atomic`].

use std::io::Write as _;
use std::path::Path;

/// Creates `dir` (and missing parents) readable by its owner only (mode 0700), when
/// missing. An existing folder is left as it is.
///
/// # Errors
/// The file system's.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Writes `contents` to `path` atomically and privately:
/// - a temporary file of its own in the same folder (a random name, created exclusively,
///   so concurrent writers never share one),
/// - readable by its owner only (mode 0600) from its creation on,
/// - fsynced, renamed over `path`, and the folder fsynced so the rename survives a crash.
///
/// Readers see the old or the new contents, never a mix.
///
/// # Errors
/// The file system's; the temporary file is removed on failure.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"))?;
    let mut suffix = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut suffix);
    let tmp = path.with_file_name(format!(
        ".{}.{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        hex::encode(suffix)
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&tmp).and_then(|mut file| {
        file.write_all(contents)?;
        file.sync_all()
    });
    let renamed = written.and_then(|()| std::fs::rename(&tmp, path));
    if renamed.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return renamed;
    }
    match path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        Some(dir) => std::fs::File::open(dir).and_then(|dir| dir.sync_all()),
        None => std::fs::File::open(".").and_then(|dir| dir.sync_all()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_private_files_and_replaces_whole_contents() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secret.bin");
        write_atomic(&path, b"first version, longer").expect("write");
        write_atomic(&path, b"second").expect("rewrite");
        assert_eq!(std::fs::read(&path).expect("read"), b"second");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
        }
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }

    #[test]
    fn a_path_without_a_file_name_is_refused() {
        let err = write_atomic(Path::new("/"), b"x").expect_err("no file name");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    }
}
