//! A folder of images (`k_means FOLDER K`): every image in it quantized into its own run folder,
//! images in parallel as far as their pixels fit within the pixel limit of one image; a bad file
//! is reported and the others still finish. With a shared palette,
//! the merged histogram of all images (weighted by pixels) is clustered once and every image drawn
//! with that one palette, which is written once, in a run folder of its own. When the folder's
//! pictures fit the pixel limit together, those read for the palette are the ones drawn: each is
//! decoded once, and the palette is of exactly the pixels drawn even if a file changes meanwhile.

use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;

use crate::app::error::{AppError as Error, Result};
use crate::app::job::{run_job_on, Decoded, JobReport};
use crate::app::report::{details_text, plural};
use crate::app::run_dir::{canonical_text, folder_name, path_entry, Staging};
use crate::app::spec::{seed_text, JobSpec};
use crate::io::{is_picture, picture_size, HEAD_BYTES};
use crate::kmeans::{fit_on, Grid, Points};
use crate::palette::Palette;
use crate::palette_text::{colors_text, hex};
use crate::pixels::{color_key, key_color, ColorHistogram};

/// The images of `folder` (not its subfolders), in name order: the files whose first bytes are an
/// image signature (a text file or anything else is not an image of the set, and is passed over).
///
/// # Errors
/// [`Error::ListFolder`] when the folder cannot be listed.
pub fn images_in(folder: &Path) -> Result<Vec<PathBuf>> {
    let read_err = |source| Error::ListFolder {
        path: folder.to_path_buf(),
        source,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .map_err(read_err)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files.retain(|p| {
        let mut head = Vec::new();
        std::fs::File::open(p)
            .and_then(|f| f.take(HEAD_BYTES).read_to_end(&mut head))
            .is_ok()
            && is_picture(&head, p)
    });
    Ok(files)
}

/// `pixels` (of each image in turn) cut into consecutive waves whose pixels together stay within
/// `limit`; an image over the limit on its own is a wave of its own.
fn waves(pixels: &[u64], limit: u64) -> Vec<Range<usize>> {
    let mut waves = Vec::new();
    let (mut start, mut sum) = (0, 0u64);
    for (i, &p) in pixels.iter().enumerate() {
        if i > start && sum.saturating_add(p) > limit {
            waves.push(start..i);
            (start, sum) = (i, 0);
        }
        sum = sum.saturating_add(p);
    }
    if start < pixels.len() {
        waves.push(start..pixels.len());
    }
    waves
}

/// [`waves`] of `images`, each image's pixels read from its header (an image whose size is not
/// known counts as the limit).
fn image_waves(images: &[PathBuf], limit: u64) -> Vec<Range<usize>> {
    let pixels: Vec<u64> = images
        .iter()
        .map(|image| picture_size(image).map_or(limit, |(w, h)| u64::from(w) * u64::from(h)))
        .collect();
    waves(&pixels, limit)
}

/// What a folder run did.
#[derive(Debug)]
pub struct BatchReport {
    /// Each image and what its run gave, in name order.
    pub runs: Vec<(PathBuf, Result<JobReport>)>,
    /// Seconds for the whole folder.
    pub seconds: f64,
}

impl BatchReport {
    /// How many images failed.
    pub fn failed(&self) -> usize {
        self.runs.iter().filter(|(_, r)| r.is_err()).count()
    }

    /// The closing line: `3 images, 1 failed, 0.42 s`.
    pub fn summary(&self) -> String {
        format!(
            "{} image{}, {} failed, {:.2} s",
            self.runs.len(),
            plural(self.runs.len()),
            self.failed(),
            self.seconds
        )
    }
}

/// Runs `spec` (whose `image` is the folder) on `images` (the folder's, from [`images_in`]);
/// `on_done(i, result)` is called as the `i`-th image finishes (from any thread, in any order), so
/// that what is done can be told before the whole folder is.
///
/// # Errors
/// When there is no image. A single bad image is not an error of the whole: its own result says
/// what went wrong.
pub fn run_batch(
    spec: &JobSpec,
    images: &[PathBuf],
    on_done: impl Fn(usize, &Result<JobReport>) + Sync,
) -> Result<BatchReport> {
    run_batch_decoded(spec, images, DecodedSet::default(), on_done)
}

/// The pictures of a folder's images read for a shared palette ([`SharedPalette::take_decoded`]),
/// each with what reading it gave, for [`run_batch_decoded`] to draw without reading them again.
#[derive(Debug, Default)]
pub struct DecodedSet {
    /// By image, in the folder's order; empty when the pictures were not kept.
    read: Vec<Option<Decoded>>,
}

/// [`run_batch`], drawing the pictures of `decoded` when it holds them (each image's picture as it
/// was read for the shared palette, or that it could not be read) rather than reading the files
/// again.
///
/// # Errors
/// As [`run_batch`].
pub fn run_batch_decoded(
    spec: &JobSpec,
    images: &[PathBuf],
    decoded: DecodedSet,
    on_done: impl Fn(usize, &Result<JobReport>) + Sync,
) -> Result<BatchReport> {
    let start = Instant::now();
    let mut decoded = decoded.read;
    decoded.resize_with(images.len(), || None);
    no_image_is_an_error(spec, images)?;
    // Images are drawn in parallel, but only as many at once as their pixels fit within the pixel
    // limit of one image (a picture whose size is not known counts as the limit), so memory stays
    // within what one picture at the limit takes however many cores the machine has: in waves of
    // consecutive images, each wave in parallel. (A budget that rayon's threads waited on could
    // deadlock: the thread waiting could be the one holding it, deep in a clustering.)
    let mut runs = Vec::with_capacity(images.len());
    for wave in image_waves(images, spec.options.load_limits().pixel_limit()) {
        let first = wave.start;
        let pictures: Vec<_> = decoded[wave.clone()].iter_mut().map(Option::take).collect();
        let wave = images[wave].par_iter().zip(pictures);
        runs.par_extend(wave.enumerate().map(|(i, (image, picture))| {
            let mut one = spec.clone();
            one.image = image.clone();
            let result = run_job_on(&one, picture, |_| {});
            on_done(first + i, &result);
            (image.clone(), result)
        }));
    }
    Ok(BatchReport {
        runs,
        seconds: start.elapsed().as_secs_f64(),
    })
}

fn no_image_is_an_error(spec: &JobSpec, images: &[PathBuf]) -> Result<()> {
    if images.is_empty() {
        return Err(Error::NotOneImage {
            path: spec.image.clone(),
            why: "the folder holds no image",
        });
    }
    Ok(())
}

/// One palette for a folder's images, written in a run folder of its own (see the module).
#[derive(Debug)]
pub struct SharedPalette {
    /// Its `colors_k{K}.txt`.
    pub colors_path: PathBuf,
    /// The colours, most-used over the whole set first.
    pub colors: Vec<[u8; 3]>,
    /// The lines saying what was written.
    pub lines: Vec<String>,
    /// The pictures read for it, when they fit the pixel limit together.
    decoded: DecodedSet,
}

impl SharedPalette {
    /// `spec` drawing with this palette (all of it, in its order) instead of clustering.
    pub fn apply_to(&self, spec: &mut JobSpec) {
        spec.palette = Some((self.colors_path.clone(), self.colors.clone()));
        spec.whole_palette = true;
    }

    /// The pictures read for the palette, for [`run_batch_decoded`] to draw (none when they did
    /// not fit the pixel limit together, or were taken already).
    pub fn take_decoded(&mut self) -> DecodedSet {
        std::mem::take(&mut self.decoded)
    }
}

/// `merged` (colour keys and counts, in key order) with the colours of `hist` (in key order, as a
/// histogram is) added: one pass over both, where a map took a lookup per colour (a set of 2 MP
/// photos holds hundreds of thousands of colours each).
fn merge_counts(merged: Vec<(u32, u64)>, hist: &ColorHistogram) -> Vec<(u32, u64)> {
    let mut out = Vec::with_capacity(merged.len() + hist.len());
    let mut old = merged.into_iter().peekable();
    let mut new = hist
        .colors
        .iter()
        .zip(&hist.counts)
        .map(|(&c, &n)| (color_key(c), u64::from(n)))
        .peekable();
    loop {
        let next = match (old.peek(), new.peek()) {
            (Some(&(a, m)), Some(&(b, n))) if a == b => {
                old.next();
                new.next();
                (a, m + n)
            }
            (Some(&(a, _)), Some(&(b, _))) if a < b => old.next().expect("peeked"),
            (_, Some(_)) => new.next().expect("peeked"),
            (Some(_), None) => old.next().expect("peeked"),
            (None, None) => break,
        };
        out.push(next);
    }
    out
}

/// Clusters the merged histogram of `images` with the options of `template` (whose `image` is the
/// folder) and writes the palette once, in `OUT_DIR/shared_palette<SHA-256>/`. `on_read` is
/// called as each image has been read (from several threads: images are read in parallel, as many
/// at once as fit the pixel limit together).
///
/// # Errors
/// When there is no image, no image can be read (one that cannot is reported when it is drawn), or
/// the palette cannot be written.
pub fn shared_palette(
    template: &JobSpec,
    images: &[PathBuf],
    on_read: impl Fn() + Sync,
) -> Result<SharedPalette> {
    no_image_is_an_error(template, images)?;
    let limits = template.options.load_limits();
    // Each image's histogram, in parallel in waves of images that fit the pixel limit together (as
    // they are drawn), merged into counts per colour key (u64: a set may hold more pixels than a
    // u32 counts), in key order as histograms are; exact sums, so the order images are merged in
    // does not matter.
    let mut merged: Vec<(u32, u64)> = Vec::new();
    let mut read = 0;
    let mut add = |hist: &ColorHistogram| {
        read += 1;
        merged = merge_counts(std::mem::take(&mut merged), hist);
    };
    // When the pictures fit the limit together (one wave), those read are kept to be drawn: each
    // is decoded once, and drawn as it was when the palette was made of it. A picture whose size
    // its header does not tell is read alone first, while nothing is kept: it is kept too if it
    // cannot be read (its error is reported when it is drawn), and otherwise nothing is kept.
    let sizes: Vec<Option<(u32, u32)>> = images.iter().map(|image| picture_size(image)).collect();
    let (unknown, known): (Vec<usize>, Vec<usize>) =
        (0..images.len()).partition(|&i| sizes[i].is_none());
    let pixels: Vec<u64> = known
        .iter()
        .filter_map(|&i| sizes[i].map(|(w, h)| u64::from(w) * u64::from(h)))
        .collect();
    // Saturating: headers claiming 4 billion pixels a side must not wrap the sum into a small one.
    let known_pixels = pixels.iter().fold(0u64, |sum, &p| sum.saturating_add(p));
    let mut keep = known_pixels <= limits.pixel_limit();
    let mut decoded: Vec<Option<Decoded>> = Vec::new();
    decoded.resize_with(images.len(), || None);
    // One image's histogram, with its picture (or why it could not be read).
    let histogram_of = |i: usize| {
        let read = Decoded::read(&images[i], &limits);
        on_read();
        let hist = read.picture.as_ref().ok().map(ColorHistogram::from_picture);
        (i, hist, read)
    };
    for &i in &unknown {
        let (_, hist, picture) = histogram_of(i);
        if let Some(hist) = hist {
            add(&hist);
            keep = false;
        }
        decoded[i] = Some(picture);
    }
    let waves: Vec<Range<usize>> = if keep {
        // All at once: they fit the limit together.
        std::iter::once(0..known.len()).collect()
    } else {
        waves(&pixels, limits.pixel_limit())
    };
    for wave in waves {
        let pictures: Vec<_> = known[wave].par_iter().map(|&i| histogram_of(i)).collect();
        for (i, hist, picture) in pictures {
            if let Some(hist) = hist {
                add(&hist);
            }
            decoded[i] = keep.then_some(picture);
        }
    }
    let decoded = DecodedSet {
        read: if keep { decoded } else { Vec::new() },
    };
    if read == 0 || merged.is_empty() {
        return Err(Error::NotOneImage {
            path: template.image.clone(),
            why: "no image of the folder could be read",
        });
    }
    // Weights are scaled down only if a colour's count overflows u32 (over 4 billion pixels).
    let max = merged.iter().map(|&(_, n)| n).max().unwrap_or(1);
    let scale = max.div_ceil(u64::from(u32::MAX)).max(1);
    let hist = ColorHistogram {
        colors: merged.iter().map(|&(k, _)| key_color(k)).collect(),
        counts: merged
            .iter()
            .map(|&(_, n)| (n / scale).max(1) as u32)
            .collect(),
    };
    let points = Points::from_histogram_in(&hist, template.options.space);
    let seed = template.options.resolve_seed();
    let params = template.params(seed);
    let grid = Grid::new(&points);
    let clustering = fit_on(&points, &grid, &params, |_| {})?;
    let palette = Palette::of_clustering_on(&clustering, &points, &grid);
    drop(grid);
    let colors: Vec<[u8; 3]> = palette.entries.iter().map(|e| e.rgb).collect();

    let mut entries = vec![
        ("tool", "k_means shared palette".to_string()),
        path_entry(&template.image),
    ];
    entries.push(("k", template.k.to_string()));
    entries.extend(template.options.canonical_entries());
    let name = folder_name("shared_palette", &canonical_text(&entries));
    let mut staging = Staging::begin(&template.out_dir, &name)?;
    let k = template.k;
    let colors_name = format!("colors_k{k}.txt");
    let colors_path = staging.final_path(&colors_name);
    let lines = vec![
        format!("shared palette folder: {}", staging.run_dir().display()),
        format!(
            "shared palette ({} colour{} over {read} image{}) saved to {}",
            colors.len(),
            plural(colors.len()),
            plural(read),
            colors_path.display()
        ),
    ];
    staging.write(&colors_name, colors_text(&palette).as_bytes())?;
    let details = details_text(
        "k_means",
        &[
            ("folder", template.image.display().to_string()),
            ("images clustered together", read.to_string()),
            ("distinct colours", hist.len().to_string()),
            ("k", k.to_string()),
            ("seed", seed_text(seed, template.options.init)),
            (
                "colours",
                colors
                    .iter()
                    .map(|&c| hex(c))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        ],
        &lines,
    );
    staging.write("details.txt", details.as_bytes())?;
    staging.commit()?;
    Ok(SharedPalette {
        colors_path,
        colors,
        lines,
        decoded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_merge_in_key_order_adding_shared_colours() {
        let hist = ColorHistogram {
            colors: vec![[0, 0, 1], [0, 0, 3], [0, 0, 9]],
            counts: vec![3, 1, 2],
        };
        let merged = merge_counts(vec![(1, 2), (5, 1), (u32::MAX >> 8, 7)], &hist);
        assert_eq!(merged, [(1, 5), (3, 1), (5, 1), (9, 2), (u32::MAX >> 8, 7)]);
        assert_eq!(merge_counts(Vec::new(), &hist), [(1, 3), (3, 1), (9, 2)]);
        assert_eq!(
            merge_counts(merged.clone(), &ColorHistogram::default()),
            merged
        );
    }

    #[test]
    fn the_shared_palette_tells_each_image_read_and_draws_every_image_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let set = dir.path().join("set");
        std::fs::create_dir(&set).unwrap();
        for (name, colour) in [("a.png", [200, 10, 10]), ("b.png", [10, 10, 200])] {
            image::RgbImage::from_pixel(4, 4, image::Rgb(colour))
                .save(set.join(name))
                .unwrap();
        }
        std::fs::write(set.join("cut.png"), b"\x89PNG\r\n\x1a\n").unwrap();
        let mut spec = JobSpec::new(&set, 2);
        spec.out_dir = dir.path().join("out");
        let images = images_in(&set).unwrap();
        assert_eq!(images.len(), 3);
        let read = std::sync::atomic::AtomicUsize::new(0);
        let shared = shared_palette(&spec, &images, || {
            read.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap();
        assert_eq!(read.into_inner(), 3, "each image, read or not");
        let mut colors = shared.colors.clone();
        colors.sort_unstable();
        assert_eq!(colors, [[10, 10, 200], [200, 10, 10]]);
        shared.apply_to(&mut spec);
        let done = std::sync::Mutex::new(Vec::new());
        let report = run_batch(&spec, &images, |i, r| {
            done.lock().unwrap().push((i, r.is_ok()))
        });
        let mut done = done.into_inner().unwrap();
        done.sort_unstable();
        assert_eq!(done, [(0, true), (1, true), (2, false)]); // a.png, b.png, cut.png
        let report = report.unwrap();
        for (_, run) in report.runs.iter().filter(|(_, r)| r.is_ok()) {
            let mut drawn = run
                .as_ref()
                .unwrap()
                .palette
                .entries()
                .iter()
                .map(|e| e.rgb)
                .collect::<Vec<_>>();
            drawn.sort_unstable();
            assert_eq!(drawn, colors, "the whole shared palette, in every image");
        }
    }

    #[test]
    fn waves_hold_as_many_pixels_as_the_limit_and_a_large_picture_alone() {
        assert_eq!(waves(&[], 10), Vec::<Range<usize>>::new());
        assert_eq!(waves(&[3, 3, 3], 10), vec![0..3]);
        assert_eq!(waves(&[4, 4, 4, 4, 2], 10), vec![0..2, 2..5]);
        assert_eq!(waves(&[10, 1, 10], 10), vec![0..1, 1..2, 2..3]);
        // A picture whose size is not known counts as the limit; one over it goes alone.
        assert_eq!(waves(&[1, 10, 1, 1], 10), vec![0..1, 1..2, 2..4]);
        assert_eq!(waves(&[u64::MAX, u64::MAX, 2], 10), vec![0..1, 1..2, 2..3]);
    }

    /// A folder of two 4x4 pictures (red and blue) and a PNG cut after its header (its size is
    /// known, its pixels are not), with `spec` for it.
    fn two_colour_set(dir: &Path) -> (JobSpec, Vec<PathBuf>) {
        let set = dir.join("set");
        std::fs::create_dir(&set).unwrap();
        for (name, colour) in [("a.png", [200, 10, 10]), ("b.png", [10, 10, 200])] {
            image::RgbImage::from_pixel(4, 4, image::Rgb(colour))
                .save(set.join(name))
                .unwrap();
        }
        let whole = std::fs::read(set.join("a.png")).unwrap();
        std::fs::write(set.join("cut.png"), &whole[..8 + 25]).unwrap();
        let mut spec = JobSpec::new(&set, 2);
        spec.out_dir = dir.join("out");
        let images = images_in(&set).unwrap();
        (spec, images)
    }

    #[test]
    fn pictures_read_for_the_shared_palette_are_the_ones_drawn() {
        let dir = tempfile::tempdir().unwrap();
        let (mut spec, images) = two_colour_set(dir.path());
        let mut shared = shared_palette(&spec, &images, || {}).unwrap();
        shared.apply_to(&mut spec);
        let decoded = shared.take_decoded();
        let read: Vec<Option<bool>> = decoded
            .read
            .iter()
            .map(|d| d.as_ref().map(|d| d.picture.is_ok()))
            .collect();
        assert_eq!(
            read,
            [Some(true), Some(true), Some(false)],
            "a.png, b.png, cut.png"
        );
        assert!(shared.take_decoded().read.is_empty(), "taken once");
        let decode_took = decoded.read[1].as_ref().unwrap().took;
        // The files change after the palette was made: what is drawn is what the palette was
        // made of, not read again (a.png is no image now, b.png another colour).
        std::fs::write(&images[0], b"not an image any more").unwrap();
        image::RgbImage::from_pixel(4, 4, image::Rgb([0, 255, 0]))
            .save(&images[1])
            .unwrap();
        let report = run_batch_decoded(&spec, &images, decoded, |_, _| {}).unwrap();
        let drawn: Vec<Vec<u64>> = report
            .runs
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok())
            .map(|r| r.palette.entries().iter().map(|e| e.pixels).collect())
            .collect();
        assert_eq!(report.failed(), 1, "only the cut PNG");
        // b.png's decode is timed as it was read.
        let b = report.runs[1].1.as_ref().unwrap();
        assert_eq!(b.timings.decode, decode_took);
        // Each picture, all red or all blue, uses one colour of the two for its 16 pixels.
        for counts in drawn {
            let mut counts = counts;
            counts.sort_unstable();
            assert_eq!(counts, [0, 16]);
        }
        // Without the pictures, the changed files are read again: a.png now fails.
        let report = run_batch(&spec, &images, |_, _| {}).unwrap();
        assert_eq!(report.failed(), 2);
    }

    #[test]
    fn pictures_are_read_again_when_they_do_not_fit_the_limit_together() {
        let dir = tempfile::tempdir().unwrap();
        let (mut spec, images) = two_colour_set(dir.path());
        // 16 pixels each: one picture at a time.
        spec.options.max_pixels = Some(16);
        let mut shared = shared_palette(&spec, &images, || {}).unwrap();
        assert!(shared.take_decoded().read.is_empty());
        assert_eq!(shared.colors.len(), 2);
    }
}
