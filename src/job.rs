//! One `k_means` run from start to finish: load, cluster, and write the run folder.
//!
//! The binary only turns its arguments into a [`JobSpec`] and prints the [`JobReport`]; every decision
//! (what the folder is called, which files are written, what they say) is made here.

use std::hash::BuildHasher;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::colorspace::ColorSpace;
use crate::error::{Error, Result};
use crate::indexed_png::encode as encode_indexed_png;
use crate::jpeg::encode_palette_jpeg;
use crate::kmeans::{
    dist2, fit, loss_of, to_color, to_rgb8, Clustering, Color, EmptyPolicy, Init, KMeansParams,
    Points,
};
use crate::palette::{dither, palette_indices, Palette};
use crate::pixels::{load_picture, ColorHistogram, Picture};
use crate::plot;
use crate::report::{colors_text, details_text, hex, loss_text, PaletteFormat};
use crate::run_dir::{canonical_text, folder_name, Staging};

/// Default number of restarts, as in the original.
pub const DEFAULT_RESTARTS: usize = 20;
/// Default maximum number of epochs per restart, as in the original.
pub const DEFAULT_MAX_EPOCHS: usize = 20;
/// Default maximum number of epochs with k-means++ seeding, which asks for the best palette rather
/// than the original's behaviour: enough to converge, as scikit-learn's `max_iter`.
pub const DEFAULT_MAX_EPOCHS_KMEANS_PP: usize = 300;

/// The maximum number of epochs when `--max-epochs` is not given, which depends on the seeding.
pub fn default_max_epochs(init: Init) -> usize {
    match init {
        Init::Random => DEFAULT_MAX_EPOCHS,
        Init::KMeansPlusPlus => DEFAULT_MAX_EPOCHS_KMEANS_PP,
    }
}
/// Default folder that run folders go in.
pub const DEFAULT_OUT_DIR: &str = "output";

/// Which optional files to write (the original's flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outputs {
    /// `-c`: `colors_k{K}.txt`.
    pub colors: bool,
    /// `-g`: `loss_graph_k{K}.png`.
    pub graph: bool,
    /// `-l`: `loss_k{K}.txt`.
    pub loss: bool,
    /// `-i`: `final_image_k{K}.jpeg`.
    pub image: bool,
    /// `-p`: `3D_model_init_k{K}.png` and `3D_model_after_k{K}.png`.
    pub models: bool,
}

/// The options that change how colours are clustered, as `k_means` takes them and `find_k` passes
/// them on. `None` means the option was not given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterOptions {
    /// `--seed`; a random one is drawn (and recorded) when absent.
    pub seed: Option<u64>,
    /// `--restarts`; 20 when absent (1 with `-o`).
    pub restarts: Option<usize>,
    /// `--max-epochs`; when absent 20, or 300 with k-means++ (see [`default_max_epochs`]).
    pub max_epochs: Option<usize>,
    /// `--init`: how initial centroids are chosen.
    pub init: Init,
    /// `--empty`: what happens to empty clusters.
    pub empty: EmptyPolicy,
    /// `--space`: the colour space to cluster in.
    pub space: ColorSpace,
}

impl ClusterOptions {
    /// The maximum number of epochs these options give.
    pub fn effective_max_epochs(&self) -> usize {
        self.max_epochs.unwrap_or(default_max_epochs(self.init))
    }

    /// `name: value` entries for a run folder's canonical text: each option given that differs
    /// from its default. Options added after the original come last, so older runs keep their names.
    pub fn canonical_entries(&self) -> Vec<(&'static str, String)> {
        let mut entries = Vec::new();
        if let Some(seed) = self.seed {
            entries.push(("seed", seed.to_string()));
        }
        if let Some(r) = self.restarts.filter(|&r| r != DEFAULT_RESTARTS) {
            entries.push(("restarts", r.to_string()));
        }
        if let Some(e) = self
            .max_epochs
            .filter(|&e| e != default_max_epochs(self.init))
        {
            entries.push(("max-epochs", e.to_string()));
        }
        if self.init != Init::Random {
            entries.push(("init", init_name(self.init).to_string()));
        }
        if self.empty != EmptyPolicy::Keep {
            entries.push(("empty", empty_name(self.empty).to_string()));
        }
        if self.space != ColorSpace::Rgb {
            entries.push(("space", self.space.name().to_string()));
        }
        entries
    }

