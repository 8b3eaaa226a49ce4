//! Floyd-Steinberg error diffusion: each pixel drawn with the palette colour nearest to it plus the
//! error carried to it, its own error passed on to its right (7/16) and to the row below (3/16,
//! 5/16, 1/16), rows top to bottom, pixels left to right.
//!
//! A pixel needs only the row above to be done a little past it (up to two pixels to its right,
//! whose error comes before the one its left neighbour passes on), so rows can be drawn at once,
//! each a few pixels behind the one above (a wavefront), one row per thread in turn.
//! Every carried error is the same sum, added in the same order, as when the rows are drawn one
//! after another, so the picture is the same bits on any number of threads.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::kmeans::Color;
use crate::pixels::Picture;

/// Pictures of fewer pixels are drawn on one thread: with the threshold at 2^16, a 1 MP picture
/// at K = 256 took the same time (whole runs 238 against 249 ms, within noise) and a 0.16 MP one
/// longer (125 against 108 ms).
const PARALLEL_PIXELS: usize = 1 << 20;
/// Rows narrower than this per thread are drawn on one thread: the rows would wait on each other
/// most of the time.
const ROW_PER_THREAD: usize = 256;
/// Pixels drawn between two looks at the row above (and two reports of a row's progress). A row
/// that catches up with the one above waits for a whole stride of it: on Elephants at K = 256,
/// whole runs with 16, 32, 64 and 256 were within noise of each other (0.79-0.92 s), 1024 took
/// 1.02 s, as long as one thread.
const STRIDE: usize = 32;

/// The palette index of each pixel of `picture` (`None` where it is transparent), dithered among
/// `colors`; `searcher` makes, once per thread, the function that gives the index of the colour
/// nearest to a colour.
pub(crate) fn diffuse<S>(
    picture: &Picture,
    colors: &[Color],
    searcher: impl Fn() -> S + Sync,
) -> Vec<Option<u8>>
where
    S: FnMut(Color) -> usize,
{
    let (w, h) = (picture.width as usize, picture.height as usize);
    // Inside a pool's task (a folder's pictures drawn at once) the cores are busy already.
    let threads = if rayon::current_thread_index().is_some() || w * h < PARALLEL_PIXELS {
        1
    } else {
        rayon::current_num_threads()
            .min(w / ROW_PER_THREAD)
            .min(h)
            .max(1)
    };
    diffuse_on(picture, colors, &searcher, threads, STRIDE)
}

