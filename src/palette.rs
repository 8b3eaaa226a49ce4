//! The palette a clustering gives, and the picture redrawn with it.

use image::RgbImage;
use rayon::prelude::*;

use crate::kmeans::{nearest, to_color, to_rgb8, Clustering, Color, Points};
use crate::pixels::{color_key, ColorHistogram, Picture};

/// One colour of the result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PaletteEntry {
    /// Index of the centroid this colour comes from.
    pub centroid: usize,
    /// The centroid rounded to 8-bit sRGB: the colour written to every file.
    pub rgb: [u8; 3],
    /// The exact centroid, converted to sRGB (0-255, fractional).
    pub exact: Color,
    /// How many pixels are drawn with it.
    pub pixels: u64,
}

/// The colours a clustering actually uses, most-used first (ties: lower centroid index first),
/// and which of them each distinct colour is drawn with. Centroids that no pixel is drawn with are
/// left out: they are not colours of the image.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Palette {
    /// The used colours.
    pub entries: Vec<PaletteEntry>,
    /// How many of the K centroids no pixel uses.
    pub unused: usize,
    /// For each point the palette was made from (a distinct colour, in the points' order), the
    /// index in [`Self::entries`] of the colour it is drawn with.
    pub color_entries: Vec<u8>,
}

impl Palette {
    /// The palette of `clustering` over `points`: each used centroid rounded to 8-bit sRGB, and
    /// each colour drawn with the rounded colour nearest to it in the clustering's space (ties: the
    /// lower centroid index). That is its own centroid's, except for colours within rounding
    /// distance of a boundary between clusters, which rounding can move to the other side; a
    /// rounded colour that then draws no pixel is left out.
    pub fn from_clustering(clustering: &Clustering, points: &Points) -> Self {
        let sizes = clustering.cluster_sizes(points);
        let srgb = clustering.srgb_centroids();
        // Fixed colours stay in the palette even when no pixel is drawn with them.
        let keep = |j: usize| j < clustering.fixed;
        let used: Vec<usize> = (0..sizes.len())
            .filter(|&j| sizes[j] > 0 || keep(j))
            .collect();
        let rounded: Vec<Color> = used
            .iter()
            .map(|&j| clustering.space.encode(to_color(to_rgb8(srgb[j]))))
            .collect();
        // Nearest rounded colour of every point, by the engine's exact assignment (no epoch).
        let nearest_used = crate::kmeans::lloyd(points, rounded, 0, false).labels;
        let mut pixels = vec![0u64; used.len()];
        for (&u, &w) in nearest_used.iter().zip(&points.weights) {
            pixels[usize::from(u)] += u64::from(w);
        }
        let mut entries: Vec<(usize, PaletteEntry)> = used
            .iter()
            .enumerate()
            .filter(|&(u, &j)| pixels[u] > 0 || keep(j))
            .map(|(u, &j)| {
                let entry = PaletteEntry {
                    centroid: j,
                    rgb: to_rgb8(srgb[j]),
                    exact: srgb[j],
                    pixels: pixels[u],
                };
                (u, entry)
            })
            .collect();
        // Most-used first; but when every colour is fixed (a palette shared by a set of images),
        // the palette's own order, so every image's palette is the same list.
        if clustering.fixed < sizes.len() {
            entries.sort_by(|(_, a), (_, b)| {
                b.pixels.cmp(&a.pixels).then(a.centroid.cmp(&b.centroid))
            });
        }
        let mut entry_of_used = vec![0u8; used.len()];
        for (i, &(u, _)) in entries.iter().enumerate() {
            entry_of_used[u] = i as u8;
        }
        Self {
            unused: sizes.len() - entries.len(),
            entries: entries.into_iter().map(|(_, e)| e).collect(),
            color_entries: nearest_used
                .iter()
                .map(|&u| entry_of_used[usize::from(u)])
                .collect(),
        }
    }

    /// The number of colours used.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no colour is used (only for an empty clustering).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The total pixel count.
    pub fn total_pixels(&self) -> u64 {
        self.entries.iter().map(|e| e.pixels).sum()
    }
}

/// What a fully transparent pixel becomes in an image format without alpha.
pub const TRANSPARENT_FILL: [u8; 3] = [255, 255, 255];