    /// The command-line arguments that give these options to `k_means`.
    pub fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        let mut push = |name: &str, value: String| args.extend([name.to_string(), value]);
        if let Some(seed) = self.seed {
            push("--seed", seed.to_string());
        }
        if let Some(r) = self.restarts {
            push("--restarts", r.to_string());
        }
        if let Some(e) = self.max_epochs {
            push("--max-epochs", e.to_string());
        }
        if self.init != Init::Random {
            push("--init", init_name(self.init).to_string());
        }
        if self.empty != EmptyPolicy::Keep {
            push("--empty", empty_name(self.empty).to_string());
        }
        if self.space != ColorSpace::Rgb {
            push("--space", self.space.name().to_string());
        }
        args
    }
}

/// Everything a `k_means` run is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSpec {
    /// The image, as the user wrote its path.
    pub image: PathBuf,
    /// Number of colours.
    pub k: usize,
    /// Optional files.
    pub outputs: Outputs,
    /// `-o`: one restart instead of 20.
    pub one_round: bool,
    /// The options that change the clustering (shared with `find_k`, which passes them on).
    pub options: ClusterOptions,
    /// `--png`: also write `final_image_k{K}.png`, an indexed PNG of exactly the palette's colours.
    pub png: bool,
    /// `--dither`: Floyd-Steinberg error diffusion when drawing the image files.
    pub dither: bool,
    /// `--palette-format`: palette files written with `-c` besides `colors_k{K}.txt`.
    pub palette_formats: Vec<PaletteFormat>,
    /// Where run folders go.
    pub out_dir: PathBuf,
}

impl JobSpec {
    /// A run of `k` colours on `image` with no optional file and every default.
    pub fn new(image: impl Into<PathBuf>, k: usize) -> Self {
        Self {
            image: image.into(),
            k,
            outputs: Outputs::default(),
            one_round: false,
            options: ClusterOptions::default(),
            png: false,
            dither: false,
            palette_formats: Vec::new(),
            out_dir: PathBuf::from(DEFAULT_OUT_DIR),
        }
    }

    /// The number of restarts this run makes.
    pub fn effective_restarts(&self) -> usize {
        if self.one_round {
            1
        } else {
            self.options.restarts.unwrap_or(DEFAULT_RESTARTS)
        }
    }

    /// The flags as the user would write them, in the original's order (`-c -g -l -i -p -o`).
    pub fn flags_text(&self) -> String {
        let o = &self.outputs;
        [
            (o.colors, "-c"),
            (o.graph, "-g"),
            (o.loss, "-l"),
            (o.image, "-i"),
            (o.models, "-p"),
            (self.one_round, "-o"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, f)| *f)
        .collect::<Vec<_>>()
        .join(" ")
    }

    /// The canonical text that names the run folder: the image path as given, K, the flags, and each
    /// option that differs from its default. The order of flags on the command line does not matter.
    pub fn canonical_text(&self) -> String {
        let mut entries = vec![
            ("tool", "k_means".to_string()),
            ("image", self.image.to_string_lossy().into_owned()),
            ("k", self.k.to_string()),
            ("flags", self.flags_text()),
        ];
        entries.extend(self.options.canonical_entries());
        if self.png {
            entries.push(("png", "yes".to_string()));
        }
        if self.dither {
            entries.push(("dither", "yes".to_string()));
        }
        if !self.palette_formats.is_empty() {
            entries.push(("palette formats", self.palette_format_list()));
        }
        canonical_text(&entries)
    }

