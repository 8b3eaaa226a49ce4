//! The k-means core: parameters, random initial centroids, Lloyd's epochs and restarts.
//!
//! Pure: it takes weighted points (distinct colours with pixel counts) and returns plain data. It never
//! prints or touches files; progress is reported through a callback.
//!
//! The algorithm is the original program's: K centroids drawn uniformly in the RGB cube, then epochs
//! of "assign every point to its nearest centroid (ties to the lowest index), move each centroid to the
//! mean of its points (an empty one stays put)", until no point changes centroid or the epoch limit is
//! reached; the whole thing is restarted and the restart with the lowest loss kept. The engine assigns
//! whole boxes of colours at once when one centroid provably owns a whole box (see `grid`), which
//! changes no assignment; restarts run in parallel.

mod engine;
mod grid;
pub(crate) mod params;
mod plus_plus;
mod wu;

#[cfg(test)]
pub(crate) use engine::lloyd as lloyd_trusted;
pub(crate) use engine::lloyd_fixed_on as lloyd_trusted_on;
#[cfg(feature = "cli")]
pub(crate) use engine::loss_of;
pub use engine::nearest;
pub(crate) use grid::Grid;
pub use params::{EmptyPolicy, Init, KMeansParams, Keep, MAX_EPOCHS, MAX_K, MAX_RESTARTS};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

pub use crate::colorspace::Color;
use crate::colorspace::ColorSpace;
use crate::error::{Error, Result};
use crate::pixels::ColorHistogram;

/// Points to cluster, each with a weight (the number of pixels it stands for).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Points {
    /// Coordinates of each point.
    pub(crate) coords: Vec<Color>,
    /// Weight of each point; never zero.
    pub(crate) weights: Vec<u32>,
}

impl Points {
    /// Points from coordinates and weights (pixels each stands for).
    ///
    /// # Errors
    /// [`Error::WeightsMismatch`] if there are not as many weights as coordinates;
    /// [`Error::OutOfRange`] for a weight of zero; [`Error::Coordinate`] for a coordinate that is
    /// not finite or further than [`MAX_COORDINATE`] from 0.
    pub fn new(coords: Vec<Color>, weights: Vec<u32>) -> Result<Self> {
        if coords.len() != weights.len() {
            return Err(Error::WeightsMismatch {
                colors: coords.len(),
                weights: weights.len(),
            });
        }
        if let Some(&w) = weights.iter().find(|&&w| w == 0) {
            return Err(Error::OutOfRange {
                name: "weight",
                value: w as usize,
                min: 1,
                max: u32::MAX as usize,
            });
        }
        if !coords.iter().all(|&c| is_sane(c)) {
            return Err(Error::Coordinate { what: "point" });
        }
        Ok(Self { coords, weights })
    }

    /// The coordinates of each point.
    pub fn coords(&self) -> &[Color] {
        &self.coords
    }

    /// The weight of each point.
    pub fn weights(&self) -> &[u32] {
        &self.weights
    }

    /// One point per distinct colour, weighted by its pixel count.
    pub fn from_histogram(hist: &ColorHistogram) -> Self {
        Self {
            coords: hist.colors.iter().map(|&c| to_color(c)).collect(),
            weights: hist.counts.clone(),
        }
    }

    /// One point per distinct colour, in `space`, weighted by its pixel count.
    pub fn from_histogram_in(hist: &ColorHistogram, space: ColorSpace) -> Self {
        Self {
            // (CIELAB and Oklab conversions take tens of nanoseconds a colour: on every core.)
            coords: hist
                .colors
                .par_iter()
                .with_min_len(grid::PAR_MIN)
                .map(|&c| space.encode(to_color(c)))
                .collect(),
            weights: hist.counts.clone(),
        }
    }

    /// One point of weight 1 per pixel (for tests and small inputs).
    pub fn from_pixels(pixels: &[[u8; 3]]) -> Self {
        Self {
            coords: pixels.iter().map(|&c| to_color(c)).collect(),
            weights: vec![1; pixels.len()],
        }
    }

