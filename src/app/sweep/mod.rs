//! `find_k`'s sweep: run the real `k_means` binary with `-l` for every K, collect the losses, and
//! write the loss-against-K graph, a CSV and the details into a run folder.
//!
//! The sweep reads the image once and gives every child the same copy of its colours
//! ([`picture_copy`]). Children write only into a private temporary folder that the sweep removes
//! on success, failure and interruption alike, so a run folder the user made with `k_means` is
//! never touched.

mod children;
mod folder;
mod picture_copy;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use crate::app::error::{AppError as Error, Result};
use crate::app::run_dir::{canonical_text, folder_name, path_entry};
use crate::app::spec::{ClusterOptions, JobSpec, Outputs, DEFAULT_OUT_DIR};
use crate::elbow::suggest_k;
use children::{collect_child, spawn_child, stop_all, Running};
pub use children::{default_jobs, locate_k_means};
pub use folder::{loss_line, suggestion_line};

/// The smallest K swept by default, as in the original.
pub const DEFAULT_K_MIN: usize = 2;
/// The largest K swept by default, as in the original.
pub const DEFAULT_K_MAX: usize = 20;

/// Everything a `find_k` run is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepSpec {
    /// The image, as the user wrote its path (`-`: standard input).
    pub image: PathBuf,
    /// `-o`: one restart per K.
    pub one_round: bool,
    /// Passed to every child; a seed is drawn once when absent.
    pub options: ClusterOptions,
    /// First K.
    pub k_min: usize,
    /// Last K.
    pub k_max: usize,
    /// How many children run at once; when absent, [`default_jobs`] for the picture read.
    pub jobs: Option<usize>,
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
            jobs: None,
            image: image.into(),
            one_round: false,
            options: ClusterOptions::default(),
            k_min: DEFAULT_K_MIN,
            k_max: DEFAULT_K_MAX,
            out_dir: PathBuf::from(DEFAULT_OUT_DIR),
            k_means: None,
            timeout: None,
        }
    }

    /// Checks the range and the job count.
    ///
    /// # Errors
    /// [`Error::KRange`] for an empty or out-of-range K range, [`Error::NoJobs`],
    /// [`Error::ZeroTimeout`].
    pub fn validate(&self) -> Result<()> {
        let max = crate::kmeans::MAX_K;
        if self.k_min < 1 || self.k_max > max || self.k_min > self.k_max {
            return Err(Error::KRange {
                k_min: self.k_min,
                k_max: self.k_max,
                max,
            });
        }
        if self.jobs == Some(0) {
            return Err(Error::NoJobs);
        }
        if self.timeout == Some(0) {
            return Err(Error::ZeroTimeout);
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

    /// The `k_means` run for one K on `image` (the sweep's copy of the picture), writing into
    /// `out_dir`, with the sweep's seed.
    pub fn child_spec(&self, k: usize, seed: u64, image: &Path, out_dir: &Path) -> JobSpec {
        JobSpec {
            outputs: Outputs {
                loss: true,
                ..Outputs::default()
            },
            one_round: self.one_round,
            options: ClusterOptions {
                seed: Some(seed),
                // `-o` and `--restarts` are refused together.
                restarts: self.options.restarts.filter(|_| !self.one_round),
                ..self.options.clone()
            },
            out_dir: out_dir.to_path_buf(),
            ..JobSpec::new(image, k)
        }
    }
}

/// The arguments that make `k_means` run `spec`: options first, then `--` and the positionals, so
/// an image named like an option (`-i.png`) is still the image.
pub fn k_means_args(spec: &JobSpec) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    args.extend(spec.flags().into_iter().map(OsString::from));
    args.extend(spec.options.args().into_iter().map(OsString::from));
    args.extend(["--out-dir".into(), spec.out_dir.clone().into()]);
    args.extend([
        "--".into(),
        spec.image.clone().into(),
        spec.k.to_string().into(),
    ]);
    args
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

/// Runs the sweep: reads the image once, then runs the children on its copy. `on_loss(k, loss)` is
/// called in increasing K as soon as every smaller K is done; `on_finish(k)` as each child
/// finishes, in any order. `cancel` is polled: once it holds a signal number (also while the image
/// is being read), children are stopped, everything made is removed, and [`Error::Interrupted`] is
/// returned.
///
/// # Errors
/// Invalid parameters, a missing `k_means`, an out-dir that is not a folder, an image that cannot
/// be read, a child that fails (with its own error line) or times out, or a run folder that cannot
/// be written. Nothing is left behind in any of these cases.
pub fn run_sweep(
    spec: &SweepSpec,
    cancel: &AtomicI32,
    mut on_loss: impl FnMut(usize, f64),
    mut on_finish: impl FnMut(usize),
) -> Result<SweepReport> {
    spec.validate()?;
    if std::fs::metadata(&spec.image).is_ok_and(|m| m.is_dir()) {
        return Err(Error::NotOneImage {
            path: spec.image.clone(),
            why: "it is a folder; find_k sweeps one image",
        });
    }
    let k_means = locate_k_means(spec.k_means.as_deref())?;
    // An out-dir that cannot hold the run folder is reported now, not after the whole sweep.
    if let Ok(meta) = std::fs::metadata(&spec.out_dir) {
        if !meta.is_dir() {
            return Err(Error::OutDirNotAFolder {
                path: spec.out_dir.clone(),
            });
        }
    }
    let seed = spec.options.resolve_seed();
    let private = tempfile::Builder::new()
        .prefix(".find_k-")
        .tempdir()
        .map_err(|source| Error::TempDir {
            path: std::env::temp_dir(),
            source: os_error(source),
        })?;
    let cleanup_id = crate::app::cleanup::register();
    crate::app::cleanup::set_stage(cleanup_id, private.path().to_path_buf());
    let mut running: Vec<Running> = Vec::new();
    let limits = spec.options.load_limits();
    let outcome =
        picture_copy::write_copy(&spec.image, &limits, private.path(), cancel).and_then(|copy| {
            let jobs = spec
                .jobs
                .unwrap_or_else(|| default_jobs(copy.pixels, limits.pixel_limit()));
            let losses = run_children(
                spec,
                Children {
                    k_means: &k_means,
                    seed,
                    image: &copy.path,
                    private: private.path(),
                    jobs,
                },
                &mut running,
                cancel,
                &mut on_loss,
                &mut on_finish,
            )?;
            Ok((losses, jobs))
        });
    stop_all(&mut running);
    let removed = {
        let _busy = crate::app::cleanup::busy();
        // Removing the private folder is part of success: report if it fails.
        private.close()
    };
    crate::app::cleanup::unregister(cleanup_id);
    let (losses, jobs) = outcome?;
    removed.map_err(|source| Error::Write {
        path: std::env::temp_dir(),
        source,
    })?;
    let suggested = suggest_k(&losses);
    folder::write_sweep_folder(spec, seed, jobs, losses, suggested, cancel)
}

/// What every child of a sweep is given besides its K.
struct Children<'a> {
    /// The `k_means` binary they run.
    k_means: &'a Path,
    /// The seed they all use.
    seed: u64,
    /// The copy of the picture they read.
    image: &'a Path,
    /// The sweep's private folder, where they write their run folders.
    private: &'a Path,
    /// How many run at once.
    jobs: usize,
}