    /// The extra palette formats as written on the command line, e.g. `gpl,json`.
    pub fn palette_format_list(&self) -> String {
        let mut formats = self.palette_formats.clone();
        formats.sort();
        formats.dedup();
        formats
            .iter()
            .map(|f| f.extension())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The run folder's name: `output` and the hex SHA-256 of [`Self::canonical_text`].
    pub fn folder_name(&self) -> String {
        folder_name("output", &self.canonical_text())
    }

    /// The run folder's path.
    pub fn run_dir(&self) -> PathBuf {
        self.out_dir.join(self.folder_name())
    }

    /// The k-means parameters, with `seed` standing in for an absent `--seed`.
    pub fn params(&self, seed: u64) -> KMeansParams {
        KMeansParams::new(self.k)
            .restarts(self.effective_restarts())
            .max_epochs(self.options.effective_max_epochs())
            .seed(self.options.seed.unwrap_or(seed))
            .init(self.options.init)
            .empty(self.options.empty)
            .space(self.options.space)
    }
}

/// A seed for runs without `--seed`, from the operating system's randomness.
pub fn random_seed() -> u64 {
    std::collections::hash_map::RandomState::new().hash_one(std::process::id())
}

/// How long each phase of a run took.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    /// Reading and decoding the image.
    pub decode: Duration,
    /// Counting distinct colours.
    pub histogram: Duration,
    /// All restarts of k-means.
    pub cluster: Duration,
    /// Making and writing the output files.
    pub write: Duration,
}

impl Timings {
    /// The whole run.
    pub fn total(&self) -> Duration {
        self.decode + self.histogram + self.cluster + self.write
    }

    /// One line, e.g. `decode 0.291 s, histogram 0.020 s, k-means 0.310 s, files 0.002 s`.
    pub fn line(&self) -> String {
        format!(
            "decode {:.3} s, histogram {:.3} s, k-means {:.3} s, files {:.3} s, total {:.3} s",
            self.decode.as_secs_f64(),
            self.histogram.as_secs_f64(),
            self.cluster.as_secs_f64(),
            self.write.as_secs_f64(),
            self.total().as_secs_f64()
        )
    }
}

/// What a finished run did.
#[derive(Debug, Clone)]
pub struct JobReport {
    /// The run folder.
    pub run_dir: PathBuf,
    /// The files written, in order (details.txt last).
    pub files: Vec<PathBuf>,
    /// The lines to print: `output folder name: ...`, then one per file written.
    pub lines: Vec<String>,
    /// The one-line summary to print after them.
    pub summary: String,
    /// The seed used.
    pub seed: u64,
    /// The final loss.
    pub loss: f64,
    /// Epochs of the winning restart.
    pub epochs: usize,
    /// Colours used (K minus the unused centroids).
    pub colors: usize,
    /// How long each phase took.
    pub timings: Timings,
    /// The colours used, most-used first.
    pub palette: Palette,
    /// How close the picture drawn with the palette is to the original.
    pub quality: Quality,
}

/// The command-line name of an initialisation method.
pub fn init_name(init: Init) -> &'static str {
    match init {
        Init::Random => "random",
        Init::KMeansPlusPlus => "kmeans++",
    }
}

/// The command-line name of an empty-cluster policy.
pub fn empty_name(empty: EmptyPolicy) -> &'static str {
    match empty {
        EmptyPolicy::Keep => "keep",
        EmptyPolicy::Reseed => "reseed",
    }
}

/// Quality figures of the picture drawn with the palette's (8-bit) colours, over visible pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quality {
    /// Mean squared error per channel (0-255 units).
    pub mse: f64,
    /// Peak signal-to-noise ratio in dB: `10 log10(255^2 / MSE)` (infinite for an exact picture).
    pub psnr: f64,
}