/// A table from colour key to palette entry, for looking up every pixel of a picture. Only the
/// pages holding the picture's colours are touched.
fn entry_table(hist: &ColorHistogram, entries: &[u8]) -> Vec<u8> {
    let mut table = vec![0u8; 1 << 24];
    for (&c, &e) in hist.colors.iter().zip(entries) {
        table[color_key(c) as usize] = e;
    }
    table
}

/// For each pixel of `picture`, the index of its colour in `palette.entries`, or `None` for a fully
/// transparent pixel. `palette` was made from the colours of `hist` (in its order).
pub fn palette_indices(
    picture: &Picture,
    hist: &ColorHistogram,
    palette: &Palette,
) -> Vec<Option<u8>> {
    let table = entry_table(hist, &palette.color_entries);
    (0..picture.rgb.len())
        .into_par_iter()
        .map(|p| {
            picture
                .is_visible(p)
                .then(|| table[color_key(picture.rgb[p]) as usize])
        })
        .collect()
}

/// Draws `picture` with the palette: each pixel becomes the palette entry `indices` gives it
/// (from [`palette_indices`] or [`dither`]); fully transparent pixels become [`TRANSPARENT_FILL`].
pub fn draw(picture: &Picture, palette: &Palette, indices: &[Option<u8>]) -> RgbImage {
    let out: Vec<u8> = indices
        .par_iter()
        .flat_map_iter(|&i| i.map_or(TRANSPARENT_FILL, |i| palette.entries[usize::from(i)].rgb))
        .collect();
    RgbImage::from_raw(picture.width, picture.height, out).expect("buffer matches the size")
}

