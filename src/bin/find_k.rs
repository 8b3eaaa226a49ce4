//! `find_k IMAGE [-o]`: run `k_means` for every K from 2 to 20 and plot loss against K.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;

use clap::{CommandFactory, Parser};
use kquant::app::{
    flag_on_signals, loss_line, progress_bar, run_sweep, suggestion_line, AppError as Error,
    ClusterArgs, SweepSpec,
};

/// Memory running out is an `error:` line and exit status 1, not an abort.
#[global_allocator]
static ALLOCATOR: kquant::app::ExitOnOutOfMemory = kquant::app::ExitOnOutOfMemory;

const AFTER_HELP: &str = "\
Reads the image once (a file, a pipe, or - for standard input) and runs the k_means binary (found
next to find_k) with -l for each K on a copy of its colours, reads each loss and removes what the
child made, then writes OUT_DIR/find_k_output<SHA-256 of the arguments>/:
  loss_graph.png   loss against K, the suggested K circled
  losses.csv       k,loss rows
  details.txt      the arguments, seed, losses and suggested K

The suggested K is the elbow of the curve (Kneedle: the point furthest below the chord from the first
to the last point, on the normalised, non-increasing curve).

Ctrl-C, SIGTERM and SIGHUP stop every child (and anything a child started), remove everything the
sweep made, and exit with 130, 143 and 129.

Example:
  find_k dog.jpeg -o
  find_k photo.png --k-max 32 --seed 1 -j 4";

/// The signal number used when standard output is closed (a reader such as `head` went away).
const SIGPIPE: i32 = 13;

/// Help choose K: run k_means for every K and plot the loss against K.
///
/// Add --best for smooth curves (each K gets the best-palette mode); without it each K runs the
/// original program's method.
#[derive(Debug, Parser)]
#[command(name = "find_k", version, after_help = AFTER_HELP)]
struct Cli {
    /// The image (any format k_means reads; - for standard input).
    image: PathBuf,
    /// One round: each K gets a single restart instead of 20.
    #[arg(short = 'o', conflicts_with = "restarts")]
    one_round: bool,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Smallest K.
    #[arg(long, value_name = "K", default_value_t = kquant::app::DEFAULT_K_MIN as u16,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    k_min: u16,
    /// Largest K.
    #[arg(long, value_name = "K", default_value_t = kquant::app::DEFAULT_K_MAX as u16,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    k_max: u16,
    /// How many k_means runs at once [default: two per core, but no more than the picture fits
    /// within --max-pixels]
    #[arg(short = 'j', long = "jobs", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    jobs: Option<u32>,
    /// Print a completion script for SHELL (bash, zsh, fish, elvish, powershell) and exit.
    #[arg(long, value_name = "SHELL", exclusive = true)]
    completions: Option<clap_complete::Shell>,
    /// Print the manual page (roff; `man -l -` shows it) and exit.
    #[arg(long, exclusive = true)]
    man: bool,
    /// Folder that the run folder is created in.
    #[arg(long, value_name = "DIR", default_value = kquant::app::DEFAULT_OUT_DIR)]
    out_dir: PathBuf,
    /// The k_means binary to run [default: the one next to find_k]
    #[arg(long = "k-means", value_name = "PATH")]
    k_means: Option<PathBuf>,
    /// Stop the sweep (exit 1) if one k_means run takes longer than SECS seconds [default: no limit]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    timeout: Option<u64>,
}

impl Cli {
    fn spec(&self) -> SweepSpec {
        SweepSpec {
            image: self.image.clone(),
            one_round: self.one_round,
            options: self.cluster.options(),
            k_min: usize::from(self.k_min),
            k_max: usize::from(self.k_max),
            jobs: self.jobs.map(|j| j as usize),
            out_dir: self.out_dir.clone(),
            k_means: self.k_means.clone(),
            timeout: self.timeout,
        }
    }
}

fn main() -> ExitCode {
    let cli = match kquant::app::parse_args::<Cli>(|cli| &cli.cluster) {
        Ok(cli) => cli,
        Err(done) => return done,
    };
    if cli.k_min > cli.k_max {
        Cli::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                format!("--k-min {} is larger than --k-max {}", cli.k_min, cli.k_max),
            )
            .exit();
    }
    let spec = cli.spec();
    let cancel = match flag_on_signals() {
        Ok(flag) => flag,
        Err(e) => {
            kquant::app::report_error(&format!("cannot handle signals: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let bar = progress_bar(
        (spec.k_max + 1).saturating_sub(spec.k_min) as u64,
        "k values",
    );
    let stdout = std::io::stdout();
    // A line that cannot be printed because the reader went away stops the sweep (it cleans up);
    // any other write error is reported once it has.
    let mut write_error: Option<std::io::Error> = None;
    let result = run_sweep(
        &spec,
        &cancel,
        |k, loss| {
            if write_error.is_none() {
                if let Err(e) = bar.suspend(|| writeln!(stdout.lock(), "{}", loss_line(k, loss))) {
                    cancel.store(SIGPIPE, Ordering::SeqCst);
                    write_error = Some(e);
                }
            }
        },
        |_| bar.inc(1),
    );
    bar.finish_and_clear();
    let printed = result.and_then(|report| {
        let mut out = stdout.lock();
        let mut print = || -> std::io::Result<()> {
            writeln!(out, "{}", suggestion_line(report.suggested))?;
            kquant::app::write_lines(&mut out, &report.lines)?;
            out.flush()
        };
        print().map_err(|e| {
            write_error = Some(e);
            Error::Interrupted { signal: SIGPIPE }
        })
    });
    match printed {
        Ok(()) => ExitCode::SUCCESS,
        // Stopped by a failed write: quietly if the reader went away, as `seq 100 | head -1`.
        Err(Error::Interrupted { signal: SIGPIPE }) => kquant::app::exit_after_printing(
            Err(write_error.unwrap_or_else(|| std::io::ErrorKind::BrokenPipe.into())),
            ExitCode::SUCCESS,
        ),
        Err(Error::Interrupted { signal }) => {
            kquant::app::report_error("interrupted; nothing was written");
            ExitCode::from(128 + signal as u8)
        }
        Err(e) => {
            kquant::app::report_error(&e.to_string());
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
