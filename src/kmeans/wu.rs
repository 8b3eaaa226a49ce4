//! A deterministic start: Wu's colour quantizer (X. Wu, "Efficient statistical computations for
//! optimal color quantization", Graphics Gems II, 1991). The colour cube (or, for other
//! coordinates, the points' bounding box: [`super::grid::Layout`]) is cut into 32 levels a side; boxes of levels are split again and again, each time the box of largest variance, at the
//! plane that most reduces the sum of squared errors (found from cumulative moments in constant
//! time per plane). The means of the final boxes are the initial centroids, which exact Lloyd then
//! refines: it starts near a good partition, so it needs fewer epochs than from random or
//! k-means++ centroids, and no seed.

use super::grid::Layout;
use super::{Color, Points};

/// Levels per axis, plus one for the zero row of the cumulative moments.
const SIDE: usize = 33;

/// A box of levels: `lo` exclusive, `hi` inclusive, per axis.
#[derive(Debug, Clone, Copy)]
struct Cube {
    lo: [usize; 3],
    hi: [usize; 3],
}

impl Cube {
    fn volume(&self) -> usize {
        (0..3).map(|d| self.hi[d] - self.lo[d]).product()
    }
}

/// Cumulative moments over the levels: weight, weighted coordinate sums, weighted squared norms.
struct Moments {
    w: Vec<f64>,
    m: [Vec<f64>; 3],
    m2: Vec<f64>,
}

#[inline]
fn at(r: usize, g: usize, b: usize) -> usize {
    (r * SIDE + g) * SIDE + b
}

impl Moments {
    fn new(points: &Points, layout: &Layout) -> Self {
        let n = SIDE * SIDE * SIDE;
        let mut w = vec![0.0; n];
        let mut m = [vec![0.0; n], vec![0.0; n], vec![0.0; n]];
        let mut m2 = vec![0.0; n];
        for (&x, &weight) in points.coords.iter().zip(&points.weights) {
            let level = layout.units(x).map(|v| (v >> 3) + 1);
            let i = at(level[0], level[1], level[2]);
            let weight = f64::from(weight);
            w[i] += weight;
            for d in 0..3 {
                m[d][i] += weight * x[d];
            }
            m2[i] += weight * (x[0] * x[0] + x[1] * x[1] + x[2] * x[2]);
        }
        // Sums over every box from the origin, by inclusion and exclusion along each axis in turn.
        let mut arrays: Vec<&mut Vec<f64>> = vec![&mut w, &mut m2];
        let [m0, m1, m2_] = &mut m;
        arrays.extend([m0, m1, m2_]);
        for a in arrays {
            for r in 1..SIDE {
                for g in 1..SIDE {
                    for b in 1..SIDE {
                        a[at(r, g, b)] += a[at(r, g, b - 1)];
                    }
                }
                for g in 1..SIDE {
                    for b in 1..SIDE {
                        a[at(r, g, b)] += a[at(r, g - 1, b)];
                    }
                }
            }
            for r in 1..SIDE {
                for g in 1..SIDE {
                    for b in 1..SIDE {
                        a[at(r, g, b)] += a[at(r - 1, g, b)];
                    }
                }
            }
        }
        Self { w, m, m2 }
    }

    /// The sum of `a` over the box.
    fn volume(a: &[f64], c: &Cube) -> f64 {
        let ([r0, g0, b0], [r1, g1, b1]) = (c.lo, c.hi);
        a[at(r1, g1, b1)] - a[at(r1, g1, b0)] - a[at(r1, g0, b1)] + a[at(r1, g0, b0)]
            - a[at(r0, g1, b1)]
            + a[at(r0, g1, b0)]
            + a[at(r0, g0, b1)]
            - a[at(r0, g0, b0)]
    }

    /// The sum of `a` over the box cut at level `pos` along `axis` (levels up to `pos`).
    fn lower_part(a: &[f64], c: &Cube, axis: usize, pos: usize) -> f64 {
        let mut cut = *c;
        cut.hi[axis] = pos;
        Self::volume(a, &cut)
    }

    /// Weight, coordinate sums of a box.
    fn sums(&self, c: &Cube) -> (f64, [f64; 3]) {
        (
            Self::volume(&self.w, c),
            std::array::from_fn(|d| Self::volume(&self.m[d], c)),
        )
    }

    /// The sum of squared errors of the box around its mean.
    fn variance(&self, c: &Cube) -> f64 {
        let (w, s) = self.sums(c);
        if w == 0.0 {
            return 0.0;
        }
        Self::volume(&self.m2, c) - (s[0] * s[0] + s[1] * s[1] + s[2] * s[2]) / w
    }

    /// The best cut of the box along `axis`: the level, and the sum of `|sum|^2 / weight` of the two
    /// halves (larger is better), or `None` if no cut leaves both halves weighted.
    fn best_cut(&self, c: &Cube, axis: usize, whole: (f64, [f64; 3])) -> Option<(usize, f64)> {
        let mut best: Option<(usize, f64)> = None;
        for pos in c.lo[axis] + 1..c.hi[axis] {
            let w = Self::lower_part(&self.w, c, axis, pos);
            let rest = whole.0 - w;
            if w <= 0.0 || rest <= 0.0 {
                continue;
            }
            let s: [f64; 3] = std::array::from_fn(|d| Self::lower_part(&self.m[d], c, axis, pos));
            let t: [f64; 3] = std::array::from_fn(|d| whole.1[d] - s[d]);
            let score = (s[0] * s[0] + s[1] * s[1] + s[2] * s[2]) / w
                + (t[0] * t[0] + t[1] * t[1] + t[2] * t[2]) / rest;
            if best.is_none_or(|(_, b)| score > b) {
                best = Some((pos, score));
            }
        }
        best
    }
}

