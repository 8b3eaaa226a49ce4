//! `find_k`'s sweep: run the real `k_means` binary with `-l` for every K, collect the losses, and
//! write the loss-against-K graph, a CSV and the details into a run folder.
//!
//! Children write only into a private temporary folder that the sweep removes on success, failure and
//! interruption alike, so a run folder the user made with `k_means` is never touched.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::process::{kill_process_group, test_kill_process_group, Pid, Signal};

use crate::elbow::suggest_k;
use crate::error::{Error, Result};
use crate::plot;
use crate::report::{details_text, parse_loss};
use crate::run_dir::{canonical_text, folder_name, path_entry, Staging};
use crate::spec::{
    empty_name, init_name, ClusterOptions, JobSpec, Outputs, DEFAULT_OUT_DIR, DEFAULT_RESTARTS,
};

/// The smallest K swept by default, as in the original.
pub const DEFAULT_K_MIN: usize = 2;
/// The largest K swept by default, as in the original.
pub const DEFAULT_K_MAX: usize = 20;

/// Everything a `find_k` run is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepSpec {
    /// The image, as the user wrote its path.
    pub image: PathBuf,
    /// `-o`: one restart per K.
    pub one_round: bool,
    /// Passed to every child; a seed is drawn once when absent.
    pub options: ClusterOptions,
    /// First K.
    pub k_min: usize,
    /// Last K.
    pub k_max: usize,
    /// How many children run at once.
    pub jobs: usize,
    /// Where the run folder goes.
    pub out_dir: PathBuf,
    /// The `k_means` binary; found next to the current executable when absent.
    pub k_means: Option<PathBuf>,
    /// `--timeout`: seconds each child may run before it is stopped and the sweep fails.
    pub timeout: Option<u64>,
}

impl SweepSpec {
    /// A sweep of K = 2..=20 on `image` with every default.
    pub fn new(image: impl Into<PathBuf>) -> Self {
        Self {
            image: image.into(),
            one_round: false,
            options: ClusterOptions::default(),
            k_min: DEFAULT_K_MIN,
            k_max: DEFAULT_K_MAX,
            jobs: default_jobs(),
            out_dir: PathBuf::from(DEFAULT_OUT_DIR),
            k_means: None,
            timeout: None,
        }
    }

    /// Checks the range and the job count.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for an empty or out-of-range K range, or zero jobs.
    pub fn validate(&self) -> Result<()> {
        let bad = |name, message: String| Err(Error::InvalidParameter { name, message });
        if self.k_min < 1 || self.k_max > crate::kmeans::params::MAX_K || self.k_min > self.k_max {
            return bad(
                "k range",
                format!(
                    "need 1 <= k-min <= k-max <= {}, got {}..={}",
                    crate::kmeans::params::MAX_K,
                    self.k_min,
                    self.k_max
                ),
            );
        }
        if self.jobs == 0 {
            return bad("jobs", "must be at least 1".into());
        }
        if self.timeout == Some(0) {
            return bad("timeout", "must be at least 1 second".into());
        }
        Ok(())
    }

    /// The canonical text naming the run folder: image, `-o`, and every option that changes the
    /// losses and differs from its default (not `-j`, which changes only the speed).
    pub fn canonical_text(&self) -> String {
        let mut entries = vec![
            ("tool", "find_k".to_string()),
            path_entry(&self.image),
            ("flags", if self.one_round { "-o" } else { "" }.to_string()),
        ];
        if (self.k_min, self.k_max) != (DEFAULT_K_MIN, DEFAULT_K_MAX) {
            entries.push(("k range", format!("{}..={}", self.k_min, self.k_max)));
        }
        entries.extend(self.options.canonical_entries());
        canonical_text(&entries)
    }

    /// The run folder's name: `find_k_output` and the hex SHA-256 of [`Self::canonical_text`].
    pub fn folder_name(&self) -> String {
        folder_name("find_k_output", &self.canonical_text())
    }

    /// The `k_means` run for one K, writing into `out_dir`, with the sweep's seed.
    pub fn child_spec(&self, k: usize, seed: u64, out_dir: &Path) -> JobSpec {
        JobSpec {
            image: self.image.clone(),
            k,
            outputs: Outputs {
                loss: true,
                ..Outputs::default()
            },
            one_round: self.one_round,
            options: ClusterOptions {
                seed: Some(seed),
                restarts: if self.one_round {
                    None
                } else {
                    self.options.restarts
                },
                ..self.options.clone()
            },
            png: false,
            swatch: false,
            palette: None,
            whole_palette: false,
            fixed: None,
            dither: false,
            palette_formats: Vec::new(),
            out_dir: out_dir.to_path_buf(),
            timings: false,
        }
    }
}