    /// The number of points.
    pub fn len(&self) -> usize {
        self.coords.len()
    }

    /// Whether there are no points.
    pub fn is_empty(&self) -> bool {
        self.coords.is_empty()
    }

    /// The total weight (number of pixels).
    pub fn total_weight(&self) -> u64 {
        self.weights.iter().map(|&w| u64::from(w)).sum()
    }
}

/// Lloyd's algorithm on `points` from the centroids `initial` (1 to 256 of them), for at most
/// `max_epochs` epochs or until no point changes centroid; the loss after each epoch is kept when
/// `record_history` is set. This is the exact engine [`fit`] runs for each restart.
///
/// # Errors
/// As [`lloyd_fixed`].
pub fn lloyd(
    points: &Points,
    initial: Vec<Color>,
    max_epochs: usize,
    record_history: bool,
) -> Result<Run> {
    lloyd_fixed(points, initial, 0, max_epochs, record_history)
}

/// [`lloyd`] with the first `fixed` centroids held where they are: they take points like the
/// others, but never move (colours that must be in the palette).
///
/// # Errors
/// [`Error::Empty`] without points, [`Error::OutOfRange`] for no or more than 256 centroids or
/// more than [`MAX_EPOCHS`] epochs, [`Error::TooManyFixed`], [`Error::Coordinate`] for a centroid
/// that is not finite or further than [`MAX_COORDINATE`] from 0.
pub fn lloyd_fixed(
    points: &Points,
    initial: Vec<Color>,
    fixed: usize,
    max_epochs: usize,
    record_history: bool,
) -> Result<Run> {
    if points.is_empty() {
        return Err(Error::Empty { what: "points" });
    }
    let out_of_range = |name, value, min, max| Error::OutOfRange {
        name,
        value,
        min,
        max,
    };
    if !(1..=params::MAX_K).contains(&initial.len()) {
        return Err(out_of_range("k", initial.len(), 1, params::MAX_K));
    }
    if max_epochs > MAX_EPOCHS {
        return Err(out_of_range("max-epochs", max_epochs, 0, MAX_EPOCHS));
    }
    if fixed > initial.len() {
        return Err(Error::TooManyFixed {
            fixed,
            k: initial.len(),
        });
    }
    if !initial.iter().all(|&c| is_sane(c)) {
        return Err(Error::Coordinate { what: "centroid" });
    }
    Ok(engine::lloyd_fixed(
        points,
        initial,
        fixed,
        max_epochs,
        record_history,
    ))
}

/// The largest coordinate (in size) of a point or centroid: far beyond any colour space's layout
/// (about 0..=255), and small enough that squared distances and sums of millions of pixels stay
/// exact where they are integers.
pub const MAX_COORDINATE: f64 = 1e6;

fn is_sane(c: Color) -> bool {
    c.iter().all(|v| v.is_finite() && v.abs() <= MAX_COORDINATE)
}

/// Converts an 8-bit colour to a point.
pub fn to_color(c: [u8; 3]) -> Color {
    [f64::from(c[0]), f64::from(c[1]), f64::from(c[2])]
}

/// Rounds a point to the nearest 8-bit colour.
pub fn to_rgb8(c: Color) -> [u8; 3] {
    c.map(|v| v.round().clamp(0.0, 255.0) as u8)
}

/// Squared Euclidean distance. Every distance in the crate goes through this one function, so that
/// any two implementations that compare distances make identical decisions.
#[inline(always)]
pub fn dist2(a: Color, b: Color) -> f64 {
    let d0 = a[0] - b[0];
    let d1 = a[1] - b[1];
    let d2 = a[2] - b[2];
    d0 * d0 + d1 * d1 + d2 * d2
}

