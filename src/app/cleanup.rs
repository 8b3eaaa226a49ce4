//! What a run must remove if it is stopped by SIGINT, SIGTERM or SIGHUP, and the handler that
//! removes it.
//!
//! A run registers what it creates as it creates it (its staging folder, the folders it made);
//! file operations hold [`busy`] while they run, so the handler, which takes the same lock, never
//! removes a folder halfway through a write or a commit. The handler runs on its own thread (the
//! `signal-hook` crate turns the signal into a message), removes everything registered, and exits
//! with 128 + the signal's number, as shells report a process killed by it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// What one registration asks to remove.
#[derive(Debug, Default)]
struct Plan {
    /// A folder of kquant's own (a staging folder, a private temporary folder): removed whole.
    tree: Option<PathBuf>,
    /// Folders the run created, outermost first: each removed if empty.
    created: Vec<PathBuf>,
}

static PLANS: Mutex<BTreeMap<u64, Plan>> = Mutex::new(BTreeMap::new());
static NEXT: AtomicU64 = AtomicU64::new(1);
static BUSY: Mutex<()> = Mutex::new(());

fn plans() -> MutexGuard<'static, BTreeMap<u64, Plan>> {
    PLANS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts a registration with nothing to remove yet; returns its id.
pub(crate) fn register() -> u64 {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    plans().insert(id, Plan::default());
    id
}

/// Sets the folders registration `id` created (outermost first).
pub(crate) fn set_created(id: u64, created: &[PathBuf]) {
    if let Some(plan) = plans().get_mut(&id) {
        plan.created = created.to_vec();
    }
}

/// Sets the folder of kquant's own that registration `id` removes whole.
pub(crate) fn set_stage(id: u64, tree: PathBuf) {
    if let Some(plan) = plans().get_mut(&id) {
        plan.tree = Some(tree);
    }
}

/// Ends registration `id`: what it made is kept (committed) or was already removed.
pub(crate) fn unregister(id: u64) {
    plans().remove(&id);
}

/// Held while files are written, moved or removed, so the signal handler waits for the step to end.
pub(crate) fn busy() -> MutexGuard<'static, ()> {
    BUSY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Removes everything registered. Called with [`busy`] held.
fn remove_registered() {
    remove_all(std::mem::take(&mut *plans()));
}

/// Removes what `plans` ask, the latest registration first.
fn remove_all(plans: BTreeMap<u64, Plan>) {
    for plan in plans.values().rev() {
        remove(plan);
    }
}

/// Removes everything registered, as a signal does, for a run that cannot go on (memory ran out in
/// some thread, maybe one holding these locks). A file step in progress on another thread is waited
/// for, up to two seconds; a lock held by the caller itself is not (that would never end): then
/// nothing is removed, and what is left is a killed run's, which the next run removes.
pub(crate) fn remove_registered_unless_held() {
    use std::sync::TryLockError;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let _busy = loop {
        match BUSY.try_lock() {
            Ok(guard) => break guard,
            Err(TryLockError::Poisoned(e)) => break e.into_inner(),
            Err(TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(TryLockError::WouldBlock) => return,
        }
    };
    let taken = match PLANS.try_lock() {
        Ok(mut plans) => std::mem::take(&mut *plans),
        Err(TryLockError::Poisoned(e)) => std::mem::take(&mut *e.into_inner()),
        Err(TryLockError::WouldBlock) => return,
    };
    remove_all(taken);
}

fn remove(plan: &Plan) {
    if let Some(tree) = &plan.tree {
        let _ = std::fs::remove_dir_all(tree);
    }
    crate::app::run_dir::remove_created(&plan.created);
}

/// A write past the file size limit (`ulimit -f`) raises SIGXFSZ, which kills the process in the
/// middle of the write by default; caught (and ignored), the write fails with "File too large"
/// instead, which is an error like any other: one line, and what the run made removed.
fn write_errors_for_file_size_limit() -> std::io::Result<()> {
    signal_hook::flag::register(
        signal_hook::consts::SIGXFSZ,
        Arc::new(std::sync::atomic::AtomicBool::new(false)),
    )
    .map(drop)
}

/// The signals a run cleans up after: Ctrl-C, `kill`/`timeout`, a closed terminal.
const SIGNALS: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];

/// For a process whose work cannot stop midway (`k_means`): on SIGINT, SIGTERM or SIGHUP, wait for
/// the file step in progress, remove everything registered, and exit with 128 + the signal.
///
/// # Errors
/// When the signal handlers cannot be installed.
pub fn exit_on_signals() -> std::io::Result<()> {
    write_errors_for_file_size_limit()?;
    let mut signals = Signals::new(SIGNALS)?;
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            let _busy = busy();
            remove_registered();
            std::process::exit(128 + signal);
        }
    });
    Ok(())
}

/// For a process that stops its own work (`find_k`): on SIGINT, SIGTERM or SIGHUP, store the
/// signal's number in the returned flag (0 until then). A second signal while the first is being
/// handled removes everything registered and exits at once.
///
/// # Errors
/// When the signal handlers cannot be installed.
pub fn flag_on_signals() -> std::io::Result<Arc<AtomicI32>> {
    write_errors_for_file_size_limit()?;
    let flag = Arc::new(AtomicI32::new(0));
    let mut signals = Signals::new(SIGNALS)?;
    let seen = Arc::clone(&flag);
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if seen.swap(signal, Ordering::SeqCst) != 0 {
                let _busy = busy();
                remove_registered();
                std::process::exit(128 + signal);
            }
        }
    });
    Ok(flag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrations_are_removed_as_asked() {
        let tmp = tempfile::tempdir().unwrap();
        let made = tmp.path().join("made");
        let tree = made.join(".stage");
        std::fs::create_dir_all(&tree).unwrap();
        std::fs::write(tree.join("f"), b"x").unwrap();
        let id = register();
        set_created(id, std::slice::from_ref(&made));
        set_stage(id, tree);
        // Other tests register concurrently: remove only this registration's plan.
        let plan = plans().remove(&id).expect("registered");
        remove(&plan);
        assert!(!made.exists());
        assert!(!plans().contains_key(&id));
    }
}
