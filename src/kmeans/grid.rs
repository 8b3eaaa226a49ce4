//! A two-level grid over the RGB cube that lets an epoch assign whole boxes of colours at once.
//!
//! Colours are sorted into coarse cells (32 units a side) split into fine cells (8 units a side, or 4
//! where colours crowd a cell), each with the bounding box of its colours and their exact weighted
//! sums. If every point of a box is provably closer to one centroid than to any other, the whole box
//! is assigned to it without looking at its points (the "filtering" idea of Kanungo et al., "An
//! efficient k-means clustering algorithm: analysis and implementation", IEEE TPAMI 2002, on a
//! fixed two-level tree). Coordinates other than integer sRGB (CIELAB, Oklab) are first laid over
//! 256 units by [`Layout`], so that cells divide the space the points fill, or over 512 or 1024
//! where they fill only a thin slab of it.

use rayon::prelude::*;

use super::{Color, Points};
use crate::colorspace::FRACTION;

/// [`FRACTION`] is 2^-this.
const FRACTION_BITS: u32 = 16;

/// Weighted sums of colours: the sum of `weight * coordinate` and of weights. For integer
/// coordinates (sRGB) and CIELAB or Oklab ones (multiples of [`FRACTION`]) every sum stays below
/// 2^53 of their units and is exact, whatever the order of additions and subtractions (see
/// [`Grid::exact_sums`]); for other coordinates the order is fixed, so results are still
/// reproducible.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Mass {
    pub coord: [f64; 3],
    pub weight: f64,
}

impl Mass {
    pub fn of(x: Color, w: u32) -> Self {
        let w = f64::from(w);
        Self {
            coord: x.map(|v| w * v),
            weight: w,
        }
    }

    pub fn add(&mut self, m: &Mass) {
        for d in 0..3 {
            self.coord[d] += m.coord[d];
        }
        self.weight += m.weight;
    }

    pub fn sub(&mut self, m: &Mass) {
        for d in 0..3 {
            self.coord[d] -= m.coord[d];
        }
        self.weight -= m.weight;
    }
}

/// A box of points: the range of their indices in grid order, their bounding box and their mass.
#[derive(Debug, Clone)]
pub(crate) struct Cell {
    pub start: usize,
    pub end: usize,
    pub lo: Color,
    pub hi: Color,
    pub mass: Mass,
}

/// A coarse cell and the range of its fine cells.
#[derive(Debug, Clone)]
pub(crate) struct Coarse {
    pub cell: Cell,
    pub fine_start: usize,
    pub fine_end: usize,
}

/// Points reordered cell by cell, with the cells that hold them.
#[derive(Debug, Clone)]
pub(crate) struct Grid {
    /// The points in grid order.
    pub coords: Vec<Color>,
    /// Their weights, in grid order.
    pub weights: Vec<u32>,
    /// `order[g]` is the index in the caller's points of the point at grid position `g`.
    pub order: Vec<u32>,
    /// The non-empty fine cells, grouped by coarse cell.
    pub fine: Vec<Cell>,
    /// The non-empty coarse cells.
    pub coarse: Vec<Coarse>,
    /// Fine cell `f`'s points in blocks of [`BLOCK`] (the last may be shorter) are numbered from
    /// `block_first[f]`; the last entry is the number of blocks.
    pub block_first: Vec<usize>,
    /// Whether every coordinate is an integer in 0..=255 (sRGB colours): the cube is laid out as it
    /// is, crowded cells are split, and k-means++ can sum in integers.
    pub integer: bool,
    /// Whether cluster sums are exact whatever the order of additions (so parts of an epoch may be
    /// summed apart): integer colours, or CIELAB and Oklab coordinates (multiples of
    /// [`crate::colorspace::FRACTION`]), few enough pixels that no sum passes 2^53 of their units.
    pub exact_sums: bool,
    /// The sum of the points' weights (pixels).
    pub total_weight: u64,
    /// How the points were laid over the cells.
    pub layout: Layout,
}

/// Points of a mixed fine cell are searched in blocks of this many (in grid order, so neighbours
/// along the blue axis), each with its own slack: a centroid's move forces a search only of the
/// blocks near its boundary, not of the whole cell.
pub(crate) const BLOCK: usize = 8;

