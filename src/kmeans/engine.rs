//! Lloyd's algorithm from given centroids, assigning whole boxes of colours at once where it can.
//!
//! Every decision is the one plain Lloyd makes. A box of colours (a cell of [`Grid`]) is assigned to a
//! centroid without looking at its points only when every point of the box is provably closer to that
//! centroid than to any other, by a margin far above rounding error; other centroids are ruled out for
//! a box the same way, and the points of the boxes left are searched among the centroids that remain,
//! ties going to the lowest index. For sRGB colours (integers), and for CIELAB and Oklab colours
//! (multiples of 2^-16, see [`crate::colorspace::FRACTION`]), cluster sums are exact in f64, so
//! centroids do not depend on the order in which points are visited, and an epoch of a single run
//! can be split over threads. For other coordinates (a library user's) the sums are rounded, in a
//! fixed order, so results are reproducible but the work stays on one thread per run.
//!
//! Once the centroids settle (late in a long run, where most of a run's epochs are), each cell keeps
//! the centroids it was filtered to, with the gap by which the reference beat those left out: while
//! the centroids' summed moves stay below that gap, the cell is not filtered again (Hamerly's bounds,
//! "Making k-means even faster", 2010, for boxes). A mixed cell also keeps how much farther each
//! point's second nearest kept centroid was than its nearest; while the kept centroids have moved
//! less than half that, no point of the cell can change centroid and its points are not searched.

use rayon::prelude::*;

use super::grid::{Cell, Coarse, Grid, Mass, BLOCK};
use super::{dist2, Color, EpochStats, Points, Run};

/// Points handled by one parallel task when summing the loss.
const CHUNK: usize = 4096;

/// A box is given to a centroid only if, for every point in it, the squared distance to any other
/// centroid exceeds the squared distance to it by this much. Rounding errors of these f64 sums of
/// numbers below 2^18 are below 1e-9.
const MARGIN: f64 = 1e-6;

/// Whether an epoch runs in the code compiled for AVX2 ([`Part::assign_avx2`]): when the processor
/// has it, unless a test asked for the portable code.
#[cfg(target_arch = "x86_64")]
#[inline]
fn use_avx2() -> bool {
    #[cfg(test)]
    if PORTABLE_ONLY.load(std::sync::atomic::Ordering::Relaxed) {
        return false;
    }
    std::arch::is_x86_feature_detected!("avx2")
}

/// Set by a test to run epochs in the portable code even where AVX2 is available. (Both give the
/// same results, so other tests running meanwhile are not disturbed.)
#[cfg(test)]
static PORTABLE_ONLY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A fine cell whose points have not been assigned yet.
const UNSET: u16 = u16::MAX;
/// A fine cell whose points are not all assigned to the same centroid.
const MIXED: u16 = u16::MAX - 1;

/// Index of the nearest centroid to `x` (ties: the lowest index).
#[inline]
pub fn nearest(centroids: &[Color], x: Color) -> usize {
    let (mut best, mut d_best) = (0, f64::INFINITY);
    for (j, &c) in centroids.iter().enumerate() {
        let d = dist2(x, c);
        if d < d_best {
            d_best = d;
            best = j;
        }
    }
    best
}

/// Loss and SSE of `centroids` with each point at its label, summed in a fixed order.
#[cfg_attr(not(feature = "cli"), allow(dead_code))]
pub fn loss_of(points: &Points, centroids: &[Color], labels: &[u8]) -> EpochStats {
    loss_parts(&points.coords, &points.weights, centroids, labels)
}

fn loss_parts(coords: &[Color], weights: &[u32], centroids: &[Color], labels: &[u8]) -> EpochStats {
    let partial: Vec<(f64, f64)> = coords
        .par_chunks(CHUNK)
        .zip(weights.par_chunks(CHUNK))
        .zip(labels.par_chunks(CHUNK))
        .map(|((xs, ws), ls)| {
            let (mut dist, mut sq) = (0.0, 0.0);
            // The distances and their roots eight at a time (the roots then vectorise), added up
            // one by one in the points' order as before, so the sums are the same.
            let (mut d2, mut root) = ([0.0f64; 8], [0.0f64; 8]);
            for ((xs, ws), ls) in xs.chunks(8).zip(ws.chunks(8)).zip(ls.chunks(8)) {
                for ((d, &x), &l) in d2.iter_mut().zip(xs).zip(ls) {
                    *d = dist2(x, centroids[usize::from(l)]);
                }
                for (r, &d) in root.iter_mut().zip(&d2) {
                    *r = d.sqrt();
                }
                for ((&w, &d), &r) in ws.iter().zip(&d2).zip(&root) {
                    dist += f64::from(w) * r;
                    sq += f64::from(w) * d;
                }
            }
            (dist, sq)
        })
        .collect();
    let (dist, sse) = partial
        .iter()
        .fold((0.0, 0.0), |(a, b), &(c, d)| (a + c, b + d));
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    EpochStats {
        loss: dist / total as f64,
        sse,
    }
}

/// The most centroids a run has.
const MAX_K: usize = 256;

/// A set of candidate centroids: their indices (increasing) and coordinates, stored by axis so
/// the filter's loops run over plain arrays. Fixed-size arrays rather than vectors: a K = 16 run
/// filters millions of cells, and copying an entry is then a few stores, with no capacity checks.
struct Candidates {
    len: usize,
    index: [u8; MAX_K],
    x: [f64; MAX_K],
    y: [f64; MAX_K],
    z: [f64; MAX_K],
    /// Squared norms.
    norm: [f64; MAX_K],
    /// Room for [`filter`] to work in when these are its output.
    margins: [f64; MAX_K],
}

impl Default for Candidates {
    fn default() -> Self {
        Self {
            len: 0,
            index: [0; MAX_K],
            x: [0.0; MAX_K],
            y: [0.0; MAX_K],
            z: [0.0; MAX_K],
            norm: [0.0; MAX_K],
            margins: [0.0; MAX_K],
        }
    }
}

impl Candidates {
    fn all(centroids: &[Color]) -> Self {
        let mut c = Self::default();
        for (j, &p) in centroids.iter().enumerate() {
            c.index[j] = j as u8;
            c.x[j] = p[0];
            c.y[j] = p[1];
            c.z[j] = p[2];
            c.norm[j] = p[0] * p[0] + p[1] * p[1] + p[2] * p[2];
        }
        c.len = centroids.len();
        c
    }

    fn clear(&mut self) {
        self.len = 0;
    }

    fn copy_entry(&mut self, from: &Self, i: usize) {
        let n = self.len;
        self.index[n] = from.index[i];
        self.x[n] = from.x[i];
        self.y[n] = from.y[i];
        self.z[n] = from.z[i];
        self.norm[n] = from.norm[i];
        self.len = n + 1;
    }