/// [`diffuse`] on `threads` threads (one draws every row when 1), each looking at the row above
/// every `stride` pixels.
fn diffuse_on<S>(
    picture: &Picture,
    colors: &[Color],
    searcher: &(impl Fn() -> S + Sync),
    threads: usize,
    stride: usize,
) -> Vec<Option<u8>>
where
    S: FnMut(Color) -> usize,
{
    let (w, h) = (picture.width as usize, picture.height as usize);
    let mut out = vec![None; w * h];
    if w == 0 || h == 0 {
        return out;
    }
    // Rows in flight use a ring of error rows: a row's own (carried into it) and the next one's.
    // The row that last used a slot is done before the slot is cleared again: a thread starts a
    // row once its previous row (`threads` rows up) is done, which needed the row above that done.
    let ring = threads + 2;
    let errors = Errors::new(ring, w);
    // Per slot: how far its row has been drawn, as `row * (w + 1) + pixels done`. Values only grow,
    // so "row r is done to pixel p" holds once the slot's value reaches r's figure for p (a later
    // row in the slot means r is finished).
    let progress: Vec<AtomicU64> = (0..ring).map(|_| AtomicU64::new(0)).collect();
    let mark = |row: usize, done: usize| (row * (w + 1) + done) as u64;
    let draw_rows = |rows: Vec<Row>| {
        let mut nearest = searcher();
        for (y, row_out) in rows {
            let (here, below) = (y % ring, (y + 1) % ring);
            errors.clear(below);
            for (x, drawn) in row_out.iter_mut().enumerate() {
                if x % stride == 0 {
                    progress[here].fetch_max(mark(y, x), Ordering::Release);
                    if y > 0 {
                        // Done up to two pixels past this stride's last: the row above's
                        // errors for a pixel all come before the 7/16 its left neighbour
                        // passes on, as when rows are drawn one after another.
                        let need = mark(y - 1, (x + stride + 2).min(w));
                        wait_for(&progress[(y - 1) % ring], need);
                    }
                }
                let p = y * w + x;
                if !picture.is_visible(p) {
                    continue;
                }
                let carried = errors.get(here, x + 1);
                let want: Color = std::array::from_fn(|d| {
                    (f64::from(picture.rgb[p][d]) + carried[d]).clamp(0.0, 255.0)
                });
                let i = nearest(want);
                *drawn = Some(i as u8);
                let err: Color = std::array::from_fn(|d| want[d] - colors[i][d]);
                errors.add(here, x + 2, err.map(|e| e * 7.0 / 16.0));
                errors.add(below, x, err.map(|e| e * 3.0 / 16.0));
                errors.add(below, x + 1, err.map(|e| e * 5.0 / 16.0));
                errors.add(below, x + 2, err.map(|e| e / 16.0));
            }
            progress[here].fetch_max(mark(y, w), Ordering::Release);
        }
    };
    // Rows dealt out in turn: thread t draws rows t, t + threads, ...
    let mut dealt: Vec<Vec<Row>> = (0..threads).map(|_| Vec::new()).collect();
    for (y, row) in out.chunks_mut(w).enumerate() {
        dealt[y % threads].push((y, row));
    }
    if threads == 1 {
        draw_rows(dealt.pop().expect("one thread's rows"));
        return out;
    }
    // The threads start together or not at all: a row waits for the row above, which a thread
    // that could not be started (a process limit) would never draw.
    let start = AtomicU64::new(WAIT);
    let started = std::thread::scope(|scope| {
        let mut dealt = dealt.into_iter().enumerate();
        let (_, mine) = dealt.next().expect("the first thread's rows");
        for (t, rows) in dealt {
            let (draw_rows, start) = (&draw_rows, &start);
            let helper = if refused(t, threads) {
                Err(std::io::Error::other("no thread"))
            } else {
                std::thread::Builder::new().spawn_scoped(scope, move || {
                    wait_for(start, GO);
                    if start.load(Ordering::Acquire) == GO {
                        draw_rows(rows);
                    }
                })
            };
            if helper.is_err() {
                start.store(CALL_OFF, Ordering::Release);
                return false;
            }
        }
        start.store(GO, Ordering::Release);
        draw_rows(mine);
        true
    });
    if started {
        out
    } else {
        diffuse_on(picture, colors, searcher, 1, stride)
    }
}

#[cfg(test)]
thread_local! {
    /// Makes the last helper thread fail to start, for the tests.
    static REFUSE_LAST: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether helper `t` of `threads` is refused a thread (only ever in the tests).
fn refused(t: usize, threads: usize) -> bool {
    #[cfg(test)]
    return t + 1 == threads && REFUSE_LAST.with(std::cell::Cell::get);
    #[cfg(not(test))]
    {
        let _ = (t, threads);
        false
    }
}

/// The helpers' start signal: not yet, go, or called off (then [`wait_for`] returns too).
const WAIT: u64 = 0;
const GO: u64 = 1;
const CALL_OFF: u64 = 2;

/// A row of the picture to draw: its number and its pixels' indices.
type Row<'a> = (usize, &'a mut [Option<u8>]);

/// Waits until `slot` reaches `need`: spinning a little (the row above is usually just ahead),
/// then giving the core away (on a busy machine the row above may not be running).
fn wait_for(slot: &AtomicU64, need: u64) {
    let mut spins = 0u32;
    while slot.load(Ordering::Acquire) < need {
        if spins < 64 {
            std::hint::spin_loop();
            spins += 1;
        } else {
            std::thread::yield_now();
        }
    }
}

/// The error carried to each pixel of the rows in flight, with a pixel of margin on each side,
/// as f64 bits in atomics so that two threads may use one row at once (each pixel's entries are
/// written by one thread at a time; the progress marks order them).
struct Errors {
    width: usize,
    cells: Vec<AtomicU64>,
}

