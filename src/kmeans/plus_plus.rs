//! k-means++ seeding (D. Arthur and S. Vassilvitskii, "k-means++: the advantages of careful
//! seeding", SODA 2007), greedy and weighted by pixel counts, as scikit-learn does it.
//!
//! The first centroid is a colour drawn with probability proportional to its pixels; each next one
//! is the best of `2 + ln k` candidates, each drawn with probability proportional to its pixels times
//! its squared distance to the nearest centroid so far, the best being the one that leaves the
//! smallest sum of weighted squared distances (the "potential"). When every colour already is a
//! centroid (fewer distinct colours than K), the remaining centroids are drawn uniformly in the cube.
//!
//! Two implementations, chosen by the coordinates:
//! - for integer coordinates (sRGB), every weighted squared distance and every sum of them is an
//!   integer below 2^53, so sums in f64 are exact and the order of additions does not matter. The
//!   seeding therefore sums in u64, box by box over the grid's fine cells, and skips a whole box
//!   when no point in it can be closer to the candidate than to its nearest centroid so far (the
//!   box's nearest corner is farther than its farthest point's distance): the same centroids as a
//!   plain seeding summing point by point in f64 (a test keeps one as the oracle). At K = 256 on an
//!   8 MP photo this takes the seeding from seconds to tens of milliseconds. It runs on one thread:
//!   a candidate touches a few thousand points in scattered boxes, too little work to share
//!   (measured: splitting it over two threads made it slower, 132 against 82 ms).
//! - for any other coordinates (CIELAB, Oklab, fractional fixed colours), squared distances are
//!   not exact, so the order of every sum is fixed instead: point by point within a fine cell, then
//!   cell by cell within a coarse cell, then coarse cell by coarse cell, and a draw walks the same
//!   way. A cell's sum is stored as it was summed, so a candidate that cannot reach a cell takes its
//!   stored sum, the bits that summing it again would give, and the same boxes are skipped as for
//!   integers (a test compares it with the same sums taken afresh for every candidate). At K = 256
//!   on Elephants in CIELAB this took the k-means phase of `--best --restarts 1` from 1.96 s to
//!   0.76 s, where the plain seeding in point order weighed every point for every candidate.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::grid::{is_integral, Cell, Grid};
use super::{dist2, Color, Points};

/// How many candidates each centroid after the first is chosen from.
fn trials(k: usize) -> usize {
    2 + (k as f64).ln() as usize
}

/// k-means++ centroids for `points`, with `grid` built from them. `given` centroids (fixed
/// colours) come first and count as centroids already chosen: the seeding draws the rest.
pub(crate) fn kmeans_plus_plus(
    points: &Points,
    grid: &Grid,
    k: usize,
    given: &[Color],
    rng: &mut ChaCha8Rng,
) -> Vec<Color> {
    if integer_sums_are_exact(grid) && given.iter().all(is_integral) {
        exact_integer(points, grid, k, given, rng)
    } else {
        nested(points, grid, k, given, rng)
    }
}

/// Whether every coordinate is an integer in 0..=255 (the grid knows) and every sum of weighted
/// squared distances stays below 2^53 (where f64 counts exactly).
fn integer_sums_are_exact(grid: &Grid) -> bool {
    let max_d2 = 3 * 255 * 255;
    grid.integer
        && grid
            .total_weight
            .checked_mul(max_d2)
            .is_some_and(|s| s < 1 << 53)
}

/// Draws an index with probability proportional to `mass` (total `total` > 0): the first index
/// whose running sum exceeds a uniform draw below the total.
fn draw(mass: &[f64], total: f64, rng: &mut ChaCha8Rng) -> usize {
    let target = rng.random::<f64>() * total;
    let mut acc = 0.0;
    for (i, &m) in mass.iter().enumerate() {
        acc += m;
        if acc > target && m > 0.0 {
            return i;
        }
    }
    mass.iter().rposition(|&m| m > 0.0).expect("some mass")
}

