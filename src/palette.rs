//! The palette a clustering gives, and the picture redrawn with it.

use rayon::prelude::*;

use crate::diffusion::diffuse;
use crate::error::{Error, Result};
use crate::kmeans::params::MAX_K;
use crate::kmeans::{nearest, to_color, to_rgb8, Clustering, Color, Grid, Points};
use crate::palette_search::PaletteSearch;
use crate::pixels::{color_key, ColorHistogram, Picture};

/// One colour of the result.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
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
    pub(crate) entries: Vec<PaletteEntry>,
    /// How many of the K centroids no pixel uses.
    pub(crate) unused: usize,
    /// For each point the palette was made from (a distinct colour, in the points' order), the
    /// index in [`Self::entries`] of the colour it is drawn with.
    pub(crate) color_entries: Vec<u8>,
}

impl Palette {
    /// The palette of `clustering` over `points`: each used centroid rounded to 8-bit sRGB, and
    /// each colour drawn with the rounded colour nearest to it in the clustering's space (ties: the
    /// lower centroid index). That is its own centroid's, except for colours within rounding
    /// distance of a boundary between clusters, which rounding can move to the other side; a
    /// rounded colour that then draws no pixel is left out.
    ///
    /// # Errors
    /// [`Error::WeightsMismatch`] when `points` are not the points `clustering` was made from (a
    /// different number of them).
    pub fn from_clustering(clustering: &Clustering, points: &Points) -> Result<Self> {
        if points.len() != clustering.best.labels.len() {
            return Err(Error::WeightsMismatch {
                colors: clustering.best.labels.len(),
                weights: points.len(),
            });
        }
        Ok(Self::of_clustering(clustering, points))
    }

    /// [`Self::from_clustering`] for points known to match.
    pub(crate) fn of_clustering(clustering: &Clustering, points: &Points) -> Self {
        Self::of_clustering_on(clustering, points, &Grid::new(points))
    }