/// The arguments that make `k_means` run `spec`: options first, then `--` and the positionals, so
/// an image named like an option (`-i.png`) is still the image.
pub fn k_means_args(spec: &JobSpec) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    args.extend(spec.flags_text().split_whitespace().map(OsString::from));
    args.extend(spec.options.args().into_iter().map(OsString::from));
    args.extend(["--out-dir".into(), spec.out_dir.clone().into()]);
    args.extend([
        "--".into(),
        spec.image.clone().into(),
        spec.k.to_string().into(),
    ]);
    args
}

/// Children at once by default: measured on a 2-core machine, two per core keeps the cores busy
/// while other children decode, start up and write.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get() * 2)
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
            let exe = std::env::current_exe().map_err(|e| Error::MissingKMeans {
                looked: PathBuf::from("k_means"),
                why: format!("cannot find the running executable: {e}"),
            })?;
            exe.with_file_name(format!("k_means{}", std::env::consts::EXE_SUFFIX))
        }
    };
    if candidate.is_file() {
        Ok(candidate)
    } else {
        Err(Error::MissingKMeans {
            looked: candidate,
            why: "no such file (build it with `cargo build --release`, or give --k-means PATH)"
                .into(),
        })
    }
}

/// What a finished sweep found and wrote.
#[derive(Debug, Clone)]
pub struct SweepReport {
    /// The losses, one per K in increasing K.
    pub losses: Vec<(usize, f64)>,
    /// The elbow of the curve, if it has one.
    pub suggested: Option<usize>,
    /// The seed every child used.
    pub seed: u64,
    /// The run folder.
    pub run_dir: PathBuf,
    /// Lines to print after the per-K lines: the folder, then one per file.
    pub lines: Vec<String>,
}

/// `losses.csv`: a `k,loss` header and a row per K.
pub fn losses_csv(losses: &[(usize, f64)]) -> String {
    let mut out = String::from("k,loss\n");
    for (k, l) in losses {
        out.push_str(&format!("{k},{l:.6}\n"));
    }
    out
}

/// The most of a child's standard error kept: its error line is at the end.
const STDERR_KEPT: usize = 64 * 1024;

/// A running child and what it is for.
struct Running {
    k: usize,
    child: Child,
    started: Instant,
    /// Reads the child's standard error as it comes (so a chatty child never blocks on a full
    /// pipe), keeping the last [`STDERR_KEPT`] bytes.
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
}

fn read_tail(mut pipe: impl Read) -> String {
    let mut kept: Vec<u8> = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > 2 * STDERR_KEPT {
                    kept.drain(..kept.len() - STDERR_KEPT);
                }
            }
        }
    }
    if kept.len() > STDERR_KEPT {
        kept.drain(..kept.len() - STDERR_KEPT);
    }
    String::from_utf8_lossy(&kept).into_owned()
}

/// Stops every running child with everything it started (its whole process group), and waits
/// until they are gone, so none outlives the sweep or writes into a folder after it is removed.
fn stop_all(running: &mut Vec<Running>) {
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
    }
}

/// Starts `k_means` for one K in its own process group.
fn spawn_child(
    k_means: &Path,
    args: Vec<OsString>,
) -> std::io::Result<(Child, JoinHandle<String>)> {
    let mut command = Command::new(k_means);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
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
    let mut child = command.spawn()?;
    let pipe = child.stderr.take().expect("stderr is piped");
    let reader = std::thread::spawn(move || read_tail(pipe));
    Ok((child, reader))
}

