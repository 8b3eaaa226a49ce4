//! One `k_means` run from start to finish: load, cluster, and write the run folder.
//!
//! The binary only turns its arguments into a [`JobSpec`] and prints the [`JobReport`]; every decision
//! (what the folder is called, which files are written, what they say) is made here.

use std::hash::BuildHasher;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::colorspace::ColorSpace;
use crate::error::{Error, Result};
use crate::image_file::load_picture_with;
use crate::indexed_png::encode as encode_indexed_png;
use crate::jpeg::encode_palette_jpeg;
use crate::kmeans::{dist2, fit, loss_of, to_color, Clustering, Color, KMeansParams, Points};
use crate::palette::{dither, palette_indices, Palette};
use crate::pixels::{ColorHistogram, Picture};
use crate::plot;
use crate::report::{colors_text, details_text, hex, loss_text};
use crate::run_dir::Staging;
use crate::spec::{empty_name, init_name, JobSpec};

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
    /// How close the dithered picture is to the original, when one was drawn (`--dither` with an
    /// image output).
    pub dithered_quality: Option<Quality>,
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
    /// The quality of drawing each colour of `points` (sRGB, the points `palette` was made from)
    /// with its palette entry.
    pub fn of(points: &Points, palette: &Palette) -> Self {
        let colors: Vec<Color> = palette.entries.iter().map(|e| to_color(e.rgb)).collect();
        let sse: f64 = points
            .coords
            .iter()
            .zip(&points.weights)
            .zip(&palette.color_entries)
            .map(|((&x, &w), &e)| f64::from(w) * dist2(x, colors[usize::from(e)]))
            .sum();
        Self::from_sse(sse, points.total_weight())
    }

    /// The quality of a drawn picture: each visible pixel as the palette entry `indices` gives it
    /// (as [`dither`] makes them).
    pub fn of_drawing(picture: &Picture, palette: &Palette, indices: &[Option<u8>]) -> Self {
        let colors: Vec<Color> = palette.entries.iter().map(|e| to_color(e.rgb)).collect();
        let (sse, pixels) = picture
            .rgb
            .iter()
            .zip(indices)
            .filter_map(|(&c, &i)| i.map(|i| dist2(to_color(c), colors[usize::from(i)])))
            .fold((0.0, 0u64), |(sse, n), d| (sse + d, n + 1));
        Self::from_sse(sse, pixels)
    }

    fn from_sse(sse: f64, pixels: u64) -> Self {
        let mse = sse / (3.0 * pixels as f64);
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
    /// The quality of the dithered picture, when one was drawn.
    dithered: Option<Quality>,
}

impl Scores {
    fn of(clustering: &Clustering, loaded: &Loaded, palette: &Palette) -> Self {
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
            quality: Quality::of(loaded.rgb_points(), palette),
            dithered: None,
        }
    }
}

