//! `find_k`'s sweep: run the real `k_means` binary with `-l` for every K, collect the losses, and
//! write the loss-against-K graph, a CSV and the details into a run folder.
//!
//! Children write only into a private temporary folder that the sweep removes on success, failure and
//! interruption alike, so a run folder the user made with `k_means` is never touched.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::elbow::suggest_k;
use crate::error::{Error, Result};
use crate::plot;
use crate::report::{details_text, parse_loss};
use crate::run_dir::{canonical_text, folder_name, Staging};
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
        Ok(())
    }

    /// The canonical text naming the run folder: image, `-o`, and every option that changes the
    /// losses and differs from its default (not `-j`, which changes only the speed).
    pub fn canonical_text(&self) -> String {
        let mut entries = vec![
            ("tool", "find_k".to_string()),
            ("image", self.image.to_string_lossy().into_owned()),
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
            dither: false,
            palette_formats: Vec::new(),
            out_dir: out_dir.to_path_buf(),
        }
    }
}

/// The arguments that make `k_means` run `spec`.
pub fn k_means_args(spec: &JobSpec) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![spec.image.clone().into(), spec.k.to_string().into()];
    args.extend(spec.flags_text().split_whitespace().map(OsString::from));
    args.extend(spec.options.args().into_iter().map(OsString::from));
    args.extend(["--out-dir".into(), spec.out_dir.clone().into()]);
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

/// A running child and what it is for.
struct Running {
    k: usize,
    child: Child,
}

/// Kills every running child and waits for it, so none outlives the sweep.
fn stop_all(running: &mut Vec<Running>) {
    for r in running.iter_mut() {
        let _ = r.child.kill();
    }
    for mut r in running.drain(..) {
        let _ = r.child.wait();
    }
}

/// Runs the sweep. `on_loss(k, loss)` is called in increasing K as soon as every smaller K is done;
/// `on_finish(k)` as each child finishes, in any order. `cancel` is polled: once it is set, children
/// are stopped, everything made is removed, and [`Error::Interrupted`] is returned.
///
/// # Errors
/// Invalid parameters, a missing `k_means`, a child that fails (with its own error line), or a run
/// folder that cannot be written. Nothing is left behind in any of these cases.
pub fn run_sweep(
    spec: &SweepSpec,
    cancel: &AtomicBool,
    mut on_loss: impl FnMut(usize, f64),
    mut on_finish: impl FnMut(usize),
) -> Result<SweepReport> {
    spec.validate()?;
    let k_means = locate_k_means(spec.k_means.as_deref())?;
    let seed = spec.options.seed.unwrap_or_else(crate::job::random_seed);
    let private = tempfile::Builder::new()
        .prefix(".find_k-")
        .tempdir()
        .map_err(|source| Error::Write {
            path: std::env::temp_dir(),
            source,
        })?;

    let mut pending = spec.k_min..=spec.k_max;
    let mut running: Vec<Running> = Vec::new();
    let mut done: BTreeMap<usize, f64> = BTreeMap::new();
    let mut next_to_report = spec.k_min;
    let outcome = loop {
        if cancel.load(Ordering::SeqCst) {
            break Err(Error::Interrupted);
        }
        while running.len() < spec.jobs {
            let Some(k) = pending.next() else { break };
            let child_spec = spec.child_spec(k, seed, private.path());
            let child = Command::new(&k_means)
                .args(k_means_args(&child_spec))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| Error::MissingKMeans {
                    looked: k_means.clone(),
                    why: format!("cannot start it: {e}"),
                });
            match child {
                Ok(child) => running.push(Running { k, child }),
                Err(e) => {
                    stop_all(&mut running);
                    return Err(e);
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
                Ok(None) => {}
                Err(e) => {
                    finished = Some((i, Err(e)));
                    break;
                }
            }
        }
        let Some((i, status)) = finished else {
            std::thread::sleep(Duration::from_millis(2));
            continue;
        };
        let mut r = running.swap_remove(i);
        let result = collect_child(spec, &mut r, status, seed, private.path());
        match result {
            Ok(loss) => {
                on_finish(r.k);
                done.insert(r.k, loss);
                while let Some(&loss) = done.get(&next_to_report) {
                    on_loss(next_to_report, loss);
                    next_to_report += 1;
                }
            }
            Err(e) => break Err(e),
        }
    };
    stop_all(&mut running);
    outcome?;
    // Removing the private folder is part of success: report if it fails.
    private.close().map_err(|source| Error::Write {
        path: std::env::temp_dir(),
        source,
    })?;

    let losses: Vec<(usize, f64)> = done.into_iter().collect();
    let suggested = suggest_k(&losses);
    write_sweep_folder(spec, seed, losses, suggested)
}

/// Reads a finished child's loss, then removes the run folder it made.
fn collect_child(
    spec: &SweepSpec,
    r: &mut Running,
    status: std::io::Result<std::process::ExitStatus>,
    seed: u64,
    private: &Path,
) -> Result<f64> {
    let mut stderr = String::new();
    if let Some(mut pipe) = r.child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    let child_failed = |why: String| Error::ChildFailed { k: r.k, why };
    let status = status.map_err(|e| child_failed(e.to_string()))?;
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
    let text = std::fs::read_to_string(&loss_path)
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
                "a b.png",
                "5",
                "-l",
                "-o",
                "--seed",
                "99",
                "--max-epochs",
                "7",
                "--out-dir",
                "/tmp/x"
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