    fn len(&self) -> usize {
        self.len
    }

    /// The candidates' centroid indices.
    fn indices(&self) -> &[u8] {
        &self.index[..self.len]
    }

    fn coords(&self, i: usize) -> Color {
        [self.x[i], self.y[i], self.z[i]]
    }
}

/// What [`filter`] found besides the candidates: which of them is the reference (the candidate
/// nearest the cell's centre, which beats every centroid left out), and by how much it beats them.
#[derive(Debug, Clone, Copy)]
struct Filtered {
    /// The reference's centroid index.
    reference: u8,
    /// Its coordinates.
    at: Color,
    /// The smallest margin, in squared distance, by which a centroid left out loses to it on the
    /// cell (infinite when none is left out).
    least: f64,
}

impl Filtered {
    /// A lower bound on `d(x, b) - d(x, reference)` for every point `x` of `cell` and every
    /// centroid `b` left out (distance units).
    fn gap(&self, cell: &Cell) -> f64 {
        // For x in the box, d(x,b)^2 >= d(x,a)^2 + m with m = least - MARGIN (room for rounding),
        // so d(x,b) - d(x,a) >= sqrt(d^2 + m) - d with d = d(x,a) <= the box's farthest distance
        // from a, and that is smallest at the largest d.
        let m = self.least - MARGIN;
        if m.is_infinite() {
            return f64::INFINITY;
        }
        let far = max_dist(cell, self.at);
        m / ((far * far + m).sqrt() + far)
    }
}

/// The centroids among `candidates` that are kept for `cell`, written to `out` in the same
/// (increasing) order: all but those that the candidate nearest the cell's centre beats on every
/// point of the cell by more than `keep` in squared distance (`keep` >= [`MARGIN`]). Keeping
/// centroids that only just lose leaves a gap that survives many small moves of the centroids.
/// With `TRACK`, the smallest margin of those left out is returned too (for [`Kept`]).
#[inline(always)]
fn filter<const TRACK: bool>(
    candidates: &Candidates,
    cell: &Cell,
    out: &mut Candidates,
    keep: f64,
) -> Filtered {
    out.clear();
    let centre: Color = std::array::from_fn(|d| (cell.lo[d] + cell.hi[d]) * 0.5);
    let (mut a, mut d_a) = (0, f64::INFINITY);
    for i in 0..candidates.len() {
        let d = dist2(centre, candidates.coords(i));
        if d < d_a {
            a = i;
            d_a = d;
        }
    }
    let (at, a_norm) = (candidates.coords(a), candidates.norm[a]);
    // b is out when even its best case is below -keep. All the maxima first, in a loop of plain
    // arithmetic the compiler vectorises; then the ones kept.
    let n = candidates.len();
    for (((m, &x), (&y, &z)), &norm) in out.margins[..n]
        .iter_mut()
        .zip(&candidates.x[..n])
        .zip(candidates.y[..n].iter().zip(&candidates.z[..n]))
        .zip(&candidates.norm[..n])
    {
        *m = most_gained(cell, at, a_norm, [x, y, z], norm);
    }
    // The smallest margin by which a centroid left out loses, in squared distance.
    let mut least = f64::INFINITY;
    for i in 0..n {
        let max = out.margins[i];
        if i == a || max >= -keep {
            out.copy_entry(candidates, i);
        } else if TRACK && -max < least {
            least = -max;
        }
    }
    Filtered {
        reference: candidates.index[a],
        at: candidates.coords(a),
        least,
    }
}

/// The most that `|x-a|^2 - |x-b|^2` reaches over the cell's box, for centroids `a` and `b` with
/// squared norms `a_norm` and `b_norm`: below zero, every point of the box is nearer `a`. The
/// difference is `2 x.(b-a) + |a|^2 - |b|^2`, linear in x, so its maximum is at the corner chosen
/// axis by axis.
#[inline(always)]
fn most_gained(cell: &Cell, a: Color, a_norm: f64, b: Color, b_norm: f64) -> f64 {
    let ([lx, ly, lz], [hx, hy, hz]) = (cell.lo, cell.hi);
    let (sx, sy, sz) = (
        2.0 * (b[0] - a[0]),
        2.0 * (b[1] - a[1]),
        2.0 * (b[2] - a[2]),
    );
    (sx * hx).max(sx * lx) + (sy * hy).max(sy * ly) + (sz * hz).max(sz * lz) + a_norm - b_norm
}

/// Whether centroid `a`, one of `candidates`, is nearer than each other candidate to every point
/// of the cell, by more than [`MARGIN`] in squared distance: [`filter`]'s test with `a` as the
/// reference.
#[inline(always)]
fn owns(candidates: &Candidates, cell: &Cell, a: u8) -> bool {
    let Some(r) = candidates.indices().iter().position(|&j| j == a) else {
        return false;
    };
    let (at, a_norm) = (candidates.coords(r), candidates.norm[r]);
    (0..candidates.len()).all(|i| {
        i == r || most_gained(cell, at, a_norm, candidates.coords(i), candidates.norm[i]) < -MARGIN
    })
}

/// Distance from `x` to the farthest point of the cell's box.
#[inline]
fn max_dist(cell: &Cell, x: Color) -> f64 {
    x.iter()
        .zip(cell.lo.iter().zip(&cell.hi))
        .map(|(&v, (&lo, &hi))| {
            let e = (v - lo).abs().max((v - hi).abs());
            e * e
        })
        .sum::<f64>()
        .sqrt()
}

/// Centroids kept for coarse cells lose to the reference by at most this much (squared distance
/// units) on some point of the cell; a centroid that loses by more is left out. A coarse cell's
/// kept centroids are only filtered again for its fine cells, so keeping more is cheap and lets them
/// last; a fine cell's are searched point by point, so there a smaller margin is best. Measured on
/// Elephants at K = 256 over {0, 16, 64, 256, 1024, 4096} x {0, 4, 16, 64}: 256 and 4 were fastest;
/// since blocks keep their own slack (a searched cell searches only some blocks), a fine cell is
/// better off keeping a little more: 16 against 4, Elephants 6 restarts 1.61 against 1.70 s, Storm
/// 20 restarts 0.26 against 0.30 s (whole runs, hyperfine; 32 and 64 no better).
const KEEP_COARSE: f64 = 256.0;
/// The same for fine cells.
const KEEP_FINE: f64 = 16.0;

/// Cells keep their centroids from the first epoch in which no centroid moved more than this
/// (colour units), if at least [`CACHE_EPOCHS`] epochs may follow. Measured on 2-8 MP photos at K
/// 16 to 256: from 0.25 to 1 the best mode runs 15-20 % faster; earlier, kept centroids rarely
/// last an epoch and keeping them costs more than it saves.
const SETTLED_MOVE: f64 = 0.5;