    /// [`Self::of_clustering`] with the grid of `points`, built already (as for the clustering).
    pub(crate) fn of_clustering_on(clustering: &Clustering, points: &Points, grid: &Grid) -> Self {
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
        let nearest_used = crate::kmeans::lloyd_trusted_on(grid, rounded, 0, 0, false).labels;
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

    /// A palette of the given colours, in their order (a palette people bring): remap pictures to
    /// it with [`Self::remap`]. Its entries count no pixel until a picture is remapped.
    ///
    /// # Errors
    /// [`Error::Empty`] for no colour, [`Error::OutOfRange`] for more than 256.
    pub fn from_colors(colors: &[[u8; 3]]) -> Result<Self> {
        if colors.is_empty() {
            return Err(Error::Empty { what: "palette" });
        }
        if colors.len() > MAX_K {
            return Err(Error::OutOfRange {
                name: "palette size",
                value: colors.len(),
                min: 1,
                max: MAX_K,
            });
        }
        Ok(Self {
            entries: colors
                .iter()
                .enumerate()
                .map(|(centroid, &rgb)| PaletteEntry {
                    centroid,
                    rgb,
                    exact: to_color(rgb),
                    pixels: 0,
                })
                .collect(),
            unused: 0,
            color_entries: Vec::new(),
        })
    }

    /// Each pixel of `picture` as the index of its nearest colour (RGB distance; ties: the earlier
    /// entry), `None` for a fully transparent pixel. Draw the result with [`draw`] or [`dither`]
    /// instead for error diffusion.
    pub fn remap(&self, picture: &Picture) -> Vec<Option<u8>> {
        let hist = ColorHistogram::from_picture(picture);
        let colors: Vec<Color> = self.entries.iter().map(|e| to_color(e.rgb)).collect();
        // In runs of colours (near each other, in key order), each with a search of its own.
        let entries: Vec<u8> = if PaletteSearch::worth_it(colors.len()) {
            hist.colors
                .par_chunks(1 << 16)
                .flat_map_iter(|run| {
                    let mut search = PaletteSearch::new(&colors);
                    run.iter()
                        .map(move |&c| search.nearest(to_color(c)) as u8)
                        .collect::<Vec<u8>>()
                })
                .collect()
        } else {
            hist.colors
                .par_iter()
                .map(|&c| nearest(&colors, to_color(c)) as u8)
                .collect()
        };
        let table = entry_table(&hist, &entries);
        indices_from_table(picture, &table)
    }

    /// The colours used, most-used first.
    pub fn entries(&self) -> &[PaletteEntry] {
        &self.entries
    }

    /// The colours, most-used first.
    pub fn colors(&self) -> Vec<[u8; 3]> {
        self.entries.iter().map(|e| e.rgb).collect()
    }

    /// How many centroids of the clustering no pixel is drawn with (left out of the palette).
    pub fn unused(&self) -> usize {
        self.unused
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
    indices_from_table(picture, &table)
}

fn indices_from_table(picture: &Picture, table: &[u8]) -> Vec<Option<u8>> {
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
/// (from [`Palette::remap`], [`palette_indices`] or [`dither`]), row by row; fully transparent
/// pixels, and indices the palette does not have, become [`TRANSPARENT_FILL`].
pub fn draw(palette: &Palette, indices: &[Option<u8>]) -> Vec<[u8; 3]> {
    indices
        .par_iter()
        .map(|&i| {
            i.and_then(|i| palette.entries.get(usize::from(i)))
                .map_or(TRANSPARENT_FILL, |e| e.rgb)
        })
        .collect()
}

/// Floyd-Steinberg error diffusion (R. W. Floyd and L. Steinberg, 1976): each pixel, plus the error
/// carried from its already drawn neighbours, becomes its nearest palette entry, and the difference
/// is passed on to the pixels right and below (7/16, 3/16, 5/16, 1/16). Returns palette indices as
/// [`palette_indices`] does; fully transparent pixels neither take nor pass on error. A large
/// picture is diffused on all cores, with the same result as on one.
pub fn dither(picture: &Picture, palette: &Palette) -> Vec<Option<u8>> {
    let colors: Vec<Color> = palette.entries.iter().map(|e| to_color(e.rgb)).collect();
    if colors.is_empty() {
        return vec![None; picture.rgb.len()];
    }
    // A small palette is compared whole; a large one searched by cell ([`PaletteSearch`]). Both
    // find the same colour; each loop is compiled for its own search.
    if PaletteSearch::worth_it(colors.len()) {
        diffuse(picture, &colors, || {
            let mut search = PaletteSearch::new(&colors);
            move |x| search.nearest(x)
        })
    } else {
        diffuse(picture, &colors, || |x| nearest(&colors, x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmeans::{fit, KMeansParams};

    #[test]
    fn a_palette_of_other_points_or_odd_indices_is_an_error_not_a_panic() {
        let points = Points::from_pixels(&[[0, 0, 0], [200, 200, 200]]);
        let c = fit(&points, &KMeansParams::new(2).seed(1), |_| {}).unwrap();
        let other = Points::from_pixels(&[[0, 0, 0]]);
        assert!(Palette::from_clustering(&c, &other).is_err());
        assert!(Palette::from_colors(&[]).is_err());
        assert!(Palette::from_colors(&[[0, 0, 0]; 257]).is_err());
        let palette = Palette::from_colors(&[[0, 0, 0]]).unwrap();
        assert_eq!(
            draw(&palette, &[Some(0), Some(7), None]),
            [[0, 0, 0], TRANSPARENT_FILL, TRANSPARENT_FILL]
        );
        let empty = Palette::default();
        let picture = Picture::from_rgb(2, 1, vec![[1, 1, 1], [2, 2, 2]]).unwrap();
        assert_eq!(dither(&picture, &empty), [None, None]);
    }

    #[test]
    fn remapping_to_a_brought_palette_takes_the_nearest_colour() {
        let palette = Palette::from_colors(&[[0, 0, 0], [255, 255, 255], [250, 0, 0]]).unwrap();
        let picture = Picture::from_rgba(
            4,
            1,
            &[
                [20, 20, 20, 255],
                [200, 10, 10, 255],
                [240, 240, 250, 9],
                [1, 1, 1, 0],
            ],
        )
        .unwrap();
        assert_eq!(palette.remap(&picture), [Some(0), Some(2), Some(1), None]);
        assert_eq!(palette.colors(), [[0, 0, 0], [255, 255, 255], [250, 0, 0]]);
    }

    #[test]
    fn remap_draws_every_pixel_with_its_centroid() {
        let rgb = vec![[0, 0, 0], [250, 250, 250], [2, 2, 2], [252, 250, 248]];
        let picture = Picture::from_rgb(2, 2, rgb).unwrap();
        let hist = ColorHistogram::from_picture(&picture);
        let points = Points::from_histogram(&hist);
        let c = fit(&points, &KMeansParams::new(2).seed(1), |_| {}).unwrap();
        let palette = Palette::from_clustering(&c, &points).unwrap();
        let indices = palette_indices(&picture, &hist, &palette);
        let img = draw(&palette, &indices);
        let px: Vec<[u8; 3]> = img;
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
            best: crate::kmeans::lloyd_trusted(
                &points,
                vec![[1.5, 0.0, 0.0], [4.4, 0.0, 0.0]],
                0,
                false,
            ),
            restart: 0,
            restart_losses: vec![0.0],
            seed: 0,
            space: crate::colorspace::ColorSpace::Rgb,
            fixed: 0,
        };
        let palette = Palette::from_clustering(&c, &points).unwrap();
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
        let palette = Palette::from_clustering(&c, &points).unwrap();
        assert_eq!(palette.len() + palette.unused, 8);
        assert!(palette.len() <= 2);
        assert!(palette
            .entries
            .windows(2)
            .all(|w| w[0].pixels >= w[1].pixels));
    }

    #[test]
    fn transparent_pixels_are_filled() {
        let mut picture = Picture::from_rgb(2, 1, vec![[5, 5, 5], [9, 9, 9]]).unwrap();
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
        let img = draw(&palette, &indices);
        assert_eq!(img[1], TRANSPARENT_FILL);
        assert_eq!(img[0], [5, 5, 5]);
        assert_eq!(dither(&picture, &palette), vec![Some(0), None]);
    }

    #[test]
    fn dithering_keeps_the_average_colour() {
        // A flat mid grey between black and white comes out as a mix whose mean is the grey.
        let picture = Picture::from_rgb(64, 64, vec![[100, 100, 100]; 64 * 64]).unwrap();
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

    #[test]
    fn dithering_picks_what_a_search_of_the_whole_palette_picks() {
        // A gradient with noise, drawn with 200 colours, against the same diffusion with every
        // colour compared (ties are the search's own tests').
        let (w, h) = (96u32, 64u32);
        let rgb: Vec<[u8; 3]> = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                [
                    (x * 2 + i % 7) as u8,
                    (y * 3 + i % 5) as u8,
                    ((x + y) % 256) as u8,
                ]
            })
            .collect();
        let colors: Vec<[u8; 3]> = (0..200u32)
            .map(|i| {
                [
                    (i * 37 % 256) as u8,
                    (i * 91 % 256) as u8,
                    (i * 53 % 200) as u8,
                ]
            })
            .collect();
        let palette = Palette::from_colors(&colors).unwrap();
        let picture = Picture::from_rgb(w, h, rgb.clone()).unwrap();
        let all: Vec<Color> = palette.entries.iter().map(|e| to_color(e.rgb)).collect();
        let (mut here, mut below) = (
            vec![[0.0f64; 3]; w as usize + 2],
            vec![[0.0f64; 3]; w as usize + 2],
        );
        let mut expected = Vec::new();
        for y in 0..h as usize {
            for x in 0..w as usize {
                let want: Color = std::array::from_fn(|d| {
                    (f64::from(rgb[y * w as usize + x][d]) + here[x + 1][d]).clamp(0.0, 255.0)
                });
                let i = crate::kmeans::nearest(&all, want);
                expected.push(Some(i as u8));
                for d in 0..3 {
                    let err = want[d] - all[i][d];
                    here[x + 2][d] += err * 7.0 / 16.0;
                    below[x][d] += err * 3.0 / 16.0;
                    below[x + 1][d] += err * 5.0 / 16.0;
                    below[x + 2][d] += err / 16.0;
                }
            }
            std::mem::swap(&mut here, &mut below);
            below.iter_mut().for_each(|e| *e = [0.0; 3]);
        }
        assert_eq!(dither(&picture, &palette), expected);
        // Remapping, too, gives each colour its nearest entry.
        let remapped = palette.remap(&picture);
        for (c, i) in rgb.iter().zip(&remapped) {
            assert_eq!(
                i.map(usize::from),
                Some(crate::kmeans::nearest(&all, to_color(*c)))
            );
        }
    }
}
