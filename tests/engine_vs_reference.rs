//! The fast engine (distinct colours, the two-level grid's whole-box assignment, epochs split over
//! threads) against a plain per-pixel Lloyd: same seed, same centroids, labels, epochs and loss.

mod common;

use common::{reference_lloyd, reference_lloyd_fixed, reference_lloyd_on};
use kquant::kmeans::{lloyd, random_centroids};
use kquant::{ColorHistogram, ColorSpace, Init, KMeansParams, Picture, Points};
use proptest::prelude::*;

/// Pixels drawn from a few random "themes" so that clusters, ties and empty centroids all happen.
fn pixels() -> impl Strategy<Value = Vec<[u8; 3]>> {
    (1usize..6, 1usize..400).prop_flat_map(|(themes, n)| {
        prop::collection::vec((0..themes, any::<[u8; 3]>(), 0u8..40), n).prop_map(move |v| {
            v.into_iter()
                .map(|(t, noise, spread)| {
                    let base = [
                        (t * 53 % 256) as u8,
                        (t * 101 % 256) as u8,
                        (t * 197 % 256) as u8,
                    ];
                    std::array::from_fn(|d| base[d].wrapping_add(noise[d] % spread.max(1)))
                })
                .collect()
        })
    })
}

fn check(pixels: &[[u8; 3]], k: usize, seed: u64, max_epochs: usize) {
    check_from(pixels, random_centroids(seed, 0, k).unwrap(), max_epochs);
}

fn check_from(pixels: &[[u8; 3]], init: Vec<[f64; 3]>, max_epochs: usize) {
    let picture = Picture::from_rgb(pixels.len() as u32, 1, pixels.to_vec()).unwrap();
    let hist = ColorHistogram::from_picture(&picture);
    let points = Points::from_histogram(&hist);
    let fast = lloyd(&points, init.clone(), max_epochs, true).unwrap();
    let (centroids, labels, epochs) = reference_lloyd(pixels, init, max_epochs);
    assert_eq!(fast.centroids, centroids, "centroids");
    assert_eq!(fast.epochs, epochs, "epochs");
    for (p, &l) in pixels.iter().zip(&labels) {
        let i = hist.position(*p).unwrap();
        assert_eq!(usize::from(fast.labels[i]), l, "label of {p:?}");
    }
    let ref_loss: f64 = pixels
        .iter()
        .zip(&labels)
        .map(|(p, &l)| kquant::kmeans::dist2(p.map(f64::from), centroids[l]).sqrt())
        .sum::<f64>()
        / pixels.len() as f64;
    assert!((fast.stats.loss - ref_loss).abs() <= 1e-9 * ref_loss.max(1.0));
}