impl Errors {
    fn new(rows: usize, w: usize) -> Self {
        let width = w + 2;
        Self {
            width,
            cells: (0..rows * width * 3).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn clear(&self, row: usize) {
        let start = row * self.width * 3;
        for cell in &self.cells[start..start + self.width * 3] {
            cell.store(0f64.to_bits(), Ordering::Relaxed);
        }
    }

    fn get(&self, row: usize, at: usize) -> Color {
        let i = (row * self.width + at) * 3;
        std::array::from_fn(|d| f64::from_bits(self.cells[i + d].load(Ordering::Relaxed)))
    }

    fn add(&self, row: usize, at: usize, e: Color) {
        let i = (row * self.width + at) * 3;
        for (d, e) in e.into_iter().enumerate() {
            let cell = &self.cells[i + d];
            let sum = f64::from_bits(cell.load(Ordering::Relaxed)) + e;
            cell.store(sum.to_bits(), Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmeans::nearest;

    /// The diffusion as it was written first, one row after another (the oracle).
    fn one_row_at_a_time(picture: &Picture, colors: &[Color]) -> Vec<Option<u8>> {
        let (w, h) = (picture.width as usize, picture.height as usize);
        let mut out = vec![None; w * h];
        let mut here = vec![[0.0f64; 3]; w + 2];
        let mut below = vec![[0.0f64; 3]; w + 2];
        for y in 0..h {
            for x in 0..w {
                let p = y * w + x;
                if !picture.is_visible(p) {
                    continue;
                }
                let want: Color = std::array::from_fn(|d| {
                    (f64::from(picture.rgb[p][d]) + here[x + 1][d]).clamp(0.0, 255.0)
                });
                let i = nearest(colors, want);
                out[p] = Some(i as u8);
                let err: Color = std::array::from_fn(|d| want[d] - colors[i][d]);
                for d in 0..3 {
                    here[x + 2][d] += err[d] * 7.0 / 16.0;
                    below[x][d] += err[d] * 3.0 / 16.0;
                    below[x + 1][d] += err[d] * 5.0 / 16.0;
                    below[x + 2][d] += err[d] / 16.0;
                }
            }
            std::mem::swap(&mut here, &mut below);
            below.iter_mut().for_each(|e| *e = [0.0; 3]);
        }
        out
    }

    #[test]
    fn rows_drawn_at_once_give_the_rows_drawn_one_after_another() {
        // A noisy gradient with transparent specks, in a few colours so that errors run far.
        let (w, h) = (150u32, 41u32);
        let rgba: Vec<[u8; 4]> = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                let n = i.wrapping_mul(2_654_435_761) >> 27;
                let alpha = if n == 3 { 0 } else { 255 };
                [(x + n) as u8, (y * 6) as u8, ((x * y) % 251) as u8, alpha]
            })
            .collect();
        let picture = Picture::from_rgba(w, h, &rgba).unwrap();
        let colors: Vec<Color> = [
            [0.0, 0.0, 0.0],
            [255.0, 255.0, 255.0],
            [200.0, 30.0, 60.0],
            [20.0, 120.0, 240.0],
            [90.0, 90.0, 90.0],
        ]
        .to_vec();
        let expected = one_row_at_a_time(&picture, &colors);
        assert!(expected.contains(&None) && expected.contains(&Some(3)));
        let searcher = || |x: Color| nearest(&colors, x);
        for threads in [1, 2, 3, 7] {
            for stride in [1, 2, 5, 64, 1000] {
                assert_eq!(
                    diffuse_on(&picture, &colors, &searcher, threads, stride),
                    expected,
                    "{threads} threads, stride {stride}"
                );
            }
        }
        // A picture too small for threads is drawn the same way.
        assert_eq!(diffuse(&picture, &colors, searcher), expected);
    }

    #[test]
    fn a_thread_that_cannot_start_calls_the_others_off_and_one_draws_all() {
        let picture = Picture::from_rgb(40, 30, vec![[100, 150, 200]; 1200]).unwrap();
        let colors = vec![[0.0; 3], [255.0; 3], [90.0, 160.0, 210.0]];
        let searcher = || |x: Color| nearest(&colors, x);
        let expected = one_row_at_a_time(&picture, &colors);
        REFUSE_LAST.with(|r| r.set(true));
        for threads in [2, 4] {
            assert_eq!(
                diffuse_on(&picture, &colors, &searcher, threads, 3),
                expected
            );
        }
        REFUSE_LAST.with(|r| r.set(false));
    }

    #[test]
    fn a_picture_of_one_row_or_one_column_is_drawn() {
        let colors = vec![[0.0; 3], [255.0; 3]];
        let searcher = || |x: Color| nearest(&colors, x);
        for (w, h) in [(9u32, 1u32), (1, 9)] {
            let picture = Picture::from_rgb(w, h, vec![[100, 100, 100]; 9]).unwrap();
            let expected = one_row_at_a_time(&picture, &colors);
            for threads in [1, 2, 4] {
                assert_eq!(
                    diffuse_on(&picture, &colors, &searcher, threads, 2),
                    expected
                );
            }
        }
    }
}
