//! Turning an image file into what k-means works on: the picture's pixels, and the histogram of its
//! distinct colours weighted by how many pixels have each.
//!
//! Clustering the histogram instead of every pixel gives exactly the same assignments, centroids and
//! loss (a colour's pixels always share a nearest centroid), at a fraction of the work: a photo of
//! 8 million pixels typically has a few hundred thousand distinct colours.

use rayon::prelude::*;

use image::DynamicImage;

/// A decoded picture as 8-bit sRGB, with alpha kept separately when the file had it.
#[derive(Debug, Clone, PartialEq)]
pub struct Picture {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height` RGB triples, row by row.
    pub rgb: Vec<[u8; 3]>,
    /// One alpha value per pixel, when the file had an alpha channel.
    pub alpha: Option<Vec<u8>>,
}

impl Picture {
    /// Builds a fully opaque picture from its pixels.
    ///
    /// # Panics
    /// If `rgb.len() != width * height`.
    pub fn from_rgb(width: u32, height: u32, rgb: Vec<[u8; 3]>) -> Self {
        assert_eq!(rgb.len(), width as usize * height as usize, "pixel count");
        Self {
            width,
            height,
            rgb,
            alpha: None,
        }
    }

    /// Whether pixel `i` carries colour: a pixel with alpha 0 has none and is left out of clustering.
    pub fn is_visible(&self, i: usize) -> bool {
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

/// Converts a decoded image to a [`Picture`], keeping alpha only when the image has it.
pub fn picture_from_dynamic(image: DynamicImage) -> Picture {
    let (width, height) = (image.width(), image.height());
    if image.color().has_alpha() {
        let rgba = image.into_rgba8().into_raw();
        let mut rgb = Vec::with_capacity(rgba.len() / 4);
        let mut alpha = Vec::with_capacity(rgba.len() / 4);
        for p in rgba.chunks_exact(4) {
            rgb.push([p[0], p[1], p[2]]);
            alpha.push(p[3]);
        }
        Picture {
            width,
            height,
            rgb,
            alpha: Some(alpha),
        }
    } else {
        let raw = image.into_rgb8().into_raw();
        Picture {
            width,
            height,
            rgb: bytes_to_triples(raw),
            alpha: None,
        }
    }
}

/// Reinterprets packed RGB bytes as triples, in place when the buffer allows it.
fn bytes_to_triples(raw: Vec<u8>) -> Vec<[u8; 3]> {
    // A decoded photo's buffer has exactly 3 bytes a pixel, so it becomes a Vec of triples without a
    // copy (a 24 MP photo: a 72 MB copy saved). Other capacities fall back to a copy.
    match bytemuck::allocation::try_cast_vec(raw) {
        Ok(triples) => triples,
        Err((_, raw)) => raw.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect(),
    }
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

/// The distinct visible colours of a picture, in increasing [`color_key`] order, with their pixel counts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ColorHistogram {
    /// Each distinct colour once.
    pub colors: Vec<[u8; 3]>,
    /// `counts[i]` pixels have colour `colors[i]`; never zero.
    pub counts: Vec<u32>,
}

/// Below this many pixels sorting the colour keys is cheaper than counting into two 64 MB tables
/// (measured: the two cost the same at about 512 x 512 pixels).
const DENSE_THRESHOLD: usize = 1 << 18;
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
    /// Counts the visible colours of `picture` (pixels with alpha 0 are left out).
    pub fn from_picture(picture: &Picture) -> Self {
        let visible = |i: usize| picture.is_visible(i);
        if picture.rgb.len() < DENSE_THRESHOLD {
            Self::by_sorting(&picture.rgb, visible)
        } else {
            Self::by_table(&picture.rgb, picture.alpha.as_deref())
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

    /// The histogram by counting into tables indexed by colour key: for large pictures.
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
        let mut hist = Self::default();
        for part in parts {
            hist.colors.extend(part.colors);
            hist.counts.extend(part.counts);
        }
        hist
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
    fn packed_bytes_become_triples_with_or_without_a_copy() {
        let exact = vec![1u8, 2, 3, 4, 5, 6];
        assert_eq!(bytes_to_triples(exact), vec![[1, 2, 3], [4, 5, 6]]);
        let mut spare = Vec::with_capacity(7);
        spare.extend_from_slice(&[9u8, 8, 7]);
        assert_eq!(bytes_to_triples(spare), vec![[9, 8, 7]]);
    }

    fn picture(colors: &[[u8; 3]]) -> Picture {
        Picture::from_rgb(colors.len() as u32, 1, colors.to_vec())
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
    fn table_and_sort_agree_over_the_whole_cube() {
        // Colours from every part of the key space, the extremes, and colours that only one half
        // of the picture holds (the halves are counted into separate tables).
        let mut rgb = hashed_colors(20_000);
        rgb.extend([[0, 0, 0], [255, 255, 255], [255, 255, 255]]);
        rgb.insert(0, [12, 34, 56]);
        let a = ColorHistogram::by_sorting(&rgb, |_| true);
        let b = ColorHistogram::by_table(&rgb, None);
        assert_eq!(a, b);
        assert_eq!(b.total(), rgb.len() as u64);
        assert_eq!(b.colors.first(), Some(&[0, 0, 0]));
        assert_eq!(b.colors.last(), Some(&[255, 255, 255]));
        assert_eq!(b.counts.last(), Some(&2));
    }

    #[test]
    fn table_and_sort_strategies_agree() {
        let rgb: Vec<[u8; 3]> = (0..5000u32)
            .map(|i| {
                let x = i.wrapping_mul(2_654_435_761) >> 8;
                [(x % 7) as u8 * 30, (x % 5) as u8, (x >> 16) as u8 & 3]
            })
            .collect();
        let alpha: Vec<u8> = (0..rgb.len()).map(|i| (i % 11) as u8).collect();
        let hidden = |i: usize| alpha[i] != 0;
        let a = ColorHistogram::by_sorting(&rgb, hidden);
        let b = ColorHistogram::by_table(&rgb, Some(&alpha));
        assert_eq!(
            ColorHistogram::by_sorting(&rgb, |_| true),
            ColorHistogram::by_table(&rgb, None)
        );
        assert_eq!(a, b);
        assert_eq!(a.total(), (0..5000).filter(|&i| hidden(i)).count() as u64);
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