/// The fewest epochs left for keeping centroids to pay for the first epoch that keeps them all:
/// runs of the original's 20 epochs never start (they measured 4-9 % slower when they did).
const CACHE_EPOCHS: usize = 20;

/// Runs that began keeping centroids, for the tests to see that they did.
#[cfg(test)]
static CACHED_RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Fine cells whose kept centroids were found again after their gap failed, so that their
/// points' bounds went on, for the tests to see that some did.
#[cfg(test)]
static SLACKS_KEPT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Bounds are trusted only with this much room, in distance units: far above the rounding error of
/// the f64 arithmetic they come from (below 1e-9 for colours and moves of this size), so what they
/// keep is strictly nearer, as plain Lloyd computes it.
const BOUND_MARGIN: f64 = 1e-6;

/// How far the centroids have moved since the first assignment, summed epoch by epoch. A bound
/// computed at some epoch holds later once the moves since are allowed for: a point's distance to a
/// centroid changes by at most that centroid's move (Hamerly, "Making k-means even faster", 2010;
/// stored against these sums so that a bound is written once and never updated until it fails).
struct Drift {
    /// Per centroid, the sum of its moves.
    moved: Vec<f64>,
    /// The sum, epoch by epoch, of the largest move of any centroid: no centroid moved more.
    largest: f64,
}

/// The centroids kept for a cell, the reference among them, and how long that holds: the
/// centroids left out stay farther than the reference from every point of the cell while
/// `key > moved[reference] + largest` ([`Drift`]).
#[derive(Debug, Clone, Default)]
struct Kept {
    index: Vec<u8>,
    reference: u8,
    /// The gap found, plus the drift sums when it was found; `-inf` when there is none yet.
    key: f64,
    /// For a fine cell searched point by point: each kept centroid's drift sum when the cell was
    /// last looked at, and the least slack of its blocks ([`BLOCK`]) then. While no kept centroid
    /// has moved half that much since, every point keeps its centroid.
    moved_then: Vec<f64>,
    slack: f64,
}

impl Kept {
    fn invalid() -> Self {
        Self {
            key: f64::NEG_INFINITY,
            ..Self::default()
        }
    }

    /// Whether the centroids left out are still surely farther than the reference.
    #[inline]
    fn holds(&self, drift: &Drift) -> bool {
        self.key > drift.moved[usize::from(self.reference)] + drift.largest + BOUND_MARGIN
    }

    fn set(&mut self, kept: &Candidates, filtered: Filtered, cell: &Cell, drift: &Drift) {
        self.index.clear();
        self.index.extend_from_slice(kept.indices());
        self.reference = filtered.reference;
        self.key =
            filtered.gap(cell) + drift.moved[usize::from(filtered.reference)] + drift.largest;
    }

    /// The most any kept centroid moved since the cell was last looked at.
    #[inline]
    fn moved_since(&self, drift: &Drift) -> f64 {
        let mut most = 0.0f64;
        for (&j, &then) in self.index.iter().zip(&self.moved_then) {
            let m = drift.moved[usize::from(j)] - then;
            most = if m > most { m } else { most };
        }
        most
    }

    /// Whether every point of the (mixed) cell surely keeps its centroid among the kept ones.
    #[inline]
    fn points_hold(&self, drift: &Drift) -> bool {
        2.0 * self.moved_since(drift) + BOUND_MARGIN < self.slack
    }

    /// The kept centroids with their current coordinates.
    fn gather(&self, all: &Candidates, out: &mut Candidates) {
        out.clear();
        for &j in &self.index {
            out.copy_entry(all, usize::from(j));
        }
    }
}

/// The assignment of one run: per-point labels (grid order), what each fine cell is known to be,
/// the exact sums of each cluster, and what lets an epoch pass over what cannot change: the
/// centroids kept for each cell and, for points of mixed cells, bounds on their distances.
struct Assignment {
    labels: Vec<u8>,
    cell_label: Vec<u16>,
    sums: Vec<Mass>,
    coarse_kept: Vec<Kept>,
    fine_kept: Vec<Kept>,
    /// Per block of the grid ([`Grid::block_first`]), its slack.
    block_slack: Vec<f64>,
    drift: Drift,
    /// The centroids of the last assignment, to measure the next moves.
    previous: Vec<Color>,
    /// Whether cells keep their centroids from one epoch to the next (see [`SETTLED_MOVE`]).
    cached: bool,
}

/// The labels, cell states, bounds and cluster sums of a run of consecutive coarse cells: the whole
/// grid, or one of the parts assigned at once on several threads. `g0` and `f0` are the grid
/// positions of its first point and first fine cell; `coarse_kept` starts at its first coarse cell.
struct Part<'a> {
    labels: &'a mut [u8],
    g0: usize,
    cell_label: &'a mut [u16],
    fine_kept: &'a mut [Kept],
    f0: usize,
    coarse_kept: &'a mut [Kept],
    /// The slack of each block of the part's mixed fine cells, from the part's first block `b0`.
    block_slack: &'a mut [f64],
    b0: usize,
    sums: &'a mut [Mass],
}

/// Scratch space of one part's assignment.
#[derive(Default)]
struct Scratch {
    coarse: Candidates,
    fine: Candidates,
}

