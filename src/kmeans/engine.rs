//! Lloyd's algorithm from given centroids, assigning whole boxes of colours at once where it can.
//!
//! Every decision is the one plain Lloyd makes. A box of colours (a cell of [`Grid`]) is assigned to a
//! centroid without looking at its points only when every point of the box is provably closer to that
//! centroid than to any other, by a margin far above rounding error; other centroids are ruled out for
//! a box the same way, and the points of the boxes left are searched among the centroids that remain,
//! ties going to the lowest index. For sRGB colours (integers) cluster sums are exact integers in f64,
//! so centroids do not depend on the order in which points are visited, and an epoch of a single run
//! can be split over threads; for CIELAB and Oklab the sums are rounded, in a fixed order, so results
//! are reproducible but the work stays on one thread per run.

use rayon::prelude::*;

use super::grid::{Cell, Coarse, Grid, Mass};
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

/// A set of candidate centroids: their indices (increasing) and coordinates, stored by axis so
/// the filter's loops run over plain arrays.
#[derive(Default)]
struct Candidates {
    index: Vec<u8>,
    x: Vec<f64>,
    y: Vec<f64>,
    z: Vec<f64>,
    /// Squared norms.
    norm: Vec<f64>,
}

impl Candidates {
    fn all(centroids: &[Color]) -> Self {
        let mut c = Self::default();
        for (j, &p) in centroids.iter().enumerate() {
            c.index.push(j as u8);
            c.x.push(p[0]);
            c.y.push(p[1]);
            c.z.push(p[2]);
            c.norm.push(p[0] * p[0] + p[1] * p[1] + p[2] * p[2]);
        }
        c
    }

    fn clear(&mut self) {
        self.index.clear();
        self.x.clear();
        self.y.clear();
        self.z.clear();
        self.norm.clear();
    }

    fn copy_entry(&mut self, from: &Self, i: usize) {
        self.index.push(from.index[i]);
        self.x.push(from.x[i]);
        self.y.push(from.y[i]);
        self.z.push(from.z[i]);
        self.norm.push(from.norm[i]);
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    fn coords(&self, i: usize) -> Color {
        [self.x[i], self.y[i], self.z[i]]
    }
}

/// The centroids among `candidates` whose region can hold some point of `cell`, written to `out`
/// in the same (increasing) order: all but those that the candidate nearest the cell's centre
/// beats on every point of the cell, by [`MARGIN`] in squared distance.
fn filter(candidates: &Candidates, cell: &Cell, out: &mut Candidates) {
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
    let [ax, ay, az] = candidates.coords(a);
    let a_norm = candidates.norm[a];
    let [lx, ly, lz] = cell.lo;
    let [hx, hy, hz] = cell.hi;
    for i in 0..candidates.len() {
        // |x-a|^2 - |x-b|^2 = 2 x.(b-a) + |a|^2 - |b|^2 is linear in x: its maximum over the box is
        // at the corner chosen axis by axis. b is out when even that maximum is below -MARGIN.
        let (sx, sy, sz) = (
            2.0 * (candidates.x[i] - ax),
            2.0 * (candidates.y[i] - ay),
            2.0 * (candidates.z[i] - az),
        );
        let max = (sx * hx).max(sx * lx) + (sy * hy).max(sy * ly) + (sz * hz).max(sz * lz) + a_norm
            - candidates.norm[i];
        if i == a || max >= -MARGIN {
            out.copy_entry(candidates, i);
        }
    }
}

/// The assignment of one run: per-point labels (grid order), what each fine cell is known to be,
/// and the exact sums of each cluster.
struct Assignment {
    labels: Vec<u8>,
    cell_label: Vec<u16>,
    sums: Vec<Mass>,
}

/// The labels, cell states and cluster sums of a run of consecutive coarse cells: the whole grid,
/// or one of the parts assigned at once on several threads. `g0` and `f0` are the grid positions of
/// its first point and first fine cell.
struct Part<'a> {
    labels: &'a mut [u8],
    g0: usize,
    cell_label: &'a mut [u16],
    f0: usize,
    sums: &'a mut [Mass],
}