/// The fewest points a thread takes in the grid's parallel passes (and in converting colours to
/// CIELAB or Oklab): below, one thread does it all.
pub(super) const PAR_MIN: usize = 1 << 14;

/// log2 of a fine cell's side, in colour units.
const FINE_BITS: usize = 3;
/// log2 of the number of fine cells per coarse cell along one axis.
const SPLIT_BITS: usize = 2;
/// Bits of a key that number the fine cell within its coarse cell.
const WITHIN_BITS: usize = 3 * SPLIT_BITS;

/// An 8-unit cell holding more than this many colours is split into its eight 4-unit boxes.
/// Measured on sRGB at K = 16 (the k-means phase, alternating runs): on a 1792x1008 PNG of 573 000
/// colours (about 100 a cell) 0.241 s unsplit, 0.229 s split from 320 (160: the same); on its JPEG
/// of 230 000 colours, on 2-24 MP photos and at K = 256 the same as unsplit, except that splitting
/// cells of more than 64 made the JPEG 0.12 s instead of 0.10 s (more cells to filter than colours
/// saved). CIELAB and Oklab cells are split alike (within noise of unsplit in CIELAB).
const CROWDED: usize = 320;

/// Cells of colours other than sRGB's (CIELAB, Oklab) are made finer ([`Layout`]) while their fine
/// cells hold more than this many colours on average. Measured (k-means phase, K = 16 defaults and
/// K = 256 best mode with one restart, two seeds) on 0.03-0.57 M colour photos at 1, 2 and 4 times
/// the 256-unit scale, crowded cells split: the best lay between 20 and 120 a cell (sRGB's 8-unit
/// cells hold about 55 on such photos), and ten times fewer a cell was up to three times slower
/// (too many cells to filter). CIELAB photos stay at the 256 units; Oklab ones were 1.3-2.5 times
/// faster at K = 256 one scale finer. From Wu's start (the same run whatever the cells), K = 16, 64
/// and 256 on four 2-24 MP photos: CIELAB fastest at 1x on three and within 10 % on the fourth,
/// Oklab fastest at 2x on three (0.64 s against 0.92 s at 1x, K = 256, 2 MP) and 20 % slower than
/// 1x at K = 256 on the fourth; 4x never fastest.
const DENSE: usize = 128;

/// Keys number at most 2^this (the counting sort's table: 4 MiB).
const MAX_KEY_BITS: usize = 19;

/// Which 4-unit box of its 8-unit cell a colour is in (0..8).
fn sub_key(x: Color, layout: &Layout) -> u8 {
    let u = layout.cell_units(x);
    let bit = |v: usize| ((v >> 2) & 1) as u8;
    (bit(u[0]) << 2) | (bit(u[1]) << 1) | bit(u[2])
}

/// Reorders the points of `range` (one cell) by their 4-unit box, keeping their order within a
/// box (a stable counting sort).
fn split_by_box(
    range: std::ops::Range<usize>,
    coords: &mut [Color],
    weights: &mut [u32],
    order: &mut [u32],
    layout: &Layout,
) {
    let mut starts = [0usize; 9];
    for x in &coords[range.clone()] {
        starts[usize::from(sub_key(*x, layout)) + 1] += 1;
    }
    for b in 1..9 {
        starts[b] += starts[b - 1];
    }
    let n = range.len();
    let (mut c, mut w, mut o) = (vec![[0.0; 3]; n], vec![0u32; n], vec![0u32; n]);
    for g in range.clone() {
        let b = usize::from(sub_key(coords[g], layout));
        let at = starts[b];
        (c[at], w[at], o[at]) = (coords[g], weights[g], order[g]);
        starts[b] += 1;
    }
    coords[range.clone()].copy_from_slice(&c);
    weights[range.clone()].copy_from_slice(&w);
    order[range].copy_from_slice(&o);
}

/// Whether every coordinate of `c` is an integer in 0..=255 (an sRGB colour).
pub(crate) fn is_integral(c: &Color) -> bool {
    c.iter()
        .all(|&v| (0.0..=255.0).contains(&v) && v.fract() == 0.0)
}

