//! Opening the files an operator (or an attacker with write access to the state directory) can
//! point us at: the plan, the secret and CA files it names, and every state file.
//!
//! Each is opened without blocking (`O_NONBLOCK`: a FIFO with no writer, or no reader, cannot hang
//! the open), checked to be a regular file on the open descriptor itself (a link to `/dev/zero`,
//! a FIFO, a directory are refused by name), and read only up to a size limit (a 1 GiB file is
//! refused before it is read, and a file that grows while read stops at the limit). Everything
//! that reads a file a user can influence goes through here, so the rule is in one place.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The plan file: plans are a few kilobytes; a megabyte is far beyond any real one.
pub const MAX_PLAN_BYTES: u64 = 1024 * 1024;
/// A password or other secret read from a file.
pub const MAX_SECRET_BYTES: u64 = 64 * 1024;
/// A CA bundle (PEM): the system's whole bundle is about 200 KiB.
pub const MAX_CA_BYTES: u64 = 4 * 1024 * 1024;
/// A state file (control.json, move.json, engine/status.json, checkpoints, teardown.json).
pub const MAX_STATE_BYTES: u64 = 16 * 1024 * 1024;

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{path} does not exist")]
    NotFound { path: PathBuf },
    #[error("{path} is {kind}, not a regular file")]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("{path} is larger than {limit} bytes (the limit for {what})")]
    TooLarge { path: PathBuf, limit: u64, what: &'static str },
    #[error("cannot read {path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },
}

impl FileError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, FileError::NotFound { .. })
    }
}

/// What a file is, for a refusal that names it.
fn kind_of(file_type: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO (named pipe)"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

fn io_error(path: &Path, cause: std::io::Error) -> FileError {
    match cause.kind() {
        std::io::ErrorKind::NotFound => FileError::NotFound { path: path.to_path_buf() },
        _ => FileError::Io { path: path.to_path_buf(), cause },
    }
}

/// Opens `path` with `options` plus `O_NONBLOCK`, and refuses anything but a regular file.
///
/// The type is checked on the open descriptor, not on the path before opening, so a file swapped
/// between the check and the open cannot slip through. `O_NONBLOCK` changes nothing for a regular
/// file's reads and writes (they never block on Linux), and makes opening a FIFO return at once.
pub fn open_regular(path: &Path, options: &mut std::fs::OpenOptions) -> Result<File, FileError> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY).open(path).map_err(|cause| {
        // A FIFO opened for writing without a reader fails with ENXIO: say what it is.
        if cause.raw_os_error() == Some(libc::ENXIO)
            && let Ok(metadata) = std::fs::metadata(path)
        {
            return FileError::NotRegular { path: path.to_path_buf(), kind: kind_of(metadata.file_type()) };
        }
        io_error(path, cause)
    })?;
    let metadata = file.metadata().map_err(|cause| io_error(path, cause))?;
    if !metadata.file_type().is_file() {
        return Err(FileError::NotRegular { path: path.to_path_buf(), kind: kind_of(metadata.file_type()) });
    }
    Ok(file)
}

