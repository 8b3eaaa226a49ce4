//! `find_k IMAGE [-o]`: run `k_means` for every K from 2 to 20 and plot loss against K.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::Parser;
use kquant::{loss_line, progress_bar, run_sweep, suggestion_line, ClusterArgs, Error, SweepSpec};

const AFTER_HELP: &str = "\
Runs the k_means binary (found next to find_k) with -l for each K, reads each loss and removes what
the child made, then writes OUT_DIR/find_k_output<SHA-256 of the arguments>/:
  loss_graph.png   loss against K, the suggested K circled
  losses.csv       k,loss rows
  details.txt      the arguments, seed, losses and suggested K

The suggested K is the elbow of the curve (Kneedle: the point furthest below the chord from the first
to the last point, on the normalised, non-increasing curve).

Example:
  find_k dog.jpeg -o
  find_k photo.png --k-max 32 --seed 1 -j 4";

/// Help choose K: run k_means for every K and plot the loss against K.
#[derive(Debug, Parser)]
#[command(version, after_help = AFTER_HELP)]
struct Cli {
    /// The image (any format k_means reads).
    image: PathBuf,
    /// One round: each K gets a single restart instead of 20.
    #[arg(short = 'o', conflicts_with = "restarts")]
    one_round: bool,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Smallest K.
    #[arg(long, value_name = "K", default_value_t = kquant::DEFAULT_K_MIN as u16,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    k_min: u16,
    /// Largest K.
    #[arg(long, value_name = "K", default_value_t = kquant::DEFAULT_K_MAX as u16,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    k_max: u16,
    /// How many k_means runs at once [default: twice the number of cores]
    #[arg(short = 'j', long = "jobs", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    jobs: Option<u32>,
    /// Folder that the run folder is created in.
    #[arg(long, value_name = "DIR", default_value = kquant::DEFAULT_OUT_DIR)]
    out_dir: PathBuf,
    /// The k_means binary to run [default: the one next to find_k]
    #[arg(long = "k-means", value_name = "PATH")]
    k_means: Option<PathBuf>,
}

impl Cli {
    fn spec(&self) -> SweepSpec {
        SweepSpec {
            image: self.image.clone(),
            one_round: self.one_round,
            options: self.cluster.options(),
            k_min: usize::from(self.k_min),
            k_max: usize::from(self.k_max),
            jobs: self.jobs.map_or_else(kquant::default_jobs, |j| j as usize),
            out_dir: self.out_dir.clone(),
            k_means: self.k_means.clone(),
        }
    }
}

fn main() -> ExitCode {
    let spec = Cli::parse().spec();
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&cancel);
    // Without a handler Ctrl-C would kill find_k before it removes its temporary folder.
    if let Err(e) = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst)) {
        eprintln!("error: cannot catch Ctrl-C: {e}");
        return ExitCode::FAILURE;
    }
    let bar = progress_bar(
        (spec.k_max + 1).saturating_sub(spec.k_min) as u64,
        "k values",
    );
    let result = run_sweep(
        &spec,
        &cancel,
        |k, loss| bar.suspend(|| println!("{}", loss_line(k, loss))),
        |_| bar.inc(1),
    );
    bar.finish_and_clear();
    match result {
        Ok(report) => {
            println!("{}", suggestion_line(report.suggested));
            for line in &report.lines {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(Error::Interrupted) => {
            eprintln!("error: interrupted; nothing was written");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