impl Quality {
    /// The quality of drawing each colour of `points` with its label's rounded centroid.
    pub fn of(points: &Points, labels: &[u8], centroids: &[Color]) -> Self {
        let colors: Vec<Color> = centroids.iter().map(|&c| to_color(to_rgb8(c))).collect();
        let sse: f64 = points
            .coords
            .iter()
            .zip(&points.weights)
            .zip(labels)
            .map(|((&x, &w), &l)| f64::from(w) * dist2(x, colors[usize::from(l)]))
            .sum();
        let mse = sse / (3.0 * points.total_weight() as f64);
        Self {
            mse,
            psnr: 10.0 * (255.0f64 * 255.0 / mse).log10(),
        }
    }
}

/// A picture loaded and counted, ready to cluster.
struct Loaded {
    picture: Picture,
    hist: ColorHistogram,
    /// The distinct colours in the clustering space.
    points: Points,
    /// The distinct colours in sRGB, when the clustering space is another.
    rgb_points: Option<Points>,
}

impl Loaded {
    /// The distinct colours in sRGB.
    fn rgb_points(&self) -> &Points {
        self.rgb_points.as_ref().unwrap_or(&self.points)
    }
}

/// How good the result is: the final loss in the clustering space's units, its SSE, the loss in
/// sRGB units, and the quality of the picture drawn with the 8-bit palette.
#[derive(Debug, Clone, Copy)]
struct Scores {
    space: f64,
    sse: f64,
    rgb: f64,
    quality: Quality,
}

impl Scores {
    fn of(clustering: &Clustering, loaded: &Loaded) -> Self {
        let best = &clustering.best;
        let unit = clustering.space.unit();
        let rgb = match clustering.space {
            ColorSpace::Rgb => best.stats.loss,
            _ => {
                loss_of(
                    loaded.rgb_points(),
                    &clustering.srgb_centroids(),
                    &best.labels,
                )
                .loss
            }
        };
        Self {
            space: best.stats.loss / unit,
            sse: best.stats.sse / (unit * unit),
            rgb,
            quality: Quality::of(
                loaded.rgb_points(),
                &best.labels,
                &clustering.srgb_centroids(),
            ),
        }
    }
}

fn load(spec: &JobSpec, timings: &mut Timings) -> Result<Loaded> {
    let start = Instant::now();
    let picture = load_picture(&spec.image)?;
    timings.decode = start.elapsed();
    let start = Instant::now();
    let hist = ColorHistogram::from_picture(&picture);
    if hist.is_empty() {
        return Err(Error::NoOpaquePixels {
            path: spec.image.clone(),
        });
    }
    let points = Points::from_histogram_in(&hist, spec.options.space);
    let rgb_points = (spec.options.space != ColorSpace::Rgb).then(|| Points::from_histogram(&hist));
    timings.histogram = start.elapsed();
    Ok(Loaded {
        picture,
        hist,
        points,
        rgb_points,
    })
}