impl Part<'_> {
    /// Assigns the points of the `coarse` cells (the part's) to the centroids `all`; returns
    /// whether any label changed. On a processor with AVX2 the work runs in a copy of the code
    /// compiled for it ([`Self::assign_avx2`]).
    fn assign(
        &mut self,
        grid: &Grid,
        coarse: &[Coarse],
        all: &Candidates,
        drift: &Drift,
        cached: bool,
    ) -> bool {
        #[cfg(target_arch = "x86_64")]
        if use_avx2() {
            // SAFETY: the processor has AVX2 (use_avx2 asked it).
            return unsafe { self.assign_avx2(grid, coarse, all, drift, cached) };
        }
        self.assign_portable(grid, coarse, all, drift, cached)
    }

    /// [`Self::assign_portable`] compiled for AVX2: the filter and the block search inlined into
    /// it work on four f64 lanes to a register and blend instead of masking. The arithmetic is
    /// the same operations in the same order (Rust never fuses a multiply and an add on its own,
    /// and FMA is not enabled), so the labels and sums are the same bits; a test compares the two.
    /// The k-means phase measured in alternating runs: 6-12 % faster at K = 16 and 256 on 2-8 MP
    /// photos (README's Performance); compiling only the block search for AVX2 had been 6 % slower
    /// at K = 16, since it then stood apart from the loops that call it.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn assign_avx2(
        &mut self,
        grid: &Grid,
        coarse: &[Coarse],
        all: &Candidates,
        drift: &Drift,
        cached: bool,
    ) -> bool {
        self.assign_portable(grid, coarse, all, drift, cached)
    }

    /// [`Self::assign`] for any x86-64 (or other) processor. It and everything it calls in an
    /// epoch are inlined, so that [`Self::assign_avx2`] compiles all of it for AVX2.
    #[inline(always)]
    fn assign_portable(
        &mut self,
        grid: &Grid,
        coarse: &[Coarse],
        all: &Candidates,
        drift: &Drift,
        cached: bool,
    ) -> bool {
        if !cached {
            return self.assign_plain(grid, coarse, all);
        }
        let mut scratch = Scratch::default();
        let mut changed = false;
        for (ck, c) in coarse.iter().enumerate() {
            if !self.coarse_kept[ck].holds(drift) {
                let filtered = filter::<true>(all, &c.cell, &mut scratch.coarse, KEEP_COARSE);
                self.coarse_kept[ck].set(&scratch.coarse, filtered, &c.cell, drift);
                for f in c.fine_start..c.fine_end {
                    self.fine_kept[f - self.f0].key = f64::NEG_INFINITY;
                }
            }
            let mut gathered = false;
            for f in c.fine_start..c.fine_end {
                changed |= self.assign_fine(grid, f, ck, all, drift, &mut scratch, &mut gathered);
            }
        }
        changed
    }

    /// [`Self::assign`] without the kept centroids: every cell filtered afresh and every point of a
    /// mixed cell searched. Cheaper while the centroids still move far in each epoch (then kept
    /// centroids rarely last), and it leaves nothing kept, so the first cached epoch starts clean.
    #[inline(always)]
    fn assign_plain(&mut self, grid: &Grid, coarse: &[Coarse], all: &Candidates) -> bool {
        let (mut coarse_candidates, mut fine_candidates) =
            (Candidates::default(), Candidates::default());
        let mut changed = false;
        for c in coarse {
            filter::<false>(all, &c.cell, &mut coarse_candidates, MARGIN);
            for f in c.fine_start..c.fine_end {
                if coarse_candidates.len() == 1 {
                    changed |= self.set_cell(grid, f, coarse_candidates.index[0]);
                    continue;
                }
                // A cell most often stays with the centroid it had: that is checked first, and
                // cheaply (no reference to look for, nothing copied).
                let had = self.cell_label[f - self.f0];
                if had < MIXED && owns(&coarse_candidates, &grid.fine[f], had as u8) {
                    continue;
                }
                filter::<false>(
                    &coarse_candidates,
                    &grid.fine[f],
                    &mut fine_candidates,
                    MARGIN,
                );
                if fine_candidates.len() == 1 {
                    changed |= self.set_cell(grid, f, fine_candidates.index[0]);
                    continue;
                }
                let fresh = self.cell_label[f - self.f0] == UNSET;
                let cell = &grid.fine[f];
                for start in (cell.start..cell.end).step_by(BLOCK) {
                    let end = (start + BLOCK).min(cell.end);
                    changed |= self
                        .search_block::<false>(grid, start, end, &fine_candidates, fresh)
                        .0;
                }
                self.cell_label[f - self.f0] = MIXED;
            }
        }
        changed
    }

    /// Assigns the points of fine cell `f` of coarse cell `ck` (the part's index).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn assign_fine(
        &mut self,
        grid: &Grid,
        f: usize,
        ck: usize,
        all: &Candidates,
        drift: &Drift,
        scratch: &mut Scratch,
        gathered: &mut bool,
    ) -> bool {
        let fl = f - self.f0;
        let cell = &grid.fine[f];
        let kept_holds = self.fine_kept[fl].holds(drift);
        if kept_holds
            && (self.fine_kept[fl].index.len() == 1 || self.fine_kept[fl].points_hold(drift))
        {
            // Every point is nearest the centroid it has, as it was.
            return false;
        }
        // Whether the blocks' slacks still hold: they bound, for each point, how much nearer its
        // centroid is than the other kept centroids, so they hold as long as the same centroids are
        // kept (allowing for their moves), whatever happened to the gap to the ones left out.
        let mut slacks_hold = kept_holds;
        if !kept_holds {
            // Keep again: from the coarse cell's kept centroids.
            let had_slacks =
                self.cell_label[fl] == MIXED && !self.fine_kept[fl].moved_then.is_empty();
            let coarse_kept = &self.coarse_kept[ck];
            if coarse_kept.index.len() == 1 {
                let kept = &mut self.fine_kept[fl];
                kept.index.clear();
                kept.index.push(coarse_kept.index[0]);
                kept.reference = coarse_kept.index[0];
                // Nothing of the coarse cell's is left out here: its own gap covers the rest.
                kept.key = f64::INFINITY;
            } else {
                if !*gathered {
                    coarse_kept.gather(all, &mut scratch.coarse);
                    *gathered = true;
                }
                let filtered = filter::<true>(&scratch.coarse, cell, &mut scratch.fine, KEEP_FINE);
                // Most often the centroids kept again are those kept before (on Elephants at
                // K = 256, 100 000 times against 5 000): then the points need no new search.
                slacks_hold = had_slacks && scratch.fine.indices() == self.fine_kept[fl].index;
                self.fine_kept[fl].set(&scratch.fine, filtered, cell, drift);
            }
            if self.fine_kept[fl].index.len() == 1 {
                return self.set_cell(grid, f, self.fine_kept[fl].index[0]);
            }
            if slacks_hold {
                #[cfg(test)]
                SLACKS_KEPT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if self.fine_kept[fl].points_hold(drift) {
                    return false;
                }
            }
        }
        self.fine_kept[fl].gather(all, &mut scratch.fine);
        let fresh = self.cell_label[fl] == UNSET;
        // Kept centroids as they were: a block's slack, less twice the most any of them moved
        // since, still bounds its points' slack from now on (the moves add up).
        let moved = if slacks_hold {
            2.0 * self.fine_kept[fl].moved_since(drift)
        } else {
            f64::INFINITY
        };
        let (mut changed, mut least) = (false, f64::INFINITY);
        let first = grid.block_first[f] - self.b0;
        for (b, start) in (cell.start..cell.end).step_by(BLOCK).enumerate() {
            let slack = &mut self.block_slack[first + b];
            if moved + BOUND_MARGIN < *slack {
                *slack -= moved;
                least = if *slack < least { *slack } else { least };
                continue;
            }
            let end = (start + BLOCK).min(cell.end);
            let (c, least_step, most_far) =
                self.search_block::<true>(grid, start, end, &scratch.fine, fresh);
            changed |= c;
            // sqrt(d2) - sqrt(d1) = (d2 - d1) / (sqrt(d2) + sqrt(d1)) >= (d2 - d1) / (2 sqrt(max d2)).
            let fresh_slack = least_step / (2.0 * most_far.sqrt());
            self.block_slack[first + b] = fresh_slack;
            least = if fresh_slack < least {
                fresh_slack
            } else {
                least
            };
        }
        let kept = &mut self.fine_kept[fl];
        kept.slack = least;
        kept.moved_then.clear();
        kept.moved_then
            .extend(kept.index.iter().map(|&j| drift.moved[usize::from(j)]));
        self.cell_label[fl] = MIXED;
        changed
    }

    /// Gives every point of fine cell `f` to centroid `a`.
    #[inline(always)]
    fn set_cell(&mut self, grid: &Grid, f: usize, a: u8) -> bool {
        let cell = &grid.fine[f];
        let a_idx = usize::from(a);
        match self.cell_label[f - self.f0] {
            l if l == u16::from(a) => return false,
            UNSET => self.sums[a_idx].add(&cell.mass),
            MIXED => {
                let mut changed = false;
                for g in cell.start..cell.end {
                    let p = self.labels[g - self.g0];
                    if p != a {
                        self.sums[usize::from(p)].sub(&grid.mass(g));
                        self.sums[a_idx].add(&grid.mass(g));
                        changed = true;
                    }
                }
                self.labels[cell.start - self.g0..cell.end - self.g0].fill(a);
                self.cell_label[f - self.f0] = u16::from(a);
                return changed;
            }
            b => {
                self.sums[usize::from(b)].sub(&cell.mass);
                self.sums[a_idx].add(&cell.mass);
            }
        }
        self.labels[cell.start - self.g0..cell.end - self.g0].fill(a);
        self.cell_label[f - self.f0] = u16::from(a);
        true
    }

    /// Gives each point `start..end` (at most [`BLOCK`] of them) to its nearest centroid among
    /// `candidates` (at least two; ties: the lowest index); returns whether any label changed, the
    /// least difference between a point's squared distances to its second nearest and nearest
    /// candidate, and the largest squared distance to a second nearest. `fresh`: the points have no
    /// label yet. Without `TRACK` (where no bounds are kept) the second nearest is not followed and
    /// the two distances returned are 0; a block whose labels all stay is then passed over after
    /// one comparison.
    ///
    /// The distances are computed for the whole block at once, candidate by candidate, with the
    /// same arithmetic as [`dist2`] and selects rather than branches (which candidate wins is
    /// unpredictable along a boundary): the compiler vectorises it across the points, four lanes
    /// to a register where the epoch runs in [`Self::assign_avx2`].
    #[inline(always)]
    fn search_block<const TRACK: bool>(
        &mut self,
        grid: &Grid,
        start: usize,
        end: usize,
        candidates: &Candidates,
        fresh: bool,
    ) -> (bool, f64, f64) {
        debug_assert!(start < end && end - start <= BLOCK && candidates.len() >= 2);
        // Lanes past the block's end repeat its first point; their results are not used.
        let (mut px, mut py, mut pz) = ([0.0f64; BLOCK], [0.0f64; BLOCK], [0.0f64; BLOCK]);
        for j in 0..BLOCK {
            let x = grid.coords[if start + j < end { start + j } else { start }];
            (px[j], py[j], pz[j]) = (x[0], x[1], x[2]);
        }
        let c0 = candidates.coords(0);
        let mut best = [0u64; BLOCK];
        let mut d_best = [0.0f64; BLOCK];
        let mut d_second = [f64::INFINITY; BLOCK];
        for j in 0..BLOCK {
            d_best[j] = dist2([px[j], py[j], pz[j]], c0);
        }
        for i in 1..candidates.len() {
            let c = candidates.coords(i);
            for j in 0..BLOCK {
                let d = dist2([px[j], py[j], pz[j]], c);
                let closer = d < d_best[j];
                if TRACK {
                    let other = if closer { d_best[j] } else { d };
                    d_second[j] = if other < d_second[j] {
                        other
                    } else {
                        d_second[j]
                    };
                }
                best[j] = if closer { i as u64 } else { best[j] };
                d_best[j] = if closer { d } else { d_best[j] };
            }
        }
        let n = end - start;
        let old = &self.labels[start - self.g0..end - self.g0];
        let mut new = [0u8; BLOCK];
        for j in 0..BLOCK {
            new[j] = candidates.index[best[j] as usize];
        }
        // (Compared lane by lane: a slice comparison calls memcmp, which costs more than the
        // whole block's search.)
        let mut differ = 0u8;
        for j in 0..n {
            differ |= new[j] ^ old[j];
        }
        if !TRACK && !fresh && differ == 0 {
            return (false, 0.0, 0.0);
        }
        let (mut changed, mut least_step, mut most_far) = (false, f64::INFINITY, 0.0f64);
        for (j, g) in (start..end).enumerate() {
            let best = new[j];
            let i = g - self.g0;
            let prev = self.labels[i];
            if fresh || prev != best {
                if !fresh {
                    self.sums[usize::from(prev)].sub(&grid.mass(g));
                }
                self.sums[usize::from(best)].add(&grid.mass(g));
                self.labels[i] = best;
                changed = true;
            }
            if !TRACK {
                continue;
            }
            let step = d_second[j] - d_best[j];
            least_step = if step < least_step { step } else { least_step };
            most_far = if d_second[j] > most_far {
                d_second[j]
            } else {
                most_far
            };
        }
        (changed, least_step, most_far)
    }
}