fn load(spec: &JobSpec, timings: &mut Timings) -> Result<Loaded> {
    let start = Instant::now();
    let picture = load_picture_with(&spec.image, &spec.options.load_limits())?;
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
    let clustering = match &spec.palette {
        Some((_, colors)) => given_palette(&loaded.points, colors, &params, spec.whole_palette),
        None => fit(&loaded.points, &params, on_restart)?,
    };
    timings.cluster = start.elapsed();

    let start = Instant::now();
    let palette = Palette::from_clustering(&clustering, &loaded.points);
    let mut scores = Scores::of(&clustering, &loaded, &palette);
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
    scores.dithered = stage_outputs(
        spec,
        &loaded,
        &clustering,
        &palette,
        &mut staging,
        &mut lines,
    )?;
    let best = &clustering.best;
    let how = if spec.palette.is_some() {
        "with the given palette".to_string()
    } else {
        format!(
            "after {} epoch{} ({})",
            best.epochs,
            if best.epochs == 1 { "" } else { "s" },
            if best.converged {
                "converged"
            } else {
                "epoch limit"
            }
        )
    };
    let kept = if spec.palette.is_some() {
        String::new()
    } else {
        format!(
            ", restart {} of {} kept",
            clustering.restart + 1,
            params.restarts
        )
    };
    let summary = format!(
        "k = {}: loss {:.6}{} {how}, {} of {} colours used, PSNR {:.2} dB{}{kept}",
        spec.k,
        scores.space,
        match spec.options.space {
            ColorSpace::Rgb => String::new(),
            space => format!(" ({}; RGB loss {:.4})", space.name(), scores.rgb),
        },
        palette.len(),
        spec.k,
        quality.psnr,
        scores
            .dithered
            .map(|d| format!(" ({:.2} dB dithered)", d.psnr))
            .unwrap_or_default(),
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
        dithered_quality: scores.dithered,
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
    let mut entries = vec![
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
    ];
    if let Some((path, _)) = &spec.palette {
        entries.push(("palette file", path.display().to_string()));
    }
    if let Some((path, colors)) = &spec.fixed {
        let list: Vec<String> = colors.iter().map(|&c| hex(c)).collect();
        entries.push((
            "fixed colours",
            format!("{} ({})", list.join(", "), path.display()),
        ));
    }
    if params.keep == crate::kmeans::Keep::LowestSse {
        entries.push(("restart kept by", "lowest SSE (best mode)".to_string()));
    }
    entries.extend([
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
    ]);
    if spec.timings {
        entries.push(("timings", timings.line()));
    }
    if let Some(dithered) = scores.dithered {
        let after_psnr = entries
            .iter()
            .position(|&(name, _)| name == "PSNR")
            .map_or(entries.len(), |i| i + 1);
        entries.splice(
            after_psnr..after_psnr,
            [
                ("MSE of the dithered image", format!("{:.4}", dithered.mse)),
                (
                    "PSNR of the dithered image",
                    format!("{:.2} dB", dithered.psnr),
                ),
            ],
        );
    }
    entries
}

fn stage_outputs(
    spec: &JobSpec,
    loaded: &Loaded,
    clustering: &Clustering,
    palette: &Palette,
    staging: &mut Staging,
    lines: &mut Vec<String>,
) -> Result<Option<Quality>> {
    let k = spec.k;
    let best = &clustering.best;
    if spec.outputs.graph && spec.palette.is_some() {
        lines.push("loss graph: nothing to draw (--palette runs no epochs)".into());
    }
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
    if spec.outputs.graph && spec.palette.is_none() {
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
            palette_indices(&loaded.picture, &loaded.hist, palette)
        }
    });
    let dithered = indices
        .as_ref()
        .filter(|_| spec.dither)
        .map(|indices| Quality::of_drawing(&loaded.picture, palette, indices));
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
    if spec.swatch {
        let name = format!("palette_k{k}.png");
        let total = palette.total_pixels().max(1) as f64;
        let colors: Vec<([u8; 3], f64)> = palette
            .entries
            .iter()
            .map(|e| (e.rgb, e.pixels as f64 / total))
            .collect();
        let png = plot::swatch(&colors, k).map_err(|e| encode_err(&name, &e))?;
        put(staging, name, &png, "palette swatch".into())?;
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
    Ok(dithered)
}

/// The clustering that a given palette makes: its colours as the centroids, each colour of the
/// image at its nearest (no epoch is run).
/// With `whole`, every colour stays in the palette, used or not.
fn given_palette(
    points: &Points,
    colors: &[[u8; 3]],
    params: &KMeansParams,
    whole: bool,
) -> Clustering {
    let centroids: Vec<Color> = colors
        .iter()
        .map(|&c| params.space.encode(to_color(c)))
        .collect();
    let best = crate::kmeans::lloyd(points, centroids, 0, true);
    Clustering {
        restart_losses: vec![best.stats.loss],
        best,
        restart: 0,
        seed: params.seed,
        space: params.space,
        fixed: if whole { colors.len() } else { 0 },
    }
}

/// The path of a file of the run folder of `spec` (whether or not it was written).
pub fn output_path(spec: &JobSpec, name: &str) -> PathBuf {
    spec.run_dir().join(name)
}