/// Runs `spec`: loads the image, clusters it, and writes the run folder. `on_restart` is called as
/// each restart finishes (from any thread). Nothing is written when any step fails.
///
/// # Errors
/// Invalid parameters, an unreadable image, or a folder or file that cannot be written.
pub fn run_job(spec: &JobSpec, on_restart: impl Fn(usize) + Sync) -> Result<JobReport> {
    let seed = spec.options.seed.unwrap_or_else(random_seed);
    let params = spec.params(seed);
    params.validate()?;
    let mut timings = Timings::default();
    let loaded = load(spec, &mut timings)?;

    let start = Instant::now();
    let clustering = fit(&loaded.points, &params, on_restart)?;
    timings.cluster = start.elapsed();

    let start = Instant::now();
    let palette = Palette::from_clustering(&clustering, &loaded.points);
    let scores = Scores::of(&clustering, &loaded);
    let quality = scores.quality;
    let mut staging = Staging::begin(&spec.out_dir, &spec.folder_name())?;
    let mut lines = vec![format!(
        "output folder name: {}",
        staging.run_dir().display()
    )];
    if loaded.hist.len() < spec.k {
        lines.push(format!(
            "note: the image has only {} distinct colours, fewer than k = {}",
            loaded.hist.len(),
            spec.k
        ));
    }
    stage_outputs(
        spec,
        &loaded,
        &clustering,
        &palette,
        &mut staging,
        &mut lines,
    )?;
    let best = &clustering.best;
    let summary = format!(
        "k = {}: loss {:.6}{} after {} epoch{} ({}), {} of {} colours used, PSNR {:.2} dB, restart {} of {} kept",
        spec.k,
        scores.space,
        match spec.options.space {
            ColorSpace::Rgb => String::new(),
            space => format!(" ({}; RGB loss {:.4})", space.name(), scores.rgb),
        },
        best.epochs,
        if best.epochs == 1 { "" } else { "s" },
        if best.converged {
            "converged"
        } else {
            "epoch limit"
        },
        palette.len(),
        spec.k,
        quality.psnr,
        clustering.restart + 1,
        params.restarts,
    );
    let run_dir = spec.run_dir();
    lines.push(format!(
        "details saved to {}",
        run_dir.join("details.txt").display()
    ));
    timings.write = start.elapsed();
    let details = details_text(
        "k_means",
        &details_entries(
            spec,
            &params,
            &clustering,
            &palette,
            &loaded,
            &scores,
            &timings,
        ),
        &lines,
    );
    staging.write("details.txt", details.as_bytes())?;
    let files = staging.commit()?;
    Ok(JobReport {
        run_dir,
        files,
        lines,
        summary,
        seed: params.seed,
        loss: scores.space,
        epochs: best.epochs,
        colors: palette.len(),
        timings,
        palette,
        quality,
    })
}

