//! Turning an image file into what k-means works on: the picture's pixels, and the histogram of its
//! distinct colours weighted by how many pixels have each.
//!
//! Clustering the histogram instead of every pixel gives exactly the same assignments, centroids and
//! loss (a colour's pixels always share a nearest centroid), at a fraction of the work: a photo of
//! 8 million pixels typically has a few hundred thousand distinct colours.

use rayon::prelude::*;

use crate::error::{Error, Result};

/// A picture as 8-bit sRGB, with alpha kept separately when it has any. Its pixel buffers always
/// hold `width * height` pixels (the constructors check it).
#[derive(Debug, Clone, PartialEq)]
pub struct Picture {
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// `width * height` RGB triples, row by row.
    pub(crate) rgb: Vec<[u8; 3]>,
    /// One alpha value per pixel, when the picture has an alpha channel.
    pub(crate) alpha: Option<Vec<u8>>,
}

impl Picture {
    /// A fully opaque picture from its pixels, row by row.
    ///
    /// # Errors
    /// [`Error::PictureSize`] if `rgb.len() != width * height`, [`Error::PictureTooLarge`] if that
    /// is more than [`MAX_PICTURE_PIXELS`].
    pub fn from_rgb(width: u32, height: u32, rgb: Vec<[u8; 3]>) -> Result<Self> {
        check_size(width, height, rgb.len())?;
        Ok(Self {
            width,
            height,
            rgb,
            alpha: None,
        })
    }

    /// A picture from RGBA pixels, row by row; pixels with alpha 0 carry no colour (they are left
    /// out of clustering and stay transparent when drawn).
    ///
    /// # Errors
    /// [`Error::PictureSize`] if `rgba.len() != width * height`, [`Error::PictureTooLarge`] if
    /// that is more than [`MAX_PICTURE_PIXELS`].
    pub fn from_rgba(width: u32, height: u32, rgba: &[[u8; 4]]) -> Result<Self> {
        check_size(width, height, rgba.len())?;
        Ok(Self {
            width,
            height,
            rgb: rgba.iter().map(|p| [p[0], p[1], p[2]]).collect(),
            alpha: Some(rgba.iter().map(|p| p[3]).collect()),
        })
    }