/// Whether every weighted sum of `points`' coordinates, and every partial sum of one, is exact in
/// f64: every coordinate is an integer (`integer`) or a multiple of [`FRACTION`], of magnitude below
/// 256, and the total weight `total` times 256 stays below 2^53 of those units.
fn sums_are_exact(points: &Points, integer: bool, total: u64) -> bool {
    let bits = if integer { 8 } else { 8 + FRACTION_BITS };
    let on_grid = integer
        || points.coords.par_iter().with_min_len(PAR_MIN).all(|c| {
            c.iter()
                .all(|&v| v.abs() < 256.0 && (v / FRACTION).fract() == 0.0)
        });
    on_grid && total < 1 << (53 - bits)
}

/// How coordinates are laid over the units that cells (and Wu's levels) cover: integer sRGB colours
/// as they are; any other coordinates (CIELAB, Oklab, a library user's) shifted and scaled, the same
/// on every axis, so that their widest extent spans 256 units. (Clamped into 0..=255 as they are,
/// Oklab's coordinates, L from 0 to 1, all fell into one cell, and every epoch searched every colour
/// among every centroid.)
///
/// Cells may be laid over a finer scale than that, 2 or 4 times: a photo's Oklab colours fill a
/// thin slab of their bounding box (a and b vary far less than L), and on the 256 units their 8-unit
/// cells held hundreds of colours each, searched among tens of centroids at K = 256. The scale is
/// the coarsest at which fine cells hold at most [`DENSE`] colours on average (see [`Layout::of`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Layout {
    offset: Color,
    scale: f64,
    /// The cells' scale: `scale` times 1, 2 or 4.
    cell_scale: f64,
    /// Coarse cells along each axis, which the cells' units span.
    coarse: [usize; 3],
}

impl Layout {
    /// Integer sRGB colours: nothing moved.
    const SRGB: Self = Self {
        offset: [0.0; 3],
        scale: 1.0,
        cell_scale: 1.0,
        coarse: [8; 3],
    };

    /// The layout of `coords`: [`Self::SRGB`] when `integer`, otherwise their bounding box moved to
    /// the origin and its widest side scaled to 255, with cells at the coarsest of 1, 2 or 4 times
    /// that scale whose fine cells hold at most [`DENSE`] colours on average (or the finest whose
    /// keys number at most 2^[`MAX_KEY_BITS`]).
    pub fn of(coords: &[Color], integer: bool) -> Self {
        if integer || coords.is_empty() {
            return Self::SRGB;
        }
        let (lo, hi) = coords
            .par_iter()
            .with_min_len(PAR_MIN)
            .fold(
                || ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3]),
                |(lo, hi), x| {
                    (
                        std::array::from_fn(|d| lo[d].min(x[d])),
                        std::array::from_fn(|d| hi[d].max(x[d])),
                    )
                },
            )
            .reduce(
                || ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3]),
                |a, b| {
                    (
                        std::array::from_fn(|d| a.0[d].min(b.0[d])),
                        std::array::from_fn(|d| a.1[d].max(b.1[d])),
                    )
                },
            );
        let widest = (0..3).map(|d| hi[d] - lo[d]).fold(0.0f64, f64::max);
        let scale = if widest > 0.0 { 255.0 / widest } else { 1.0 };
        let mut layout = Self {
            offset: lo,
            scale,
            cell_scale: scale,
            coarse: [8; 3],
        }
        .on_256_units();
        for finer in [2.0, 4.0] {
            let cell_scale = scale * finer;
            let coarse = std::array::from_fn(|d| {
                let units = ((hi[d] - lo[d]) * cell_scale).floor() as usize + 1;
                units.div_ceil(1 << (FINE_BITS + SPLIT_BITS))
            });
            let next = Self {
                cell_scale,
                coarse,
                ..layout
            };
            // (The cheap test first: counting the cells takes a pass over the colours.)
            if next.keys() > 1 << MAX_KEY_BITS
                || coords.len() <= DENSE
                || coords.len() <= DENSE * layout.occupied(coords)
            {
                break;
            }
            layout = next;
        }
        layout
    }

    /// The number of fine cells that hold some of `coords`: one bit per key, set on every core
    /// for its share of the colours (at most 64 KiB a share).
    fn occupied(&self, coords: &[Color]) -> usize {
        let words = self.keys().div_ceil(64);
        let share = coords
            .len()
            .div_ceil(rayon::current_num_threads())
            .max(PAR_MIN);
        coords
            .par_chunks(share)
            .map(|xs| {
                let mut bits = vec![0u64; words];
                for &x in xs {
                    let k = cell_key(x, self);
                    bits[k / 64] |= 1 << (k % 64);
                }
                bits
            })
            .reduce(
                || vec![0u64; words],
                |mut a, b| {
                    a.iter_mut().zip(&b).for_each(|(x, y)| *x |= y);
                    a
                },
            )
            .iter()
            .map(|w| w.count_ones() as usize)
            .sum()
    }

    /// Where `x` lies on each axis, in 0..=255 (whole units).
    #[inline]
    pub fn units(&self, x: Color) -> [usize; 3] {
        std::array::from_fn(|d| ((x[d] - self.offset[d]) * self.scale).clamp(0.0, 255.0) as usize)
    }

    /// Where `x` lies on each axis in the cells' units (0 to 32 times [`Self::coarse`], less one).
    #[inline]
    fn cell_units(&self, x: Color) -> [usize; 3] {
        std::array::from_fn(|d| {
            let top = (self.coarse[d] << (FINE_BITS + SPLIT_BITS)) - 1;
            ((x[d] - self.offset[d]) * self.cell_scale).clamp(0.0, top as f64) as usize
        })
    }

    /// This layout with its cells on the 256 units of [`Self::units`] (as they were before they
    /// could be finer).
    fn on_256_units(self) -> Self {
        Self {
            cell_scale: self.scale,
            coarse: [8; 3],
            ..self
        }
    }

    /// The number of cell keys ([`cell_key`] is below it).
    fn keys(&self) -> usize {
        self.coarse.iter().product::<usize>() << WITHIN_BITS
    }
}