/// Up to `k` initial centroids from Wu's cuts of `points`, laid out by `layout` (their grid's),
/// fewer when the points fill fewer boxes (the caller pads), most weighted box first.
pub(crate) fn wu_centroids(points: &Points, layout: &Layout, k: usize) -> Vec<Color> {
    let moments = Moments::new(points, layout);
    let mut cubes = vec![Cube {
        lo: [0; 3],
        hi: [SIDE - 1; 3],
    }];
    let mut variance = vec![moments.variance(&cubes[0])];
    while cubes.len() < k {
        // The box with the largest error that can still be cut.
        let Some((next, _)) = variance
            .iter()
            .enumerate()
            .filter(|&(_, &v)| v > 0.0)
            .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
        else {
            break;
        };
        let cube = cubes[next];
        let whole = moments.sums(&cube);
        let cut = (0..3)
            .filter_map(|axis| {
                moments
                    .best_cut(&cube, axis, whole)
                    .map(|(p, s)| (axis, p, s))
            })
            .max_by(|a, b| a.2.total_cmp(&b.2).then(b.0.cmp(&a.0)));
        let Some((axis, pos, _)) = cut else {
            variance[next] = 0.0;
            continue;
        };
        let (mut low, mut high) = (cube, cube);
        low.hi[axis] = pos;
        high.lo[axis] = pos;
        cubes[next] = low;
        cubes.push(high);
        let var = |c: &Cube| {
            if c.volume() > 1 {
                moments.variance(c)
            } else {
                0.0
            }
        };
        variance[next] = var(&low);
        variance.push(var(&high));
    }
    let mut boxes: Vec<(f64, Color)> = cubes
        .iter()
        .filter_map(|c| {
            let (w, s) = moments.sums(c);
            (w > 0.0).then(|| (w, s.map(|v| v / w)))
        })
        .collect();
    boxes.sort_by(|a, b| b.0.total_cmp(&a.0));
    boxes.into_iter().map(|(_, c)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wu's centroids for `points`, laid out as their grid is.
    fn wu_centroids(points: &Points, k: usize) -> Vec<Color> {
        super::wu_centroids(points, &super::super::grid::Grid::new(points).layout, k)
    }

    /// Three tight groups of colours, in different boxes of every level.
    fn groups() -> Points {
        let mut pixels = Vec::new();
        for (base, n) in [
            ([20u8, 30, 200], 50),
            ([200, 40, 40], 30),
            ([90, 220, 90], 20),
        ] {
            for i in 0..n {
                pixels.push(base.map(|v| v + (i % 3) as u8));
            }
        }
        Points::from_pixels(&pixels)
    }

    #[test]
    fn each_group_becomes_a_centroid_at_its_mean_heaviest_first() {
        let c = wu_centroids(&groups(), 3);
        let mean = |base: [f64; 3], n: usize| {
            let extra = (0..n).map(|i| (i % 3) as f64).sum::<f64>() / n as f64;
            base.map(|v| v + extra)
        };
        let want = [
            mean([20.0, 30.0, 200.0], 50),
            mean([200.0, 40.0, 40.0], 30),
            mean([90.0, 220.0, 90.0], 20),
        ];
        for (got, want) in c.iter().zip(want) {
            for d in 0..3 {
                assert!((got[d] - want[d]).abs() < 1e-9, "{got:?} vs {want:?}");
            }
        }
    }

    #[test]
    fn no_more_centroids_than_boxes_of_colour_and_the_same_every_time() {
        let points = Points::from_pixels(&[[10, 10, 10], [10, 10, 10], [250, 0, 0]]);
        let c = wu_centroids(&points, 16);
        assert_eq!(c, [[10.0, 10.0, 10.0], [250.0, 0.0, 0.0]]);
        assert_eq!(wu_centroids(&groups(), 8), wu_centroids(&groups(), 8));
        assert_eq!(wu_centroids(&groups(), 1).len(), 1);
    }

    #[test]
    fn each_cut_lowers_the_error() {
        // The summed error of the boxes' points around their centroids never grows with k.
        let points = groups();
        let sse = |centroids: &[Color]| -> f64 {
            points
                .coords
                .iter()
                .zip(&points.weights)
                .map(|(&x, &w)| {
                    let d = centroids
                        .iter()
                        .map(|&c| crate::kmeans::dist2(x, c))
                        .fold(f64::INFINITY, f64::min);
                    f64::from(w) * d
                })
                .sum()
        };
        let errors: Vec<f64> = (1..=6).map(|k| sse(&wu_centroids(&points, k))).collect();
        assert!(errors.windows(2).all(|w| w[1] <= w[0] + 1e-9), "{errors:?}");
        assert!(errors[2] < errors[1] && errors[1] < errors[0]);
    }

    #[test]
    fn coordinates_of_another_scale_and_origin_are_cut_alike() {
        // The groups in units a hundredth of sRGB's, around -1 (as Oklab's a and b are): the
        // same three centroids, moved and scaled (clamped into the cube, they were one box).
        let rgb = groups();
        let small = |x: Color| x.map(|v| v / 100.0 - 1.0);
        let points = Points::new(
            rgb.coords.iter().map(|&x| small(x)).collect(),
            rgb.weights.clone(),
        )
        .unwrap();
        let got = wu_centroids(&points, 3);
        let want: Vec<Color> = wu_centroids(&rgb, 3).into_iter().map(small).collect();
        assert_eq!(got.len(), 3);
        for (got, want) in got.iter().zip(&want) {
            for d in 0..3 {
                assert!((got[d] - want[d]).abs() < 1e-9, "{got:?} vs {want:?}");
            }
        }
    }
}
