//! One `k_means` run from start to finish: load, cluster, and write the run folder.
//!
//! The binary only turns its arguments into a [`JobSpec`] and prints the [`JobReport`]; every decision
//! (what the folder is called, which files are written, what they say) is made here.

mod details;
mod measure;
mod outputs;

use std::hash::BuildHasher;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::app::error::{AppError as Error, Result};
use crate::app::report::{details_text, plural};
use crate::app::run_dir::Staging;
use crate::app::spec::JobSpec;
use crate::colorspace::ColorSpace;
use crate::io::{load_picture_with, read_picture, LoadLimits};
use crate::kmeans::{fit_on, to_color, Clustering, Color, Grid, KMeansParams, Points};
use crate::palette::Palette;
use crate::pixels::{ColorHistogram, Picture};
use measure::Scores;
pub use measure::{Quality, Timings};

/// A seed for runs without `--seed`, from the operating system's randomness.
pub fn random_seed() -> u64 {
    std::collections::hash_map::RandomState::new().hash_one(std::process::id())
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

fn load(spec: &JobSpec, decoded: Option<Decoded>, timings: &mut Timings) -> Result<Loaded> {
    let start = Instant::now();
    let limits = spec.options.load_limits();
    let mut took = None;
    let picture = if let Some(decoded) = decoded {
        took = Some(decoded.took);
        decoded.picture?
    } else {
        read_image(&spec.image, &limits)?
    };
    timings.decode = took.unwrap_or_else(|| start.elapsed());
    let start = Instant::now();
    let loaded = counted(spec, picture)?;
    timings.histogram = start.elapsed();
    Ok(loaded)
}

/// Reads the picture of `image` within `limits`: from standard input when it is `-` (refused when
/// that is a terminal), else from the file.
pub(crate) fn read_image(image: &Path, limits: &LoadLimits) -> Result<Picture> {
    if image.as_os_str() != "-" {
        return Ok(load_picture_with(image, limits)?);
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(crate::io::ImageError::Read {
            path: image.to_path_buf(),
            source: std::io::Error::other(
                "standard input is a terminal: pipe an image into it, or name a file",
            ),
        }
        .into());
    }
    Ok(read_picture(stdin.lock(), image, limits)?)
}

/// The histogram of the colours of `picture` (read from `image`); a picture whose every pixel is
/// fully transparent has none to cluster, and is refused.
pub(crate) fn visible_colours(image: &Path, picture: &Picture) -> Result<ColorHistogram> {
    let hist = ColorHistogram::from_picture(picture);
    if hist.is_empty() {
        return Err(Error::NoOpaquePixels {
            path: image.to_path_buf(),
        });
    }
    Ok(hist)
}

/// The distinct colours of `picture`, in the space `spec` clusters in.
fn counted(spec: &JobSpec, picture: Picture) -> Result<Loaded> {
    let hist = visible_colours(&spec.image, &picture)?;
    let points = Points::from_histogram_in(&hist, spec.options.space);
    let rgb_points = (spec.options.space != ColorSpace::Rgb).then(|| Points::from_histogram(&hist));
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
    run_job_on(spec, None, on_restart)
}

/// What reading an image gave (its picture, or why there is none), and how long that took.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub picture: std::result::Result<Picture, crate::io::ImageError>,
    pub took: std::time::Duration,
}

impl Decoded {
    /// Reads the image at `path` within `limits`, timing it.
    pub fn read(path: &std::path::Path, limits: &crate::io::LoadLimits) -> Self {
        let start = Instant::now();
        let picture = load_picture_with(path, limits);
        Self {
            picture,
            took: start.elapsed(),
        }
    }
}