    /// A picture from RGB pixels and one alpha value per pixel.
    ///
    /// # Errors
    /// [`Error::PictureSize`] if either buffer does not hold `width * height` values,
    /// [`Error::PictureTooLarge`] if that is more than [`MAX_PICTURE_PIXELS`].
    pub fn from_rgb_alpha(
        width: u32,
        height: u32,
        rgb: Vec<[u8; 3]>,
        alpha: Vec<u8>,
    ) -> Result<Self> {
        check_size(width, height, rgb.len())?;
        check_size(width, height, alpha.len())?;
        Ok(Self {
            width,
            height,
            rgb,
            alpha: Some(alpha),
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The pixels' colours, row by row.
    pub fn rgb(&self) -> &[[u8; 3]] {
        &self.rgb
    }

    /// The pixels' alpha values, when the picture has an alpha channel.
    pub fn alpha(&self) -> Option<&[u8]> {
        self.alpha.as_deref()
    }

    /// Whether pixel `i` carries colour: a pixel with alpha 0 has none and is left out of clustering.
    pub(crate) fn is_visible(&self, i: usize) -> bool {
        self.alpha.as_ref().is_none_or(|a| a[i] != 0)
    }

    /// The number of pixels that carry colour.
    pub fn visible_count(&self) -> u64 {
        match &self.alpha {
            None => self.rgb.len() as u64,
            Some(a) => a.iter().filter(|&&v| v != 0).count() as u64,
        }
    }
}

/// The most pixels a picture may have: a colour's count in a [`ColorHistogram`] is 32-bit, so a
/// picture of one colour must not have more.
pub const MAX_PICTURE_PIXELS: u64 = u32::MAX as u64;

/// Checks that `len` pixels fill a `width` x `height` picture, of at most [`MAX_PICTURE_PIXELS`].
fn check_size(width: u32, height: u32, len: usize) -> Result<()> {
    let expected = u64::from(width) * u64::from(height);
    if expected > MAX_PICTURE_PIXELS {
        return Err(Error::PictureTooLarge { width, height });
    }
    if len as u64 != expected {
        return Err(Error::PictureSize {
            width,
            height,
            expected,
            got: len,
        });
    }
    Ok(())
}

/// Packs a colour into the 24-bit key used to sort and look up colours.
#[inline]
pub fn color_key(c: [u8; 3]) -> u32 {
    (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2])
}

/// Unpacks a 24-bit key made by [`color_key`].
#[inline]
pub fn key_color(key: u32) -> [u8; 3] {
    [(key >> 16) as u8, (key >> 8) as u8, key as u8]
}

/// The distinct visible colours of a picture, in increasing `0xRRGGBB` order, with their pixel
/// counts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ColorHistogram {
    /// Each distinct colour once.
    pub(crate) colors: Vec<[u8; 3]>,
    /// `counts[i]` pixels have colour `colors[i]`; never zero.
    pub(crate) counts: Vec<u32>,
}

/// Below this many pixels sorting the colour keys is cheaper than splitting them by red (measured
/// on hashed colours: 1.2 against 2.0 ms at 65 536 pixels, 5.2 against 4.2 ms at 262 144).
const DENSE_THRESHOLD: usize = 1 << 18;

/// From this many pixels on, counting into tables of every 24-bit colour is cheaper than splitting
/// by red: the tables' page faults, which make them slower on photos, are paid once, and the split's
/// three passes over the pixels are not (measured: the same at 48 MP, 0.12 against 0.13 s; at 256
/// MP 0.45 against 0.87 s). It also bounds the split's buffer (2 bytes a pixel) to 64 MB.
const TABLE_THRESHOLD: usize = 1 << 25;
/// Entries in a table of every 24-bit colour.
const TABLE_LEN: usize = 1 << 24;
/// Pieces of the table read in parallel.
const TABLE_PARTS: usize = 64;

/// log2 of the number of table entries flagged together as touched.
const BLOCK_BITS: u32 = 8;

/// The number of pixels of each colour (a table indexed by [`color_key`], pixels with alpha 0 left
/// out), and which blocks of `2^BLOCK_BITS` entries were touched.
struct ColorCounts {
    table: Vec<u32>,
    touched: Vec<bool>,
}

/// Counts the colours of `rgb`. Reading only the touched blocks afterwards skips most of the
/// table, and never faults in its untouched pages.
fn count_colors(rgb: &[[u8; 3]], alpha: Option<&[u8]>) -> ColorCounts {
    let mut table = vec![0u32; TABLE_LEN];
    // Storing a constant flag adds no chain of dependent memory operations to the loop.
    let mut touched = vec![false; TABLE_LEN >> BLOCK_BITS];
    match alpha {
        // The common case without alpha gets a loop with no branch.
        None => {
            for &c in rgb {
                let key = color_key(c) as usize;
                table[key] += 1;
                touched[key >> BLOCK_BITS] = true;
            }
        }
        Some(alpha) => {
            for (&c, &a) in rgb.iter().zip(alpha) {
                let key = color_key(c) as usize;
                table[key] += u32::from(a != 0);
                touched[key >> BLOCK_BITS] = true;
            }
        }
    }
    ColorCounts { table, touched }
}

impl ColorHistogram {
    /// The distinct colours, in increasing `0xRRGGBB` order.
    pub fn colors(&self) -> &[[u8; 3]] {
        &self.colors
    }

    /// How many pixels have each colour of [`Self::colors`] (never zero).
    pub fn counts(&self) -> &[u32] {
        &self.counts
    }

    /// Counts the colours of plain RGB pixels.
    ///
    /// # Panics
    /// If there are more than [`MAX_PICTURE_PIXELS`] pixels (a count could not hold them).
    pub fn from_rgb(pixels: &[[u8; 3]]) -> Self {
        Self::from_parts(pixels, None)
    }

    /// Counts the colours of RGBA pixels, leaving out those with alpha 0.
    ///
    /// # Panics
    /// As [`Self::from_rgb`].
    pub fn from_rgba(pixels: &[[u8; 4]]) -> Self {
        let rgb: Vec<[u8; 3]> = pixels.iter().map(|p| [p[0], p[1], p[2]]).collect();
        let alpha: Vec<u8> = pixels.iter().map(|p| p[3]).collect();
        Self::from_parts(&rgb, Some(&alpha))
    }

    /// Counts the visible colours of `picture` (pixels with alpha 0 are left out).
    pub fn from_picture(picture: &Picture) -> Self {
        Self::from_parts(&picture.rgb, picture.alpha.as_deref())
    }