/// Loss and sum of squared errors of a set of centroids, each point at its assigned centroid.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct EpochStats {
    /// Mean over pixels of the Euclidean distance to the centroid (0-255 units): the original's loss.
    pub loss: f64,
    /// Sum over pixels of the squared distance: what Lloyd's algorithm never increases.
    pub sse: f64,
}

/// The outcome of one run of Lloyd's algorithm from given initial centroids.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Run {
    /// The centroids the run started from.
    pub initial: Vec<Color>,
    /// The final centroids.
    pub centroids: Vec<Color>,
    /// For each point, the index of its nearest final centroid.
    pub labels: Vec<u8>,
    /// Number of epochs (centroid updates) performed.
    pub epochs: usize,
    /// Whether the run stopped because no point changed centroid (rather than at the epoch limit).
    pub converged: bool,
    /// Loss of the initial centroids, then after each epoch, when asked for (`epochs + 1` entries).
    pub history: Vec<EpochStats>,
    /// Loss and SSE of the final centroids.
    pub stats: EpochStats,
}

/// The result of [`fit`]: the best restart, with its history.
#[derive(Debug, Clone, PartialEq)]
pub struct Clustering {
    /// The restart kept: the lowest final loss, or SSE as [`KMeansParams::keep`] says (ties: the
    /// earliest).
    pub(crate) best: Run,
    /// Which restart that was (0-based).
    pub(crate) restart: usize,
    /// The final loss of every restart, in restart order.
    pub(crate) restart_losses: Vec<f64>,
    /// The seed the restarts were drawn from.
    pub(crate) seed: u64,
    /// The space the centroids are in.
    pub(crate) space: ColorSpace,
    /// How many leading centroids are fixed colours ([`KMeansParams::fixed`]): they stay in the
    /// palette even when no pixel is drawn with them.
    pub(crate) fixed: usize,
}

impl Clustering {
    /// The restart kept: the lowest final loss, or SSE as [`KMeansParams::keep`] says (ties: the
    /// earliest).
    pub fn best(&self) -> &Run {
        &self.best
    }

    /// Which restart was kept (0-based).
    pub fn restart(&self) -> usize {
        self.restart
    }

    /// The final loss of every restart, in restart order.
    pub fn restart_losses(&self) -> &[f64] {
        &self.restart_losses
    }

    /// The seed the restarts were drawn from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The space the centroids are in.
    pub fn space(&self) -> ColorSpace {
        self.space
    }

    /// How many leading centroids are fixed colours.
    pub fn fixed(&self) -> usize {
        self.fixed
    }

    /// The final loss: the weighted mean distance of a point to its centroid, in the clustering
    /// space's units.
    pub fn loss(&self) -> f64 {
        self.best.stats.loss
    }
    /// The final centroids in sRGB (0-255, fractional).
    pub fn srgb_centroids(&self) -> Vec<Color> {
        self.best
            .centroids
            .iter()
            .map(|&c| self.space.decode(c))
            .collect()
    }

    /// Pixels per centroid, in centroid order (weights of the points assigned to each).
    pub fn cluster_sizes(&self, points: &Points) -> Vec<u64> {
        cluster_sizes(points, &self.best.labels, self.best.centroids.len())
    }
}

/// Sums the weights of the points given each label.
pub(crate) fn cluster_sizes(points: &Points, labels: &[u8], k: usize) -> Vec<u64> {
    let mut sizes = vec![0u64; k];
    for (&l, &w) in labels.iter().zip(&points.weights) {
        sizes[usize::from(l)] += u64::from(w);
    }
    sizes
}

/// The initial centroids of restart `restart` under [`Init::Random`]: `k` points drawn uniformly in
/// the RGB cube, from a ChaCha8 stream fixed by `(seed, restart)`, so a seed gives the same
/// restarts however they are run.
///
/// # Errors
/// [`Error::OutOfRange`] unless `k` is in 1..=[`MAX_K`].
pub fn random_centroids(seed: u64, restart: usize, k: usize) -> Result<Vec<Color>> {
    if !(1..=MAX_K).contains(&k) {
        return Err(Error::OutOfRange {
            name: "k",
            value: k,
            min: 1,
            max: MAX_K,
        });
    }
    Ok(cube_start(seed, restart, k))
}

