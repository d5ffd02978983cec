//! SIGINT and SIGTERM, handled in one place for every command.
//!
//! [`install`] runs first in `main`, before any other thread exists: it blocks both signals in
//! the calling thread — every thread created afterwards (the async runtime's, librdkafka's)
//! inherits the mask, and `std::process::Command` clears it for child processes — and starts one
//! thread that takes them with `sigwait`. So there is no moment in which work runs but the
//! signal would be lost, and no busy thread can delay the response: the waiting thread acts
//! alone.
//!
//! What a signal does depends on the [`Mode`] the running command chose:
//! - [`Mode::Exit`] (the default): the hooks' process groups are killed and the process exits
//!   with 130 at once.
//! - [`Mode::Cooperative`] (a move): [`is_interrupted`] turns true; the move kills its hook, records
//!   where it stopped and returns within a second. Should it not within [`GRACE`], or on a second
//!   signal, the process exits as in `Exit`.
//! - [`Mode::Graceful`] (the running engine): [`interrupted`] resolves and the command stops by
//!   itself after delivering what is in flight, however long that takes; a second signal exits.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::exit::{ExitCode, exit_now};

/// How long a cooperative command may take to stop after the first signal.
pub const GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    Exit = 0,
    Cooperative = 1,
    Graceful = 2,
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static MODE: AtomicU8 = AtomicU8::new(Mode::Exit as u8);
/// Process groups of running hooks: killed on the way out.
static GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());
/// Prints what the command must still say (`interrupted`, or the JSON document) before exiting.
static BEFORE_EXIT: OnceLock<fn()> = OnceLock::new();

fn notifier() -> &'static tokio::sync::watch::Sender<bool> {
    static NOTIFIER: OnceLock<tokio::sync::watch::Sender<bool>> = OnceLock::new();
    NOTIFIER.get_or_init(|| tokio::sync::watch::Sender::new(false))
}

/// Blocks SIGINT and SIGTERM in this thread and starts the thread that takes them. Call it
/// before any other thread is started; `before_exit` runs before the process exits with 130.
pub fn install(before_exit: fn()) -> std::io::Result<()> {
    let _ = BEFORE_EXIT.set(before_exit);
    let set = signal_set();
    // A parent may have left SIGINT ignored (a shell does for `&` jobs of a script): an ignored
    // signal is discarded even while blocked, and `migrate` must honour both signals always.
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: SIG_DFL is a valid disposition for these signals; no handler of ours is replaced.
        unsafe { libc::signal(signal, libc::SIG_DFL) };
    }
    // SAFETY: `set` is an initialised signal set; a null old-set pointer is allowed.
    let result = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if result != 0 {
        return Err(std::io::Error::from_raw_os_error(result));
    }
    std::thread::Builder::new().name("signals".into()).spawn(move || take_signals(set))?;
    Ok(())
}

fn signal_set() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set it is given; sigaddset adds valid signal numbers.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        set
    }
}

fn take_signals(set: libc::sigset_t) {
    let mut received = 0;
    loop {
        let mut signal = 0;
        // SAFETY: `set` is initialised and blocked in every thread; `signal` is a valid out pointer.
        if unsafe { libc::sigwait(&set, &mut signal) } != 0 {
            continue;
        }
        received += 1;
        INTERRUPTED.store(true, Ordering::SeqCst);
        notifier().send_replace(true);
        match (mode(), received) {
            (Mode::Cooperative, 1) => {
                let _ = std::thread::Builder::new().name("grace".into()).spawn(|| {
                    std::thread::sleep(GRACE);
                    exit_interrupted();
                });
            }
            (Mode::Graceful, 1) => {}
            _ => exit_interrupted(),
        }
    }
}

/// Kills the hooks still running, lets the command say its last word, exits with 130.
pub fn exit_interrupted() -> ! {
    let groups = GROUPS.lock().map(|groups| groups.clone()).unwrap_or_default();
    for group in &groups {
        kill_group(*group, libc::SIGTERM);
    }
    if !groups.is_empty() {
        std::thread::sleep(Duration::from_millis(200));
        for group in &groups {
            kill_group(*group, libc::SIGKILL);
        }
    }
    if let Some(before_exit) = BEFORE_EXIT.get() {
        before_exit();
    }
    exit_now(ExitCode::Interrupted)
}

pub fn set_mode(mode: Mode) {
    MODE.store(mode as u8, Ordering::SeqCst);
}

fn mode() -> Mode {
    match MODE.load(Ordering::SeqCst) {
        1 => Mode::Cooperative,
        2 => Mode::Graceful,
        _ => Mode::Exit,
    }
}

/// Whether SIGINT or SIGTERM arrived.
pub fn is_interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Resolves once SIGINT or SIGTERM arrived (at once if one already did).
pub async fn interrupted() {
    let mut receiver = notifier().subscribe();
    let _ = receiver.wait_for(|interrupted| *interrupted).await;
}

/// Sleeps `duration`, or less when interrupted; returns whether it slept it all.
pub fn sleep(duration: Duration) -> bool {
    let deadline = Instant::now() + duration;
    loop {
        if is_interrupted() {
            return false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// Sends `signal` to every process of `group`.
pub fn kill_group(group: i32, signal: i32) {
    if group > 0 {
        // SAFETY: kill takes plain integers; a negative pid addresses the process group.
        unsafe { libc::kill(-group, signal) };
    }
}

/// Whether any process of `group` is still there (a zombie included).
pub fn group_exists(group: i32) -> bool {
    // SAFETY: kill takes plain integers; signal 0 only asks whether the group exists.
    group > 0 && unsafe { libc::kill(-group, 0) } == 0
}

/// A hook's process group, killed if the process exits on a signal while it runs.
pub struct GroupGuard(i32);

impl GroupGuard {
    pub fn register(group: i32) -> Self {
        if let Ok(mut groups) = GROUPS.lock() {
            groups.push(group);
        }
        Self(group)
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Ok(mut groups) = GROUPS.lock() {
            groups.retain(|group| *group != self.0);
        }
    }
}