impl Assignment {
    fn new(grid: &Grid, k: usize) -> Self {
        Self {
            labels: vec![0; grid.len()],
            cell_label: vec![UNSET; grid.fine.len()],
            sums: vec![Mass::default(); k],
            coarse_kept: Vec::new(),
            fine_kept: Vec::new(),
            block_slack: Vec::new(),
            drift: Drift {
                moved: vec![0.0; k],
                largest: 0.0,
            },
            previous: Vec::new(),
            cached: false,
        }
    }

    /// Adds how far each centroid moved since the last assignment to the drift sums; returns the
    /// largest move (infinite on the first assignment).
    fn record_moves(&mut self, centroids: &[Color]) -> f64 {
        if self.previous.is_empty() {
            self.previous = centroids.to_vec();
            return f64::INFINITY;
        }
        let mut largest = 0.0f64;
        for ((moved, old), &new) in self
            .drift
            .moved
            .iter_mut()
            .zip(&mut self.previous)
            .zip(centroids)
        {
            let step = dist2(*old, new).sqrt();
            *moved += step;
            largest = largest.max(step);
            *old = new;
        }
        self.drift.largest += largest;
        largest
    }

    /// Assigns every point to its nearest centroid; returns whether any label changed. With
    /// `parallel`, parts of the grid are assigned on several threads, each into sums of its own
    /// that are added up after; only for integer coordinates, whose sums are exact in any order.
    fn assign(
        &mut self,
        grid: &Grid,
        centroids: &[Color],
        parallel: bool,
        worth_caching: bool,
    ) -> bool {
        let last_move = self.record_moves(centroids);
        // Keeping centroids for cells pays once the centroids settle; before, cells would be
        // filtered afresh anyway, at a higher cost. Once started it goes on (a reseeded centroid's
        // jump only invalidates the cells it concerns).
        if !self.cached && worth_caching && last_move < SETTLED_MOVE {
            self.cached = true;
            #[cfg(test)]
            CACHED_RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.coarse_kept = vec![Kept::invalid(); grid.coarse.len()];
            self.fine_kept = vec![Kept::invalid(); grid.fine.len()];
            self.block_slack = vec![0.0; grid.block_first[grid.fine.len()]];
        }
        let cached = self.cached;
        let all = Candidates::all(centroids);
        let drift = &self.drift;
        if !parallel {
            let mut whole = Part {
                labels: &mut self.labels,
                g0: 0,
                cell_label: &mut self.cell_label,
                fine_kept: &mut self.fine_kept,
                f0: 0,
                coarse_kept: &mut self.coarse_kept,
                block_slack: &mut self.block_slack,
                b0: 0,
                sums: &mut self.sums,
            };
            return whole.assign(grid, &grid.coarse, &all, drift, cached);
        }
        let k = centroids.len();
        let ranges = grid.parts(2 * rayon::current_num_threads());
        let mut parts = Vec::with_capacity(ranges.len());
        let mut labels = &mut self.labels[..];
        let (mut cell_label, mut fine_kept, mut coarse_kept, mut block_slack) = (
            &mut self.cell_label[..],
            &mut self.fine_kept[..],
            &mut self.coarse_kept[..],
            &mut self.block_slack[..],
        );
        let mut b0 = 0;
        let (mut g0, mut f0, mut c0) = (0, 0, 0);
        for range in &ranges {
            let (g1, f1) = match grid.coarse.get(range.end) {
                Some(next) => (next.cell.start, next.fine_start),
                None => (grid.len(), grid.fine.len()),
            };
            let (l, rest_l) = labels.split_at_mut(g1 - g0);
            let (c, rest_c) = cell_label.split_at_mut(f1 - f0);
            // The kept centroids exist only once cells keep them.
            let (fk, rest_fk) = fine_kept.split_at_mut(if cached { f1 - f0 } else { 0 });
            let (ckp, rest_ck) = coarse_kept.split_at_mut(if cached { range.end - c0 } else { 0 });
            let b1 = if cached { grid.block_first[f1] } else { 0 };
            let (bs, rest_bs) = block_slack.split_at_mut(b1 - b0);
            parts.push((
                range.clone(),
                Part {
                    labels: l,
                    g0,
                    cell_label: c,
                    fine_kept: fk,
                    f0,
                    coarse_kept: ckp,
                    block_slack: bs,
                    b0,
                    sums: &mut [],
                },
            ));
            labels = rest_l;
            (cell_label, fine_kept, coarse_kept, block_slack) = (rest_c, rest_fk, rest_ck, rest_bs);
            (g0, f0, c0, b0) = (g1, f1, range.end, b1);
        }
        let results: Vec<(bool, Vec<Mass>)> = parts
            .into_par_iter()
            .map(|(range, mut part)| {
                let mut sums = vec![Mass::default(); k];
                part.sums = &mut sums;
                let changed = part.assign(grid, &grid.coarse[range], &all, drift, cached);
                (changed, sums)
            })
            .collect();
        let mut changed = false;
        for (c, delta) in results {
            changed |= c;
            for (s, d) in self.sums.iter_mut().zip(&delta) {
                s.add(d);
            }
        }
        changed
    }