/// [`random_centroids`] for a `k` known to be in range.
pub(crate) fn cube_start(seed: u64, restart: usize, k: usize) -> Vec<Color> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(restart as u64);
    (0..k)
        .map(|_| std::array::from_fn(|_| rng.random::<f64>() * 255.0))
        .collect()
}

/// The initial centroids of restart `restart` under `params.init`, from the restart's own stream.
#[cfg(test)]
fn initial_centroids(points: &Points, params: &KMeansParams, restart: usize) -> Vec<Color> {
    initial_on_grid(points, &grid::Grid::new(points), params, restart)
}

/// The initial centroids of restart `restart` under `params.init`, from the restart's own stream,
/// with the grid of `points` built already (k-means++ weighs by its boxes; Wu's levels lie on its
/// 256 units).
fn initial_on_grid(
    points: &Points,
    grid: &grid::Grid,
    params: &KMeansParams,
    restart: usize,
) -> Vec<Color> {
    let fixed: Vec<Color> = params
        .fixed
        .iter()
        .map(|&c| params.space.encode(to_color(c)))
        .collect();
    match params.init {
        Init::Random => {
            // Draw all K from the stream, so a seed gives the same others with or without fixed
            // colours; the fixed ones take the first places.
            let mut centroids: Vec<Color> = cube_start(params.seed, restart, params.k)
                .into_iter()
                .map(|c| params.space.encode(c))
                .collect();
            centroids[..fixed.len()].copy_from_slice(&fixed);
            centroids
        }
        Init::KMeansPlusPlus => {
            let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
            rng.set_stream(restart as u64);
            plus_plus::kmeans_plus_plus(points, grid, params.k, &fixed, &mut rng)
        }
        Init::Wu => {
            let mut centroids = fixed;
            let fixed_len = centroids.len();
            centroids.extend(wu::wu_centroids(points, &grid.layout, params.k - fixed_len));
            // Fewer boxes than centroids (few colours): the rest start on the first box, and
            // stay empty or are reseeded, as the empty-cluster policy says.
            let pad = centroids
                .get(fixed_len)
                .or(centroids.first())
                .copied()
                .unwrap_or([0.0; 3]);
            centroids.resize(params.k, pad);
            centroids
        }
    }
}

/// Runs k-means with `params` on `points`: every restart from its own random centroids, keeping the
/// one with the lowest final loss. `on_restart` is called (from any thread) as each restart finishes.
///
/// # Errors
/// [`Error::OutOfRange`] or [`Error::TooManyFixed`] when `params` do not validate,
/// [`Error::Empty`] when there are no points.
///
/// # Examples
/// ```
/// use kquant::{fit, KMeansParams, Points};
/// let points = Points::from_pixels(&[[0, 0, 0], [0, 0, 2], [200, 200, 200]]);
/// let clustering = fit(&points, &KMeansParams::new(2).seed(7), |_| {})?;
/// let labels = &clustering.best().labels;
/// assert_eq!(labels[0], labels[1]);
/// assert_ne!(labels[0], labels[2]);
/// # Ok::<(), kquant::Error>(())
/// ```
pub fn fit(
    points: &Points,
    params: &KMeansParams,
    on_restart: impl Fn(usize) + Sync,
) -> Result<Clustering> {
    check_fit(points, params)?;
    fit_checked(points, &Grid::new(points), params, on_restart)
}

/// What [`fit`] refuses before any work.
fn check_fit(points: &Points, params: &KMeansParams) -> Result<()> {
    params.validate()?;
    if points.is_empty() {
        return Err(Error::Empty { what: "points" });
    }
    Ok(())
}