    fn from_parts(rgb: &[[u8; 3]], alpha: Option<&[u8]>) -> Self {
        // A picture is never this large ([`Picture`]'s constructors and the loader refuse it).
        assert!(
            rgb.len() as u64 <= MAX_PICTURE_PIXELS,
            "more pixels than a colour's count holds"
        );
        if rgb.len() < DENSE_THRESHOLD {
            Self::by_sorting(rgb, |i| alpha.is_none_or(|a| a[i] != 0))
        } else if rgb.len() < TABLE_THRESHOLD {
            Self::by_buckets(rgb, alpha)
        } else {
            Self::by_table(rgb, alpha)
        }
    }

    /// The histogram by sorting colour keys: for small pictures.
    fn by_sorting(rgb: &[[u8; 3]], visible: impl Fn(usize) -> bool) -> Self {
        let mut keys: Vec<u32> = (0..rgb.len())
            .filter(|&i| visible(i))
            .map(|i| color_key(rgb[i]))
            .collect();
        keys.sort_unstable();
        let mut hist = Self::default();
        for key in keys {
            if hist.colors.last().map(|&c| color_key(c)) == Some(key) {
                *hist.counts.last_mut().expect("a count per colour") += 1;
            } else {
                hist.colors.push(key_color(key));
                hist.counts.push(1);
            }
        }
        hist
    }

    /// The histogram by splitting the pixels by red value, then counting the (green, blue) pairs of
    /// each red in a table of 65 536 entries (256 KB, which stays in cache). Reading the tables row
    /// by row gives the colours in key order directly.
    fn by_buckets(rgb: &[[u8; 3]], alpha: Option<&[u8]>) -> Self {
        let visible = |i: usize| alpha.is_none_or(|a| a[i] != 0);
        let parts = rayon::current_num_threads().max(1);
        let chunk = rgb.len().div_ceil(parts).max(1);
        let ranges: Vec<std::ops::Range<usize>> = (0..rgb.len())
            .step_by(chunk)
            .map(|start| start..(start + chunk).min(rgb.len()))
            .collect();
        // How many visible pixels of each red each part holds.
        let reds: Vec<[usize; 256]> = ranges
            .par_iter()
            .map(|range| {
                let mut count = [0; 256];
                for i in range.clone() {
                    count[usize::from(rgb[i][0])] += usize::from(visible(i));
                }
                count
            })
            .collect();
        // One run of (green, blue) pairs per red; within it, one slice per part, so that the parts
        // write at once without sharing anything.
        let total: usize = reds.iter().flat_map(|c| c.iter()).sum();
        let mut pairs = vec![0u16; total];
        let mut red_runs: Vec<std::ops::Range<usize>> = Vec::with_capacity(256);
        {
            let mut slices: Vec<Vec<&mut [u16]>> = (0..ranges.len()).map(|_| Vec::new()).collect();
            let (mut rest, mut at) = (&mut pairs[..], 0);
            for red in 0..256 {
                let start = at;
                for (part, count) in reds.iter().enumerate() {
                    let (slice, tail) = rest.split_at_mut(count[red]);
                    slices[part].push(slice);
                    rest = tail;
                    at += count[red];
                }
                red_runs.push(start..at);
            }
            ranges
                .par_iter()
                .zip(slices.par_iter_mut())
                .for_each(|(range, slices)| {
                    let mut fill = [0usize; 256];
                    for i in range.clone() {
                        if visible(i) {
                            let [r, g, b] = rgb[i];
                            let r = usize::from(r);
                            slices[r][fill[r]] = u16::from_be_bytes([g, b]);
                            fill[r] += 1;
                        }
                    }
                });
        }
        // The reds in as many groups as there are parts, of about as many pixels each; each group
        // counted with one table, emptied again as it is read.
        let groups = crate::parts::balanced(256, total, parts, |red| red_runs[red].end);
        let per_red: Vec<Self> = groups
            .par_iter()
            .map(|reds| {
                let mut hist = Self::default();
                let mut table = vec![0u32; 1 << 16];
                let mut touched = [false; 256];
                for red in reds.clone() {
                    for &pair in &pairs[red_runs[red].clone()] {
                        table[usize::from(pair)] += 1;
                        touched[usize::from(pair >> 8)] = true;
                    }
                    for (green, touched) in touched.iter_mut().enumerate() {
                        if !std::mem::take(touched) {
                            continue;
                        }
                        let row = &mut table[green << 8..(green + 1) << 8];
                        for (blue, count) in row.iter_mut().enumerate() {
                            if *count != 0 {
                                hist.colors.push([red as u8, green as u8, blue as u8]);
                                hist.counts.push(std::mem::take(count));
                            }
                        }
                    }
                }
                hist
            })
            .collect();
        Self::concatenated(per_red)
    }