/// A box is passed over for a candidate only if its nearest point is farther from the candidate
/// than its farthest point's nearest centroid by this much (squared distance units): far above the
/// rounding error of these f64 distances (below 1e-9 for coordinates of about 0..255), so no
/// point of it could be nearer the candidate, as [`dist2`] computes it.
const SKIP_MARGIN: f64 = 1e-6;

/// Whether no point of `cell`, whose points are at most `near` (squared) from their nearest
/// centroid, can be nearer `c`: the box's nearest point is farther than that, by [`SKIP_MARGIN`].
#[inline]
fn out_of_reach(cell: &Cell, near: f64, c: Color) -> bool {
    let mut s = 0.0;
    for ((&lo, &hi), &v) in cell.lo.iter().zip(&cell.hi).zip(&c) {
        let e = (lo - v).max(v - hi).max(0.0);
        s += e * e;
    }
    s > near + SKIP_MARGIN
}

/// The seeding state for any coordinates, in grid order: each point's squared distance to its
/// nearest centroid so far and that times its weight (its mass), with the sums and largest
/// distances of the grid's fine cells (boxes) and coarse cells (groups).
///
/// Every sum is taken in one fixed order, box by box and group by group, and a box's or group's
/// stored figures are what summing it again would give: a box that a candidate cannot reach
/// contributes its stored sum, which is the sum its points would give, so passing it over changes
/// no bit.
struct Nested<'a> {
    grid: &'a Grid,
    near: Vec<f64>,
    mass: Vec<f64>,
    box_sum: Vec<f64>,
    box_max: Vec<f64>,
    group_sum: Vec<f64>,
    group_max: Vec<f64>,
}

impl<'a> Nested<'a> {
    fn new(grid: &'a Grid, chosen: &[Color]) -> Self {
        let near: Vec<f64> = grid
            .coords
            .par_iter()
            .map(|&x| {
                chosen
                    .iter()
                    .map(|&c| dist2(x, c))
                    .fold(f64::INFINITY, f64::min)
            })
            .collect();
        let mass = near
            .iter()
            .zip(&grid.weights)
            .map(|(&d, &w)| f64::from(w) * d)
            .collect();
        let mut state = Self {
            grid,
            near,
            mass,
            box_sum: vec![0.0; grid.fine.len()],
            box_max: vec![0.0; grid.fine.len()],
            group_sum: vec![0.0; grid.coarse.len()],
            group_max: vec![0.0; grid.coarse.len()],
        };
        for b in 0..grid.fine.len() {
            state.summarise(b);
        }
        for c in 0..grid.coarse.len() {
            state.summarise_group(c);
        }
        state
    }

    fn summarise(&mut self, b: usize) {
        let cell = &self.grid.fine[b];
        let (mut sum, mut max) = (0.0, 0.0f64);
        for g in cell.start..cell.end {
            sum += self.mass[g];
            max = max.max(self.near[g]);
        }
        self.box_sum[b] = sum;
        self.box_max[b] = max;
    }

    fn summarise_group(&mut self, c: usize) {
        let fine = self.grid.coarse[c].fine_start..self.grid.coarse[c].fine_end;
        let mut sum = 0.0;
        for &s in &self.box_sum[fine.clone()] {
            sum += s;
        }
        self.group_sum[c] = sum;
        self.group_max[c] = self.box_max[fine].iter().fold(0.0, |m, &v| m.max(v));
    }

    fn total(&self) -> f64 {
        let mut total = 0.0;
        for &s in &self.group_sum {
            total += s;
        }
        total
    }