fn details_entries(
    spec: &JobSpec,
    params: &KMeansParams,
    clustering: &Clustering,
    palette: &Palette,
    loaded: &Loaded,
    scores: &Scores,
    timings: &Timings,
) -> Vec<(&'static str, String)> {
    let best = &clustering.best;
    let flags = spec.flags_text();
    vec![
        ("image", spec.image.display().to_string()),
        (
            "image size",
            format!("{}x{}", loaded.picture.width, loaded.picture.height),
        ),
        ("pixels clustered", loaded.points.total_weight().to_string()),
        ("distinct colours", loaded.hist.len().to_string()),
        ("k", spec.k.to_string()),
        (
            "flags",
            if flags.is_empty() {
                "(none)".into()
            } else {
                flags
            },
        ),
        ("seed", params.seed.to_string()),
        ("restarts", params.restarts.to_string()),
        ("max epochs", params.max_epochs.to_string()),
        ("best restart", (clustering.restart + 1).to_string()),
        (
            "epochs run",
            format!(
                "{} ({})",
                best.epochs,
                if best.converged {
                    "converged"
                } else {
                    "stopped at the epoch limit"
                }
            ),
        ),
        ("space", spec.options.space.name().to_string()),
        ("final loss", format!("{:.6}", scores.space)),
        ("final loss in RGB units", format!("{:.6}", scores.rgb)),
        ("SSE", format!("{:.1}", scores.sse)),
        (
            "colours used",
            format!(
                "{} of {} ({} centroids unused)",
                palette.len(),
                spec.k,
                palette.unused
            ),
        ),
        ("init", init_name(params.init).to_string()),
        ("empty clusters", empty_name(params.empty).to_string()),
        ("MSE", format!("{:.4}", scores.quality.mse)),
        ("PSNR", format!("{:.2} dB", scores.quality.psnr)),
        (
            "colour shares",
            palette
                .entries
                .iter()
                .map(|e| {
                    format!(
                        "{} {:.2}%",
                        hex(e.rgb),
                        100.0 * e.pixels as f64 / palette.total_pixels() as f64
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ("timings", timings.line()),
    ]
}

fn stage_outputs(
    spec: &JobSpec,
    loaded: &Loaded,
    clustering: &Clustering,
    palette: &Palette,
    staging: &mut Staging,
    lines: &mut Vec<String>,
) -> Result<()> {
    let k = spec.k;
    let best = &clustering.best;
    let mut put = |staging: &mut Staging, name: String, bytes: &[u8], what: String| {
        staging.write(&name, bytes)?;
        lines.push(format!(
            "{what} saved to {}",
            staging.final_path(&name).display()
        ));
        Ok::<(), Error>(())
    };
    let encode_err = |name: &str, e: &dyn std::fmt::Display| Error::Encode {
        path: output_path(spec, name),
        message: e.to_string(),
    };
    if spec.outputs.colors {
        let what = format!(
            "colours ({} used, {} of {} centroids unused)",
            palette.len(),
            palette.unused,
            k
        );
        put(
            staging,
            format!("colors_k{k}.txt"),
            colors_text(palette).as_bytes(),
            what,
        )?;
        for format in &spec.palette_formats {
            let ext = format.extension();
            put(
                staging,
                format!("colors_k{k}.{ext}"),
                format.text(palette, k).as_bytes(),
                format!("colours ({ext})"),
            )?;
        }
    }
    if spec.outputs.graph {
        let name = format!("loss_graph_k{k}.png");
        let unit = clustering.space.unit();
        let losses: Vec<f64> = best.history.iter().map(|s| s.loss / unit).collect();
        let png = plot::loss_graph(&losses, k).map_err(|e| encode_err(&name, &e))?;
        put(staging, name, &png, "loss graph".into())?;
    }
    if spec.outputs.loss {
        let text = loss_text(best.stats.loss / clustering.space.unit());
        put(
            staging,
            format!("loss_k{k}.txt"),
            text.as_bytes(),
            format!("loss ({})", text.trim()),
        )?;
    }
    let indices = (spec.outputs.image || spec.png).then(|| {
        if spec.dither {
            dither(&loaded.picture, palette)
        } else {
            palette_indices(&loaded.picture, &loaded.hist, &best.labels, palette)
        }
    });
    if let Some(indices) = indices {
        if spec.outputs.image {
            let name = format!("final_image_k{k}.jpeg");
            let jpeg = encode_palette_jpeg(&loaded.picture, palette, &indices)
                .map_err(|e| encode_err(&name, &e))?;
            put(staging, name, &jpeg, "final image".into())?;
        }
        if spec.png {
            let name = format!("final_image_k{k}.png");
            let png = encode_indexed_png(&loaded.picture, palette, &indices)
                .map_err(|e| encode_err(&name, &e))?;
            let input = std::fs::metadata(&spec.image).map_or(0, |m| m.len());
            let what = format!(
                "final image as PNG ({} colours, {} KB; the input is {} KB)",
                palette.len(),
                png.len().div_ceil(1024),
                input.div_ceil(1024)
            );
            put(staging, name, &png, what)?;
        }
    }
    if spec.outputs.models {
        let sample = plot::sample_colors(&loaded.hist, plot::MODEL_SAMPLE);
        let name = format!("3D_model_init_k{k}.png");
        let initial: Vec<Color> = best
            .initial
            .iter()
            .map(|&c| spec.options.space.decode(c))
            .collect();
        let png = plot::model_init(&sample, &initial, k).map_err(|e| encode_err(&name, &e))?;
        put(
            staging,
            name,
            &png,
            "3D model of the initial centroids".into(),
        )?;
        let name = format!("3D_model_after_k{k}.png");
        let used: Vec<_> = palette.entries.iter().map(|e| e.exact).collect();
        let png = plot::model_after(&sample, &used, k).map_err(|e| encode_err(&name, &e))?;
        put(
            staging,
            name,
            &png,
            "3D model of the final centroids".into(),
        )?;
    }
    Ok(())
}

/// The path of a file of the run folder of `spec` (whether or not it was written).
pub fn output_path(spec: &JobSpec, name: &str) -> PathBuf {
    spec.run_dir().join(name)
}