    /// Histograms of consecutive key ranges, one after the other.
    fn concatenated(parts: Vec<Self>) -> Self {
        let mut hist = Self::default();
        for part in parts {
            hist.colors.extend(part.colors);
            hist.counts.extend(part.counts);
        }
        hist
    }

    /// The histogram by counting into tables indexed by colour key: for huge pictures.
    fn by_table(rgb: &[[u8; 3]], alpha: Option<&[u8]>) -> Self {
        // Each count is a random access into a 64 MB table, bound by memory latency rather than
        // arithmetic, so two halves of the picture are counted at once into two tables (64 MB more
        // for a moment), and the two are read together.
        let half = rgb.len() / 2;
        let (first, second) = rayon::join(
            || count_colors(&rgb[..half], alpha.map(|a| &a[..half])),
            || count_colors(&rgb[half..], alpha.map(|a| &a[half..])),
        );
        let parts: Vec<Self> = (0..TABLE_PARTS)
            .into_par_iter()
            .map(|part| {
                let range =
                    part * (TABLE_LEN / TABLE_PARTS)..(part + 1) * (TABLE_LEN / TABLE_PARTS);
                Self::from_tables(range, &first, &second)
            })
            .collect();
        Self::concatenated(parts)
    }

    /// The colours whose keys are in `keys`, counted in both tables.
    fn from_tables(
        keys: std::ops::Range<usize>,
        first: &ColorCounts,
        second: &ColorCounts,
    ) -> Self {
        let mut hist = Self::default();
        let block_len = 1 << BLOCK_BITS;
        for start in keys.step_by(block_len) {
            let block = start >> BLOCK_BITS;
            if !first.touched[block] && !second.touched[block] {
                continue;
            }
            let a = &first.table[start..start + block_len];
            let b = &second.table[start..start + block_len];
            for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
                if x + y != 0 {
                    hist.colors.push(key_color((start + i) as u32));
                    hist.counts.push(x + y);
                }
            }
        }
        hist
    }

    /// The number of distinct colours.
    pub fn len(&self) -> usize {
        self.colors.len()
    }

    /// Whether there is no colour at all.
    pub fn is_empty(&self) -> bool {
        self.colors.is_empty()
    }

    /// The number of pixels counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|&c| u64::from(c)).sum()
    }

    /// The index in [`Self::colors`] of a colour that the histogram holds.
    pub fn position(&self, c: [u8; 3]) -> Option<usize> {
        self.colors
            .binary_search_by_key(&color_key(c), |&x| color_key(x))
            .ok()
    }
}