    /// A point (grid position) drawn with probability proportional to its mass, from a draw below
    /// `total`: the first whose running sum, taken group by group, then box by box, then point by
    /// point within the group and box where the draw falls, exceeds it.
    fn draw(&self, total: f64, rng: &mut ChaCha8Rng) -> usize {
        let target = rng.random::<f64>() * total;
        let mut acc = 0.0;
        for (c, coarse) in self.grid.coarse.iter().enumerate() {
            if acc + self.group_sum[c] <= target {
                acc += self.group_sum[c];
                continue;
            }
            for b in coarse.fine_start..coarse.fine_end {
                if acc + self.box_sum[b] <= target {
                    acc += self.box_sum[b];
                    continue;
                }
                let cell = &self.grid.fine[b];
                for g in cell.start..cell.end {
                    acc += self.mass[g];
                    if acc > target && self.mass[g] > 0.0 {
                        return g;
                    }
                }
            }
        }
        // The draw rounded up to the total: the last point with any mass.
        self.mass.iter().rposition(|&m| m > 0.0).expect("some mass")
    }

    /// The potential if `c` were added: the sum of every point's mass, each the less of its own
    /// and its weight times its squared distance to `c`, box by box and group by group.
    fn potential(&self, c: Color) -> f64 {
        let grid = self.grid;
        let mut total = 0.0;
        for (group, coarse) in grid.coarse.iter().enumerate() {
            if out_of_reach(&coarse.cell, self.group_max[group], c) {
                total += self.group_sum[group];
                continue;
            }
            let mut sum = 0.0;
            for b in coarse.fine_start..coarse.fine_end {
                let cell = &grid.fine[b];
                sum += if out_of_reach(cell, self.box_max[b], c) {
                    self.box_sum[b]
                } else {
                    let mut s = 0.0;
                    for g in cell.start..cell.end {
                        let w = f64::from(grid.weights[g]);
                        s += self.mass[g].min(w * dist2(grid.coords[g], c));
                    }
                    s
                };
            }
            total += sum;
        }
        total
    }

    /// Adds `c` as a centroid.
    fn add(&mut self, c: Color) {
        let grid = self.grid;
        for (group, coarse) in grid.coarse.iter().enumerate() {
            if out_of_reach(&coarse.cell, self.group_max[group], c) {
                continue;
            }
            for b in coarse.fine_start..coarse.fine_end {
                let cell = &grid.fine[b];
                if out_of_reach(cell, self.box_max[b], c) {
                    continue;
                }
                for g in cell.start..cell.end {
                    let d = dist2(grid.coords[g], c);
                    self.mass[g] = self.mass[g].min(f64::from(grid.weights[g]) * d);
                    self.near[g] = self.near[g].min(d);
                }
                self.summarise(b);
            }
            self.summarise_group(group);
        }
    }
}

/// The seeding for any coordinates (CIELAB, Oklab, fractional fixed colours), in f64 over the
/// grid: sums nested box by box and group by group (see [`Nested`]), which lets a candidate pass
/// over the boxes it cannot reach, as the integer seeding does. Each round draws its candidates
/// first (their draws depend only on the distances so far), then weighs them at once, one per
/// thread.
fn nested(
    points: &Points,
    grid: &Grid,
    k: usize,
    given: &[Color],
    rng: &mut ChaCha8Rng,
) -> Vec<Color> {
    let mut centroids = first_centroids(points, given, rng);
    let mut state = Nested::new(grid, &centroids);
    while centroids.len() < k {
        let total = state.total();
        if total <= 0.0 {
            break;
        }
        let draws: Vec<usize> = (0..trials(k)).map(|_| state.draw(total, rng)).collect();
        let potentials: Vec<f64> = draws
            .par_iter()
            .map(|&g| state.potential(grid.coords[g]))
            .collect();
        let c = grid.coords[draws[least(&potentials)]];
        centroids.push(c);
        state.add(c);
    }
    fill_randomly(centroids, k, rng)
}

/// The centroids a seeding starts from: the `given` ones, or else one colour drawn with
/// probability proportional to its pixels (in point order).
fn first_centroids(points: &Points, given: &[Color], rng: &mut ChaCha8Rng) -> Vec<Color> {
    if !given.is_empty() {
        return given.to_vec();
    }
    let weights: Vec<f64> = points.weights.iter().map(|&w| f64::from(w)).collect();
    let total_weight: f64 = weights.iter().sum();
    vec![points.coords[draw(&weights, total_weight, rng)]]
}

