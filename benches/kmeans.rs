//! Criterion benchmarks of the k-means core: a full fit (20 restarts, at most 20 epochs) and the best
//! mode (k-means++, reseeding, one restart, to convergence) over a grid
//! of distinct-colour counts and K, also in CIELAB and Oklab, the cost of one epoch, and the
//! histogram of a large picture and its conversion to CIELAB and Oklab points.
//! Inputs are built outside the timed loops. `cargo bench`; the whole-process comparison with other
//! tools is `bench/compare.sh`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kquant::kmeans::{lloyd, random_centroids};
use kquant::{fit, ColorHistogram, ColorSpace, EmptyPolicy, Init, KMeansParams, Picture, Points};

/// `n` distinct colours shaped like a photo's: a few smooth clusters, with uneven weights.
fn photo_like_points(n: usize) -> Points {
    photo_like_points_in(n, ColorSpace::Rgb)
}

/// [`photo_like_points`] in `space`.
fn photo_like_points_in(n: usize, space: ColorSpace) -> Points {
    let mut seen = std::collections::HashSet::new();
    let mut colors = Vec::with_capacity(n);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let centres = [
        [40, 60, 90],
        [200, 170, 120],
        [90, 140, 60],
        [230, 230, 240],
        [120, 40, 50],
    ];
    while colors.len() < n {
        let r = next();
        let c = centres[(r % 5) as usize];
        let spread = [(r >> 8) % 90, (r >> 16) % 90, (r >> 24) % 90];
        let color: [u8; 3] =
            std::array::from_fn(|d| (c[d] as i64 + spread[d] as i64 - 45).clamp(0, 255) as u8);
        if seen.insert(color) {
            colors.push(color);
        }
    }
    let weights = (0..n).map(|i| 1 + (i % 37) as u32).collect();
    Points::new(
        colors
            .iter()
            .map(|&c| space.encode(kquant::kmeans::to_color(c)))
            .collect(),
        weights,
    )
    .expect("as many weights as colours, none zero")
}

/// A fit with the parameters `params(k)`, over K and the distinct-colour counts `sizes`.
fn bench_fits(
    c: &mut Criterion,
    name: &str,
    sizes: &[usize],
    params: impl Fn(usize) -> KMeansParams,
) {
    let mut group = c.benchmark_group(name);
    group.sample_size(10);
    for &n in sizes {
        let points = photo_like_points(n);
        for &k in &[2usize, 16, 64, 256] {
            let params = params(k);
            group.throughput(Throughput::Elements(n as u64));
            group.bench_with_input(BenchmarkId::new(format!("k{k}"), n), &points, |b, p| {
                b.iter(|| fit(p, &params, |_| {}).unwrap())
            });
        }
    }
    group.finish();
}

/// The defaults: 20 restarts from random centroids, at most 20 epochs.
fn bench_fit(c: &mut Criterion) {
    bench_fits(c, "fit_20_restarts", &[10_000, 100_000, 400_000], |k| {
        KMeansParams::new(k).seed(1)
    });
}

/// The best mode (k-means++ seeding, empty clusters reseeded, run to convergence) with one restart.
fn best_mode(k: usize) -> KMeansParams {
    KMeansParams::new(k)
        .seed(1)
        .restarts(1)
        .max_epochs(300)
        .init(Init::KMeansPlusPlus)
        .empty(EmptyPolicy::Reseed)
        .history(false)
}

/// The best mode with one restart: seeding and epochs, over K and distinct-colour counts.
fn bench_best_mode(c: &mut Criterion) {
    bench_fits(c, "best_mode_1_restart", &[100_000, 400_000], best_mode);
}

/// `--fast` (Wu's start, empty clusters reseeded, 20 epochs), over K and distinct-colour counts.
fn bench_fast_mode(c: &mut Criterion) {
    bench_fits(c, "fast_mode", &[100_000, 400_000], |k| {
        KMeansParams::new(k)
            .max_epochs(20)
            .init(Init::Wu)
            .empty(EmptyPolicy::Reseed)
            .history(false)
    });
}

/// The best mode with one restart in CIELAB and Oklab, where the grid's cells follow the colours'
/// extent in that space (a photo's Oklab colours fill a thin slab).
fn bench_best_mode_in_spaces(c: &mut Criterion) {
    let mut group = c.benchmark_group("best_mode_1_restart_in_space");
    group.sample_size(10);
    let n = 400_000;
    for space in [ColorSpace::Lab, ColorSpace::Oklab] {
        let points = photo_like_points_in(n, space);
        for &k in &[16usize, 256] {
            let params = best_mode(k).space(space);
            group.throughput(Throughput::Elements(n as u64));
            let id = BenchmarkId::new(format!("{}_k{k}", space.name()), n);
            group.bench_with_input(id, &points, |b, p| {
                b.iter(|| fit(p, &params, |_| {}).unwrap())
            });
        }
    }
    group.finish();
}

fn bench_epoch(c: &mut Criterion) {
    let mut group = c.benchmark_group("one_epoch");
    let points = photo_like_points(100_000);
    for &k in &[2usize, 16, 64, 256] {
        let init = random_centroids(3, 0, k).expect("k in range");
        group.bench_with_input(BenchmarkId::new("k", k), &init, |b, init| {
            b.iter(|| lloyd(&points, init.clone(), 1, false))
        });
    }
    group.finish();
}

fn bench_histogram(c: &mut Criterion) {
    let mut group = c.benchmark_group("histogram");
    group.sample_size(10);
    let (w, h) = (4000u32, 3000u32);
    let rgb: Vec<[u8; 3]> = (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            [(x / 16) as u8, (y / 12) as u8, ((x + y) % 251) as u8]
        })
        .collect();
    let picture = Picture::from_rgb(w, h, rgb).unwrap();
    group.throughput(Throughput::Elements(u64::from(w * h)));
    group.bench_function("12MP", |b| {
        b.iter(|| ColorHistogram::from_picture(&picture))
    });
    // The histogram's colours converted to CIELAB and Oklab (the points of `--space`).
    let hist = ColorHistogram::from_picture(&picture);
    for space in [ColorSpace::Lab, ColorSpace::Oklab] {
        group.bench_function(format!("12MP_points_{}", space.name()), |b| {
            b.iter(|| Points::from_histogram_in(&hist, space))
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    bench_fit,
    bench_best_mode,
    bench_best_mode_in_spaces,
    bench_fast_mode,
    bench_epoch,
    bench_histogram
);
criterion_main!(benches);