/// The sort key of a colour laid out by `layout`: its coarse cell, then its fine cell within it.
fn cell_key(x: Color, layout: &Layout) -> usize {
    let q = layout.cell_units(x).map(|v| v >> FINE_BITS);
    let mask = (1 << SPLIT_BITS) - 1;
    let c = layout.coarse;
    let coarse = ((q[0] >> SPLIT_BITS) * c[1] + (q[1] >> SPLIT_BITS)) * c[2] + (q[2] >> SPLIT_BITS);
    let fine = ((q[0] & mask) << (2 * SPLIT_BITS)) | ((q[1] & mask) << SPLIT_BITS) | (q[2] & mask);
    (coarse << WITHIN_BITS) | fine
}

fn empty_cell(start: usize) -> Cell {
    Cell {
        start,
        end: start,
        lo: [f64::INFINITY; 3],
        hi: [f64::NEG_INFINITY; 3],
        mass: Mass::default(),
    }
}

fn extend(cell: &mut Cell, x: Color, m: &Mass) {
    for (d, &v) in x.iter().enumerate() {
        cell.lo[d] = cell.lo[d].min(v);
        cell.hi[d] = cell.hi[d].max(v);
    }
    cell.mass.add(m);
}

impl Grid {
    /// Sorts `points` into cells (a counting sort: linear in the number of points).
    pub fn new(points: &Points) -> Self {
        // The passes over every point run on all threads; only the counting sort's scatter is
        // sequential. (Gathering a photo's colours in grid order is bound by cache misses.)
        let integer = points
            .coords
            .par_iter()
            .with_min_len(PAR_MIN)
            .all(is_integral);
        let total_weight: u64 = points.weights.iter().map(|&w| u64::from(w)).sum();
        let exact_sums = sums_are_exact(points, integer, total_weight);
        let layout = Layout::of(&points.coords, integer);
        let keys: Vec<u32> = points
            .coords
            .par_iter()
            .with_min_len(PAR_MIN)
            .map(|&x| cell_key(x, &layout) as u32)
            .collect();
        let mut starts = vec![0usize; layout.keys() + 1];
        for &k in &keys {
            starts[k as usize + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut order = vec![0u32; points.len()];
        let mut sorted_keys = vec![0u32; points.len()];
        let mut next = starts;
        for (i, &k) in keys.iter().enumerate() {
            let g = next[k as usize];
            order[g] = i as u32;
            sorted_keys[g] = k;
            next[k as usize] += 1;
        }
        drop(keys);
        let mut coords: Vec<Color> = order
            .par_iter()
            .with_min_len(PAR_MIN)
            .map(|&i| points.coords[i as usize])
            .collect();
        let mut weights: Vec<u32> = order
            .par_iter()
            .with_min_len(PAR_MIN)
            .map(|&i| points.weights[i as usize])
            .collect();

        let mut fine = Vec::new();
        let mut coarse: Vec<Coarse> = Vec::new();
        let mut g = 0;
        while g < coords.len() {
            let key = sorted_keys[g];
            let mut end = g;
            while end < coords.len() && sorted_keys[end] == key {
                end += 1;
            }
            let coarse_key = key >> WITHIN_BITS;
            let same_coarse = coarse
                .last()
                .is_some_and(|c| sorted_keys[c.cell.start] >> WITHIN_BITS == coarse_key);
            if !same_coarse {
                coarse.push(Coarse {
                    cell: empty_cell(g),
                    fine_start: fine.len(),
                    fine_end: fine.len(),
                });
            }
            // A crowded cell becomes one cell per 4-unit box: where colours are dense, a boundary
            // then leaves fewer of them to search.
            let split = end - g > CROWDED;
            if split {
                split_by_box(g..end, &mut coords, &mut weights, &mut order, &layout);
            }
            let c = coarse.last_mut().expect("pushed for this cell or before");
            while g < end {
                let mut cell = empty_cell(g);
                let sub = sub_key(coords[g], &layout);
                while g < end && (!split || sub_key(coords[g], &layout) == sub) {
                    extend(&mut cell, coords[g], &Mass::of(coords[g], weights[g]));
                    g += 1;
                }
                cell.end = g;
                for d in 0..3 {
                    c.cell.lo[d] = c.cell.lo[d].min(cell.lo[d]);
                    c.cell.hi[d] = c.cell.hi[d].max(cell.hi[d]);
                }
                c.cell.mass.add(&cell.mass);
                c.cell.end = cell.end;
                fine.push(cell);
                c.fine_end = fine.len();
            }
        }
        let mut block_first = Vec::with_capacity(fine.len() + 1);
        let mut blocks = 0;
        for cell in &fine {
            block_first.push(blocks);
            blocks += (cell.end - cell.start).div_ceil(BLOCK);
        }
        block_first.push(blocks);
        Self {
            coords,
            weights,
            order,
            fine,
            coarse,
            block_first,
            integer,
            exact_sums,
            total_weight,
            layout,
        }
    }

    /// `n` runs of consecutive coarse cells (fewer if there are fewer cells) holding about as many
    /// points each, to be assigned on separate threads.
    pub fn parts(&self, n: usize) -> Vec<std::ops::Range<usize>> {
        crate::parts::balanced(self.coarse.len(), self.len(), n, |c| {
            self.coarse[c].cell.end
        })
    }

    /// The mass of point `g` (grid order). Computed, not stored: it is the same every time, and
    /// the weights it is made from are an eighth of the memory, so fewer cache misses when a point
    /// changes cluster.
    #[inline]
    pub fn mass(&self, g: usize) -> Mass {
        Mass::of(self.coords[g], self.weights[g])
    }

    /// The rank of point `g` (grid order) for breaking ties: its 8-unit cell on the 256 units of
    /// [`Layout::units`], then its index in the caller's points. This is the grid's order before
    /// crowded cells were split and before cells could be finer, so a tie goes the same way
    /// whatever became of its cell.
    pub fn tie_rank(&self, g: usize) -> (u32, u32) {
        let key = cell_key(self.coords[g], &self.layout.on_256_units());
        (key as u32, self.order[g])
    }

    /// The number of points.
    pub fn len(&self) -> usize {
        self.coords.len()
    }

    /// Puts per-point values given in grid order back into the caller's order.
    pub fn unpermute<T: Copy + Default>(&self, in_grid_order: &[T]) -> Vec<T> {
        let mut out = vec![T::default(); in_grid_order.len()];
        for (g, &i) in self.order.iter().enumerate() {
            out[i as usize] = in_grid_order[g];
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that the grid's cells partition the `n` points, hold their boxes and sums, and are
    /// at most `side` units wide; returns the width of the widest fine cell.
    fn assert_partition(grid: &Grid, n: usize, side: f64) -> f64 {
        assert_eq!(grid.len(), n);
        let mut seen = vec![false; n];
        let mut widest = 0.0f64;
        for c in &grid.coarse {
            let mut total = Mass::default();
            for f in &grid.fine[c.fine_start..c.fine_end] {
                let mut m = Mass::default();
                for g in f.start..f.end {
                    assert!(!seen[grid.order[g] as usize]);
                    seen[grid.order[g] as usize] = true;
                    for d in 0..3 {
                        assert!(f.lo[d] <= grid.coords[g][d] && grid.coords[g][d] <= f.hi[d]);
                        assert!(f.hi[d] - f.lo[d] < side);
                        assert!(c.cell.lo[d] <= f.lo[d] && f.hi[d] <= c.cell.hi[d]);
                        widest = widest.max(f.hi[d] - f.lo[d]);
                    }
                    m.add(&grid.mass(g));
                }
                assert_eq!(m, f.mass);
                total.add(&m);
            }
            assert_eq!(total, c.cell.mass);
        }
        assert!(seen.iter().all(|&s| s));
        // Each fine cell's blocks follow the previous cell's.
        assert_eq!(grid.block_first.len(), grid.fine.len() + 1);
        for (f, cell) in grid.fine.iter().enumerate() {
            let blocks = grid.block_first[f + 1] - grid.block_first[f];
            assert_eq!(blocks, (cell.end - cell.start).div_ceil(BLOCK));
        }
        let labels: Vec<u32> = grid.order.clone();
        assert_eq!(grid.unpermute(&labels), (0..n as u32).collect::<Vec<u32>>());
        widest
    }

    #[test]
    fn coordinates_of_any_scale_are_spread_over_the_cells() {
        // Colours in Oklab-like units (0 to 1, -0.3 to 0.3): clamped into 0..=255 as they are,
        // they were one cell.
        let coords: Vec<Color> = (0..4096)
            .map(|i| {
                let c = f64::from(i);
                [
                    (c % 16.0) / 15.0,
                    (c / 16.0 % 16.0) / 25.0 - 0.3,
                    (c / 256.0) / 25.0 - 0.3,
                ]
            })
            .collect();
        let points = Points::new(coords, vec![1; 4096]).unwrap();
        let grid = Grid::new(&points);
        assert!(!grid.integer);
        assert!(grid.fine.len() >= 512, "{} cells", grid.fine.len());
        assert_eq!(
            grid.fine.iter().map(|f| f.end - f.start).sum::<usize>(),
            4096
        );
        // Integer colours keep the cube as it is.
        assert_eq!(Layout::of(&[[0.0, 3.0, 255.0]], true), Layout::SRGB);
    }

    #[test]
    fn cells_partition_the_points_and_hold_their_sums() {
        let points = Points::from_pixels(&crate::pixels::hashed_colors(2000));
        let grid = Grid::new(&points);
        assert_partition(&grid, 2000, (1 << FINE_BITS) as f64);
    }

    #[test]
    fn crowded_cells_are_split_into_their_4_unit_boxes_in_a_stable_order() {
        // Every colour of a 24-unit cube (512 to each 8-unit cell), and a few far away.
        let mut pixels: Vec<[u8; 3]> = (0..24 * 24 * 24u32)
            .map(|i| [(i / 576) as u8, (i / 24 % 24) as u8, (i % 24) as u8])
            .collect();
        pixels.extend([[200, 8, 8], [207, 15, 15], [90, 250, 3]]);
        let points = Points::from_pixels(&pixels);
        let n = points.len();
        let grid = Grid::new(&points);
        // The cube's cells are 4 units wide; the sparse colours' cells are not split (one holds
        // two colours 7 units apart).
        assert_eq!(assert_partition(&grid, n, 8.0), 7.0);
        for f in &grid.fine {
            if f.hi.iter().all(|&v| v < 24.0) {
                assert!((0..3).all(|d| f.hi[d] - f.lo[d] == 3.0), "{f:?}");
                assert_eq!(f.end - f.start, 64);
            }
            // Within a cell, the points keep the caller's order.
            assert!(grid.order[f.start..f.end].windows(2).all(|w| w[0] < w[1]));
        }
        assert_eq!(grid.fine.len(), 27 * 8 + 2);
        // Ties are ranked as the unsplit order was: by 8-unit cell, then by the caller's order.
        let mut by_rank: Vec<usize> = (0..n).collect();
        by_rank.sort_by_key(|&g| grid.tie_rank(g));
        let keys: Vec<usize> = by_rank
            .iter()
            .map(|&g| cell_key(grid.coords[g], &grid.layout))
            .collect();
        assert!(keys.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn colours_filling_a_thin_slab_get_cells_finer_than_the_256_units() {
        // 200 x 16 x 16 colours over 1 x t x t: on the 256 units a fine cell held 400 (t = 0.06)
        // or 1600 (t = 0.01) of them; cubes of colours spread over the box stay on 256 units.
        let slab = |t: f64| -> Vec<Color> {
            (0..200 * 16 * 16)
                .map(|i| {
                    let (a, b, c) = (i / 256, i / 16 % 16, i % 16);
                    [
                        f64::from(a) / 199.0,
                        f64::from(b) * t / 15.0,
                        f64::from(c) * t / 15.0,
                    ]
                })
                .collect()
        };
        let cube: Vec<Color> = (0..16 * 16 * 16)
            .map(|i| [i / 256, i / 16 % 16, i % 16].map(|v| f64::from(v) / 15.0 - 0.5))
            .collect();
        for (coords, finer) in [(slab(0.06), 2.0), (slab(0.01), 4.0), (cube, 1.0)] {
            let n = coords.len();
            let points = Points::new(coords, vec![1; n]).unwrap();
            let grid = Grid::new(&points);
            let layout = grid.layout;
            assert_eq!(layout.cell_scale, finer * layout.scale, "{layout:?}");
            // (Each set is 1 wide at its widest.)
            assert_eq!(layout.scale, 255.0);
            // Fine cells are 8 of the finer units wide, and hold at most DENSE colours on average.
            assert_partition(&grid, n, 8.0 / layout.cell_scale);
            let unsplit = grid
                .coords
                .iter()
                .map(|&x| cell_key(x, &layout))
                .collect::<std::collections::BTreeSet<_>>()
                .len();
            assert!(n <= DENSE * unsplit, "{n} colours in {unsplit} cells");
            // Ties are still ranked by the 8-unit cells of the 256 units.
            let mut by_rank: Vec<usize> = (0..n).collect();
            by_rank.sort_by_key(|&g| grid.tie_rank(g));
            let cells: Vec<[usize; 3]> = by_rank
                .iter()
                .map(|&g| layout.units(grid.coords[g]).map(|v| v >> FINE_BITS))
                .collect();
            let coarse = |q: [usize; 3]| q.map(|v| v >> SPLIT_BITS);
            assert!(cells.windows(2).all(|w| coarse(w[0]) <= coarse(w[1])));
        }
    }

    #[test]
    fn sums_are_exact_for_integers_and_for_lab_and_oklab_within_their_pixel_bound() {
        let exact = |coords: Vec<Color>, weights: Vec<u32>| {
            Grid::new(&Points::new(coords, weights).unwrap()).exact_sums
        };
        let colors = crate::pixels::hashed_colors(500);
        let integer: Vec<Color> = colors.iter().map(|c| c.map(f64::from)).collect();
        assert!(exact(integer.clone(), vec![1; 500]));
        assert!(exact(vec![[0.0, 255.0, 7.0]], vec![u32::MAX]));
        for space in [crate::ColorSpace::Lab, crate::ColorSpace::Oklab] {
            let coords: Vec<Color> = integer.iter().map(|&c| space.encode(c)).collect();
            assert!(exact(coords.clone(), vec![3; 500]), "{space:?}");
            // 2^29 pixels of coordinates below 2^8 in units of 2^-16 could pass 2^53.
            let one = vec![*coords.iter().find(|c| !is_integral(c)).unwrap()];
            assert!(exact(one.clone(), vec![(1 << 29) - 1]));
            assert!(!exact(one, vec![1 << 29]));
        }
        // Coordinates off the grid of 2^-16, or from 256 on: their sums are rounded.
        assert!(!exact(vec![[1.0, 2.0, 0.1]], vec![1]));
        assert!(!exact(vec![[1.0, 2.0, 1.0 + FRACTION / 2.0]], vec![1]));
        assert!(!exact(vec![[1.0, 256.0, 1.5]], vec![1]));
        assert!(exact(vec![[1.0, -255.5, 1.5]], vec![1]));
        assert_eq!(FRACTION, 1.0 / f64::from(1u32 << FRACTION_BITS));
    }
}
