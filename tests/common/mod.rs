//! Helpers shared by the integration tests: synthetic images with known colours, running the
//! binaries, and a plain per-pixel k-means as the reference the fast engine must match.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use image::{ImageBuffer, Rgb, RgbImage, Rgba, RgbaImage};

/// Well-separated colours, far from each other and from the cube's corners.
pub const BLOBS: [[u8; 3]; 6] = [
    [200, 40, 40],
    [40, 180, 60],
    [50, 60, 210],
    [230, 220, 70],
    [120, 40, 160],
    [30, 200, 200],
];

/// A `width x height` image of vertical stripes in the first `n` [`BLOBS`] colours, each pixel moved
/// by a small noise that averages to zero within every stripe, so each stripe's mean is exactly its
/// colour.
pub fn blob_image(n: usize, width: u32, height: u32) -> RgbImage {
    ImageBuffer::from_fn(width, height, |x, y| {
        let c = BLOBS[(x as usize * n / width as usize) % n];
        // A zero-sum pattern over each 2x2 block: +d, -d, -d, +d.
        let d: i16 = if (x + y) % 2 == 0 { 3 } else { -3 };
        Rgb(c.map(|v| (i16::from(v) + d) as u8))
    })
}

/// A smooth, colourful scene with many distinct colours.
pub fn gradient_image(width: u32, height: u32) -> RgbImage {
    ImageBuffer::from_fn(width, height, |x, y| {
        let r = (x * 255 / width.max(1)) as u8;
        let g = (y * 255 / height.max(1)) as u8;
        let b = ((x + 2 * y) * 255 / (width + 2 * height).max(1)) as u8;
        Rgb([r, g, b])
    })
}

/// An RGBA image: the left half opaque blobs, the right half fully transparent magenta.
pub fn half_transparent_image(width: u32, height: u32) -> RgbaImage {
    ImageBuffer::from_fn(width, height, |x, _| {
        if x < width / 2 {
            let c = BLOBS[(x as usize * 2 / (width / 2) as usize) % 2];
            Rgba([c[0], c[1], c[2], 255])
        } else {
            Rgba([255, 0, 255, 0])
        }
    })
}

/// Saves `img` under `dir` as `name` (format from the extension) and returns its path.
pub fn save<P, C>(dir: &Path, name: &str, img: &ImageBuffer<P, C>) -> PathBuf
where
    P: image::Pixel + image::PixelWithColorType,
    [P::Subpixel]: image::EncodableLayout,
    C: std::ops::Deref<Target = [P::Subpixel]>,
{
    let path = dir.join(name);
    img.save(&path).expect("save test image");
    path
}

/// The `k_means` binary, run in `dir`.
pub fn k_means(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("k_means").expect("k_means is built");
    cmd.current_dir(dir);
    cmd
}

/// The `find_k` binary, run in `dir`, with its temporary folder inside `tmp`.
pub fn find_k(dir: &Path, tmp: &Path) -> Command {
    let mut cmd = Command::cargo_bin("find_k").expect("find_k is built");
    cmd.current_dir(dir).env("TMPDIR", tmp);
    cmd
}

/// A `--k-means` stand-in for `find_k`: a shell script `name` in `dir` running `body`, with `$K` the
/// real `k_means` (so a body can wrap it, or fail, or hang).
pub fn k_means_stand_in(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    let k_means = assert_cmd::cargo::cargo_bin("k_means");
    std::fs::write(
        &path,
        format!("#!/bin/sh\nK='{}'\n{body}\n", k_means.display()),
    )
    .expect("write the stand-in");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("make the stand-in executable");
    path
}

/// The single run folder under `out`.
pub fn only_run_dir(out: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .expect("out dir exists")
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "one run folder in {out:?}: {dirs:?}");
    dirs.into_iter().next().unwrap()
}

/// Runs `cmd`, expects it to succeed, and returns its stdout.
pub fn success_stdout(cmd: &mut Command) -> String {
    let out = cmd.assert().success().get_output().stdout.clone();
    String::from_utf8(out).expect("stdout is UTF-8")
}

/// Runs `k_means` in `dir` with `args`, expects it to succeed, and returns its run folder: the only
/// folder under the `--out-dir` that `args` give, or under `output`.
pub fn k_means_run(dir: &Path, args: &[&str]) -> PathBuf {
    k_means(dir).args(args).assert().success();
    let out = args
        .iter()
        .position(|&a| a == "--out-dir")
        .map_or("output", |i| args[i + 1]);
    only_run_dir(&dir.join(out))
}

/// Every path under `dir`, recursively.
pub fn all_entries(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd {
            let p = e.unwrap().path();
            out.push(p.clone());
            if p.is_dir() {
                out.extend(all_entries(&p));
            }
        }
    }
    out
}

/// Parses `colors_k{K}.txt`.
pub fn parse_colors(text: &str) -> Vec<[u8; 3]> {
    text.lines()
        .map(|l| {
            let v: Vec<u8> = l.split(',').map(|x| x.parse().unwrap()).collect();
            assert_eq!(v.len(), 3, "R,G,B line: {l}");
            [v[0], v[1], v[2]]
        })
        .collect()
}