/// [`fit`] on the grid of `points`, built already: callers that go on to draw with the palette
/// ([`crate::Palette`]) use the same grid again rather than sorting the colours twice.
///
/// # Errors
/// As [`fit`].
#[cfg(feature = "cli")]
pub(crate) fn fit_on(
    points: &Points,
    grid: &Grid,
    params: &KMeansParams,
    on_restart: impl Fn(usize) + Sync,
) -> Result<Clustering> {
    check_fit(points, params)?;
    fit_checked(points, grid, params, on_restart)
}

/// [`fit_on`] once [`check_fit`] passed (each entry point checks once, [`fit`] before it builds the
/// grid).
fn fit_checked(
    points: &Points,
    grid: &Grid,
    params: &KMeansParams,
    on_restart: impl Fn(usize) + Sync,
) -> Result<Clustering> {
    debug_assert_eq!(grid.len(), points.len(), "the grid of other points");
    let init = |r| initial_on_grid(points, grid, params, r);
    let reseed = params.empty == EmptyPolicy::Reseed;
    let run = |r, history, parallel| {
        engine::lloyd_on_grid(
            grid,
            init(r),
            engine::Epochs {
                max: params.max_epochs,
                reseed,
                fixed: params.fixed.len(),
                cache: true,
            },
            history,
            parallel,
        )
    };
    // Wu's start is the same for every restart: one run is all of them.
    if params.restarts == 1 || params.init == Init::Wu {
        let mut best = run(0, params.history, true);
        best.labels = grid.unpermute(&best.labels);
        on_restart(0);
        return Ok(Clustering {
            restart_losses: vec![best.stats.loss],
            best,
            restart: 0,
            seed: params.seed,
            space: params.space,
            fixed: params.fixed.len(),
        });
    }
    // Restarts are independent. Recording a history costs a loss pass per epoch, so restarts run
    // without one, and the winner is replayed when its history is wanted (the engine is
    // deterministic, so the replay is the same run, bit for bit).
    let (mut losses, winner) = (0..params.restarts)
        .into_par_iter()
        .map(|r| {
            let run = run(r, false, false);
            on_restart(r);
            (vec![(r, run.stats.loss)], Some((r, run)))
        })
        .reduce(
            || (Vec::new(), None),
            |(mut losses, a), (more, b)| {
                losses.extend(more);
                (losses, better_restart(params.keep, a, b))
            },
        );
    losses.sort_by_key(|&(r, _)| r);
    let restart_losses: Vec<f64> = losses.into_iter().map(|(_, loss)| loss).collect();
    let (restart, mut best) = winner.expect("at least one restart");
    if params.history {
        let replay = run(restart, true, true);
        debug_assert_eq!(replay.stats.loss, best.stats.loss);
        best = replay;
    }
    best.labels = grid.unpermute(&best.labels);
    Ok(Clustering {
        best,
        restart,
        restart_losses,
        seed: params.seed,
        space: params.space,
        fixed: params.fixed.len(),
    })
}

/// Of two restarts, the one with the lower final loss; on a tie, the earlier one.
fn better_restart(
    keep: Keep,
    a: Option<(usize, Run)>,
    b: Option<(usize, Run)>,
) -> Option<(usize, Run)> {
    let score = |run: &Run| match keep {
        Keep::LowestLoss => run.stats.loss,
        Keep::LowestSse => run.stats.sse,
    };
    match (a, b) {
        (Some(a), Some(b)) => {
            let b_wins = score(&b.1)
                .total_cmp(&score(&a.1))
                .then(b.0.cmp(&a.0))
                .is_lt();
            Some(if b_wins { b } else { a })
        }
        (a, None) => a,
        (None, b) => b,
    }
}