    /// Moves each empty cluster's centroid onto the worst-served point (the farthest from its
    /// centroid; ties: the first by [`Grid::tie_rank`]), a different point for each. Returns whether any
    /// centroid moved (none can when every point already sits on a centroid).
    fn reseed_empty(&self, grid: &Grid, centroids: &mut [Color], fixed: usize) -> bool {
        let empty: Vec<usize> = (fixed..centroids.len())
            .filter(|&j| self.sums[j].weight == 0.0)
            .collect();
        if empty.is_empty() {
            return false;
        }
        let mut worst: Vec<(f64, usize)> = grid
            .coords
            .iter()
            .zip(&self.labels)
            .enumerate()
            .map(|(g, (&x, &l))| (dist2(x, centroids[usize::from(l)]), g))
            .filter(|&(d, _)| d > 0.0)
            .collect();
        let n = empty.len().min(worst.len());
        if n == 0 {
            return false;
        }
        let by_worst = |a: &(f64, usize), b: &(f64, usize)| {
            b.0.total_cmp(&a.0)
                .then_with(|| grid.tie_rank(a.1).cmp(&grid.tie_rank(b.1)))
        };
        if n < worst.len() {
            worst.select_nth_unstable_by(n - 1, by_worst);
            worst.truncate(n);
        }
        worst.sort_by(by_worst);
        for (&j, &(_, g)) in empty.iter().zip(&worst) {
            centroids[j] = grid.coords[g];
        }
        true
    }

    /// The mean of each cluster; an empty cluster, and each of the first `fixed`, keeps its
    /// previous centroid.
    fn means(&self, previous: &[Color], fixed: usize) -> Vec<Color> {
        previous
            .iter()
            .zip(&self.sums)
            .enumerate()
            .map(|(j, (&old, m))| {
                if m.weight == 0.0 || j < fixed {
                    old
                } else {
                    m.coord.map(|s| s / m.weight)
                }
            })
            .collect()
    }
}

/// Runs Lloyd's algorithm on `points` from `initial` for at most `max_epochs` epochs (centroid
/// updates), stopping early when an assignment changes no label. The final labels are always the
/// nearest centroids of the final centroids. With `record_history`, the loss of the initial centroids
/// and after every epoch is recorded (one extra pass over the points per epoch).
///
/// For the tests; the public [`crate::kmeans::lloyd`] checks its input and calls [`lloyd_fixed`].
///
/// # Panics
/// If `initial` is empty or has more than 256 centroids.
#[cfg(test)]
pub(crate) fn lloyd(
    points: &Points,
    initial: Vec<Color>,
    max_epochs: usize,
    record_history: bool,
) -> Run {
    lloyd_fixed(points, initial, 0, max_epochs, record_history)
}