/// `n` colours scattered over the whole cube by a multiplicative hash (for tests).
#[cfg(test)]
pub(crate) fn hashed_colors(n: u32) -> Vec<[u8; 3]> {
    (0..n)
        .map(|i| {
            let h = i.wrapping_mul(2_654_435_761);
            [(h >> 24) as u8, (h >> 16) as u8, (h >> 8) as u8]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_must_hold_as_many_pixels_as_their_size() {
        assert!(Picture::from_rgb(2, 2, vec![[0, 0, 0]; 3]).is_err());
        assert!(Picture::from_rgba(1, 2, &[[0, 0, 0, 0]]).is_err());
        assert!(Picture::from_rgb_alpha(1, 1, vec![[0, 0, 0]], vec![]).is_err());
        let p = Picture::from_rgba(2, 1, &[[1, 2, 3, 255], [4, 5, 6, 0]]).unwrap();
        assert_eq!((p.width(), p.height(), p.visible_count()), (2, 1, 1));
        assert_eq!(p.rgb(), [[1, 2, 3], [4, 5, 6]]);
        assert_eq!(p.alpha(), Some(&[255, 0][..]));
    }

    #[test]
    fn histograms_of_plain_slices_match_those_of_pictures() {
        let rgb = [[9, 9, 9], [1, 2, 3], [9, 9, 9]];
        let hist = ColorHistogram::from_rgb(&rgb);
        assert_eq!(hist, ColorHistogram::from_picture(&picture(&rgb)));
        assert_eq!(hist.colors(), [[1, 2, 3], [9, 9, 9]]);
        assert_eq!(hist.counts(), [1, 2]);
        let rgba = ColorHistogram::from_rgba(&[[9, 9, 9, 255], [1, 2, 3, 0], [9, 9, 9, 1]]);
        assert_eq!(rgba.colors(), [[9, 9, 9]]);
        assert_eq!(rgba.counts(), [2]);
    }

    fn picture(colors: &[[u8; 3]]) -> Picture {
        Picture::from_rgb(colors.len() as u32, 1, colors.to_vec()).unwrap()
    }

    #[test]
    fn histogram_counts_each_colour_once_in_key_order() {
        let p = picture(&[[9, 9, 9], [1, 2, 3], [9, 9, 9], [0, 0, 255]]);
        let h = ColorHistogram::from_picture(&p);
        assert_eq!(h.colors, vec![[0, 0, 255], [1, 2, 3], [9, 9, 9]]);
        assert_eq!(h.counts, vec![1, 1, 2]);
        assert_eq!(h.total(), 4);
        assert_eq!(h.position([1, 2, 3]), Some(1));
        assert_eq!(h.position([1, 2, 4]), None);
    }

    #[test]
    fn buckets_and_sort_agree_over_the_whole_cube() {
        // Colours from every part of the key space, the extremes, and colours that only one part
        // of the picture holds (each part of the picture is split by red into slices of its own).
        let mut rgb = hashed_colors(20_000);
        rgb.extend([[0, 0, 0], [255, 255, 255], [255, 255, 255]]);
        rgb.insert(0, [12, 34, 56]);
        let a = ColorHistogram::by_sorting(&rgb, |_| true);
        let b = ColorHistogram::by_buckets(&rgb, None);
        assert_eq!(a, b);
        assert_eq!(b.total(), rgb.len() as u64);
        assert_eq!(b.colors.first(), Some(&[0, 0, 0]));
        assert_eq!(b.colors.last(), Some(&[255, 255, 255]));
        assert_eq!(b.counts.last(), Some(&2));
    }

    #[test]
    fn buckets_and_sort_strategies_agree() {
        let rgb: Vec<[u8; 3]> = (0..5000u32)
            .map(|i| {
                let x = i.wrapping_mul(2_654_435_761) >> 8;
                [(x % 7) as u8 * 30, (x % 5) as u8, (x >> 16) as u8 & 3]
            })
            .collect();
        let alpha: Vec<u8> = (0..rgb.len()).map(|i| (i % 11) as u8).collect();
        let hidden = |i: usize| alpha[i] != 0;
        let a = ColorHistogram::by_sorting(&rgb, hidden);
        let b = ColorHistogram::by_buckets(&rgb, Some(&alpha));
        assert_eq!(
            ColorHistogram::by_sorting(&rgb, |_| true),
            ColorHistogram::by_buckets(&rgb, None)
        );
        assert_eq!(a, b);
        assert_eq!(a.total(), (0..5000).filter(|&i| hidden(i)).count() as u64);
    }

    #[test]
    fn all_three_strategies_agree() {
        // Colours that repeat, colours seen once, and transparent pixels.
        let mut rgb = hashed_colors(20_000);
        rgb.extend_from_within(..10_000);
        let alpha: Vec<u8> = (0..rgb.len()).map(|i| (i % 7) as u8).collect();
        let sorted = ColorHistogram::by_sorting(&rgb, |i| alpha[i] != 0);
        assert_eq!(ColorHistogram::by_buckets(&rgb, Some(&alpha)), sorted);
        assert_eq!(ColorHistogram::by_table(&rgb, Some(&alpha)), sorted);
        let all = ColorHistogram::by_sorting(&rgb, |_| true);
        assert_eq!(ColorHistogram::by_table(&rgb, None), all);
        assert_eq!(all.counts.iter().filter(|&&n| n == 2).count(), 10_000);
    }

    #[test]
    fn buckets_of_nothing_are_empty() {
        assert!(ColorHistogram::by_buckets(&[], None).is_empty());
        let hidden = ColorHistogram::by_buckets(&[[1, 2, 3], [4, 5, 6]], Some(&[0, 0]));
        assert!(hidden.is_empty());
        let one = ColorHistogram::by_buckets(&[[255, 0, 255]], None);
        assert_eq!(
            (one.colors(), one.counts()),
            (&[[255, 0, 255]][..], &[1][..])
        );
    }

    #[test]
    fn transparent_pixels_are_left_out() {
        let mut p = picture(&[[1, 1, 1], [2, 2, 2], [3, 3, 3]]);
        p.alpha = Some(vec![255, 0, 7]);
        let h = ColorHistogram::from_picture(&p);
        assert_eq!(h.colors, vec![[1, 1, 1], [3, 3, 3]]);
        assert_eq!(p.visible_count(), 2);
    }

    #[test]
    fn keys_round_trip() {
        for c in [[0, 0, 0], [255, 255, 255], [1, 2, 3], [200, 0, 17]] {
            assert_eq!(key_color(color_key(c)), c);
        }
    }
}
