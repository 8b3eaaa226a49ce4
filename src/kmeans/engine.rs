//! Lloyd's algorithm from given centroids, assigning whole boxes of colours at once where it can.
//!
//! Every decision is the one plain Lloyd makes. A box of colours (a cell of [`Grid`]) is assigned to a
//! centroid without looking at its points only when every point of the box is provably closer to that
//! centroid than to any other, by a margin far above rounding error; other centroids are ruled out for
//! a box the same way, and the points of the boxes left are searched among the centroids that remain,
//! ties going to the lowest index. Cluster sums are exact integers, so centroids do not depend on the
//! order in which points are visited.

use rayon::prelude::*;

use super::grid::{Cell, Grid, Mass};
use super::{dist2, Color, EpochStats, Points, Run};

/// Points handled by one parallel task when summing the loss.
const CHUNK: usize = 4096;

/// A box is given to a centroid only if, for every point in it, the squared distance to any other
/// centroid exceeds the squared distance to it by this much. Rounding errors of these f64 sums of
/// numbers below 2^18 are below 1e-9.
const MARGIN: f64 = 1e-6;

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
            for ((&x, &w), &l) in xs.iter().zip(ws).zip(ls) {
                let d2 = dist2(x, centroids[usize::from(l)]);
                dist += f64::from(w) * d2.sqrt();
                sq += f64::from(w) * d2;
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

/// The centroids whose region can hold some point of `cell`, among `candidates` (in increasing
/// order), written to `out` in increasing order.
fn filter(candidates: &[u8], cell: &Cell, centroids: &[Color], out: &mut Vec<u8>) {
    out.clear();
    let centre: Color = std::array::from_fn(|d| (cell.lo[d] + cell.hi[d]) * 0.5);
    let (mut a, mut d_a) = (candidates[0], f64::INFINITY);
    for &j in candidates {
        let d = dist2(centre, centroids[usize::from(j)]);
        if d < d_a {
            a = j;
            d_a = d;
        }
    }
    let ca = centroids[usize::from(a)];
    for &j in candidates {
        if j == a || !dominates(ca, centroids[usize::from(j)], cell) {
            out.push(j);
        }
    }
}

/// Whether every point of `cell` is closer to `a` than to `b` (by [`MARGIN`] in squared distance).
/// `|x-a|^2 - |x-b|^2 = 2 x.(b-a) + |a|^2 - |b|^2` is linear in `x`, so its maximum over the box is at
/// the corner chosen axis by axis.
#[inline]
fn dominates(a: Color, b: Color, cell: &Cell) -> bool {
    let mut max = 0.0;
    for d in 0..3 {
        let slope = 2.0 * (b[d] - a[d]);
        let x = if slope > 0.0 { cell.hi[d] } else { cell.lo[d] };
        max += slope * x + a[d] * a[d] - b[d] * b[d];
    }
    max < -MARGIN
}

/// The assignment of one run: per-point labels (grid order), what each fine cell is known to be,
/// and the exact sums of each cluster.
struct Assignment {
    labels: Vec<u8>,
    cell_label: Vec<u16>,
    sums: Vec<Mass>,
    /// The centroids of a cell's candidates, gathered for the per-point search (kept to reuse).
    local: Vec<Color>,
}

impl Assignment {
    fn new(grid: &Grid, k: usize) -> Self {
        Self {
            labels: vec![0; grid.len()],
            cell_label: vec![UNSET; grid.fine.len()],
            sums: vec![Mass::default(); k],
            local: Vec::with_capacity(k),
        }
    }

    /// Assigns every point to its nearest centroid; returns whether any label changed.
    fn assign(&mut self, grid: &Grid, centroids: &[Color]) -> bool {
        let all: Vec<u8> = (0..centroids.len()).map(|j| j as u8).collect();
        let (mut coarse_candidates, mut fine_candidates) = (Vec::new(), Vec::new());
        let mut changed = false;
        for c in &grid.coarse {
            filter(&all, &c.cell, centroids, &mut coarse_candidates);
            for f in c.fine_start..c.fine_end {
                if coarse_candidates.len() == 1 {
                    changed |= self.set_cell(grid, f, coarse_candidates[0]);
                    continue;
                }
                filter(
                    &coarse_candidates,
                    &grid.fine[f],
                    centroids,
                    &mut fine_candidates,
                );
                changed |= if fine_candidates.len() == 1 {
                    self.set_cell(grid, f, fine_candidates[0])
                } else {
                    self.set_points(grid, f, &fine_candidates, centroids)
                };
            }
        }
        changed
    }

    /// Gives every point of fine cell `f` to centroid `a`.
    fn set_cell(&mut self, grid: &Grid, f: usize, a: u8) -> bool {
        let cell = &grid.fine[f];
        let a_idx = usize::from(a);
        match self.cell_label[f] {
            l if l == u16::from(a) => return false,
            UNSET => self.sums[a_idx].add(&cell.mass),
            MIXED => {
                let mut changed = false;
                for g in cell.start..cell.end {
                    let p = self.labels[g];
                    if p != a {
                        self.sums[usize::from(p)].sub(&grid.masses[g]);
                        self.sums[a_idx].add(&grid.masses[g]);
                        changed = true;
                    }
                }
                self.labels[cell.start..cell.end].fill(a);
                self.cell_label[f] = u16::from(a);
                return changed;
            }
            b => {
                self.sums[usize::from(b)].sub(&cell.mass);
                self.sums[a_idx].add(&cell.mass);
            }
        }
        self.labels[cell.start..cell.end].fill(a);
        self.cell_label[f] = u16::from(a);
        true
    }

    /// Gives each point of fine cell `f` to its nearest centroid among `candidates`.
    fn set_points(
        &mut self,
        grid: &Grid,
        f: usize,
        candidates: &[u8],
        centroids: &[Color],
    ) -> bool {
        let cell = &grid.fine[f];
        let fresh = self.cell_label[f] == UNSET;
        let mut changed = false;
        // The candidates' centroids, gathered once for the whole cell.
        let mut local = std::mem::take(&mut self.local);
        local.clear();
        local.extend(candidates.iter().map(|&j| centroids[usize::from(j)]));
        for g in cell.start..cell.end {
            let x = grid.coords[g];
            // Selects rather than branches: which candidate wins is unpredictable along a boundary.
            let (mut best, mut d_best) = (0, dist2(x, local[0]));
            for (i, &c) in local.iter().enumerate().skip(1) {
                let d = dist2(x, c);
                let closer = d < d_best;
                best = if closer { i } else { best };
                d_best = if closer { d } else { d_best };
            }
            let best = candidates[best];
            let prev = self.labels[g];
            if fresh || prev != best {
                if !fresh {
                    self.sums[usize::from(prev)].sub(&grid.masses[g]);
                }
                self.sums[usize::from(best)].add(&grid.masses[g]);
                self.labels[g] = best;
                changed = true;
            }
        }
        self.cell_label[f] = MIXED;
        self.local = local;
        changed
    }

    /// Moves each empty cluster's centroid onto the worst-served point (the farthest from its
    /// centroid; ties: the first in grid order), a different point for each. Returns whether any
    /// centroid moved (none can when every point already sits on a centroid).
    fn reseed_empty(&self, grid: &Grid, centroids: &mut [Color]) -> bool {
        let empty: Vec<usize> = (0..centroids.len())
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
        let by_worst = |a: &(f64, usize), b: &(f64, usize)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
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

    /// The mean of each cluster; an empty cluster keeps its previous centroid.
    fn means(&self, previous: &[Color]) -> Vec<Color> {
        previous
            .iter()
            .zip(&self.sums)
            .map(|(&old, m)| {
                if m.weight == 0.0 {
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
/// Coordinates must be integers in 0..=255 (as [`Points::from_histogram`] and
/// [`Points::from_pixels`] make them): cluster sums are kept as exact integers.
///
/// # Panics
/// If `initial` is empty or has more than 256 centroids.
pub fn lloyd(points: &Points, initial: Vec<Color>, max_epochs: usize, record_history: bool) -> Run {
    let grid = Grid::new(points);
    let mut run = lloyd_on_grid(&grid, initial, max_epochs, false, record_history);
    run.labels = grid.unpermute(&run.labels);
    run
}

/// [`lloyd`] on points already sorted into a grid (shared by all restarts of a fit). The labels
/// are in grid order ([`Grid::unpermute`] puts them in the points' order): only the best restart's
/// are wanted in the points' order.
pub(crate) fn lloyd_on_grid(
    grid: &Grid,
    initial: Vec<Color>,
    max_epochs: usize,
    reseed: bool,
    record_history: bool,
) -> Run {
    let k = initial.len();
    assert!((1..=256).contains(&k), "k out of range");
    let mut centroids = initial.clone();
    let mut state = Assignment::new(grid, k);
    state.assign(grid, &centroids);
    let loss = |c: &[Color], s: &Assignment| loss_parts(&grid.coords, &grid.weights, c, &s.labels);
    let mut history = Vec::new();
    if record_history {
        history.push(loss(&centroids, &state));
    }
    let (mut epochs, mut converged) = (0, false);
    while epochs < max_epochs {
        centroids = state.means(&centroids);
        if reseed {
            state.reseed_empty(grid, &mut centroids);
        }
        epochs += 1;
        let changed = state.assign(grid, &centroids);
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
            if !state.reseed_empty(grid, &mut centroids) {
                break;
            }
            state.assign(grid, &centroids);
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
        let init = crate::kmeans::random_centroids(1, 0, 8);
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
            let run = lloyd(&p, crate::kmeans::random_centroids(seed, 0, 12), 20, true);
            for w in run.history.windows(2) {
                assert!(w[1].sse <= w[0].sse * (1.0 + 1e-12), "{:?}", run.history);
            }
        }
    }
}