/// [`crate::kmeans::lloyd`] with the first `fixed` centroids held where they are: they take points
/// like the others, but never move (colours that must be in the palette).
///
/// # Panics
/// If `initial` is empty, has more than 256 centroids, or fewer than `fixed`.
pub(crate) fn lloyd_fixed(
    points: &Points,
    initial: Vec<Color>,
    fixed: usize,
    max_epochs: usize,
    record_history: bool,
) -> Run {
    lloyd_fixed_on(
        &Grid::new(points),
        initial,
        fixed,
        max_epochs,
        record_history,
    )
}

/// [`lloyd_fixed`] on the grid of the points, built already (labels in the points' order).
///
/// # Panics
/// As [`lloyd_fixed`].
pub(crate) fn lloyd_fixed_on(
    grid: &Grid,
    initial: Vec<Color>,
    fixed: usize,
    max_epochs: usize,
    record_history: bool,
) -> Run {
    assert!(
        fixed <= initial.len(),
        "more fixed centroids than centroids"
    );
    let mut run = lloyd_on_grid(
        grid,
        initial,
        Epochs {
            max: max_epochs,
            reseed: false,
            fixed,
            cache: true,
        },
        record_history,
        true,
    );
    run.labels = grid.unpermute(&run.labels);
    run
}

/// How a run's epochs go: at most `max` of them, whether empty clusters are reseeded, and how many
/// leading centroids never move.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Epochs {
    pub max: usize,
    pub reseed: bool,
    pub fixed: usize,
    /// Whether cells may keep their centroids between epochs (off only to test that it changes
    /// nothing).
    pub cache: bool,
}

