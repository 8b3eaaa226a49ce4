//! Lloyd's algorithm from given centroids, with Hamerly's bounds to skip distance computations.
//!
//! Every decision is the one plain Lloyd makes: a point keeps its centroid without a full search only
//! when the bounds prove that centroid is its unique nearest one by a margin far above rounding error,
//! and a full search breaks ties towards the lowest index. Centroid sums are kept as exact integers,
//! so the centroids do not depend on the order in which points are visited, and parallel chunks give
//! the same result as a serial loop.

use rayon::prelude::*;

use super::{dist2, Color, EpochStats, Points, Run};

/// Points handled by one parallel task: large enough to amortise scheduling, small enough to share
/// the work of a few hundred thousand colours between cores.
const CHUNK: usize = 4096;

/// A bound must beat the other side by this much (in 0-255 units) before a search is skipped.
/// Bounds drift by a few ulps per epoch; this margin is ten orders of magnitude above that.
const MARGIN: f64 = 1e-6;

/// Index of the nearest centroid to `x` (ties: the lowest index).
#[inline]
pub fn nearest(centroids: &[Color], x: Color) -> usize {
    nearest_two(centroids, x).0
}

/// The nearest centroid and the squared distances to it and to the second nearest.
#[inline]
fn nearest_two(centroids: &[Color], x: Color) -> (usize, f64, f64) {
    let (mut best, mut d_best, mut d_second) = (0, f64::INFINITY, f64::INFINITY);
    for (j, &c) in centroids.iter().enumerate() {
        let d = dist2(x, c);
        if d < d_best {
            d_second = d_best;
            d_best = d;
            best = j;
        } else if d < d_second {
            d_second = d;
        }
    }
    (best, d_best, d_second)
}

/// Loss and SSE of `centroids` with each point at its label, summed in a fixed order.
pub fn loss_of(points: &Points, centroids: &[Color], labels: &[u8]) -> EpochStats {
    let partial: Vec<(f64, f64)> = points
        .coords
        .par_chunks(CHUNK)
        .zip(points.weights.par_chunks(CHUNK))
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
    EpochStats {
        loss: dist / points.total_weight() as f64,
        sse,
    }
}

/// Per-point state: label and Hamerly's bounds on the distance to the assigned centroid (`upper`)
/// and to every other centroid (`lower`).
struct Bounds {
    labels: Vec<u8>,
    upper: Vec<f64>,
    lower: Vec<f64>,
}

/// Exact per-centroid sums of the coordinates and weights of its points.
#[derive(Clone)]
struct Sums {
    coord: Vec<[u64; 3]>,
    weight: Vec<u64>,
}

impl Sums {
    fn add(&mut self, j: usize, x: Color, w: u32, sign: i64) {
        let w = u64::from(w);
        for (s, &v) in self.coord[j].iter_mut().zip(&x) {
            // Coordinates are integers 0..=255, so the sums are exact.
            let delta = w * v as u64;
            *s = if sign > 0 { *s + delta } else { *s - delta };
        }
        self.weight[j] = if sign > 0 {
            self.weight[j] + w
        } else {
            self.weight[j] - w
        };
    }

    /// The mean of each cluster; an empty cluster keeps its previous centroid.
    fn means(&self, previous: &[Color]) -> Vec<Color> {
        previous
            .iter()
            .enumerate()
            .map(|(j, &old)| match self.weight[j] {
                0 => old,
                n => self.coord[j].map(|s| s as f64 / n as f64),
            })
            .collect()
    }
}

/// A point that changed centroid in an assignment pass.
struct Move {
    point: u32,
    from: u8,
    to: u8,
}

/// Runs Lloyd's algorithm on `points` from `initial` for at most `max_epochs` epochs (centroid
/// updates), stopping early when an assignment pass changes no label. The final labels are always the
/// nearest centroids of the final centroids. With `record_history`, the loss of the initial centroids
/// and after every epoch is recorded (one extra pass over the points per epoch).
///
/// # Panics
/// If `initial` is empty or has more than 256 centroids, or a point has no weight.
pub fn lloyd(points: &Points, initial: Vec<Color>, max_epochs: usize, record_history: bool) -> Run {
    let k = initial.len();
    assert!((1..=256).contains(&k), "k out of range");
    let n = points.len();
    let mut centroids = initial.clone();
    let mut bounds = Bounds {
        labels: vec![0; n],
        upper: vec![0.0; n],
        lower: vec![0.0; n],
    };
    full_assignment(points, &centroids, &mut bounds);
    let mut sums = Sums {
        coord: vec![[0; 3]; k],
        weight: vec![0; k],
    };
    for ((&x, &w), &l) in points
        .coords
        .iter()
        .zip(&points.weights)
        .zip(&bounds.labels)
    {
        sums.add(usize::from(l), x, w, 1);
    }
    let mut history = Vec::new();
    if record_history {
        history.push(loss_of(points, &centroids, &bounds.labels));
    }
    let (mut epochs, mut converged) = (0, false);
    while epochs < max_epochs {
        let next = sums.means(&centroids);
        let moved: Vec<f64> = centroids
            .iter()
            .zip(&next)
            .map(|(&a, &b)| dist2(a, b).sqrt())
            .collect();
        centroids = next;
        epochs += 1;
        let changes = bounded_assignment(points, &centroids, &moved, &mut bounds);
        if record_history {
            history.push(loss_of(points, &centroids, &bounds.labels));
        }
        if changes.is_empty() {
            converged = true;
            break;
        }
        for m in changes {
            let i = m.point as usize;
            let (x, w) = (points.coords[i], points.weights[i]);
            sums.add(usize::from(m.from), x, w, -1);
            sums.add(usize::from(m.to), x, w, 1);
        }
    }
    let stats = match history.last() {
        Some(&s) => s,
        None => loss_of(points, &centroids, &bounds.labels),
    };
    Run {
        initial,
        centroids,
        labels: bounds.labels,
        epochs,
        converged,
        history,
        stats,
    }
}