/// The index of the first of the least potentials.
fn least(potentials: &[f64]) -> usize {
    let mut best = 0;
    for (t, &p) in potentials.iter().enumerate() {
        if p < potentials[best] {
            best = t;
        }
    }
    best
}

/// The centroids found, and uniform points in the cube for the rest.
fn fill_randomly(mut centroids: Vec<Color>, k: usize, rng: &mut ChaCha8Rng) -> Vec<Color> {
    while centroids.len() < k {
        centroids.push(std::array::from_fn(|_| rng.random::<f64>() * 255.0));
    }
    centroids
}

/// Points per block of the running sums kept in point order, for the draws.
const DRAW_BLOCK: usize = 1024;

/// A fine cell of the grid, in integers.
struct Box3 {
    start: usize,
    end: usize,
    lo: [i32; 3],
    hi: [i32; 3],
}

#[inline]
fn d2i(a: [i32; 3], b: [i32; 3]) -> u32 {
    let d = [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
    (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]) as u32
}

/// The squared distance from `c` to the nearest point of the box.
#[inline]
fn box_d2(b: &Box3, c: [i32; 3]) -> u32 {
    let mut s = 0;
    for ((&lo, &hi), &v) in b.lo.iter().zip(&b.hi).zip(&c) {
        let e = (lo - v).max(v - hi).max(0);
        s += e * e;
    }
    s as u32
}

/// A colour of the seeding, packed in 12 bytes (the seeding's passes are bound by memory): its
/// coordinates, pixel count, and squared distance to the nearest centroid so far.
#[derive(Debug, Clone, Copy)]
struct Pt {
    x: [u8; 3],
    w: u32,
    near: u32,
}

impl Pt {
    #[inline]
    fn d2(&self, c: [i32; 3]) -> u32 {
        d2i(self.x.map(i32::from), c)
    }

    /// The weighted squared distance to the nearest centroid.
    #[inline]
    fn mass(&self) -> u64 {
        u64::from(self.w) * u64::from(self.near)
    }
}

/// The seeding state for integer coordinates, in grid order.
struct Exact<'a> {
    grid: &'a Grid,
    pts: Vec<Pt>,
    boxes: Vec<Box3>,
    /// Per box: the sum of weighted nearest squared distances, and the largest nearest distance.
    box_sum: Vec<u64>,
    box_max: Vec<u32>,
    /// The grid's coarse cells (boxes of boxes), with the same two figures over their boxes.
    groups: Vec<(Box3, std::ops::Range<usize>)>,
    group_sum: Vec<u64>,
    group_max: Vec<u32>,
    /// The grid position of each point (inverse of `grid.order`).
    position: Vec<u32>,
    /// Per block of [`DRAW_BLOCK`] points in point order: the sum of their weighted distances.
    draw_sum: Vec<u64>,
}