/// Floyd-Steinberg error diffusion (R. W. Floyd and L. Steinberg, 1976): each pixel, plus the error
/// carried from its already drawn neighbours, becomes its nearest palette entry, and the difference
/// is passed on to the pixels right and below (7/16, 3/16, 5/16, 1/16). Returns palette indices as
/// [`palette_indices`] does; fully transparent pixels neither take nor pass on error.
pub fn dither(picture: &Picture, palette: &Palette) -> Vec<Option<u8>> {
    let (w, h) = (picture.width as usize, picture.height as usize);
    let colors: Vec<Color> = palette.entries.iter().map(|e| to_color(e.rgb)).collect();
    let mut out = vec![None; w * h];
    // Carried error for this row and the next, with a pixel of margin on each side.
    let mut here = vec![[0.0f64; 3]; w + 2];
    let mut below = vec![[0.0f64; 3]; w + 2];
    for y in 0..h {
        for x in 0..w {
            let p = y * w + x;
            if !picture.is_visible(p) {
                continue;
            }
            let want: Color = std::array::from_fn(|d| {
                (f64::from(picture.rgb[p][d]) + here[x + 1][d]).clamp(0.0, 255.0)
            });
            let i = nearest(&colors, want);
            out[p] = Some(i as u8);
            let err: Color = std::array::from_fn(|d| want[d] - colors[i][d]);
            for d in 0..3 {
                here[x + 2][d] += err[d] * 7.0 / 16.0;
                below[x][d] += err[d] * 3.0 / 16.0;
                below[x + 1][d] += err[d] * 5.0 / 16.0;
                below[x + 2][d] += err[d] / 16.0;
            }
        }
        std::mem::swap(&mut here, &mut below);
        below.iter_mut().for_each(|e| *e = [0.0; 3]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmeans::{fit, KMeansParams};

    #[test]
    fn remap_draws_every_pixel_with_its_centroid() {
        let rgb = vec![[0, 0, 0], [250, 250, 250], [2, 2, 2], [252, 250, 248]];
        let picture = Picture::from_rgb(2, 2, rgb);
        let hist = ColorHistogram::from_picture(&picture);
        let points = Points::from_histogram(&hist);
        let c = fit(&points, &KMeansParams::new(2).seed(1), |_| {}).unwrap();
        let palette = Palette::from_clustering(&c, &points);
        let indices = palette_indices(&picture, &hist, &palette);
        let img = draw(&picture, &palette, &indices);
        let px: Vec<[u8; 3]> = img.pixels().map(|p| p.0).collect();
        assert_eq!(px[0], [1, 1, 1]);
        assert_eq!(px[2], [1, 1, 1]);
        assert_eq!(px[1], [251, 250, 249]);
        assert_eq!(px[3], [251, 250, 249]);
        assert_eq!(palette.len(), 2);
        assert_eq!(palette.total_pixels(), 4);
    }

    #[test]
    fn each_colour_is_drawn_with_the_nearest_rounded_colour() {
        // Centroids at 1.5 and 4.4 (written 2 and 4): colour 3 is nearer centroid 1.5 (its
        // cluster) but after rounding is as near 2 as 4; every colour must get a written colour
        // at least as near as any other.
        let pixels: Vec<[u8; 3]> = [0u8, 3, 4, 5].iter().map(|&v| [v, 0, 0]).collect();
        let points = Points::from_pixels(&pixels);
        let c = crate::kmeans::Clustering {
            best: crate::kmeans::lloyd(&points, vec![[1.5, 0.0, 0.0], [4.4, 0.0, 0.0]], 0, false),
            restart: 0,
            restart_losses: vec![0.0],
            seed: 0,
            space: crate::colorspace::ColorSpace::Rgb,
            fixed: 0,
        };
        let palette = Palette::from_clustering(&c, &points);
        let drawn: Vec<[u8; 3]> = palette
            .color_entries
            .iter()
            .map(|&e| palette.entries[usize::from(e)].rgb)
            .collect();
        for (x, d) in pixels.iter().zip(&drawn) {
            let best = palette
                .entries
                .iter()
                .map(|e| crate::kmeans::dist2(to_color(e.rgb), to_color(*x)))
                .fold(f64::INFINITY, f64::min);
            assert_eq!(
                crate::kmeans::dist2(to_color(*d), to_color(*x)),
                best,
                "{x:?}"
            );
        }
        assert_eq!(palette.total_pixels(), 4);
    }

    #[test]
    fn unused_centroids_are_left_out_and_counted() {
        let points = Points::from_pixels(&[[10, 10, 10], [10, 10, 10], [12, 10, 10]]);
        let c = fit(&points, &KMeansParams::new(8).seed(2).restarts(1), |_| {}).unwrap();
        let palette = Palette::from_clustering(&c, &points);
        assert_eq!(palette.len() + palette.unused, 8);
        assert!(palette.len() <= 2);
        assert!(palette
            .entries
            .windows(2)
            .all(|w| w[0].pixels >= w[1].pixels));
    }

    #[test]
    fn transparent_pixels_are_filled() {
        let mut picture = Picture::from_rgb(2, 1, vec![[5, 5, 5], [9, 9, 9]]);
        picture.alpha = Some(vec![255, 0]);
        let palette = Palette {
            entries: vec![PaletteEntry {
                centroid: 0,
                rgb: [5, 5, 5],
                exact: [5.0; 3],
                pixels: 1,
            }],
            unused: 0,
            color_entries: vec![0],
        };
        let hist = ColorHistogram::from_picture(&picture);
        let indices = palette_indices(&picture, &hist, &palette);
        assert_eq!(indices, vec![Some(0), None]);
        let img = draw(&picture, &palette, &indices);
        assert_eq!(img.get_pixel(1, 0).0, TRANSPARENT_FILL);
        assert_eq!(img.get_pixel(0, 0).0, [5, 5, 5]);
        assert_eq!(dither(&picture, &palette), vec![Some(0), None]);
    }

    #[test]
    fn dithering_keeps_the_average_colour() {
        // A flat mid grey between black and white comes out as a mix whose mean is the grey.
        let picture = Picture::from_rgb(64, 64, vec![[100, 100, 100]; 64 * 64]);
        let entry = |rgb: [u8; 3]| PaletteEntry {
            centroid: 0,
            rgb,
            exact: to_color(rgb),
            pixels: 1,
        };
        let palette = Palette {
            entries: vec![entry([0, 0, 0]), entry([255, 255, 255])],
            unused: 0,
            color_entries: Vec::new(),
        };
        let indices = dither(&picture, &palette);
        let white = indices.iter().filter(|&&i| i == Some(1)).count() as f64;
        let mean = 255.0 * white / indices.len() as f64;
        assert!((mean - 100.0).abs() < 2.0, "mean {mean}");
    }
}
