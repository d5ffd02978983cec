//! The documented exit codes and the sorting of failures into the user's and unexpected ones.
//!
//! CI jobs and runbooks gate on these numbers; they are part of the stable interface and are
//! listed in the README and in `migrate --help`.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything asked for was done (warnings allowed unless `--strict`).
    Success = 0,
    /// An unexpected failure: a bug, an I/O error, a command not yet available.
    Unexpected = 1,
    /// Invalid invocation or invalid plan.
    InvalidInput = 2,
    /// Preflight found a check that fails.
    PreflightFailed = 3,
    /// The readiness gate was not met.
    GateNotMet = 4,
    /// Moving an app failed.
    MoveFailed = 5,
    /// `verify` found a difference between the clusters.
    VerifyMismatch = 6,
    /// An MSK Replicator is FAILED (its state info is printed).
    ReplicatorFailed = 7,
    /// Interrupted by SIGINT/SIGTERM.
    Interrupted = 130,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// Ends the process with `code` at once, without running the C library's exit handlers.
///
/// A command interrupted mid-move still has librdkafka clients, and their threads, alive in a
/// blocking task. `std::process::exit` runs the C `atexit` handlers, OpenSSL's global cleanup
/// among them, while those threads may still use OpenSSL (openssl/openssl#6214): the process can
/// then die by a signal on its way out instead of exiting with its code. `_exit` keeps everything
/// `std::process::exit` keeps — neither runs Rust destructors; what was written to files is in
/// the kernel already — once the standard streams are flushed here.
pub fn exit_now(code: ExitCode) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: `_exit` takes a plain integer, touches no memory of ours and never returns.
    unsafe { libc::_exit(code.code()) }
}

/// The text shown under `migrate --help`; kept beside the enum so both change together.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    success (warnings allowed unless --strict)
  1    unexpected failure
  2    invalid invocation or plan
  3    preflight failed
  4    readiness gate not met
  5    an app move failed
  6    verify found a difference between the clusters
  7    an MSK Replicator failed
  130  interrupted";

/// Whose a failure is: sorted once, where it is raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The user's to act on: a bad plan, a failed check, a gate not met, a difference found.
    User,
    /// Not the user's doing: an I/O error, a broker or AWS failing, a bug (exit 1).
    Unexpected,
}

/// A failure with its documented exit code, message and optional hint, as `main` reports it.
///
/// Anything that is not a `Failure` reaching `main` is unexpected and exits 1.
#[derive(Debug)]
pub struct Failure {
    pub kind: FailureKind,
    pub code: ExitCode,
    pub message: String,
    pub hint: Option<String>,
    /// The details were already printed (e.g. a plan's problems); `main` prints nothing more.
    pub reported: bool,
}

impl Failure {
    /// The user's failure, exiting with `code` (see [`ExitCode`]).
    pub fn user(code: ExitCode, message: impl Into<String>) -> Self {
        Self { kind: FailureKind::User, code, message: message.into(), hint: None, reported: false }
    }

    /// An unexpected failure: exit 1.
    pub fn unexpected(message: impl Into<String>) -> Self {
        Self {
            kind: FailureKind::Unexpected,
            code: ExitCode::Unexpected,
            message: message.into(),
            hint: None,
            reported: false,
        }
    }

    pub fn silent(mut self) -> Self {
        self.reported = true;
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}