impl<'a> Exact<'a> {
    fn new(grid: &'a Grid, chosen: &[[i32; 3]]) -> Self {
        let pts: Vec<Pt> = grid
            .coords
            .iter()
            .zip(&grid.weights)
            .map(|(c, &w)| {
                let x = c.map(|v| v as u8);
                let near = chosen
                    .iter()
                    .map(|&c| d2i(x.map(i32::from), c))
                    .min()
                    .unwrap_or(u32::MAX);
                Pt { x, w, near }
            })
            .collect();
        let boxes: Vec<Box3> = grid
            .fine
            .iter()
            .map(|c| Box3 {
                start: c.start,
                end: c.end,
                lo: c.lo.map(|v| v as i32),
                hi: c.hi.map(|v| v as i32),
            })
            .collect();
        let groups: Vec<(Box3, std::ops::Range<usize>)> = grid
            .coarse
            .iter()
            .map(|c| {
                let bx = Box3 {
                    start: c.cell.start,
                    end: c.cell.end,
                    lo: c.cell.lo.map(|v| v as i32),
                    hi: c.cell.hi.map(|v| v as i32),
                };
                (bx, c.fine_start..c.fine_end)
            })
            .collect();
        let mut position = vec![0u32; grid.len()];
        for (g, &i) in grid.order.iter().enumerate() {
            position[i as usize] = g as u32;
        }
        let mut state = Self {
            grid,
            pts,
            box_sum: vec![0; boxes.len()],
            box_max: vec![0; boxes.len()],
            boxes,
            group_sum: vec![0; groups.len()],
            group_max: vec![0; groups.len()],
            groups,
            position,
            draw_sum: vec![0; grid.len().div_ceil(DRAW_BLOCK)],
        };
        for b in 0..state.boxes.len() {
            state.summarise(b);
        }
        for c in 0..state.groups.len() {
            state.summarise_group(c);
        }
        for (g, &i) in grid.order.iter().enumerate() {
            state.draw_sum[i as usize / DRAW_BLOCK] += state.pts[g].mass();
        }
        state
    }

    fn summarise(&mut self, b: usize) {
        let bx = &self.boxes[b];
        let (mut sum, mut max) = (0u64, 0u32);
        for p in &self.pts[bx.start..bx.end] {
            sum += p.mass();
            max = max.max(p.near);
        }
        self.box_sum[b] = sum;
        self.box_max[b] = max;
    }

    fn summarise_group(&mut self, c: usize) {
        let range = self.groups[c].1.clone();
        self.group_sum[c] = self.box_sum[range.clone()].iter().sum();
        self.group_max[c] = self.box_max[range].iter().copied().max().unwrap_or(0);
    }

    fn total(&self) -> u64 {
        self.group_sum.iter().sum()
    }

    /// The point (in point order) drawn as the plain [`draw`] would, from a draw below `total`.
    fn draw(&self, total: u64, rng: &mut ChaCha8Rng) -> usize {
        let target = rng.random::<f64>() * total as f64;
        // Running sums are exact integers below 2^53, so comparing them (as f64) with the target
        // finds the same point as the plain running sum.
        let mut acc = 0u64;
        for (block, &s) in self.draw_sum.iter().enumerate() {
            if (acc + s) as f64 > target {
                let start = block * DRAW_BLOCK;
                let end = (start + DRAW_BLOCK).min(self.position.len());
                for i in start..end {
                    let g = self.position[i] as usize;
                    let m = self.pts[g].mass();
                    acc += m;
                    if acc as f64 > target && m > 0 {
                        return i;
                    }
                }
            }
            acc += s;
        }
        // The draw rounded up to the total: the last point with any mass, as the plain draw does.
        (0..self.position.len())
            .rev()
            .find(|&i| self.pts[self.position[i] as usize].near > 0)
            .expect("some mass")
    }

    /// The potential if `c` were added.
    fn potential(&self, c: [i32; 3]) -> u64 {
        self.groups
            .iter()
            .enumerate()
            .map(|(group, (gbox, boxes))| {
                // No point of the box is closer to c than to its nearest centroid: nothing changes.
                if box_d2(gbox, c) >= self.group_max[group] {
                    return self.group_sum[group];
                }
                let mut sum = 0;
                for b in boxes.clone() {
                    let bx = &self.boxes[b];
                    sum += if box_d2(bx, c) >= self.box_max[b] {
                        self.box_sum[b]
                    } else {
                        self.pts[bx.start..bx.end]
                            .iter()
                            .map(|p| u64::from(p.w) * u64::from(p.near.min(p.d2(c))))
                            .sum()
                    };
                }
                sum
            })
            .sum()
    }