/// Runs the sweep. `on_loss(k, loss)` is called in increasing K as soon as every smaller K is done;
/// `on_finish(k)` as each child finishes, in any order. `cancel` is polled: once it holds a signal
/// number, children are stopped, everything made is removed, and [`Error::Interrupted`] is
/// returned.
///
/// # Errors
/// Invalid parameters, a missing `k_means`, an out-dir that is not a folder, a child that fails
/// (with its own error line) or times out, or a run folder that cannot be written. Nothing is left
/// behind in any of these cases.
pub fn run_sweep(
    spec: &SweepSpec,
    cancel: &AtomicI32,
    mut on_loss: impl FnMut(usize, f64),
    mut on_finish: impl FnMut(usize),
) -> Result<SweepReport> {
    spec.validate()?;
    if spec.image.is_dir() {
        return Err(Error::DecodeImage {
            path: spec.image.clone(),
            message: "it is a folder; find_k sweeps one image".into(),
        });
    }
    let k_means = locate_k_means(spec.k_means.as_deref())?;
    // An out-dir that cannot hold the run folder is reported now, not after the whole sweep.
    if let Ok(meta) = std::fs::metadata(&spec.out_dir) {
        if !meta.is_dir() {
            return Err(Error::Unsafe {
                path: spec.out_dir.clone(),
                why: "it is not a folder".into(),
            });
        }
    }
    let seed = spec.options.seed.unwrap_or_else(crate::job::random_seed);
    let private = tempfile::Builder::new()
        .prefix(".find_k-")
        .tempdir()
        .map_err(|source| Error::Write {
            path: std::env::temp_dir(),
            source,
        })?;
    let cleanup_id = crate::cleanup::register();
    crate::cleanup::set_stage(cleanup_id, private.path().to_path_buf());
    let interrupted = || match cancel.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(Error::Interrupted { signal }),
    };

    let mut pending = spec.k_min..=spec.k_max;
    let mut running: Vec<Running> = Vec::new();
    let mut done: BTreeMap<usize, f64> = BTreeMap::new();
    let mut next_to_report = spec.k_min;
    let outcome = loop {
        if let Some(e) = interrupted() {
            break Err(e);
        }
        while running.len() < spec.jobs {
            let Some(k) = pending.next() else { break };
            let child_spec = spec.child_spec(k, seed, private.path());
            match spawn_child(&k_means, k_means_args(&child_spec)) {
                Ok((child, stderr)) => running.push(Running {
                    k,
                    child,
                    started: Instant::now(),
                    stderr: Some(stderr),
                }),
                Err(e) => {
                    stop_all(&mut running);
                    crate::cleanup::unregister(cleanup_id);
                    return Err(Error::MissingKMeans {
                        looked: k_means.clone(),
                        why: format!("cannot start it: {e}"),
                    });
                }
            }
        }
        if running.is_empty() {
            break Ok(());
        }
        let mut finished = None;
        for (i, r) in running.iter_mut().enumerate() {
            match r.child.try_wait() {
                Ok(Some(status)) => {
                    finished = Some((i, Ok(status)));
                    break;
                }
                Ok(None) => {
                    if let Some(seconds) = spec.timeout {
                        if r.started.elapsed() > Duration::from_secs(seconds) {
                            finished = Some((i, Err(Error::ChildTimedOut { k: r.k, seconds })));
                            break;
                        }
                    }
                }
                Err(e) => {
                    finished = Some((
                        i,
                        Err(Error::ChildFailed {
                            k: r.k,
                            why: e.to_string(),
                        }),
                    ));
                    break;
                }
            }
        }
        let Some((i, status)) = finished else {
            std::thread::sleep(Duration::from_millis(2));
            continue;
        };
        let result = match status {
            Ok(status) => {
                let mut r = running.swap_remove(i);
                collect_child(spec, &mut r, status, seed, private.path()).map(|loss| (r.k, loss))
            }
            // A child that timed out is still running: stop_all below stops it.
            Err(e) => Err(e),
        };
        match result {
            Ok((k, loss)) => {
                on_finish(k);
                done.insert(k, loss);
                while let Some(&loss) = done.get(&next_to_report) {
                    on_loss(next_to_report, loss);
                    next_to_report += 1;
                }
            }
            // A child that failed because the sweep is being stopped is not the reason it stopped.
            Err(e) => break Err(interrupted().unwrap_or(e)),
        }
    };
    stop_all(&mut running);
    let finish = |result: Result<()>| {
        crate::cleanup::unregister(cleanup_id);
        result
    };
    if let Err(e) = outcome {
        let _busy = crate::cleanup::busy();
        drop(private);
        return finish(Err(e)).map(|()| unreachable!());
    }
    // Removing the private folder is part of success: report if it fails.
    let closed = {
        let _busy = crate::cleanup::busy();
        private.close()
    };
    finish(closed.map_err(|source| Error::Write {
        path: std::env::temp_dir(),
        source,
    }))?;

    let losses: Vec<(usize, f64)> = done.into_iter().collect();
    let suggested = suggest_k(&losses);
    write_sweep_folder(spec, seed, losses, suggested, cancel)
}

/// Reads a finished child's loss, then removes the run folder it made.
fn collect_child(
    spec: &SweepSpec,
    r: &mut Running,
    status: std::process::ExitStatus,
    seed: u64,
    private: &Path,
) -> Result<f64> {
    let stderr = r.stderr_text();
    let child_failed = |why: String| Error::ChildFailed { k: r.k, why };
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
    let child_spec = spec.child_spec(r.k, seed, private);
    let loss_path = crate::job::output_path(&child_spec, &format!("loss_k{}.txt", r.k));
    // A loss file is a short line; a child that wrote more is not trusted with more memory.
    let mut text = String::new();
    std::fs::File::open(&loss_path)
        .and_then(|f| f.take(64).read_to_string(&mut text))
        .map_err(|e| child_failed(format!("cannot read '{}': {e}", loss_path.display())))?;
    let loss = parse_loss(&text)
        .ok_or_else(|| child_failed(format!("'{}' holds no loss", loss_path.display())))?;
    std::fs::remove_dir_all(child_spec.run_dir()).map_err(|source| Error::Write {
        path: child_spec.run_dir(),
        source,
    })?;
    Ok(loss)
}

