//! The `k_means` children of a sweep: finding the binary, starting each child in its own process
//! group, reading what it prints, stopping every one of them, and collecting a finished child's loss
//! from the run folder it printed.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::process::{kill_process_group, test_kill_process_group, Pid, Signal};

use crate::app::error::{AppError as Error, Result};
use crate::app::report::parse_loss;

/// Children at once by default for a sweep of a picture of `pixels` pixels: two per core (measured
/// on a 2-core machine, that keeps the cores busy while other children read the picture, start up
/// and write), but no more than fit, by pixels, within `max_pixels`, the pixel limit of one
/// picture. Every child holds the whole picture, so a sweep then needs no more memory than one
/// picture at the limit, however many cores the machine has.
pub fn default_jobs(pixels: u64, max_pixels: u64) -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
    usize::try_from(max_pixels / pixels.max(1))
        .unwrap_or(usize::MAX)
        .clamp(1, cores)
}

/// The `k_means` executable: `explicit` when given, else the one beside the running executable
/// (so `cargo run`, `target/release` and `cargo install` all work).
///
/// # Errors
/// [`Error::MissingKMeans`] naming where it looked.
pub fn locate_k_means(explicit: Option<&Path>) -> Result<PathBuf> {
    let candidate = match explicit {
        Some(p) => p.to_path_buf(),
        None => {
            let exe = std::env::current_exe().map_err(|source| Error::StartKMeans {
                looked: PathBuf::from("k_means"),
                source,
            })?;
            exe.with_file_name(format!("k_means{}", std::env::consts::EXE_SUFFIX))
        }
    };
    if candidate.is_file() {
        Ok(candidate)
    } else {
        Err(Error::MissingKMeans { looked: candidate })
    }
}

/// The most of a child's standard error kept: its error line is at the end.
const STDERR_KEPT: usize = 64 * 1024;

/// A running child and what it is for.
pub(super) struct Running {
    /// The K it runs for.
    pub(super) k: usize,
    pub(super) child: Child,
    pub(super) started: Instant,
    /// Read the child's standard output and error as they come (so a chatty child never blocks
    /// on a full pipe), keeping the first [`STDOUT_KEPT`] bytes of its output (where its run
    /// folder is named) and the last [`STDERR_KEPT`] of its errors.
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

impl Running {
    /// The child's process group: it leads its own, so stopping the group stops anything it started.
    fn group(&self) -> Option<Pid> {
        Pid::from_raw(self.child.id() as i32)
    }

    /// Waits for the stderr reader and returns what it kept.
    fn stderr_text(&mut self) -> String {
        self.stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }

