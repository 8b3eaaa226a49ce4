//! The core's public functions on whatever a caller may hand them: an error or a result, never a
//! panic. (Runs without default features: it is the core alone.)

use kquant::kmeans::{lloyd_fixed, random_centroids, MAX_COORDINATE};
use kquant::{
    dither, draw, fit, palette_indices, suggest_k, ColorHistogram, ColorSpace, EmptyPolicy, Init,
    KMeansParams, Palette, Picture, Points,
};
use proptest::prelude::*;

/// Coordinates from the awkward places: integers, fractions, the edges of what is allowed, and
/// beyond them.
fn coordinate() -> impl Strategy<Value = f64> {
    prop_oneof![
        (0u8..=255).prop_map(f64::from),
        -300.0f64..600.0,
        Just(MAX_COORDINATE),
        Just(-MAX_COORDINATE),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(2.0 * MAX_COORDINATE),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn points_and_lloyd_refuse_or_run(
        coords in prop::collection::vec(prop::array::uniform3(coordinate()), 0..40),
        weights in prop::collection::vec(0u32..5, 0..40),
        centroids in prop::collection::vec(prop::array::uniform3(coordinate()), 0..12),
        fixed in 0usize..6,
        epochs in 0usize..30,
    ) {
        let Ok(points) = Points::new(coords.clone(), weights.clone()) else {
            let sane = coords.len() == weights.len()
                && weights.iter().all(|&w| w > 0)
                && coords.iter().flatten().all(|v| v.is_finite() && v.abs() <= MAX_COORDINATE);
            prop_assert!(!sane, "sane points refused");
            return Ok(());
        };
        if let Ok(run) = lloyd_fixed(&points, centroids.clone(), fixed, epochs, true) {
            prop_assert_eq!(run.labels.len(), points.len());
            prop_assert!(run.labels.iter().all(|&l| usize::from(l) < centroids.len()));
            prop_assert_eq!(&run.centroids[..fixed], &centroids[..fixed]);
        }
    }

    #[test]
    fn fit_and_palettes_refuse_or_run(
        pixels in prop::collection::vec(any::<[u8; 4]>(), 0..60),
        width in 0u32..10,
        k in 0usize..300,
        restarts in 0usize..4,
        fixed in prop::collection::vec(any::<[u8; 3]>(), 0..4),
        plus_plus in any::<bool>(),
        space in 0usize..3,
        indices in prop::collection::vec(prop::option::of(any::<u8>()), 0..60),
    ) {
        let space = [ColorSpace::Rgb, ColorSpace::Lab, ColorSpace::Oklab][space];
        let params = KMeansParams::new(k)
            .restarts(restarts)
            .max_epochs(10)
            .seed(7)
            .space(space)
            .fixed(fixed)
            .init(if plus_plus { Init::KMeansPlusPlus } else { Init::Random })
            .empty(EmptyPolicy::Reseed);
        let hist = ColorHistogram::from_rgba(&pixels);
        let points = Points::from_histogram_in(&hist, space);
        if let Ok(clustering) = fit(&points, &params, |_| {}) {
            let palette = Palette::from_clustering(&clustering, &points).unwrap();
            prop_assert!(palette.len() <= k);
            prop_assert!(Palette::from_clustering(&clustering, &Points::default()).is_err() || points.is_empty());
            let height = (pixels.len() as u32).checked_div(width).unwrap_or(0);
            let used = (width * height) as usize;
            if let Ok(picture) = Picture::from_rgba(width, height, &pixels[..used]) {
                let drawn = palette_indices(&picture, &hist, &palette);
                prop_assert_eq!(drawn.len(), used);
                prop_assert_eq!(dither(&picture, &palette).len(), used);
                prop_assert_eq!(palette.remap(&picture).len(), used);
                prop_assert_eq!(draw(&palette, &indices).len(), indices.len());
            }
        }
        let _ = random_centroids(3, 0, k);
        let curve: Vec<(usize, f64)> = indices.iter().enumerate()
            .map(|(i, x)| (i + 1, x.map_or(f64::NAN, f64::from)))
            .collect();
        let _ = suggest_k(&curve);
    }
}

#[test]
fn a_picture_larger_than_a_colour_count_holds_is_refused_by_its_size() {
    // 65536 x 65536 is 2^32 pixels: all of one colour, their count would pass u32. Refused from the
    // size alone, before any buffer is looked at (none this large is made here).
    for (width, height) in [(65536, 65536), (u32::MAX, 2)] {
        let err = Picture::from_rgb(width, height, Vec::new()).unwrap_err();
        assert!(
            matches!(err, kquant::Error::PictureTooLarge { .. }),
            "{width}x{height}: {err}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "invalid picture: {width}x{height} is more than the 4294967295 pixels a picture may have"
            )
        );
        assert!(Picture::from_rgba(width, height, &[]).is_err());
    }
    // One pixel fewer than that is only a buffer of the wrong size.
    let err = Picture::from_rgb(65535, 65537, Vec::new()).unwrap_err();
    assert!(matches!(err, kquant::Error::PictureSize { .. }), "{err}");
    assert_eq!(kquant::MAX_PICTURE_PIXELS, u64::from(u32::MAX));
}
