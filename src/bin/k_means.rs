//! `k_means IMAGE K [-c -g -l -i -p -o]`: redraw an image with K colours.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Mutex, PoisonError};

use clap::{CommandFactory, Parser};
use kquant::app::{
    exit_on_signals, progress_bar, run_job, write_lines, ClusterArgs, JobReport, JobSpec, Outputs,
};
use kquant::{hex, PaletteFormat};

/// Memory running out is an `error:` line and exit status 1, not an abort.
#[global_allocator]
static ALLOCATOR: kquant::app::ExitOnOutOfMemory = kquant::app::ExitOnOutOfMemory;

const AFTER_HELP: &str = "\
Every run writes into OUT_DIR/output<SHA-256 of the arguments>/ (the same command reuses the same
folder):
  details.txt               always: image, K, flags, seed, epochs, loss, colours used, timings
  colors_k{K}.txt     (-c)  one R,G,B line per colour (0-255), most-used first
  loss_graph_k{K}.png (-g)  loss per epoch of the best restart
  loss_k{K}.txt       (-l)  the final loss (mean RGB distance of a pixel to its colour)
  final_image_k{K}.jpeg (-i) the image drawn with the K colours (JPEG quality 95)
  3D_model_init_k{K}.png, 3D_model_after_k{K}.png (-p)
                            the pixels in RGB space with the initial / final centroids

  colors_k{K}.hex/.gpl/.json/.ase/.aco/.act (-c --palette-format hex,gpl,json,ase,aco,act)
                            the palette as hex codes, a GIMP palette, JSON with shares, Adobe
                            Swatch Exchange, Photoshop swatches or a Photoshop colour table
  final_image_k{K}.png (--png) indexed PNG of exactly the palette's colours
  palette_k{K}.png (--swatch)  the palette as bars sized by share, with hex codes

Example:
  k_means dog.jpeg 16 -i -l -p -c -g -o
  k_means photo.jpg 16 -i --png --init kmeans++ --empty reseed
  k_means photo.png 8 -ci --seed 42 --out-dir runs";

/// Redraw an image with only K colours, found by k-means clustering.
///
/// For the best palette add --best (k-means++ seeding, empty clusters reseeded, run to
/// convergence); without it k_means runs the original program's method.
#[derive(Debug, Parser)]
#[command(name = "k_means", version, after_help = AFTER_HELP)]
struct Cli {
    /// The image (JPEG, PNG, GIF, BMP, TIFF, WebP, ...), `-` for standard input, or a folder: every
    /// image in it (not in its subfolders) gets its own run folder. Pixels with alpha 0 are left out.
    image: PathBuf,
    /// Number of colours, 1 to 256.
    #[arg(value_parser = clap::value_parser!(u16).range(1..=256))]
    k: u16,
    /// Write colors_k{K}.txt: the colours, one R,G,B line each.
    #[arg(short = 'c')]
    colors: bool,
    /// Write loss_graph_k{K}.png: the loss after each epoch.
    #[arg(short = 'g')]
    graph: bool,
    /// Write loss_k{K}.txt: the final loss.
    #[arg(short = 'l')]
    loss: bool,
    /// Write final_image_k{K}.jpeg: the image in K colours.
    #[arg(short = 'i')]
    image_out: bool,
    /// Write 3D_model_init_k{K}.png and 3D_model_after_k{K}.png: the colours in RGB space.
    #[arg(short = 'p')]
    models: bool,
    /// One round: a single restart instead of 20 (faster, usually a higher loss).
    #[arg(short = 'o', conflicts_with = "restarts")]
    one_round: bool,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Also write final_image_k{K}.png: an indexed PNG holding exactly the palette's colours.
    #[arg(long)]
    png: bool,
    /// Draw with the colours of FILE instead of clustering: a colors_k{K}.txt, .hex, .gpl or .json
    /// file (JASC .pal, Paint.NET .txt and Adobe .ase palettes read too), or an image of at most 256
    /// colours. K must be at most its number of colours; the first K are used.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["init", "empty", "best", "restarts", "max_epochs", "one_round"])]
    palette: Option<PathBuf>,
    /// Colours that must be in the palette (a palette file, as for --palette): they are the first
    /// centroids and never move; k-means places the other K - n.
    #[arg(long, value_name = "FILE", conflicts_with = "palette")]
    fixed: Option<PathBuf>,
    /// With a folder as IMAGE: cluster all its images together (their pixels merged) into one
    /// palette, written once, and draw every image with it.
    #[arg(long, conflicts_with_all = ["palette"])]
    shared_palette: bool,
    /// Also write palette_k{K}.png: the palette as bars sized by each colour's share of pixels,
    /// labelled with hex codes.
    #[arg(long)]
    swatch: bool,
    /// Floyd-Steinberg dithering when drawing final_image_k{K}.jpeg and .png.
    #[arg(long)]
    dither: bool,
    /// With -c, also write the palette as colors_k{K}.hex, .gpl (GIMP), .json, .ase (Adobe Swatch
    /// Exchange), .aco (Photoshop swatches) or .act (a Photoshop colour table); comma-separated.
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        value_delimiter = ',',
        requires = "colors"
    )]
    palette_format: Vec<PaletteFormat>,
    /// Print a completion script for SHELL (bash, zsh, fish, elvish, powershell) and exit.
    #[arg(long, value_name = "SHELL", exclusive = true)]
    completions: Option<clap_complete::Shell>,
    /// Print the manual page (roff; `man -l -` shows it) and exit.
    #[arg(long, exclusive = true)]
    man: bool,
    /// Folder that run folders are created in.
    #[arg(long, value_name = "DIR", default_value = kquant::app::DEFAULT_OUT_DIR)]
    out_dir: PathBuf,
    /// Print how long each phase took (decode, histogram, k-means, files) on stderr, and write it to
    /// details.txt.
    #[arg(long)]
    timings: bool,
}

