//! Splitting consecutive runs of work (cells of colours, reds of a histogram) into a few parts of
//! about as many items each, one part per task on the thread pool.

use std::ops::Range;

/// The runs `0..runs` in at most `n` consecutive, non-empty ranges holding about `total / n` items
/// each, where run `i` ends at item `end_of(i)` (counted from the first run's start; `total` is the
/// last run's end). A run is never split: a range may hold more or fewer items than its share.
pub(crate) fn balanced(
    runs: usize,
    total: usize,
    n: usize,
    end_of: impl Fn(usize) -> usize,
) -> Vec<Range<usize>> {
    let mut parts = Vec::with_capacity(n);
    let mut start = 0;
    for p in 1..=n {
        let target = total * p / n;
        let mut end = start;
        while end < runs && (end_of(end) <= target || p == n) {
            end += 1;
        }
        if end > start {
            parts.push(start..end);
            start = end;
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_every_run_once_and_follow_the_items() {
        // Runs of 5, 0, 1, 10, 4 items (ending at 5, 5, 6, 16, 20).
        let ends = [5, 5, 6, 16, 20];
        let parts = balanced(ends.len(), 20, 2, |i| ends[i]);
        assert_eq!(parts, vec![0..3, 3..5]);
        let one = balanced(ends.len(), 20, 1, |i| ends[i]);
        assert_eq!(one, vec![0..5]);
        // More parts than runs: every run once, no empty part.
        let many = balanced(ends.len(), 20, 16, |i| ends[i]);
        assert!(many.iter().all(|r| !r.is_empty()));
        assert_eq!(many.first().unwrap().start, 0);
        assert_eq!(many.last().unwrap().end, 5);
        assert!(many.windows(2).all(|w| w[0].end == w[1].start));
        assert!(balanced(0, 0, 4, |_| 0).is_empty());
    }
}