/// [`run_job`] with `decoded`, when given, as what reading `spec`'s image gave: the file is not
/// read again (and its decode time is the one given).
pub(crate) fn run_job_on(
    spec: &JobSpec,
    decoded: Option<Decoded>,
    on_restart: impl Fn(usize) + Sync,
) -> Result<JobReport> {
    let params = spec.params(spec.options.resolve_seed());
    params.validate()?;
    let mut timings = Timings::default();
    let loaded = load(spec, decoded, &mut timings)?;

    let start = Instant::now();
    // One grid of the colours serves the clustering and then the palette's drawing assignment.
    let grid = Grid::new(&loaded.points);
    let clustering = match &spec.palette {
        Some((_, colors)) => given_palette(&grid, colors, &params, spec.whole_palette),
        None => fit_on(&loaded.points, &grid, &params, on_restart)?,
    };
    timings.cluster = start.elapsed();

    let start = Instant::now();
    let palette = Palette::of_clustering_on(&clustering, &loaded.points, &grid);
    drop(grid);
    let mut scores = Scores::of(&clustering, &loaded, &palette);
    let quality = scores.quality;
    let mut staging = Staging::begin(&spec.out_dir, &spec.folder_name())?;
    let run_dir = staging.run_dir().to_path_buf();
    let mut lines = vec![format!("output folder name: {}", run_dir.display())];
    if loaded.hist.len() < spec.k {
        lines.push(format!(
            "note: the image has only {} distinct colour{}, fewer than k = {}",
            loaded.hist.len(),
            plural(loaded.hist.len()),
            spec.k
        ));
    }
    scores.dithered = outputs::stage_outputs(
        spec,
        &loaded,
        &clustering,
        &palette,
        &mut staging,
        &mut lines,
    )?;
    let summary = details::summary(spec, &params, &clustering, &palette, &scores);
    lines.push(format!(
        "details saved to {}",
        run_dir.join("details.txt").display()
    ));
    timings.write = start.elapsed();
    let details = details_text(
        "k_means",
        &details::details_entries(
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
        epochs: clustering.best.epochs,
        colors: palette.len(),
        timings,
        palette,
        quality,
        dithered_quality: scores.dithered,
    })
}