    /// Adds `c` as a centroid.
    fn add(&mut self, c: [i32; 3]) {
        for group in 0..self.groups.len() {
            if box_d2(&self.groups[group].0, c) >= self.group_max[group] {
                continue;
            }
            for b in self.groups[group].1.clone() {
                if box_d2(&self.boxes[b], c) >= self.box_max[b] {
                    continue;
                }
                let (start, end) = (self.boxes[b].start, self.boxes[b].end);
                for g in start..end {
                    let p = &mut self.pts[g];
                    let d = p.d2(c);
                    if d < p.near {
                        let i = self.grid.order[g] as usize;
                        self.draw_sum[i / DRAW_BLOCK] -= u64::from(p.w) * u64::from(p.near - d);
                        p.near = d;
                    }
                }
                self.summarise(b);
            }
            self.summarise_group(group);
        }
    }
}

/// The fast seeding for integer coordinates: the same centroids as a plain seeding in f64, point by
/// point (the tests' `plain`).
fn exact_integer(
    points: &Points,
    grid: &Grid,
    k: usize,
    given: &[Color],
    rng: &mut ChaCha8Rng,
) -> Vec<Color> {
    let as_int = |c: Color| c.map(|v| v as i32);
    let mut centroids = first_centroids(points, given, rng);
    let chosen: Vec<[i32; 3]> = centroids.iter().map(|&c| as_int(c)).collect();
    let mut state = Exact::new(grid, &chosen);
    while centroids.len() < k {
        let total = state.total();
        if total == 0 {
            break;
        }
        let mut best: Option<(u64, usize)> = None;
        for _ in 0..trials(k) {
            let i = state.draw(total, rng);
            let potential = state.potential(as_int(points.coords[i]));
            if best.is_none_or(|(p, _)| potential < p) {
                best = Some((potential, i));
            }
        }
        let (_, i) = best.expect("at least one trial");
        centroids.push(points.coords[i]);
        state.add(as_int(points.coords[i]));
    }
    fill_randomly(centroids, k, rng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn rng(seed: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(seed)
    }

    /// The plain seeding, in f64 and point order (the oracle for [`exact_integer`], which must
    /// give its centroids): each round's candidates drawn first, then weighed at once, each
    /// summed over the points in their order.
    fn plain(points: &Points, k: usize, given: &[Color], rng: &mut ChaCha8Rng) -> Vec<Color> {
        let weights: Vec<f64> = points.weights.iter().map(|&w| f64::from(w)).collect();
        let mut centroids = first_centroids(points, given, rng);
        // Each point's weighted squared distance to its nearest centroid so far.
        let mut mass: Vec<f64> = points
            .coords
            .par_iter()
            .zip(&weights)
            .map(|(&x, &w)| {
                let near = centroids
                    .iter()
                    .map(|&c| dist2(x, c))
                    .fold(f64::INFINITY, f64::min);
                w * near
            })
            .collect();
        while centroids.len() < k {
            let total: f64 = mass.iter().sum();
            if total <= 0.0 {
                break;
            }
            let draws: Vec<usize> = (0..trials(k)).map(|_| draw(&mass, total, rng)).collect();
            let potentials: Vec<f64> = draws
                .par_iter()
                .map(|&i| {
                    let c = points.coords[i];
                    let mut potential = 0.0;
                    for ((&m, &x), &w) in mass.iter().zip(&points.coords).zip(&weights) {
                        potential += m.min(w * dist2(x, c));
                    }
                    potential
                })
                .collect();
            let c = points.coords[draws[least(&potentials)]];
            centroids.push(c);
            mass.par_iter_mut()
                .zip(&points.coords)
                .zip(&weights)
                .for_each(|((m, &x), &w)| *m = m.min(w * dist2(x, c)));
        }
        fill_randomly(centroids, k, rng)
    }

    /// The nested seeding computed plainly (the oracle for [`nested`]): every point's mass
    /// recomputed for every candidate, every box and group summed again, nothing passed over.
    fn nested_unskipped(
        points: &Points,
        grid: &Grid,
        k: usize,
        given: &[Color],
        rng: &mut ChaCha8Rng,
    ) -> Vec<Color> {
        // A point's mass in grid order, then summed cell by cell: (fine sums, coarse sums).
        let sums = |mass: &[f64]| -> (Vec<f64>, Vec<f64>) {
            let fine: Vec<f64> = grid
                .fine
                .iter()
                .map(|c| mass[c.start..c.end].iter().fold(0.0, |s, &m| s + m))
                .collect();
            let coarse = grid
                .coarse
                .iter()
                .map(|c| {
                    fine[c.fine_start..c.fine_end]
                        .iter()
                        .fold(0.0, |s, &m| s + m)
                })
                .collect();
            (fine, coarse)
        };
        let weights: Vec<f64> = grid.weights.iter().map(|&w| f64::from(w)).collect();
        let mut centroids = first_centroids(points, given, rng);
        let with = |mass: &[f64], c: Color| -> Vec<f64> {
            mass.iter()
                .zip(&grid.coords)
                .zip(&weights)
                .map(|((&m, &x), &w)| m.min(w * dist2(x, c)))
                .collect()
        };
        let mut mass = vec![f64::INFINITY; grid.len()];
        for &c in &centroids {
            mass = with(&mass, c);
        }
        while centroids.len() < k {
            let (fine, coarse) = sums(&mass);
            let total = coarse.iter().fold(0.0, |s, &m| s + m);
            if total <= 0.0 {
                break;
            }
            let mut best: Option<(f64, Vec<f64>, usize)> = None;
            for _ in 0..trials(k) {
                let target = rng.random::<f64>() * total;
                let mut acc = 0.0;
                let mut drawn = None;
                'walk: for (c, cell) in grid.coarse.iter().enumerate() {
                    if acc + coarse[c] <= target {
                        acc += coarse[c];
                        continue;
                    }
                    let cells = &grid.fine[cell.fine_start..cell.fine_end];
                    for (f, &sum) in cells.iter().zip(&fine[cell.fine_start..cell.fine_end]) {
                        if acc + sum <= target {
                            acc += sum;
                            continue;
                        }
                        for (g, &m) in (f.start..).zip(&mass[f.start..f.end]) {
                            acc += m;
                            if acc > target && m > 0.0 {
                                drawn = Some(g);
                                break 'walk;
                            }
                        }
                    }
                }
                let g = drawn.unwrap_or_else(|| mass.iter().rposition(|&m| m > 0.0).unwrap());
                let candidate = with(&mass, grid.coords[g]);
                let potential = sums(&candidate).1.iter().fold(0.0, |s, &m| s + m);
                if best.as_ref().is_none_or(|(p, _, _)| potential < *p) {
                    best = Some((potential, candidate, g));
                }
            }
            let (_, candidate, g) = best.expect("at least one trial");
            centroids.push(grid.coords[g]);
            mass = candidate;
        }
        fill_randomly(centroids, k, rng)
    }

    #[test]
    fn the_nested_seeding_passes_over_boxes_without_changing_a_bit() {
        let colors = crate::pixels::hashed_colors(3000);
        let weights: Vec<u32> = (0..3000).map(|i| 1 + i % 17).collect();
        let mut sets: Vec<Points> = [crate::ColorSpace::Lab, crate::ColorSpace::Oklab]
            .iter()
            .map(|space| {
                let coords = colors
                    .iter()
                    .map(|&c| space.encode(crate::kmeans::to_color(c)))
                    .collect();
                Points::new(coords, weights.clone()).unwrap()
            })
            .collect();
        // Coordinates of no grid at all (a library user's), in clusters, so that boxes are passed
        // over, and with points much closer together than a cell.
        sets.push(
            Points::new(
                (0..2000)
                    .map(|i| {
                        let f = f64::from(i);
                        let base = f64::from(i % 7) * 31.3;
                        [
                            base + (f * 0.618).fract() * 9.1,
                            base + (f * 0.414).fract() * 0.07,
                            200.0 - base,
                        ]
                    })
                    .collect(),
                (0..2000).map(|i| 1 + i % 5).collect(),
            )
            .unwrap(),
        );
        for points in &sets {
            let grid = Grid::new(points);
            for (k, seed) in [(1, 0), (2, 1), (16, 2), (64, 3), (256, 4), (300, 5)] {
                let k = k.min(256);
                let given = if k == 16 {
                    vec![points.coords[7], [3.25, 250.5, 0.125]]
                } else {
                    vec![]
                };
                let fast = nested(points, &grid, k, &given, &mut rng(seed));
                assert_eq!(
                    fast,
                    nested_unskipped(points, &grid, k, &given, &mut rng(seed)),
                    "k = {k}"
                );
                assert_eq!(fast.len(), k);
                assert_eq!(&fast[..given.len()], &given[..]);
            }
        }
    }

    #[test]
    fn the_nested_seeding_runs_out_of_colours_as_the_plain_one_does() {
        // Three distinct colours and K = 5: three colours of the picture, then two in the cube.
        let points = Points::new(
            vec![
                [10.5, 20.25, 30.0],
                [10.5, 20.25, 30.0],
                [100.0, 0.5, 3.0],
                [7.0, 7.0, 7.5],
            ],
            vec![3, 1, 2, 4],
        )
        .unwrap();
        let grid = Grid::new(&points);
        let seeded = nested(&points, &grid, 5, &[], &mut rng(9));
        let mut first: Vec<Color> = seeded[..3].to_vec();
        first.sort_by(|a, b| a.partial_cmp(b).unwrap());
        first.dedup();
        assert_eq!(first.len(), 3);
        assert!(first.iter().all(|c| points.coords.contains(c)));
        assert!(seeded[3..].iter().all(|c| !points.coords.contains(c)));
    }

    #[test]
    fn the_fast_seeding_gives_the_plain_ones_centroids() {
        let mut sets = vec![
            Points::from_pixels(&crate::pixels::hashed_colors(5000)),
            super::super::scattered_points(300, [37, 91, 13]),
            // Few distinct colours: the seeding runs out and fills the rest randomly.
            Points::from_pixels(&[[0, 0, 0], [0, 0, 0], [9, 9, 9], [200, 10, 10]]),
        ];
        // Uneven weights.
        let mut weighted = Points::from_pixels(&crate::pixels::hashed_colors(2000));
        for (i, w) in weighted.weights.iter_mut().enumerate() {
            *w = 1 + (i as u32 * 7919) % 50;
        }
        sets.push(weighted);
        for points in &sets {
            let grid = Grid::new(points);
            for k in [1, 2, 7, 16, 64, 256] {
                for seed in 0..4 {
                    let slow = plain(points, k, &[], &mut rng(seed));
                    let fast = exact_integer(points, &grid, k, &[], &mut rng(seed));
                    assert_eq!(slow, fast, "k {k} seed {seed} ({} points)", points.len());
                    if k >= 3 {
                        let given = [[255.0, 255.0, 255.0], [0.0, 0.0, 0.0]];
                        let slow = plain(points, k, &given, &mut rng(seed));
                        let fast = exact_integer(points, &grid, k, &given, &mut rng(seed));
                        assert_eq!(slow, fast, "fixed, k {k} seed {seed}");
                        assert_eq!(&fast[..2], &given);
                    }
                }
            }
        }
    }

    #[test]
    fn only_integer_colours_take_the_fast_path() {
        let fast = |p: &Points| integer_sums_are_exact(&Grid::new(p));
        assert!(fast(&Points::from_pixels(&[[1, 2, 3]])));
        let lab = Points {
            coords: vec![[50.5, 1.0, 2.0]],
            weights: vec![1],
        };
        assert!(!fast(&lab));
        let heavy = Points {
            coords: vec![[0.0; 3]],
            weights: vec![u32::MAX],
        };
        assert!(fast(&heavy));
    }
}
