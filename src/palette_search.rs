//! The nearest palette colour of a colour of the RGB cube, found among the few palette colours that
//! can be nearest anywhere in its cell of the cube, instead of among all of them.
//!
//! Dithering looks up one colour per pixel, each a pixel plus the error carried to it, so no table
//! of the picture's colours serves it: at 256 colours every pixel of a photo cost 256 distances.
//! The cube is cut into cells of 8 units a side; a cell's candidates are the palette colours that
//! are not farther from every point of the cell than some other palette colour is from every point
//! of it. The nearest is then searched among them, in palette order, with the same distances, so
//! it is exactly the colour (and, for ties, the entry) that a search of the whole palette finds.
//! Cells get their candidates when first asked for (a picture reaches only some of them).

use crate::kmeans::{dist2, Color};

/// log2 of a cell's side, in colour units.
const SIDE_BITS: u32 = 3;
/// Cells along each axis.
const CELLS: usize = 256 >> SIDE_BITS;
/// Room, in squared distance, left for the rounding of the distances compared: far above it
/// (below 1e-10 for distances of the cube), so a colour left out is surely farther.
const MARGIN: f64 = 1e-6;
/// A cell whose candidates are not known yet.
const UNKNOWN: u32 = u32::MAX;
/// Palettes of at most this many colours are better compared whole ([`PaletteSearch::worth_it`]):
/// finding the cell costs as much as comparing them (dithering Storm, 2.5 MP, with `-i`: 125 against 164 ms at 4 colours, 142
/// against 167 at 8, the same at 16, 212 against 188 at 32).
const COMPARE_ALL: usize = 16;

/// Finds the nearest of `colors` ([`nearest`](crate::kmeans::nearest)'s answer) to colours in 0..=255 on each axis.
pub(crate) struct PaletteSearch<'a> {
    colors: &'a [Color],
    /// Per cell, where its candidates start in `lists` ([`UNKNOWN`] until asked for); they end
    /// where the cell's `len` says.
    start: Vec<u32>,
    len: Vec<u16>,
    /// The candidates of the cells asked for, each cell's in increasing palette order.
    lists: Vec<u8>,
}

impl<'a> PaletteSearch<'a> {
    /// A search over `colors` (at most 256 of them).
    pub fn new(colors: &'a [Color]) -> Self {
        assert!(colors.len() <= 256, "at most 256 palette colours");
        Self {
            colors,
            start: vec![UNKNOWN; CELLS * CELLS * CELLS],
            len: vec![0; CELLS * CELLS * CELLS],
            lists: Vec::new(),
        }
    }

    /// Whether searching a palette of `len` colours by cell is faster than comparing them all.
    pub fn worth_it(len: usize) -> bool {
        len > COMPARE_ALL
    }

    /// The index in `colors` of the colour nearest `x` (squared RGB distance; ties: the lowest
    /// index), exactly as [`nearest`](crate::kmeans::nearest) gives it. `x` must lie in the cube (0 to 255 on each axis).
    pub fn nearest(&mut self, x: Color) -> usize {
        debug_assert!(x.iter().all(|v| (0.0..=255.0).contains(v)), "{x:?}");
        let q = x.map(|v| (v as usize).min(255) >> SIDE_BITS);
        let cell = (q[0] * CELLS + q[1]) * CELLS + q[2];
        if self.start[cell] == UNKNOWN {
            self.fill(cell, q);
        }
        let start = self.start[cell] as usize;
        let candidates = &self.lists[start..start + usize::from(self.len[cell])];
        let (mut best, mut d_best) = (0, f64::INFINITY);
        for &j in candidates {
            let d = dist2(x, self.colors[usize::from(j)]);
            if d < d_best {
                d_best = d;
                best = usize::from(j);
            }
        }
        best
    }

    /// Finds the candidates of `cell` (at `q` along the axes): every colour whose least distance
    /// to the cell's box is within the smallest greatest distance of any colour to it.
    fn fill(&mut self, cell: usize, q: [usize; 3]) {
        let side = f64::from(1u32 << SIDE_BITS);
        let lo: Color = q.map(|v| v as f64 * side);
        let hi: Color = lo.map(|v| v + side);
        let (mut least, mut most) = (Vec::with_capacity(self.colors.len()), f64::INFINITY);
        for c in self.colors {
            let (mut near, mut far) = (0.0, 0.0);
            for d in 0..3 {
                let below = (lo[d] - c[d]).max(0.0) + (c[d] - hi[d]).max(0.0);
                near += below * below;
                let span = (c[d] - lo[d]).abs().max((hi[d] - c[d]).abs());
                far += span * span;
            }
            least.push(near);
            most = most.min(far);
        }
        self.start[cell] = self.lists.len() as u32;
        let before = self.lists.len();
        self.lists.extend(
            least
                .iter()
                .enumerate()
                .filter(|&(_, &near)| near <= most + MARGIN)
                .map(|(j, _)| j as u8),
        );
        self.len[cell] = (self.lists.len() - before) as u16;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmeans::nearest;

    /// A generator of numbers in 0..1 (xorshift), so the tests need no seed crate.
    fn uniform(state: &mut u64) -> f64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        (*state >> 11) as f64 / (1u64 << 53) as f64
    }

    #[test]
    fn the_nearest_is_the_whole_palettes_nearest_ties_included() {
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        for k in [17usize, 24, 64, 256] {
            // Integer colours, some repeated (exact ties), and a few off the lattice.
            let mut colors: Vec<Color> = (0..k)
                .map(|_| std::array::from_fn(|_| (uniform(&mut s) * 256.0).floor().min(255.0)))
                .collect();
            colors[k - 1] = colors[0];
            colors[k / 2] = [127.5, 3.25, 255.0];
            let mut search = PaletteSearch::new(&colors);
            for i in 0..20_000 {
                let x: Color = if i % 3 == 0 {
                    // On the lattice and on cell borders, where ties and edges are.
                    std::array::from_fn(|_| (uniform(&mut s) * 33.0).floor().min(32.0) * 8.0)
                        .map(|v: f64| v.min(255.0))
                } else {
                    std::array::from_fn(|_| uniform(&mut s) * 255.0)
                };
                assert_eq!(search.nearest(x), nearest(&colors, x), "k = {k}, {x:?}");
            }
        }
    }

    #[test]
    fn equidistant_colours_go_to_the_first_as_in_the_whole_palette() {
        // x = 100 is as far from 90 as from 110, in the middle of a cell; the other colours make
        // the palette large enough to be searched by cell.
        let far: Vec<Color> = (0..20)
            .map(|i| [0.0, 100.0 + f64::from(i), 255.0])
            .collect();
        let colors = [vec![[110.0, 0.0, 0.0], [90.0, 0.0, 0.0]], far.clone()].concat();
        let mut search = PaletteSearch::new(&colors);
        assert_eq!(search.nearest([100.0, 0.0, 0.0]), 0);
        let colors = [far, vec![[90.0, 0.0, 0.0], [110.0, 0.0, 0.0]]].concat();
        assert_eq!(PaletteSearch::new(&colors).nearest([100.0, 0.0, 0.0]), 20);
    }
}
