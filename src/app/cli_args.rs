//! The command-line options both binaries share, so `k_means` and `find_k` parse them the same way.

use crate::app::spec::ClusterOptions;
use crate::colorspace::ColorSpace;
use crate::kmeans::{EmptyPolicy, Init};

/// The epoch limit of `--fast`: measured on 2-8 MP photos at K 16 to 256, Wu's start is within
/// 0.06 dB of its converged PSNR after 20 epochs, for a sixth of the converged run's k-means time at
/// K = 256.
const FAST_MAX_EPOCHS: usize = 20;

/// The clustering options, as clap arguments (`find_k` passes them on to `k_means`).
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// The best palette: k-means++ seeding, empty clusters reseeded, up to 300 epochs, the restart
    /// with the lowest sum of squared errors kept (same as --init kmeans++ --empty reseed).
    #[arg(long, conflicts_with_all = ["init", "empty"])]
    pub best: bool,
    /// A near-best palette quickly: Wu's quantizer as the start (no seed, one run), empty clusters
    /// reseeded, at most 20 epochs (same as --init wu --empty reseed --max-epochs 20).
    #[arg(long, conflicts_with_all = ["best", "init", "empty", "restarts"])]
    pub fast: bool,
    /// Seed of the random initial centroids; the same seed gives the same result. Without it a seed
    /// is drawn and written to details.txt.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Restarts from new random centroids, at most 1000; the one with the lowest loss is kept
    /// [default: 20]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=crate::kmeans::MAX_RESTARTS as i64))]
    pub restarts: Option<u32>,
    /// Maximum epochs (assign, then update) per restart, at most 100000 [default: 20, or 300 with
    /// --init kmeans++ or wu]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=crate::kmeans::MAX_EPOCHS as i64))]
    pub max_epochs: Option<u32>,
    /// Initial centroids: `random` points in the RGB cube (the original's), `kmeans++` seeding, or
    /// `wu`: Wu's quantizer, which needs no seed and no restarts (it starts the same every time).
    #[arg(long, value_enum, default_value_t = Init::Random)]
    pub init: Init,
    /// Empty clusters: `keep` them where they are (the original's), or `reseed` them on the
    /// worst-served colour, so the result has min(K, distinct colours) colours.
    #[arg(long, value_enum, default_value_t = EmptyPolicy::Keep)]
    pub empty: EmptyPolicy,
    /// Colour space to cluster in: rgb (the original's), lab (CIELAB) or oklab. The loss is reported
    /// in that space, and in RGB units in details.txt; every file holds sRGB colours.
    #[arg(long, value_enum, default_value_t = ColorSpace::Rgb)]
    pub space: ColorSpace,
    /// The largest picture read, in pixels (at most 4294967295, the most a colour's count holds);
    /// larger ones are refused from their header, before decoding. Files may be up to 8 bytes per
    /// pixel of it [default: 256000000]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=crate::MAX_PICTURE_PIXELS))]
    pub max_pixels: Option<u64>,
}

impl ClusterArgs {
    /// Arguments that contradict each other beyond what clap checks: the message for a usage
    /// error, if any.
    pub fn conflict(&self) -> Option<&'static str> {
        (self.init == Init::Wu && self.restarts.is_some_and(|r| r > 1)).then_some(
            "--restarts has no use with --init wu: its start is the same every time, so it runs once",
        )
    }

    /// The options these arguments give.
    pub fn options(&self) -> ClusterOptions {
        ClusterOptions {
            seed: self.seed,
            restarts: self.restarts.map(|r| r as usize),
            max_epochs: self
                .max_epochs
                .map(|e| e as usize)
                .or(self.fast.then_some(FAST_MAX_EPOCHS)),
            init: match (self.best, self.fast) {
                (true, _) => Init::KMeansPlusPlus,
                (_, true) => Init::Wu,
                _ => self.init,
            },
            empty: if self.best || self.fast {
                EmptyPolicy::Reseed
            } else {
                self.empty
            },
            space: self.space,
            max_pixels: self.max_pixels,
        }
    }
}

/// The start every binary makes: the panic hook installed, `--completions`/`--man` answered, the
/// arguments parsed (clap exits with its usage error), and the clustering options checked against
/// each other. `Err` holds the exit code when the binary has nothing more to do.
pub fn parse_args<C: clap::Parser>(
    cluster: impl Fn(&C) -> &ClusterArgs,
) -> Result<C, std::process::ExitCode> {
    install_panic_hook();
    if let Some(written) = print_completions_or_man(C::command()) {
        return Err(exit_after_printing(
            written,
            std::process::ExitCode::SUCCESS,
        ));
    }
    let cli = C::parse();
    if let Some(conflict) = cluster(&cli).conflict() {
        C::command()
            .error(clap::error::ErrorKind::ArgumentConflict, conflict)
            .exit();
    }
    Ok(cli)
}

/// `--completions SHELL` and `--man`, which print a shell completion script or the manual page
/// generated from the binary's own arguments, and stand alone on the command line (so the
/// binary's required arguments need not be given). Returns `None` when the command line is not
/// one of these, for the binary to parse as usual.
fn print_completions_or_man(mut command: clap::Command) -> Option<std::io::Result<()>> {
    use std::io::Write;
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    // Made in memory first: the generators panic or stop halfway on a write error.
    let mut text = Vec::new();
    match args.as_slice() {
        [flag, shell] if flag == "--completions" => {
            let shell: clap_complete::Shell = shell.to_str()?.parse().ok()?;
            let name = command.get_name().to_string();
            clap_complete::generate(shell, &mut command, name, &mut text);
        }
        [flag] if flag == "--man" => {
            if let Err(e) = clap_mangen::Man::new(command).render(&mut text) {
                return Some(Err(e));
            }
        }
        _ => return None,
    }
    let mut out = std::io::stdout().lock();
    Some(out.write_all(&text).and_then(|()| out.flush()))
}

/// Prints one `error:` line on standard error (control characters escaped: a file's name may hold
/// line breaks and terminal escapes); a closed standard error is not worth another error.
pub fn report_error(message: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "error: {}", super::printable(message));
}

/// A bug shows as one `error:` line, not a backtrace; a decoder's panic, which the loader turns into
/// an error about the file, shows nothing of its own.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        if !crate::io::panic_is_handled() {
            report_error(&format!("internal error ({info}); please report it"));
        }
    }));
}

/// The exit code after printing to standard output: `done` when it all went out; 141 (SIGPIPE's
/// status, as coreutils end) and no message when the reader went away (`| head -1`); 1 and one
/// `error:` line for any other write error (a full disk).
pub fn exit_after_printing(
    printed: std::io::Result<()>,
    done: std::process::ExitCode,
) -> std::process::ExitCode {
    match printed {
        Ok(()) => done,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            std::process::ExitCode::from(128 + 13)
        }
        Err(e) => {
            report_error(&format!("cannot write to standard output: {e}"));
            std::process::ExitCode::FAILURE
        }
    }
}
