//! Files the host writes: one way to write a file atomically and privately, one way to
//! create a private folder, one way to tell a file others may change. Every file Kastell
//! writes goes through [`write_atomic`] (or, for a file a library writes, starts as
//! [`create_private_file`]), every folder it makes through [`create_private_dir`].

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

/// Creates `path` empty and readable by its owner only (mode 0600) when missing, for a
/// file another library writes (SQLite creates its files under the process umask,
/// typically 0644, and gives its WAL and shared-memory files the database's mode). An
/// existing file is left as it is.
///
/// # Errors
/// The file system's.
pub fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(file) => file.sync_all(),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(err),
    }
}

/// The mode of `path` when its group or others may write it (mode & 0o022); `None` when
/// only its owner may, or when it does not exist. Follows symbolic links: what counts is
/// the file or folder a path leads to. Always `None` where there are no Unix modes.
///
/// # Errors
/// The file system's, but for a missing file.
pub fn writable_by_others(path: &Path) -> std::io::Result<Option<u32>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        match std::fs::metadata(path) {
            Ok(metadata) => {
                let mode = metadata.permissions().mode() & 0o7777;
                Ok((mode & 0o022 != 0).then_some(mode))
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(None)
    }
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

    #[cfg(unix)]
    #[test]
    fn folders_are_private_and_others_writing_is_told() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let made = dir.path().join("a/b");
        create_private_dir(&made).expect("create");
        for folder in [dir.path().join("a"), made.clone()] {
            let mode = std::fs::metadata(&folder)
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700, "{} {mode:o}", folder.display());
            assert_eq!(writable_by_others(&folder).expect("mode"), None);
        }
        for (mode, told) in [
            (0o777, Some(0o777)),
            (0o775, Some(0o775)),
            (0o757, Some(0o757)),
            (0o755, None),
        ] {
            std::fs::set_permissions(&made, std::fs::Permissions::from_mode(mode)).expect("chmod");
            assert_eq!(writable_by_others(&made).expect("mode"), told, "{mode:o}");
        }
        assert_eq!(
            writable_by_others(&dir.path().join("missing")).expect("missing"),
            None
        );
    }

    #[test]
    fn a_path_without_a_file_name_is_refused() {
        let err = write_atomic(Path::new("/"), b"x").expect_err("no file name");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    }
}