/// The first pass: a full search for every point, setting labels and both bounds.
fn full_assignment(points: &Points, centroids: &[Color], bounds: &mut Bounds) {
    points
        .coords
        .par_chunks(CHUNK)
        .zip(bounds.labels.par_chunks_mut(CHUNK))
        .zip(bounds.upper.par_chunks_mut(CHUNK))
        .zip(bounds.lower.par_chunks_mut(CHUNK))
        .for_each(|(((xs, ls), us), lows)| {
            for (((&x, l), u), low) in xs.iter().zip(ls).zip(us).zip(lows) {
                let (best, d1, d2) = nearest_two(centroids, x);
                *l = best as u8;
                *u = d1.sqrt();
                *low = d2.sqrt();
            }
        });
}

/// An assignment pass after the centroids moved by `moved`: loosens the bounds by the moves, then
/// searches only the points whose bounds no longer prove their centroid nearest. Returns the points
/// that changed centroid, in point order.
fn bounded_assignment(
    points: &Points,
    centroids: &[Color],
    moved: &[f64],
    bounds: &mut Bounds,
) -> Vec<Move> {
    let k = centroids.len();
    // Half the distance from each centroid to its nearest other centroid: a point closer than that to
    // its own centroid cannot be nearer to any other (triangle inequality).
    let half_gap: Vec<f64> = (0..k)
        .map(|a| {
            (0..k)
                .filter(|&b| b != a)
                .map(|b| dist2(centroids[a], centroids[b]))
                .fold(f64::INFINITY, f64::min)
                .sqrt()
                * 0.5
        })
        .collect();
    // The largest move of any other centroid lowers each lower bound.
    let (mut top, mut top_at, mut second) = (0.0f64, usize::MAX, 0.0f64);
    for (j, &m) in moved.iter().enumerate() {
        if m > top {
            second = top;
            top = m;
            top_at = j;
        } else if m > second {
            second = m;
        }
    }
    let other_move = |a: usize| if a == top_at { second } else { top };
    let per_chunk: Vec<Vec<Move>> = points
        .coords
        .par_chunks(CHUNK)
        .zip(bounds.labels.par_chunks_mut(CHUNK))
        .zip(bounds.upper.par_chunks_mut(CHUNK))
        .zip(bounds.lower.par_chunks_mut(CHUNK))
        .enumerate()
        .map(|(chunk, (((xs, ls), us), lows))| {
            let mut changes = Vec::new();
            for (i, (((&x, l), u), low)) in xs.iter().zip(ls).zip(us).zip(lows).enumerate() {
                let a = usize::from(*l);
                *u += moved[a];
                *low -= other_move(a);
                let limit = half_gap[a].max(*low);
                if *u + MARGIN < limit {
                    continue;
                }
                *u = dist2(x, centroids[a]).sqrt();
                if *u + MARGIN < limit {
                    continue;
                }
                let (best, d1, d2) = nearest_two(centroids, x);
                *u = d1.sqrt();
                *low = d2.sqrt();
                if best != a {
                    *l = best as u8;
                    changes.push(Move {
                        point: (chunk * CHUNK + i) as u32,
                        from: a as u8,
                        to: best as u8,
                    });
                }
            }
            changes
        })
        .collect();
    per_chunk.into_iter().flatten().collect()
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
        let xs: Vec<[u8; 3]> = (0..200u32)
            .map(|i| {
                [
                    (i * 7 % 256) as u8,
                    (i * 11 % 256) as u8,
                    (i * 3 % 256) as u8,
                ]
            })
            .collect();
        let p = pts(&xs);
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
        let xs: Vec<[u8; 3]> = (0..3000u32)
            .map(|i| {
                let h = i.wrapping_mul(2_654_435_761);
                [(h >> 24) as u8, (h >> 16) as u8, (h >> 8) as u8]
            })
            .collect();
        let p = pts(&xs);
        for seed in 0..5 {
            let run = lloyd(&p, crate::kmeans::random_centroids(seed, 0, 12), 20, true);
            for w in run.history.windows(2) {
                assert!(w[1].sse <= w[0].sse * (1.0 + 1e-12), "{:?}", run.history);
            }
        }
    }
}