impl Part<'_> {
    /// Assigns the points of the `coarse` cells.
    fn assign(&mut self, grid: &Grid, coarse: &[Coarse], all: &Candidates) -> bool {
        let (mut coarse_candidates, mut fine_candidates) =
            (Candidates::default(), Candidates::default());
        let mut changed = false;
        for c in coarse {
            filter(all, &c.cell, &mut coarse_candidates);
            for f in c.fine_start..c.fine_end {
                if coarse_candidates.len() == 1 {
                    changed |= self.set_cell(grid, f, coarse_candidates.index[0]);
                    continue;
                }
                filter(&coarse_candidates, &grid.fine[f], &mut fine_candidates);
                changed |= if fine_candidates.len() == 1 {
                    self.set_cell(grid, f, fine_candidates.index[0])
                } else {
                    self.set_points(grid, f, &fine_candidates)
                };
            }
        }
        changed
    }

    /// Gives every point of fine cell `f` to centroid `a`.
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
                        self.sums[usize::from(p)].sub(&grid.masses[g]);
                        self.sums[a_idx].add(&grid.masses[g]);
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

    /// Gives each point of fine cell `f` to its nearest centroid among `candidates`.
    fn set_points(&mut self, grid: &Grid, f: usize, candidates: &Candidates) -> bool {
        let cell = &grid.fine[f];
        let fresh = self.cell_label[f - self.f0] == UNSET;
        let mut changed = false;
        for g in cell.start..cell.end {
            let x = grid.coords[g];
            // Selects rather than branches: which candidate wins is unpredictable along a boundary.
            let (mut best, mut d_best) = (0, dist2(x, candidates.coords(0)));
            for i in 1..candidates.len() {
                let d = dist2(x, candidates.coords(i));
                let closer = d < d_best;
                best = if closer { i } else { best };
                d_best = if closer { d } else { d_best };
            }
            let best = candidates.index[best];
            let prev = self.labels[g - self.g0];
            if fresh || prev != best {
                if !fresh {
                    self.sums[usize::from(prev)].sub(&grid.masses[g]);
                }
                self.sums[usize::from(best)].add(&grid.masses[g]);
                self.labels[g - self.g0] = best;
                changed = true;
            }
        }
        self.cell_label[f - self.f0] = MIXED;
        changed
    }
}

impl Assignment {
    fn new(grid: &Grid, k: usize) -> Self {
        Self {
            labels: vec![0; grid.len()],
            cell_label: vec![UNSET; grid.fine.len()],
            sums: vec![Mass::default(); k],
        }
    }

    /// Assigns every point to its nearest centroid; returns whether any label changed. With
    /// `parallel`, parts of the grid are assigned on several threads, each into sums of its own
    /// that are added up after; only for integer coordinates, whose sums are exact in any order.
    fn assign(&mut self, grid: &Grid, centroids: &[Color], parallel: bool) -> bool {
        let all = Candidates::all(centroids);
        if !parallel {
            let mut whole = Part {
                labels: &mut self.labels,
                g0: 0,
                cell_label: &mut self.cell_label,
                f0: 0,
                sums: &mut self.sums,
            };
            return whole.assign(grid, &grid.coarse, &all);
        }
        let k = centroids.len();
        let ranges = grid.parts(2 * rayon::current_num_threads());
        let mut parts = Vec::with_capacity(ranges.len());
        let (mut labels, mut cell_label) = (&mut self.labels[..], &mut self.cell_label[..]);
        let (mut g0, mut f0) = (0, 0);
        for range in &ranges {
            let (g1, f1) = match grid.coarse.get(range.end) {
                Some(next) => (next.cell.start, next.fine_start),
                None => (grid.len(), grid.fine.len()),
            };
            let (l, rest) = labels.split_at_mut(g1 - g0);
            let (c, rest_cells) = cell_label.split_at_mut(f1 - f0);
            parts.push((range.clone(), l, g0, c, f0));
            (labels, cell_label, g0, f0) = (rest, rest_cells, g1, f1);
        }
        let results: Vec<(bool, Vec<Mass>)> = parts
            .into_par_iter()
            .map(|(range, labels, g0, cell_label, f0)| {
                let mut sums = vec![Mass::default(); k];
                let mut part = Part {
                    labels,
                    g0,
                    cell_label,
                    f0,
                    sums: &mut sums,
                };
                let changed = part.assign(grid, &grid.coarse[range], &all);
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
    /// centroid; ties: the first in grid order), a different point for each. Returns whether any
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
/// The public [`crate::kmeans::lloyd`] checks its input and calls this.
///
/// # Panics
/// If `initial` is empty or has more than 256 centroids.
pub(crate) fn lloyd(
    points: &Points,
    initial: Vec<Color>,
    max_epochs: usize,
    record_history: bool,
) -> Run {
    lloyd_fixed(points, initial, 0, max_epochs, record_history)
}

/// [`lloyd`] with the first `fixed` centroids held where they are: they take points like the
/// others, but never move (colours that must be in the palette).
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
    assert!(
        fixed <= initial.len(),
        "more fixed centroids than centroids"
    );
    let grid = Grid::new(points);
    let mut run = lloyd_on_grid(
        &grid,
        initial,
        Epochs {
            max: max_epochs,
            reseed: false,
            fixed,
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
}

/// [`lloyd`] on points already sorted into a grid (shared by all restarts of a fit), each epoch
/// on several threads when `parallel` (for a single run; restarts run in parallel already). The
/// labels are in grid order ([`Grid::unpermute`] puts them in the points' order): only the best restart's
/// are wanted in the points' order.
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
    } = epochs_plan;
    // Parts of an epoch summed apart give the same sums only when they are exact.
    let parallel = parallel && grid.integer && rayon::current_num_threads() > 1;
    let k = initial.len();
    assert!((1..=256).contains(&k), "k out of range");
    let mut centroids = initial.clone();
    let mut state = Assignment::new(grid, k);
    state.assign(grid, &centroids, parallel);
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
        let changed = state.assign(grid, &centroids, parallel);
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
            state.assign(grid, &centroids, parallel);
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