impl Cli {
    fn spec(&self) -> JobSpec {
        JobSpec {
            image: self.image.clone(),
            k: usize::from(self.k),
            outputs: Outputs {
                colors: self.colors,
                graph: self.graph,
                loss: self.loss,
                image: self.image_out,
                models: self.models,
            },
            one_round: self.one_round,
            options: self.cluster.options(),
            png: self.png,
            swatch: self.swatch,
            palette: None,
            whole_palette: false,
            fixed: None,
            dither: self.dither,
            palette_formats: self.palette_format.clone(),
            out_dir: self.out_dir.clone(),
            timings: self.timings,
        }
    }
}

fn main() -> ExitCode {
    let cli = match kquant::app::parse_args::<Cli>(|cli| &cli.cluster) {
        Ok(cli) => cli,
        Err(done) => return done,
    };
    // Ctrl-C, SIGTERM or SIGHUP: remove what the run made so far, exit 128 + the signal.
    if let Err(e) = exit_on_signals() {
        kquant::app::report_error(&format!("cannot handle signals: {e}"));
        return ExitCode::FAILURE;
    }
    let mut spec = cli.spec();
    if let Err(e) = read_brought_palettes(&cli, &mut spec) {
        kquant::app::report_error(&e.to_string());
        return ExitCode::FAILURE;
    }
    if cli.image.is_dir() {
        return run_folder(&cli, &spec);
    }
    if cli.shared_palette {
        Cli::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "--shared-palette needs IMAGE to be a folder of images",
            )
            .exit();
    }
    let progress = progress_bar(spec.effective_restarts() as u64, "restarts");
    let result = run_job(&spec, |_| progress.inc(1));
    progress.finish_and_clear();
    match result {
        // The files are written even when the reader of our output went away.
        Ok(report) => {
            kquant::app::exit_after_printing(print_report(&cli, &report), ExitCode::SUCCESS)
        }
        Err(e) => {
            kquant::app::report_error(&e.to_string());
            ExitCode::FAILURE
        }
    }
}

