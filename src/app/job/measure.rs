//! How good a run's result is and how long it took: PSNR and MSE of the picture drawn with the
//! palette, the loss in the clustering space's and in sRGB units, and the time of each phase.

use std::time::Duration;

use super::Loaded;
use crate::colorspace::ColorSpace;
use crate::kmeans::{dist2, loss_of, to_color, Clustering, Color, Points};
use crate::palette::Palette;
use crate::pixels::Picture;

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
    /// (as [`crate::dither`] makes them).
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

/// How good the result is: the final loss in the clustering space's units, its SSE, the loss in
/// sRGB units, and the quality of the picture drawn with the 8-bit palette.
#[derive(Debug, Clone, Copy)]
pub(super) struct Scores {
    pub(super) space: f64,
    pub(super) sse: f64,
    pub(super) rgb: f64,
    pub(super) quality: Quality,
    /// The quality of the dithered picture, when one was drawn.
    pub(super) dithered: Option<Quality>,
}

impl Scores {
    pub(super) fn of(clustering: &Clustering, loaded: &Loaded, palette: &Palette) -> Self {
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