/// The whole content of the regular file `path`, refused when larger than `limit` bytes.
/// `what` names the kind of file in the refusal ("a plan", "a password file").
pub fn read_bounded(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>, FileError> {
    let file = open_regular(path, std::fs::OpenOptions::new().read(true))?;
    let too_large = || FileError::TooLarge { path: path.to_path_buf(), limit, what };
    let length = file.metadata().map_err(|cause| io_error(path, cause))?.len();
    if length > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(length as usize);
    // One byte over the limit tells a file that grew while being read from one exactly at it.
    file.take(limit + 1).read_to_end(&mut bytes).map_err(|cause| io_error(path, cause))?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// The plan: a regular file as [`read_text_bounded`], or a pipe (`-p <(envsubst < plan.tmpl)`,
/// `-p /dev/stdin`) read up to `limit`. A FIFO nobody writes to reads as empty at once (POSIX:
/// a read with no writer returns end of file), so it cannot hang either; devices are refused.
pub fn read_text_bounded_or_pipe(path: &Path, limit: u64, what: &'static str) -> Result<String, FileError> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|cause| io_error(path, cause))?;
    let file_type = file.metadata().map_err(|cause| io_error(path, cause))?.file_type();
    if !file_type.is_fifo() {
        drop(file);
        return read_text_bounded(path, limit, what);
    }
    // A pipe's writer may not have written yet: wait for it as any reader of a pipe does.
    use std::os::fd::AsRawFd;
    // SAFETY: fcntl on a descriptor we own, with flags it just returned.
    unsafe {
        let flags = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(|cause| io_error(path, cause))?;
    if bytes.len() as u64 > limit {
        return Err(FileError::TooLarge { path: path.to_path_buf(), limit, what });
    }
    String::from_utf8(bytes).map_err(|_| FileError::Io {
        path: path.to_path_buf(),
        cause: std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text"),
    })
}

/// [`read_bounded`] as UTF-8 text.
pub fn read_text_bounded(path: &Path, limit: u64, what: &'static str) -> Result<String, FileError> {
    let bytes = read_bounded(path, limit, what)?;
    String::from_utf8(bytes).map_err(|_| FileError::Io {
        path: path.to_path_buf(),
        cause: std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::OpenOptionsExt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    fn mkfifo(path: &Path) {
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo touches nothing else of ours.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    }

    #[test]
    fn unbounded_read_of_dev_zero_is_refused_by_type() {
        let error = read_bounded(Path::new("/dev/zero"), MAX_SECRET_BYTES, "a password file").unwrap_err();
        assert!(error.to_string().contains("is a character device, not a regular file"), "{error}");
    }

    #[test]
    fn blocking_read_of_a_fifo_without_writer_returns_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("control.json");
        mkfifo(&fifo);
        let started = Instant::now();
        let error = read_bounded(&fifo, MAX_STATE_BYTES, "a state file").unwrap_err();
        assert!(error.to_string().contains("FIFO"), "{error}");
        // Opening for writing (a lock, the audit log) must not block either.
        let error = open_regular(&fifo, std::fs::OpenOptions::new().append(true).create(true)).unwrap_err();
        assert!(error.to_string().contains("FIFO"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn a_plan_may_come_through_a_pipe_but_a_fifo_without_writer_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("plan.yaml");
        mkfifo(&fifo);
        let started = Instant::now();
        assert_eq!(read_text_bounded_or_pipe(&fifo, MAX_PLAN_BYTES, "a plan").unwrap(), "");
        assert!(started.elapsed() < Duration::from_secs(1));
        // A writer writes the plan again and again until it was read: one write can be lost to
        // the reader's retry loop (it read "" before the writer opened, the writer opened and
        // wrote, the reader closed: the bytes go with the pipe; the test once spun for ever).
        let done = Arc::new(AtomicBool::new(false));
        let writer = {
            let (fifo, done) = (fifo.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    let _ = std::fs::write(&fifo, "name: piped\n");
                }
            })
        };
        // The writer may open after us: read until it has written.
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut text = String::new();
        while text.is_empty() {
            assert!(Instant::now() < deadline, "nothing read from the pipe in 30 s");
            text = read_text_bounded_or_pipe(&fifo, MAX_PLAN_BYTES, "a plan").unwrap();
        }
        done.store(true, Ordering::SeqCst);
        // Unblock a writer waiting in open() for a reader.
        while !writer.is_finished() {
            let _ = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&fifo);
            std::thread::sleep(Duration::from_millis(10));
        }
        writer.join().unwrap();
        // Whole writes only (two may land in one read).
        assert!(text.lines().all(|line| line == "name: piped"), "{text:?}");
        let error = read_text_bounded_or_pipe(Path::new("/dev/zero"), MAX_PLAN_BYTES, "a plan").unwrap_err();
        assert!(error.to_string().contains("character device"), "{error}");
    }

    #[test]
    fn unbounded_read_of_a_large_file_is_refused_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("password");
        let file = File::create(&path).unwrap();
        // Sparse: a gibibyte that takes no disk.
        file.set_len(1 << 30).unwrap();
        let error = read_bounded(&path, MAX_SECRET_BYTES, "a password file").unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("{} is larger than 65536 bytes (the limit for a password file)", path.display())
        );
    }

    #[test]
    fn a_directory_is_named_as_such_and_a_missing_file_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let error = read_bounded(dir.path(), MAX_CA_BYTES, "a CA file").unwrap_err();
        assert!(error.to_string().contains("is a directory"), "{error}");
        assert!(read_bounded(&dir.path().join("none"), 10, "x").unwrap_err().is_not_found());
        std::fs::write(dir.path().join("ok"), b"0123456789").unwrap();
        assert_eq!(read_bounded(&dir.path().join("ok"), 10, "x").unwrap(), b"0123456789");
        assert!(read_bounded(&dir.path().join("ok"), 9, "x").is_err());
    }
}