/// Runs a child for every K, at most `children.jobs` at once, until all are done or one fails (or
/// `cancel` is set); returns the losses in increasing K. The children still running when it
/// returns are in `running`, for the caller to stop.
fn run_children(
    spec: &SweepSpec,
    children: Children<'_>,
    running: &mut Vec<Running>,
    cancel: &AtomicI32,
    on_loss: &mut impl FnMut(usize, f64),
    on_finish: &mut impl FnMut(usize),
) -> Result<Vec<(usize, f64)>> {
    let interrupted = || match cancel.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(Error::Interrupted { signal }),
    };
    let mut pending = spec.k_min..=spec.k_max;
    let mut done: BTreeMap<usize, f64> = BTreeMap::new();
    let mut next_to_report = spec.k_min;
    loop {
        if let Some(e) = interrupted() {
            return Err(e);
        }
        while running.len() < children.jobs {
            let Some(k) = pending.next() else { break };
            let child = spec.child_spec(k, children.seed, children.image, children.private);
            running.push(spawn_child(children.k_means, k, k_means_args(&child))?);
        }
        if running.is_empty() {
            return Ok(done.into_iter().collect());
        }
        let Some((i, status)) = first_finished(running, spec.timeout) else {
            std::thread::sleep(Duration::from_millis(2));
            continue;
        };
        // A child that timed out is still running: the caller stops it.
        let result = status.and_then(|status| {
            let mut r = running.swap_remove(i);
            collect_child(&mut r, status, children.private).map(|loss| (r.k, loss))
        });
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
            Err(e) => return Err(interrupted().unwrap_or(e)),
        }
    }
}

/// The first child that finished (its index and exit status), or timed out (its index and the
/// error), if any.
fn first_finished(
    running: &mut [Running],
    timeout: Option<u64>,
) -> Option<(usize, Result<std::process::ExitStatus>)> {
    for (i, r) in running.iter_mut().enumerate() {
        match r.child.try_wait() {
            Ok(Some(status)) => return Some((i, Ok(status))),
            Ok(None) => {
                if let Some(seconds) = timeout {
                    if r.started.elapsed() > Duration::from_secs(seconds) {
                        return Some((i, Err(Error::ChildTimedOut { k: r.k, seconds })));
                    }
                }
            }
            Err(e) => {
                return Some((
                    i,
                    Err(Error::ChildFailed {
                        k: r.k,
                        message: e.to_string(),
                    }),
                ))
            }
        }
    }
    None
}

/// The operating system's words in one of `tempfile`'s errors, without the random path it adds
/// (`... at path "/tmp/.find_k-Xy12"`): the folder named in the message is what the user can act
/// on. (Its error keeps the system's error only as text.)
fn os_error(e: std::io::Error) -> std::io::Error {
    let text = e.to_string();
    match text.rsplit_once(" at path \"") {
        Some((words, _)) => std::io::Error::new(e.kind(), words),
        None => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use folder::losses_csv;

    #[test]
    fn child_arguments_round_trip_through_the_job_spec() {
        let mut spec = SweepSpec::new("a b.png");
        spec.one_round = true;
        spec.options.max_epochs = Some(7);
        let child = spec.child_spec(5, 99, Path::new("/tmp/x/picture.png"), Path::new("/tmp/x"));
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
                "/tmp/x/picture.png",
                "5",
            ]
        );
    }

    #[test]
    fn jobs_do_not_change_the_folder_but_options_do() {
        let a = SweepSpec::new("x.png");
        let mut b = a.clone();
        b.jobs = Some(7);
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