/// [`crate::kmeans::lloyd`] on points already sorted into a grid (shared by all restarts of a fit),
/// each epoch on several threads when `parallel` (for a single run; restarts run in parallel
/// already). The labels are in grid order ([`Grid::unpermute`] puts them in the points' order): only
/// the best restart's are wanted in the points' order.
pub(crate) fn lloyd_on_grid(
    grid: &Grid,
    initial: Vec<Color>,
    epochs_plan: Epochs,
    record_history: bool,
    parallel: bool,
) -> Run {
    let Epochs {
        max: max_epochs,
        reseed,
        fixed,
        cache,
    } = epochs_plan;
    // Parts of an epoch summed apart give the same sums only when they are exact.
    let parallel = parallel && grid.exact_sums && rayon::current_num_threads() > 1;
    let k = initial.len();
    assert!((1..=256).contains(&k), "k out of range");
    let mut centroids = initial.clone();
    let mut state = Assignment::new(grid, k);
    state.assign(grid, &centroids, parallel, false);
    let loss = |c: &[Color], s: &Assignment| loss_parts(&grid.coords, &grid.weights, c, &s.labels);
    let mut history = Vec::new();
    if record_history {
        history.push(loss(&centroids, &state));
    }
    let (mut epochs, mut converged) = (0, false);
    while epochs < max_epochs {
        centroids = state.means(&centroids, fixed);
        if reseed {
            state.reseed_empty(grid, &mut centroids, fixed);
        }
        epochs += 1;
        let changed = state.assign(
            grid,
            &centroids,
            parallel,
            cache && max_epochs - epochs >= CACHE_EPOCHS,
        );
        if record_history {
            history.push(loss(&centroids, &state));
        }
        if !changed {
            converged = true;
            break;
        }
    }
    // At the epoch limit a cluster may still be empty: fill what can be filled, each time assigning
    // again, so the final labels stay the nearest centroids.
    if reseed && !converged {
        for _ in 0..k {
            if !state.reseed_empty(grid, &mut centroids, fixed) {
                break;
            }
            state.assign(grid, &centroids, parallel, false);
            if let Some(last) = history.last_mut() {
                *last = loss(&centroids, &state);
            }
        }
    }
    let stats = match history.last() {
        Some(&s) => s,
        None => loss(&centroids, &state),
    };
    Run {
        initial,
        centroids,
        labels: state.labels,
        epochs,
        converged,
        history,
        stats,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reseeding_breaks_ties_as_before_crowded_cells_were_split() {
        // 472 colours of one 8-unit cell nearer (1.5, 3.5, 7) than sqrt(63.5), and two at exactly
        // that distance: (0, 7, 0) first in the caller's order, (3, 0, 0) in a lower 4-unit box.
        let c = [1.5, 3.5, 7.0];
        let mut pixels = Vec::new();
        for r in 0..8u8 {
            for g in 0..8u8 {
                for b in 0..8u8 {
                    let d = dist2([r, g, b].map(f64::from), c);
                    if d < 63.5 || [r, g, b] == [0, 7, 0] || [r, g, b] == [3, 0, 0] {
                        pixels.push([r, g, b]);
                    }
                }
            }
        }
        let points = Points::from_pixels(&pixels);
        let grid = Grid::new(&points);
        assert!(grid.fine.len() > 1, "the crowded cell is split");
        let mut centroids = vec![c, [255.0; 3]];
        let mut state = Assignment::new(&grid, 2);
        state.assign(&grid, &centroids, false, false);
        assert!(state.reseed_empty(&grid, &mut centroids, 0));
        // The empty centroid goes to the tied point that came first before cells were split.
        assert_eq!(centroids[1], [0.0, 7.0, 0.0]);
    }

    /// Smooth, photo-like clouds of colours: runs on them take many small steps to converge.
    fn photo_like_pixels() -> Vec<[u8; 3]> {
        (0..40_000u32)
            .map(|i| {
                let h = i.wrapping_mul(2_654_435_761);
                let t = f64::from(i % 4000) / 4000.0;
                [
                    (40.0 + 170.0 * t) as u8 ^ (h >> 29) as u8,
                    (200.0 - 150.0 * t * t) as u8 ^ (h >> 27 & 7) as u8,
                    (h >> 24) as u8 / 2 + (60.0 * t) as u8,
                ]
            })
            .collect()
    }

    /// K centroids taken from `points`, spread over them.
    fn start_of(points: &Points, k: usize) -> Vec<Color> {
        (0..k)
            .map(|j| points.coords[j * 97 % points.len()])
            .collect()
    }

    #[test]
    fn keeping_centroids_between_epochs_changes_nothing() {
        // Long runs to convergence, at K where cells straddle boundaries, with and without
        // reseeding, in parallel parts and in one: the same run whether cells keep centroids or not.
        let points = Points::from_pixels(&photo_like_pixels());
        let grid = Grid::new(&points);
        for (k, reseed, parallel) in [(16, false, true), (64, true, false), (256, true, true)] {
            let start = start_of(&points, k);
            let run = |cache| {
                let epochs = Epochs {
                    max: 300,
                    reseed,
                    fixed: 0,
                    cache,
                };
                lloyd_on_grid(&grid, start.clone(), epochs, true, parallel)
            };
            let before = CACHED_RUNS.load(std::sync::atomic::Ordering::Relaxed);
            let slacks_before = SLACKS_KEPT.load(std::sync::atomic::Ordering::Relaxed);
            let kept = run(true);
            assert!(
                CACHED_RUNS.load(std::sync::atomic::Ordering::Relaxed) > before,
                "k {k}: the run kept centroids"
            );
            assert!(
                SLACKS_KEPT.load(std::sync::atomic::Ordering::Relaxed) > slacks_before,
                "k {k}: some cells found their kept centroids again and kept their points' bounds"
            );
            let plain = run(false);
            assert_eq!(kept, plain, "k {k}");
            assert!(kept.epochs > CACHE_EPOCHS, "k {k}: {} epochs", kept.epochs);
        }
    }

    #[test]
    fn the_code_compiled_for_avx2_gives_the_portable_codes_runs() {
        // Short runs (cells filtered afresh each epoch) and long ones (cells keep their
        // centroids), in parallel parts and in one, in sRGB and CIELAB: the same runs, bit for bit,
        // from the AVX2 copy of an epoch and from the portable one. (On a processor without AVX2
        // both are the portable code.)
        let pixels = photo_like_pixels();
        let hist = crate::ColorHistogram::from_rgb(&pixels);
        for space in [crate::ColorSpace::Rgb, crate::ColorSpace::Lab] {
            let points = Points::from_histogram_in(&hist, space);
            let grid = Grid::new(&points);
            for (k, max, reseed, parallel) in [
                (16, 20, false, true),
                (16, 20, false, false),
                (256, 300, true, true),
                (64, 300, true, false),
            ] {
                let epochs = Epochs {
                    max,
                    reseed,
                    fixed: 0,
                    cache: true,
                };
                let run = || lloyd_on_grid(&grid, start_of(&points, k), epochs, true, parallel);
                let cached_before = CACHED_RUNS.load(std::sync::atomic::Ordering::Relaxed);
                let fast = run();
                if max == 300 {
                    assert!(
                        CACHED_RUNS.load(std::sync::atomic::Ordering::Relaxed) > cached_before,
                        "{space:?} k {k}: the long run kept centroids"
                    );
                }
                PORTABLE_ONLY.store(true, std::sync::atomic::Ordering::Relaxed);
                let portable = run();
                PORTABLE_ONLY.store(false, std::sync::atomic::Ordering::Relaxed);
                assert_eq!(fast, portable, "{space:?} k {k} max {max}");
                assert!(fast.epochs > 1, "{space:?} k {k}: a real run");
            }
        }
    }

    fn pts(xs: &[[u8; 3]]) -> Points {
        Points::from_pixels(xs)
    }

    #[test]
    fn ties_go_to_the_lowest_index() {
        let c = [[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 10.0, 0.0]];
        assert_eq!(nearest(&c, [5.0, 0.0, 0.0]), 0);
        assert_eq!(nearest(&c, [5.0, 5.0, 0.0]), 0);
        assert_eq!(nearest(&c, [6.0, 5.0, 0.0]), 1);
    }

    #[test]
    fn two_colours_at_k2_give_exact_centroids_and_zero_loss() {
        let p = pts(&[[10, 20, 30], [10, 20, 30], [200, 100, 0]]);
        let run = lloyd(&p, vec![[0.0; 3], [255.0, 128.0, 0.0]], 20, true);
        assert!(run.converged);
        let mut c = run.centroids.clone();
        c.sort_by(|a, b| a[0].total_cmp(&b[0]));
        assert_eq!(c, vec![[10.0, 20.0, 30.0], [200.0, 100.0, 0.0]]);
        assert_eq!(run.stats.loss, 0.0);
    }

    #[test]
    fn k1_gives_the_mean_colour_after_one_epoch() {
        let p = pts(&[[0, 0, 0], [10, 20, 30], [20, 40, 60]]);
        let run = lloyd(&p, vec![[255.0; 3]], 20, true);
        assert_eq!(run.centroids, vec![[10.0, 20.0, 30.0]]);
        assert_eq!(run.epochs, 1);
        assert!(run.converged);
        let expected = (2.0 * (100.0f64 + 400.0 + 900.0).sqrt()) / 3.0;
        assert!((run.stats.loss - expected).abs() < 1e-12);
    }

    #[test]
    fn empty_cluster_keeps_its_centroid() {
        let p = pts(&[[0, 0, 0], [2, 2, 2]]);
        let run = lloyd(&p, vec![[1.0, 1.0, 1.0], [250.0, 250.0, 250.0]], 20, false);
        assert_eq!(run.centroids[1], [250.0, 250.0, 250.0]);
        assert_eq!(run.centroids[0], [1.0, 1.0, 1.0]);
        assert_eq!(run.labels, vec![0, 0]);
    }

    #[test]
    fn epoch_limit_stops_the_run_and_labels_stay_nearest() {
        let p = crate::kmeans::scattered_points(200, [7, 11, 3]);
        let init = crate::kmeans::cube_start(1, 0, 8);
        let run = lloyd(&p, init, 1, true);
        assert_eq!(run.epochs, 1);
        assert_eq!(run.history.len(), 2);
        for (i, &x) in p.coords.iter().enumerate() {
            assert_eq!(usize::from(run.labels[i]), nearest(&run.centroids, x));
        }
    }

    #[test]
    fn weights_count_like_repeated_points() {
        let weighted = Points {
            coords: vec![[0.0; 3], [90.0, 0.0, 0.0]],
            weights: vec![3, 1],
        };
        let repeated = pts(&[[0, 0, 0], [0, 0, 0], [0, 0, 0], [90, 0, 0]]);
        let a = lloyd(&weighted, vec![[40.0, 0.0, 0.0]], 5, true);
        let b = lloyd(&repeated, vec![[40.0, 0.0, 0.0]], 5, true);
        assert_eq!(a.centroids, b.centroids);
        assert_eq!(a.centroids, vec![[22.5, 0.0, 0.0]]);
        assert_eq!(a.stats, b.stats);
    }

    #[test]
    fn sse_never_increases_between_epochs() {
        let p = pts(&crate::pixels::hashed_colors(3000));
        for seed in 0..5 {
            let run = lloyd(&p, crate::kmeans::cube_start(seed, 0, 12), 20, true);
            for w in run.history.windows(2) {
                assert!(w[1].sse <= w[0].sse * (1.0 + 1e-12), "{:?}", run.history);
            }
        }
    }
}