/// The colours of `colors_k{K}.txt` in `run`.
pub fn read_colors(run: &Path, k: impl std::fmt::Display) -> Vec<[u8; 3]> {
    parse_colors(&std::fs::read_to_string(run.join(format!("colors_k{k}.txt"))).unwrap())
}

/// Asserts that `colors` are the first `colors.len()` [`BLOBS`], in any order, each within one unit
/// (the rounding of an exact mean).
pub fn assert_blob_colours(colors: &[[u8; 3]], n: usize, context: &str) {
    let mut got = colors.to_vec();
    got.sort();
    let mut want = BLOBS[..n].to_vec();
    want.sort();
    assert_eq!(got.len(), n, "{context}: {got:?}");
    for (g, w) in got.iter().zip(&want) {
        for d in 0..3 {
            assert!(g[d].abs_diff(w[d]) <= 1, "{context}: {g:?} vs {w:?}");
        }
    }
}

/// The loss of a palette on pixels: mean distance from each pixel to its nearest palette colour.
pub fn palette_loss(pixels: &[[u8; 3]], palette: &[[u8; 3]]) -> f64 {
    let f = |c: [u8; 3]| c.map(f64::from);
    let total: f64 = pixels
        .iter()
        .map(|&p| {
            palette
                .iter()
                .map(|&c| kquant::kmeans::dist2(f(p), f(c)))
                .fold(f64::INFINITY, f64::min)
                .sqrt()
        })
        .sum();
    total / pixels.len() as f64
}

/// Plain per-pixel Lloyd, written for obviousness, not speed: the reference the engine must match.
/// Returns the final centroids, each pixel's label, and the number of epochs.
pub fn reference_lloyd(
    pixels: &[[u8; 3]],
    centroids: Vec<[f64; 3]>,
    max_epochs: usize,
) -> (Vec<[f64; 3]>, Vec<usize>, usize) {
    reference_lloyd_fixed(pixels, centroids, 0, max_epochs)
}

/// [`reference_lloyd`] with the first `fixed` centroids never moved.
pub fn reference_lloyd_fixed(
    pixels: &[[u8; 3]],
    centroids: Vec<[f64; 3]>,
    fixed: usize,
    max_epochs: usize,
) -> (Vec<[f64; 3]>, Vec<usize>, usize) {
    let x: Vec<[f64; 3]> = pixels.iter().map(|p| p.map(f64::from)).collect();
    reference_lloyd_on(&x, centroids, fixed, max_epochs)
}

/// [`reference_lloyd_fixed`] on one point per pixel with any coordinates (a pixel in CIELAB, say).
pub fn reference_lloyd_on(
    x: &[[f64; 3]],
    mut centroids: Vec<[f64; 3]>,
    fixed: usize,
    max_epochs: usize,
) -> (Vec<[f64; 3]>, Vec<usize>, usize) {
    let assign = |c: &[[f64; 3]]| -> Vec<usize> {
        x.iter()
            .map(|&p| {
                let mut best = 0;
                for j in 1..c.len() {
                    if kquant::kmeans::dist2(p, c[j]) < kquant::kmeans::dist2(p, c[best]) {
                        best = j;
                    }
                }
                best
            })
            .collect()
    };
    let mut labels = assign(&centroids);
    let mut epochs = 0;
    while epochs < max_epochs {
        let mut sums = vec![[0.0f64; 3]; centroids.len()];
        let mut counts = vec![0u64; centroids.len()];
        for (p, &l) in x.iter().zip(&labels) {
            for d in 0..3 {
                sums[l][d] += p[d];
            }
            counts[l] += 1;
        }
        for j in fixed..centroids.len() {
            if counts[j] > 0 {
                centroids[j] = sums[j].map(|s| s / counts[j] as f64);
            }
        }
        epochs += 1;
        let next = assign(&centroids);
        let changed = next != labels;
        labels = next;
        if !changed {
            break;
        }
    }
    (centroids, labels, epochs)
}

/// Asserts that the run folder `run` holds exactly the files `names`, each byte for byte the one
/// of the same name in the repository's `output/` folder of the same name (README shows them).
/// `details.txt` quotes the lines the run printed, so its `out_dir` reads `output` there.
pub fn assert_matches_committed(run: &Path, names: &[&str], out_dir: &str, command: &str) {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("output")
        .join(run.file_name().unwrap());
    let mut made: Vec<String> = std::fs::read_dir(run)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    made.sort();
    assert_eq!(made, names);
    for name in names {
        let mut bytes = std::fs::read(run.join(name)).unwrap();
        if *name == "details.txt" {
            bytes = String::from_utf8(bytes)
                .unwrap()
                .replace(out_dir, "output")
                .into_bytes();
        }
        let kept = std::fs::read(committed.join(name))
            .unwrap_or_else(|e| panic!("{name} is not in {committed:?}: {e}"));
        assert!(
            bytes == kept,
            "{name} differs from the committed {committed:?}: run {command} and commit output/"
        );
    }
}