/// [`check`] in CIELAB or Oklab: their coordinates lie on a grid of 2^-16 units, where cluster sums
/// are exact as for integers, so the engine (its epochs shared between threads too) gives exactly
/// what a per-pixel Lloyd in that space gives.
fn check_in(space: ColorSpace, pixels: &[[u8; 3]], k: usize, seed: u64, max_epochs: usize) {
    let picture = Picture::from_rgb(pixels.len() as u32, 1, pixels.to_vec()).unwrap();
    let hist = ColorHistogram::from_picture(&picture);
    let points = Points::from_histogram_in(&hist, space);
    let encode = |c: [f64; 3]| space.encode(c);
    let init: Vec<[f64; 3]> = random_centroids(seed, 0, k)
        .unwrap()
        .into_iter()
        .map(encode)
        .collect();
    let fast = lloyd(&points, init.clone(), max_epochs, false).unwrap();
    let x: Vec<[f64; 3]> = pixels.iter().map(|p| encode(p.map(f64::from))).collect();
    let (centroids, labels, epochs) = reference_lloyd_on(&x, init, 0, max_epochs);
    assert_eq!(fast.centroids, centroids, "centroids in {space:?}");
    assert_eq!(fast.epochs, epochs, "epochs in {space:?}");
    for (p, &l) in pixels.iter().zip(&labels) {
        let i = hist.position(*p).unwrap();
        assert_eq!(
            usize::from(fast.labels[i]),
            l,
            "label of {p:?} in {space:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn engine_matches_plain_per_pixel_lloyd_in_lab_and_oklab(
        pixels in pixels(),
        k in 1usize..24,
        seed in any::<u64>(),
        max_epochs in 1usize..30,
        oklab in any::<bool>(),
    ) {
        let space = if oklab { ColorSpace::Oklab } else { ColorSpace::Lab };
        check_in(space, &pixels, k, seed, max_epochs);
    }

    #[test]
    fn engine_matches_plain_per_pixel_lloyd(
        pixels in pixels(),
        k in 1usize..24,
        seed in any::<u64>(),
        max_epochs in 1usize..30,
    ) {
        check(&pixels, k, seed, max_epochs);
    }

    #[test]
    fn a_fit_from_wus_start_is_plain_lloyd_from_it(
        pixels in pixels(),
        k in 1usize..24,
        max_epochs in 1usize..30,
    ) {
        let points = Points::from_pixels(&pixels);
        let params = KMeansParams::new(k).init(Init::Wu).max_epochs(max_epochs).restarts(7);
        let fit = kquant::fit(&points, &params, |_| {}).unwrap();
        // One run whatever the restarts, from k centroids (padded when the colours fill fewer boxes).
        prop_assert_eq!(fit.restart_losses().len(), 1);
        let run = fit.best();
        prop_assert_eq!(run.initial.len(), k);
        let (centroids, labels, epochs) = reference_lloyd(&pixels, run.initial.clone(), max_epochs);
        prop_assert_eq!(&run.centroids, &centroids);
        prop_assert_eq!(run.epochs, epochs);
        for (i, &l) in labels.iter().enumerate() {
            prop_assert_eq!(usize::from(run.labels[i]), l);
        }
    }
}

/// More distinct colours than several parallel chunks hold, with heavy duplication.
fn many_pixels() -> Vec<[u8; 3]> {
    (0..60_000u32)
        .map(|i| {
            let h = (i % 20_011).wrapping_mul(2_654_435_761);
            [(h >> 24) as u8, (h >> 16) as u8 & 0xF0, (h >> 8) as u8]
        })
        .collect()
}

#[test]
fn engine_matches_reference_on_a_large_input_spanning_many_parallel_chunks() {
    let pixels = many_pixels();
    for seed in 0..3 {
        check(&pixels, 16, seed, 20);
    }
}

#[test]
fn engine_matches_reference_in_lab_and_oklab_over_parallel_chunks_at_every_k() {
    let pixels = many_pixels();
    for space in [ColorSpace::Lab, ColorSpace::Oklab] {
        for (k, seed, epochs) in [(2, 0, 20), (16, 1, 60), (64, 2, 30), (256, 3, 12)] {
            check_in(space, &pixels, k, seed, epochs);
        }
    }
}

#[test]
fn engine_matches_reference_in_lab_and_oklab_on_cells_finer_than_256_units() {
    // A tube of greys and near-greys and a cube of 4096 colours in it, repeated unevenly: in Oklab
    // their a and b vary far less than L, and the grid lays them over cells twice as fine as its
    // 256 units. (Crowded CIELAB and Oklab cells, split, are in the next test.)
    let mut pixels: Vec<[u8; 3]> = (0..24_000u32)
        .map(|i| {
            let v = (i / 512 * 4 + 32) as u8;
            [
                v + (i % 8) as u8,
                v + (i / 8 % 8) as u8,
                v + (i / 64 % 8) as u8,
            ]
        })
        .collect();
    pixels.extend((0..4096u32).map(|i| [i >> 8, i >> 4 & 15, i & 15].map(|v| v as u8 + 120)));
    let repeats: Vec<[u8; 3]> = pixels.iter().step_by(5).copied().collect();
    pixels.extend(repeats);
    for space in [ColorSpace::Lab, ColorSpace::Oklab] {
        check_in(space, &pixels, 16, 7, 20);
        check_in(space, &pixels, 100, 3, 15);
    }
}

#[test]
fn engine_matches_reference_where_colours_crowd_their_cells() {
    // Every colour of a 32-unit cube and of a slab (cells of 8 units holding 512 colours, which
    // the grid splits into 4-unit boxes), repeated unevenly, beside sparse colours.
    let mut pixels: Vec<[u8; 3]> = (0..32 * 32 * 32u32)
        .map(|i| {
            [
                (i >> 10) as u8 + 96,
                (i >> 5 & 31) as u8 + 64,
                (i & 31) as u8,
            ]
        })
        .collect();
    pixels.extend((0..16 * 16 * 8u32).map(|i| {
        [
            (i >> 7) as u8 + 200,
            (i >> 3 & 15) as u8,
            240 + (i & 7) as u8,
        ]
    }));
    pixels.extend((0..3000u32).map(|i| {
        let h = i.wrapping_mul(2_654_435_761);
        [(h >> 24) as u8, (h >> 16) as u8, (h >> 8) as u8]
    }));
    let repeats: Vec<[u8; 3]> = pixels.iter().step_by(7).copied().collect();
    pixels.extend(repeats);
    check(&pixels, 16, 7, 20);
    // In CIELAB and Oklab some cells are crowded too, and split.
    for space in [ColorSpace::Lab, ColorSpace::Oklab] {
        check_in(space, &pixels, 16, 7, 20);
    }
    let from_image: Vec<[f64; 3]> = (0..64)
        .map(|j| pixels[j * 541 % pixels.len()].map(f64::from))
        .collect();
    check_from(&pixels, from_image, 40);
}

#[test]
fn engine_matches_reference_at_large_k() {
    // K = 64 and 256 (a palette image's size), from random points in the cube and from colours of
    // the image (as k-means++ starts), where most boxes straddle a boundary.
    let pixels: Vec<[u8; 3]> = (0..20_000u32)
        .map(|i| {
            let h = (i % 9_973).wrapping_mul(2_654_435_761);
            [(h >> 24) as u8, (h >> 16) as u8, (h >> 9) as u8 & 0x7F]
        })
        .collect();
    for k in [64, 256] {
        check(&pixels, k, 5, 12);
        let from_image: Vec<[f64; 3]> = (0..k)
            .map(|j| pixels[j * 37 % pixels.len()].map(f64::from))
            .collect();
        check_from(&pixels, from_image, 12);
    }
}

#[test]
fn engine_matches_reference_when_run_to_convergence() {
    // Long runs, where cells keep their centroids from epoch to epoch once the centroids settle.
    let pixels: Vec<[u8; 3]> = (0..12_000u32)
        .map(|i| {
            let h = i.wrapping_mul(2_654_435_761);
            let t = f64::from(i % 3000) / 3000.0;
            [
                (40.0 + 170.0 * t) as u8 ^ (h >> 29) as u8,
                (200.0 - 150.0 * t * t) as u8 ^ (h >> 27 & 7) as u8,
                (h >> 24) as u8 / 2 + (60.0 * t) as u8,
            ]
        })
        .collect();
    for (k, seed) in [(16, 1), (64, 2), (128, 3)] {
        check(&pixels, k, seed, 300);
    }
}

#[test]
fn fixed_centroids_stay_and_the_others_match_the_reference() {
    let pixels: Vec<[u8; 3]> = (0..8_000u32)
        .map(|i| {
            let h = (i % 3_001).wrapping_mul(2_654_435_761);
            [(h >> 24) as u8, (h >> 16) as u8, (h >> 8) as u8]
        })
        .collect();
    let picture = Picture::from_rgb(pixels.len() as u32, 1, pixels.clone()).unwrap();
    let hist = ColorHistogram::from_picture(&picture);
    let points = Points::from_histogram(&hist);
    for (k, fixed) in [(6, 2), (16, 3), (5, 5)] {
        let mut init = random_centroids(9, 0, k).unwrap();
        init[0] = [255.0, 255.0, 255.0];
        init[1] = [0.0, 0.0, 0.0];
        let fast = kquant::kmeans::lloyd_fixed(&points, init.clone(), fixed, 25, false).unwrap();
        let (centroids, labels, epochs) = reference_lloyd_fixed(&pixels, init.clone(), fixed, 25);
        assert_eq!(fast.centroids, centroids, "k {k} fixed {fixed}");
        assert_eq!(&fast.centroids[..fixed], &init[..fixed]);
        assert_eq!(fast.epochs, epochs);
        for (p, &l) in pixels.iter().zip(&labels) {
            assert_eq!(usize::from(fast.labels[hist.position(*p).unwrap()]), l);
        }
    }
}

#[test]
fn ties_between_centroids_go_to_the_lowest_index_in_both() {
    // Centroids placed symmetrically around points, so distances tie exactly.
    let pixels = vec![
        [100, 100, 100],
        [100, 100, 100],
        [110, 100, 100],
        [90, 100, 100],
    ];
    let init = vec![
        [110.0, 100.0, 100.0],
        [90.0, 100.0, 100.0],
        [100.0, 110.0, 100.0],
    ];
    let picture = Picture::from_rgb(4, 1, pixels.clone()).unwrap();
    let hist = ColorHistogram::from_picture(&picture);
    let fast = lloyd(&Points::from_histogram(&hist), init.clone(), 20, false).unwrap();
    let (centroids, _, _) = reference_lloyd(&pixels, init, 20);
    assert_eq!(fast.centroids, centroids);
}