fn write_sweep_folder(
    spec: &SweepSpec,
    seed: u64,
    losses: Vec<(usize, f64)>,
    suggested: Option<usize>,
    cancel: &AtomicI32,
) -> Result<SweepReport> {
    let mut staging = Staging::begin(&spec.out_dir, &spec.folder_name())?;
    let run_dir = staging.run_dir().to_path_buf();
    let mut lines = vec![format!("output folder name: {}", run_dir.display())];
    let graph = plot::loss_vs_k(&losses, suggested).map_err(|e| Error::Encode {
        path: run_dir.join("loss_graph.png"),
        message: e.to_string(),
    })?;
    staging.write("loss_graph.png", &graph)?;
    lines.push(format!(
        "loss graph saved to {}",
        run_dir.join("loss_graph.png").display()
    ));
    staging.write("losses.csv", losses_csv(&losses).as_bytes())?;
    lines.push(format!(
        "losses saved to {}",
        run_dir.join("losses.csv").display()
    ));
    lines.push(format!(
        "details saved to {}",
        run_dir.join("details.txt").display()
    ));
    let mut printed: Vec<String> = losses.iter().map(|&(k, l)| loss_line(k, l)).collect();
    printed.push(suggestion_line(suggested));
    printed.extend(lines.iter().cloned());
    let entries = vec![
        ("image", spec.image.display().to_string()),
        ("k range", format!("{}..={}", spec.k_min, spec.k_max)),
        (
            "flags",
            if spec.one_round { "-o" } else { "(none)" }.to_string(),
        ),
        ("seed", seed.to_string()),
        (
            "restarts per k",
            if spec.one_round {
                1
            } else {
                spec.options.restarts.unwrap_or(DEFAULT_RESTARTS)
            }
            .to_string(),
        ),
        (
            "max epochs",
            spec.options.effective_max_epochs().to_string(),
        ),
        ("init", init_name(spec.options.init).to_string()),
        ("empty clusters", empty_name(spec.options.empty).to_string()),
        ("space", spec.options.space.name().to_string()),
        ("parallel jobs", spec.jobs.to_string()),
        (
            "suggested k",
            suggested.map_or("none".into(), |k| k.to_string()),
        ),
    ];
    staging.write(
        "details.txt",
        details_text("find_k", &entries, &printed).as_bytes(),
    )?;
    // A signal that came while the files were made still removes them.
    if let signal @ 1.. = cancel.load(Ordering::SeqCst) {
        return Err(Error::Interrupted { signal });
    }
    staging.commit()?;
    Ok(SweepReport {
        losses,
        suggested,
        seed,
        run_dir,
        lines,
    })
}

/// The original's line for one K.
pub fn loss_line(k: usize, loss: f64) -> String {
    format!("k = {k} finished! loss value: {loss:.6}")
}

/// The line that gives the suggested K.
pub fn suggestion_line(suggested: Option<usize>) -> String {
    match suggested {
        Some(k) => format!("suggested k: {k}"),
        None => "suggested k: none (the loss curve has no elbow)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_arguments_round_trip_through_the_job_spec() {
        let mut spec = SweepSpec::new("a b.png");
        spec.one_round = true;
        spec.options.max_epochs = Some(7);
        let child = spec.child_spec(5, 99, Path::new("/tmp/x"));
        let args: Vec<String> = k_means_args(&child)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert_eq!(
            args,
            [
                "-l",
                "-o",
                "--seed",
                "99",
                "--max-epochs",
                "7",
                "--out-dir",
                "/tmp/x",
                "--",
                "a b.png",
                "5",
            ]
        );
    }

    #[test]
    fn jobs_do_not_change_the_folder_but_options_do() {
        let a = SweepSpec::new("x.png");
        let mut b = a.clone();
        b.jobs = 7;
        assert_eq!(a.folder_name(), b.folder_name());
        b.k_max = 10;
        assert_ne!(a.folder_name(), b.folder_name());
        assert!(a.folder_name().starts_with("find_k_output"));
    }

    #[test]
    fn csv_has_a_header_and_a_row_per_k() {
        assert_eq!(
            losses_csv(&[(2, 1.5), (3, 0.25)]),
            "k,loss\n2,1.500000\n3,0.250000\n"
        );
    }

    #[test]
    fn bad_ranges_are_refused() {
        let mut s = SweepSpec::new("x");
        s.k_min = 5;
        s.k_max = 4;
        assert!(s.validate().is_err());
        s.k_max = 300;
        assert!(s.validate().is_err());
    }
}