/// `k_means FOLDER K`: every image of the folder, one line each in name order, printed as soon as
/// it and every image before it are done (so that a run stopped midway has said which images it
/// finished), then a summary line; exit 1 if any image failed (each failure is its own `error:`
/// line).
fn run_folder(cli: &Cli, spec: &JobSpec) -> ExitCode {
    let images = match kquant::app::images_in(&spec.image) {
        Ok(images) => images,
        Err(e) => {
            kquant::app::report_error(&e.to_string());
            return ExitCode::FAILURE;
        }
    };
    let mut spec = spec.clone();
    let mut printed = Ok(());
    let mut decoded = kquant::app::DecodedSet::default();
    if cli.shared_palette {
        let reading = progress_bar(images.len() as u64, "images read for the shared palette");
        let shared = kquant::app::shared_palette(&spec, &images, || reading.inc(1));
        reading.finish_and_clear();
        match shared {
            Ok(mut shared) => {
                printed = print_lines(&shared.lines);
                shared.apply_to(&mut spec);
                decoded = shared.take_decoded();
            }
            Err(e) => {
                kquant::app::report_error(&e.to_string());
                return ExitCode::FAILURE;
            }
        }
    }
    let progress = progress_bar(images.len() as u64, "images");
    let in_order = Mutex::new(InOrder {
        next: 0,
        waiting: BTreeMap::new(),
        printed,
    });
    let result = kquant::app::run_batch_decoded(&spec, &images, decoded, |i, result| {
        progress.inc(1);
        let line = match result {
            Ok(r) => Ok(format!(
                "{}: {} -> {}",
                images[i].display(),
                r.summary,
                r.run_dir.display()
            )),
            Err(e) => Err(e.to_string()),
        };
        let mut in_order = in_order.lock().unwrap_or_else(PoisonError::into_inner);
        in_order.waiting.insert(i, line);
        progress.suspend(|| in_order.print_ready());
    });
    progress.finish_and_clear();
    let report = match result {
        Ok(report) => report,
        Err(e) => {
            kquant::app::report_error(&e.to_string());
            return ExitCode::FAILURE;
        }
    };
    let printed = in_order
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
        .printed
        .and_then(|()| print_lines(&[report.summary()]));
    let done = if report.failed() > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    };
    kquant::app::exit_after_printing(printed, done)
}

/// The lines of a folder's images, held until every image before theirs is printed.
struct InOrder {
    /// The index of the next image to print.
    next: usize,
    /// Finished images not yet printed: a line for stdout, or an error line.
    waiting: BTreeMap<usize, Result<String, String>>,
    /// The first failed write to stdout, after which nothing more is printed there.
    printed: std::io::Result<()>,
}

impl InOrder {
    fn print_ready(&mut self) {
        while let Some(line) = self.waiting.remove(&self.next) {
            self.next += 1;
            match line {
                Ok(line) if self.printed.is_ok() => self.printed = print_lines(&[line]),
                Ok(_) => {}
                Err(e) => kquant::app::report_error(&e),
            }
        }
    }
}

/// `lines` on stdout, flushed (a folder's lines go out as they come); the file names in them are
/// shown with their control characters escaped.
fn print_lines(lines: &[String]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    write_lines(&mut out, lines)?;
    out.flush()
}

/// Reads the files of `--palette` and `--fixed` into `spec`, before any work, so a bad file costs
/// nothing.
fn read_brought_palettes(
    cli: &Cli,
    spec: &mut JobSpec,
) -> Result<(), kquant::io::PaletteFileError> {
    let limits = spec.options.load_limits();
    if let Some(path) = &cli.palette {
        spec.palette = Some((
            path.clone(),
            kquant::io::palette_of_k(path, spec.k, &limits)?,
        ));
    }
    if let Some(path) = &cli.fixed {
        spec.fixed = Some((path.clone(), kquant::io::fixed_of_k(path, spec.k, &limits)?));
    }
    Ok(())
}

/// The lines of a finished run on standard output (and the timings on standard error).
fn print_report(cli: &Cli, report: &JobReport) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    write_lines(&mut out, &report.lines)?;
    writeln!(
        out,
        "{}, {:.2} s",
        report.summary,
        report.timings.total().as_secs_f64()
    )?;
    if std::io::stdout().is_terminal() {
        print_swatches(&mut out, report)?;
    }
    out.flush()?;
    if cli.timings {
        let _ = writeln!(std::io::stderr(), "timings: {}", report.timings.line());
    }
    Ok(())
}

/// Each palette colour as a coloured swatch beside its hex code and share of pixels.
fn print_swatches(out: &mut impl Write, report: &JobReport) -> std::io::Result<()> {
    let total = report.palette.total_pixels().max(1) as f64;
    for e in report.palette.entries() {
        let [r, g, b] = e.rgb;
        writeln!(
            out,
            "\x1b[48;2;{r};{g};{b}m      \x1b[0m {} {:6.2}%",
            hex(e.rgb),
            100.0 * e.pixels as f64 / total
        )?;
    }
    Ok(())
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