/// The clustering that a given palette makes: its colours as the centroids, each colour of the
/// image at its nearest (no epoch is run).
/// With `whole`, every colour stays in the palette, used or not.
fn given_palette(
    grid: &Grid,
    colors: &[[u8; 3]],
    params: &KMeansParams,
    whole: bool,
) -> Clustering {
    let centroids: Vec<Color> = colors
        .iter()
        .map(|&c| params.space.encode(to_color(c)))
        .collect();
    let best = crate::kmeans::lloyd_trusted_on(grid, centroids, 0, 0, true);
    Clustering {
        restart_losses: vec![best.stats.loss],
        best,
        restart: 0,
        seed: params.seed,
        space: params.space,
        fixed: if whole { colors.len() } else { 0 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4x1 picture: two dark and two light pixels.
    fn loaded(spec: &JobSpec) -> Loaded {
        let pixels = vec![[0, 0, 0], [4, 4, 4], [250, 250, 250], [254, 254, 254]];
        counted(spec, Picture::from_rgb(4, 1, pixels).unwrap()).unwrap()
    }

    fn clustered(spec: &JobSpec, loaded: &Loaded) -> (KMeansParams, Clustering, Palette, Scores) {
        let params = spec.params(spec.options.resolve_seed());
        let clustering = match &spec.palette {
            Some((_, colors)) => given_palette(
                &Grid::new(&loaded.points),
                colors,
                &params,
                spec.whole_palette,
            ),
            None => crate::kmeans::fit(&loaded.points, &params, |_| {}).unwrap(),
        };
        let palette = Palette::of_clustering(&clustering, &loaded.points);
        let scores = Scores::of(&clustering, loaded, &palette);
        (params, clustering, palette, scores)
    }

    #[test]
    fn a_picture_with_no_opaque_pixel_is_refused() {
        let spec = JobSpec::new("clear.png", 2);
        let picture = Picture::from_rgba(2, 1, &[[9, 9, 9, 0], [1, 2, 3, 0]]).unwrap();
        assert!(matches!(
            counted(&spec, picture),
            Err(Error::NoOpaquePixels { .. })
        ));
    }

    #[test]
    fn the_summary_counts_epochs_and_names_a_given_palette() {
        let mut spec = JobSpec::new("p.png", 2);
        spec.options.seed = Some(42);
        let loaded = loaded(&spec);
        let (params, clustering, palette, scores) = clustered(&spec, &loaded);
        let line = details::summary(&spec, &params, &clustering, &palette, &scores);
        // Each pixel is sqrt(12) from its colour ([2,2,2] or [252,252,252]); one epoch gets there.
        assert_eq!(
            line,
            "k = 2: loss 3.464102 after 1 epoch (converged), 2 of 2 colours used, PSNR 42.11 dB, \
             restart 1 of 20 kept"
        );

        spec.palette = Some(("p.hex".into(), vec![[0, 0, 0], [255, 255, 255]]));
        let (params, clustering, palette, scores) = clustered(&spec, &loaded);
        let line = details::summary(&spec, &params, &clustering, &palette, &scores);
        assert!(line.contains(" with the given palette, "), "{line}");
        assert!(
            !line.contains("kept"),
            "no restart with a given palette: {line}"
        );
    }

    #[test]
    fn a_whole_palette_keeps_colours_no_pixel_uses() {
        let mut spec = JobSpec::new("p.png", 3);
        let colors = vec![[0, 0, 0], [255, 255, 255], [255, 0, 0]];
        spec.palette = Some(("p.hex".into(), colors.clone()));
        let loaded = loaded(&spec);
        let (_, _, palette, _) = clustered(&spec, &loaded);
        assert_eq!(
            palette.colors(),
            [[0, 0, 0], [255, 255, 255]],
            "red draws nothing"
        );
        spec.whole_palette = true;
        let (_, _, palette, _) = clustered(&spec, &loaded);
        assert_eq!(
            palette.colors(),
            colors,
            "every colour, in the palette's order"
        );
    }

    #[test]
    fn timings_are_in_the_details_only_when_asked_for() {
        let mut spec = JobSpec::new("p.png", 2);
        spec.options.seed = Some(1);
        let loaded = loaded(&spec);
        let (params, clustering, palette, scores) = clustered(&spec, &loaded);
        let timings = Timings::default();
        let names = |spec: &JobSpec| -> Vec<&'static str> {
            details::details_entries(
                spec,
                &params,
                &clustering,
                &palette,
                &loaded,
                &scores,
                &timings,
            )
            .into_iter()
            .map(|(name, _)| name)
            .collect()
        };
        assert!(!names(&spec).contains(&"timings"));
        assert!(names(&spec).contains(&"seed"));
        spec.timings = true;
        assert!(names(&spec).contains(&"timings"));
    }

    #[test]
    fn quality_is_the_psnr_of_the_drawn_colours() {
        let spec = JobSpec::new("p.png", 2);
        let loaded = loaded(&spec);
        // Drawn with [2,2,2] and [252,252,252]: every channel of every pixel is 2 off.
        let exact = Palette::from_colors(&[[2, 2, 2], [252, 252, 252]]).unwrap();
        let palette = Palette::of_clustering(
            &given_palette(
                &Grid::new(&loaded.points),
                &exact.colors(),
                &spec.params(0),
                false,
            ),
            &loaded.points,
        );
        let q = Quality::of(&loaded.points, &palette);
        assert!((q.mse - 4.0).abs() < 1e-12);
        assert!((q.psnr - 10.0 * (255.0f64 * 255.0 / 4.0).log10()).abs() < 1e-9);
        let spot_on = Palette::of_clustering(
            &given_palette(
                &Grid::new(&loaded.points),
                &[[0, 0, 0], [4, 4, 4], [250, 250, 250], [254, 254, 254]],
                &spec.params(0),
                false,
            ),
            &loaded.points,
        );
        assert_eq!(Quality::of(&loaded.points, &spot_on).psnr, f64::INFINITY);
    }
}
