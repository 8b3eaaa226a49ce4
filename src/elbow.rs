//! Choosing K from a curve of loss against K: the "elbow" where more colours stop paying off.
//!
//! The Kneedle method (V. Satopää, J. Albrecht, D. Irwin, B. Raghavan, "Finding a 'Kneedle' in a
//! Haystack", ICDCS workshops 2011): normalise both axes to [0, 1], draw the chord from the first point
//! to the last, and take the point furthest below it. Before that the curve is made non-increasing
//! (each loss replaced by the lowest loss at that K or below), since more colours can always do at
//! least as well and a restart that was unlucky at one K should not move the elbow.

/// The suggested K for losses given as `(k, loss)` in increasing K, or `None` when the curve has no
/// elbow (fewer than three points, or flat, or no point below the chord).
pub fn suggest_k(curve: &[(usize, f64)]) -> Option<usize> {
    if curve.len() < 3 {
        return None;
    }
    let mut best_so_far = f64::INFINITY;
    let y: Vec<f64> = curve
        .iter()
        .map(|&(_, l)| {
            best_so_far = best_so_far.min(l);
            best_so_far
        })
        .collect();
    let (x0, x1) = (curve[0].0 as f64, curve[curve.len() - 1].0 as f64);
    let (y_max, y_min) = (y[0], y[y.len() - 1]);
    if y_max - y_min <= f64::EPSILON * y_max.abs().max(1.0) {
        return None;
    }
    // Normalised, the chord runs from (0, 1) to (1, 0): its height at x is 1 - x.
    let gap = |i: usize| {
        let x = (curve[i].0 as f64 - x0) / (x1 - x0);
        let yn = (y[i] - y_min) / (y_max - y_min);
        (1.0 - x) - yn
    };
    let best = (1..curve.len() - 1).max_by(|&a, &b| gap(a).total_cmp(&gap(b)).then(b.cmp(&a)))?;
    (gap(best) > 0.0).then_some(curve[best].0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(losses: &[f64]) -> Vec<(usize, f64)> {
        losses
            .iter()
            .enumerate()
            .map(|(i, &l)| (i + 2, l))
            .collect()
    }

    #[test]
    fn a_sharp_drop_is_the_elbow() {
        // Five clusters: the loss falls until k = 5, then stays near zero.
        let c = curve(&[60.0, 40.0, 20.0, 0.5, 0.4, 0.3, 0.3, 0.2, 0.2, 0.1]);
        assert_eq!(suggest_k(&c), Some(5));
    }

    #[test]
    fn a_smooth_curve_has_its_elbow_where_it_bends_most() {
        let c: Vec<(usize, f64)> = (1..=20).map(|k| (k, 100.0 / k as f64)).collect();
        let k = suggest_k(&c).unwrap();
        assert!((3..=6).contains(&k), "k = {k}");
    }

    #[test]
    fn an_unlucky_restart_does_not_move_the_elbow() {
        let c = curve(&[60.0, 40.0, 20.0, 0.5, 30.0, 0.3, 0.3, 0.2, 0.2, 0.1]);
        assert_eq!(suggest_k(&c), Some(5));
    }

    #[test]
    fn flat_or_short_curves_have_no_elbow() {
        assert_eq!(suggest_k(&curve(&[5.0, 5.0, 5.0, 5.0])), None);
        assert_eq!(suggest_k(&curve(&[5.0, 1.0])), None);
        assert_eq!(
            suggest_k(&curve(&[10.0, 5.0, 0.0])),
            None,
            "a straight line"
        );
    }
}