/// `n` colours spread over the cube: colour `i` is `i * step` on each axis, modulo 256.
#[cfg(test)]
pub(crate) fn scattered_points(n: u32, step: [u32; 3]) -> Points {
    let pixels: Vec<[u8; 3]> = (0..n).map(|i| step.map(|s| (i * s % 256) as u8)).collect();
    Points::from_pixels(&pixels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_points_and_centroids_are_errors_not_panics() {
        assert_eq!(
            Points::new(vec![[1.0, 2.0, 3.0]], vec![]),
            Err(Error::WeightsMismatch {
                colors: 1,
                weights: 0
            })
        );
        assert!(Points::new(vec![[1.0, 2.0, 3.0]], vec![0]).is_err());
        assert!(Points::new(vec![[f64::NAN, 2.0, 3.0]], vec![1]).is_err());
        let points = Points::new(vec![[1.0, 2.0, 3.0], [9.0, 9.0, 9.0]], vec![1, 3]).unwrap();
        assert_eq!(points.total_weight(), 4);
        assert!(lloyd(&points, vec![], 5, false).is_err());
        assert!(lloyd(&points, vec![[0.0; 3]; 257], 5, false).is_err());
        assert!(lloyd(&points, vec![[f64::INFINITY, 0.0, 0.0]], 5, false).is_err());
        assert!(lloyd_fixed(&points, vec![[0.0; 3]], 2, 5, false).is_err());
        assert!(lloyd(&Points::default(), vec![[0.0; 3]], 5, false).is_err());
        let run = lloyd(&points, vec![[0.0; 3], [10.0; 3]], 5, false).unwrap();
        assert_eq!(run.centroids, [[1.0, 2.0, 3.0], [9.0, 9.0, 9.0]]);
        assert_eq!(
            fit(&Points::default(), &KMeansParams::new(2), |_| {}),
            Err(Error::Empty { what: "points" })
        );
    }

    #[test]
    fn restarts_are_kept_by_loss_or_by_sse_as_asked() {
        let run = |loss, sse| Run {
            initial: Vec::new(),
            centroids: Vec::new(),
            labels: Vec::new(),
            epochs: 1,
            converged: true,
            history: Vec::new(),
            stats: EpochStats { loss, sse },
        };
        // Restart 0 has the lower mean distance, restart 1 the lower sum of squared errors.
        let pick = |keep| better_restart(keep, Some((0, run(1.0, 10.0))), Some((1, run(1.1, 9.0))));
        assert_eq!(pick(Keep::LowestLoss).unwrap().0, 0);
        assert_eq!(pick(Keep::LowestSse).unwrap().0, 1);
        // Ties keep the earlier restart.
        let tie = better_restart(
            Keep::LowestSse,
            Some((3, run(1.0, 5.0))),
            Some((2, run(2.0, 5.0))),
        );
        assert_eq!(tie.unwrap().0, 2);
    }

    #[test]
    fn same_seed_same_initial_centroids_and_streams_differ() {
        assert_eq!(cube_start(5, 3, 4), cube_start(5, 3, 4));
        assert_ne!(cube_start(5, 3, 4), cube_start(5, 4, 4));
        assert_ne!(cube_start(5, 3, 4), cube_start(6, 3, 4));
        assert!(random_centroids(1, 0, 0).is_err() && random_centroids(1, 0, 257).is_err());
        assert_eq!(random_centroids(1, 0, 3).unwrap(), cube_start(1, 0, 3));
        for c in cube_start(1, 0, 100) {
            assert!(c.iter().all(|&v| (0.0..=255.0).contains(&v)));
        }
    }

    #[test]
    fn fit_keeps_the_restart_with_the_lowest_loss() {
        let points = scattered_points(300, [37, 91, 13]);
        let c = fit(&points, &KMeansParams::new(5).seed(3).restarts(8), |_| {}).unwrap();
        assert_eq!(c.restart_losses.len(), 8);
        let min = c
            .restart_losses
            .iter()
            .cloned()
            .fold(f64::INFINITY, f64::min);
        assert_eq!(c.best.stats.loss, min);
        assert_eq!(c.restart_losses[c.restart], min);
        assert_eq!(c.best.initial, cube_start(3, c.restart, 5));
        assert_eq!(
            c.best.initial,
            initial_centroids(&points, &KMeansParams::new(5).seed(3), c.restart)
        );
        assert_eq!(c.best.history.len(), c.best.epochs + 1);
    }

    #[test]
    fn fit_without_history_keeps_the_same_winner() {
        let points = scattered_points(500, [53, 7, 29]);
        let params = KMeansParams::new(6).seed(11).restarts(9);
        let with = fit(&points, &params, |_| {}).unwrap();
        let without = fit(&points, &params.clone().history(false), |_| {}).unwrap();
        assert!(without.best.history.is_empty());
        assert_eq!(with.best.history.len(), with.best.epochs + 1);
        assert_eq!(with.restart, without.restart);
        assert_eq!(with.restart_losses, without.restart_losses);
        assert_eq!(with.best.centroids, without.best.centroids);
        assert_eq!(with.best.labels, without.best.labels);
        assert_eq!(with.best.stats, without.best.stats);
    }

    #[test]
    fn equal_losses_keep_the_earliest_restart() {
        // One colour: every restart ends with loss 0.
        let points = Points::from_pixels(&[[7, 7, 7]; 4]);
        for history in [true, false] {
            let params = KMeansParams::new(1).restarts(12).history(history);
            assert_eq!(fit(&points, &params, |_| {}).unwrap().restart, 0);
        }
    }

    #[test]
    fn fit_reports_every_restart() {
        let points = Points::from_pixels(&[[1, 2, 3], [4, 5, 6]]);
        let count = std::sync::atomic::AtomicUsize::new(0);
        fit(&points, &KMeansParams::new(2).restarts(6), |_| {
            count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap();
        assert_eq!(count.into_inner(), 6);
    }

    #[test]
    fn kmeans_plus_plus_picks_distinct_colours_of_the_image() {
        let points =
            Points::from_pixels(&[[0, 0, 0], [0, 0, 0], [100, 0, 0], [0, 200, 0], [9, 9, 9]]);
        let params = KMeansParams::new(4).init(Init::KMeansPlusPlus).seed(9);
        let c = initial_centroids(&points, &params, 0);
        assert_eq!(c.len(), 4);
        for x in &c {
            assert!(points.coords.contains(x), "{x:?} is a colour of the image");
        }
        let mut sorted = c.clone();
        sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
        sorted.dedup();
        assert_eq!(sorted.len(), 4, "no colour is picked twice");
        // More centroids than colours: the rest come from the cube.
        let c = initial_centroids(&points, &KMeansParams::new(6).init(Init::KMeansPlusPlus), 0);
        assert_eq!(c.len(), 6);
    }

    #[test]
    fn reseeding_fills_every_cluster_it_can() {
        // Twelve distinct colours, and initial centroids that leave most clusters empty.
        let pixels: Vec<[u8; 3]> = (0..12u8).map(|i| [i * 20, 255 - i * 20, 128]).collect();
        let points = Points::from_pixels(&pixels);
        for k in [4, 8, 12, 16] {
            let params = KMeansParams::new(k)
                .seed(1)
                .restarts(3)
                .empty(EmptyPolicy::Reseed);
            let c = fit(&points, &params, |_| {}).unwrap();
            let used = c.cluster_sizes(&points).iter().filter(|&&n| n > 0).count();
            assert_eq!(used, k.min(12), "k = {k}");
            let keep = fit(&points, &params.clone().empty(EmptyPolicy::Keep), |_| {}).unwrap();
            assert!(c.best.stats.loss <= keep.best.stats.loss + 1e-9);
        }
    }

    #[test]
    fn fit_refuses_no_points() {
        assert!(fit(&Points::default(), &KMeansParams::new(2), |_| {}).is_err());
    }
}