    /// Waits for the stdout reader and returns what it kept.
    fn stdout_text(&mut self) -> String {
        self.stdout
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

/// The most of a child's standard output kept: the line naming its run folder comes first.
const STDOUT_KEPT: usize = 4096;

/// Reads `pipe` to its end (so the child never blocks on a full pipe), handing each chunk to `each`.
fn drain(mut pipe: impl Read, mut each: impl FnMut(&[u8])) {
    let mut buf = [0u8; 8192];
    while let Ok(n @ 1..) = pipe.read(&mut buf) {
        each(&buf[..n]);
    }
}

/// All of `pipe`, keeping its first [`STDOUT_KEPT`] bytes.
fn read_head(pipe: impl Read) -> String {
    let mut kept: Vec<u8> = Vec::new();
    drain(pipe, |chunk| {
        let room = STDOUT_KEPT.saturating_sub(kept.len());
        kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
    });
    String::from_utf8_lossy(&kept).into_owned()
}

/// All of `pipe`, keeping its last [`STDERR_KEPT`] bytes.
fn read_tail(pipe: impl Read) -> String {
    let mut kept: Vec<u8> = Vec::new();
    drain(pipe, |chunk| {
        kept.extend_from_slice(chunk);
        if kept.len() > 2 * STDERR_KEPT {
            kept.drain(..kept.len() - STDERR_KEPT);
        }
    });
    if kept.len() > STDERR_KEPT {
        kept.drain(..kept.len() - STDERR_KEPT);
    }
    String::from_utf8_lossy(&kept).into_owned()
}

/// Stops every running child with everything it started (its whole process group), and waits
/// until they are gone, so none outlives the sweep or writes into a folder after it is removed.
pub(super) fn stop_all(running: &mut Vec<Running>) {
    for r in running.iter() {
        if let Some(group) = r.group() {
            let _ = kill_process_group(group, Signal::KILL);
        }
    }
    for mut r in running.drain(..) {
        let _ = r.child.wait();
        // Grandchildren die with the group but are reaped by whoever adopts them: wait (briefly)
        // until the kernel says the group is empty.
        if let Some(group) = r.group() {
            let deadline = Instant::now() + Duration::from_secs(2);
            while test_kill_process_group(group).is_ok() && Instant::now() < deadline {
                let _ = kill_process_group(group, Signal::KILL);
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        let _ = r.stderr_text();
        let _ = r.stdout_text();
    }
}

/// Starts `k_means` for one K in its own process group.
pub(super) fn spawn_child(k_means: &Path, k: usize, args: Vec<OsString>) -> Result<Running> {
    let mut command = Command::new(k_means);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group: a Ctrl-C at the terminal reaches find_k alone (which stops the children
        // itself), and stopping the group stops a wrapper script's children too.
        .process_group(0);
    #[cfg(target_os = "linux")]
    // SAFETY: the closure runs in the forked child before exec and only makes one system call,
    // which is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            // If find_k itself is killed outright (SIGKILL), its children go with it.
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
                .map_err(std::io::Error::from)
        });
    }
    let mut child = command.spawn().map_err(|source| Error::StartKMeans {
        looked: k_means.to_path_buf(),
        source,
    })?;
    let stdout = child
        .stdout
        .take()
        .map(|p| std::thread::spawn(move || read_head(p)));
    let stderr = child
        .stderr
        .take()
        .map(|p| std::thread::spawn(move || read_tail(p)));
    Ok(Running {
        k,
        child,
        started: Instant::now(),
        stdout,
        stderr,
    })
}

/// The line `k_means` prints first: where its run folder is.
const FOLDER_LINE: &str = "output folder name: ";

/// A finished child's loss, read from `loss_k{K}.txt` in the run folder the child printed, which is
/// then removed. Only a folder directly inside `private` (where the sweep told the child to write)
/// is read or removed, whatever the child printed.
pub(super) fn collect_child(r: &mut Running, status: ExitStatus, private: &Path) -> Result<f64> {
    let stderr = r.stderr_text();
    let stdout = r.stdout_text();
    let k = r.k;
    let child_failed = |message: String| Error::ChildFailed { k, message };
    if !status.success() {
        let line = stderr
            .lines()
            .rev()
            .find(|l| l.starts_with("error:"))
            .or_else(|| stderr.lines().last())
            .map_or_else(
                || format!("k_means exited with {status}"),
                |l| l.trim_start_matches("error: ").to_string(),
            );
        return Err(child_failed(line));
    }
    let run_dir = stdout
        .lines()
        .find_map(|l| l.strip_prefix(FOLDER_LINE))
        .and_then(|printed| Path::new(printed).file_name())
        .filter(|name| name.to_str().is_some_and(is_run_folder_name))
        .map(|name| private.join(name))
        .ok_or_else(|| child_failed("it did not print its run folder".into()))?;
    let loss_path = run_dir.join(format!("loss_k{k}.txt"));
    // A loss file is a short line; a child that wrote more is not trusted with more memory.
    let mut text = String::new();
    std::fs::File::open(&loss_path)
        .and_then(|f| f.take(64).read_to_string(&mut text))
        .map_err(|source| Error::ChildLossUnreadable {
            k,
            path: loss_path.clone(),
            source,
        })?;
    let loss = parse_loss(&text).ok_or_else(|| Error::ChildLossInvalid {
        k,
        path: loss_path.clone(),
    })?;
    std::fs::remove_dir_all(&run_dir).map_err(|source| Error::Write {
        path: run_dir.clone(),
        source,
    })?;
    Ok(loss)
}

/// Whether `name` is a `k_means` run folder's name: `output` and 64 lowercase hex digits.
fn is_run_folder_name(name: &str) -> bool {
    name.strip_prefix("output").is_some_and(|hash| {
        hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_childs_output_is_read_to_the_end_and_its_head_kept() {
        let mut text = b"output folder name: x/output1\n".to_vec();
        text.extend(std::iter::repeat_n(b'.', 1 << 20));
        let kept = read_head(&text[..]);
        assert_eq!(kept.len(), STDOUT_KEPT);
        assert!(kept.starts_with("output folder name: x/output1\n"));
    }

    #[test]
    fn only_run_folder_names_are_taken_from_a_child() {
        assert!(is_run_folder_name(&format!("output{}", "ab12".repeat(16))));
        assert!(!is_run_folder_name(&format!("output{}", "AB12".repeat(16))));
        assert!(!is_run_folder_name("output"));
        assert!(!is_run_folder_name(".."));
        assert!(!is_run_folder_name(&format!("x{}", "a".repeat(64))));
    }
}
