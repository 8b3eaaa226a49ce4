//! The `find_k` binary end to end: the sweep, its files, its suggestion, and its failures.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use image::{Rgb, Rgba};
use predicates::prelude::*;
use tempfile::tempdir;

fn read_csv(run: &Path) -> Vec<(usize, f64)> {
    let text = fs::read_to_string(run.join("losses.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("k,loss"));
    lines
        .map(|l| {
            let (k, loss) = l.split_once(',').unwrap();
            (k.parse().unwrap(), loss.parse().unwrap())
        })
        .collect()
}

#[test]
fn the_sweep_writes_a_graph_and_a_row_per_k_and_leaves_no_temporary_files() {
    let dir = tempdir().unwrap();
    let tmp = tempdir().unwrap();
    save(dir.path(), "scene.png", &gradient_image(48, 32));
    let stdout =
        success_stdout(find_k(dir.path(), tmp.path()).args(["scene.png", "-o", "--seed", "4"]));
    let run = only_run_dir(&dir.path().join("output"));
    let name = run.file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with("find_k_output") && name.len() == 13 + 64,
        "{name}"
    );
    let rows = read_csv(&run);
    assert_eq!(
        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        (2..=20).collect::<Vec<_>>()
    );
    // The original's lines, in K order, with the CSV's values.
    let lines: Vec<&str> = stdout.lines().filter(|l| l.contains("finished!")).collect();
    assert_eq!(lines.len(), 19);
    for (line, (k, loss)) in lines.iter().zip(&rows) {
        assert_eq!(*line, format!("k = {k} finished! loss value: {loss:.6}"));
    }
    assert!(stdout.contains("suggested k: "));
    let graph = image::open(run.join("loss_graph.png")).unwrap();
    assert!(graph.width() >= 600);
    let details = fs::read_to_string(run.join("details.txt")).unwrap();
    assert!(
        details.contains("seed: 4\n") && details.contains("k = 20 finished!"),
        "{details}"
    );
    // The only thing made is the run folder; the children's folders and the private temporary
    // folder are gone.
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        2,
        "scene.png and output/"
    );
    assert_eq!(all_entries(tmp.path()), Vec::<std::path::PathBuf>::new());
}

/// The children read the sweep's copy of the picture (its colours, sorted), not the image: their
/// losses are what `k_means` gives on the image itself, for lossless and lossy files, pixels with
/// every alpha, and the modes whose draws depend on the order of the colours' sums.
#[test]
fn sweep_losses_equal_what_k_means_writes_with_the_same_seed() {
    let dir = tempdir().unwrap();
    let tmp = tempdir().unwrap();
    save(dir.path(), "scene.png", &gradient_image(40, 40));
    save(dir.path(), "scene.jpg", &gradient_image(45, 31));
    // Alpha 0 (no colour), 1, 128 and 255 (colour, whatever the alpha), in no order.
    let scene = gradient_image(33, 21);
    let alpha = image::RgbaImage::from_fn(33, 21, |x, y| {
        let Rgb([r, g, b]) = *scene.get_pixel(x, y);
        Rgba([r, g, b, [0, 1, 128, 255][((x * 7 + y * 3) % 4) as usize]])
    });
    save(dir.path(), "alpha.png", &alpha);
    let cases: [(&str, &[&str]); 4] = [
        ("scene.png", &["--restarts", "3"]),
        ("scene.jpg", &["-o", "--space", "lab"]),
        ("alpha.png", &["--restarts", "2", "--empty", "reseed"]),
        (
            "scene.png",
            &["--best", "--restarts", "2", "--space", "oklab"],
        ),
    ];
    for (n, (image, options)) in cases.into_iter().enumerate() {
        let sweep = format!("sweep{n}");
        let mut args = vec![image, "--seed", "8", "--k-min", "3", "--k-max", "6"];
        args.extend(options);
        args.extend(["--out-dir", &sweep]);
        find_k(dir.path(), tmp.path())
            .args(&args)
            .assert()
            .success();
        let rows = read_csv(&only_run_dir(&dir.path().join(&sweep)));
        assert_eq!(rows.len(), 4);
        for (k, loss) in rows {
            let out = format!("k{n}_{k}");
            let k_text = k.to_string();
            let mut args = vec![image, &k_text, "-l", "--seed", "8"];
            args.extend(options);
            args.extend(["--out-dir", &out]);
            let run = k_means_run(dir.path(), &args);
            let text = fs::read_to_string(run.join(format!("loss_k{k}.txt"))).unwrap();
            assert_eq!(
                text.trim(),
                format!("{loss:.6}"),
                "{image} {options:?}, k = {k}"
            );
        }
    }
}

#[test]
fn five_separated_colours_suggest_five() {
    let dir = tempdir().unwrap();
    let tmp = tempdir().unwrap();
    save(dir.path(), "five.png", &blob_image(5, 100, 20));
    find_k(dir.path(), tmp.path())
        .args(["five.png", "--seed", "1", "--k-max", "12"])
        .assert()
        .success()
        .stdout(predicate::str::contains("suggested k: 5\n"));
}

#[test]
fn one_and_two_jobs_give_identical_results() {
    let dir = tempdir().unwrap();
    let tmp = tempdir().unwrap();
    save(dir.path(), "scene.png", &gradient_image(40, 30));
    let run = |jobs: &str, out: &str| {
        let stdout = success_stdout(find_k(dir.path(), tmp.path()).args([
            "scene.png",
            "-o",
            "--seed",
            "2",
            "--k-max",
            "9",
            "-j",
            jobs,
            "--out-dir",
            out,
        ]))
        .replace(&format!("{out}/"), "OUT/");
        let run = only_run_dir(&dir.path().join(out));
        (stdout, fs::read(run.join("losses.csv")).unwrap())
    };
    assert_eq!(run("1", "jobs-one"), run("2", "jobs-two"));
}

/// Each child holds the whole picture, so by default only as many run at once as the picture fits
/// within the pixel limit; `-j` is taken as given.
#[test]
fn default_jobs_fit_the_picture_within_the_pixel_limit() {
    let dir = tempdir().unwrap();
    let tmp = tempdir().unwrap();
    save(dir.path(), "scene.png", &gradient_image(40, 30)); // 1200 pixels
    let per_core = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
    let jobs = |extra: &[&str], out: &str| -> usize {
        let mut args = vec!["scene.png", "-o", "--seed", "2", "--k-max", "3"];
        args.extend(extra);
        args.extend(["--out-dir", out]);
        success_stdout(find_k(dir.path(), tmp.path()).args(&args));
        let details = fs::read_to_string(only_run_dir(&dir.path().join(out)).join("details.txt"));
        let details = details.unwrap();
        let line = details.lines().find(|l| l.starts_with("parallel jobs: "));
        line.unwrap()["parallel jobs: ".len()..].parse().unwrap()
    };
    assert_eq!(jobs(&[], "default"), per_core);
    assert_eq!(jobs(&["--max-pixels", "2000"], "one"), 1);
    assert_eq!(jobs(&["--max-pixels", "2400"], "two"), per_core.min(2));
    assert_eq!(jobs(&["--max-pixels", "2000", "-j", "3"], "given"), 3);
}

/// An image that cannot be read is the sweep's own error, in `k_means`' words, before any child runs.
#[test]
fn an_unreadable_image_is_reported_before_any_child_runs() {
    let dir = tempdir().unwrap();
    let tmp = tempdir().unwrap();
    fs::write(dir.path().join("bad.jpg"), b"not an image at all").unwrap();
    // A child would fail loudly: none runs.
    let never = k_means_stand_in(
        dir.path(),
        "never.sh",
        "echo 'error: a child ran' >&2\nexit 1",
    );
    let out = find_k(dir.path(), tmp.path())
        .args(["bad.jpg", "-o", "--k-means"])
        .arg(&never)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr,
        "error: cannot read image 'bad.jpg': not a recognised image format\n"
    );
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        2,
        "bad.jpg, never.sh"
    );
    assert!(all_entries(tmp.path()).is_empty());
}

#[test]
fn a_failing_child_stops_the_sweep_with_its_error_and_leaves_nothing() {
    let dir = tempdir().unwrap();
    let tmp = tempdir().unwrap();
    save(dir.path(), "scene.png", &gradient_image(20, 20));
    // The real k_means, except that K = 4 fails as a child out of memory would.
    let failing = k_means_stand_in(
        dir.path(),
        "fails_at_4.sh",
        "for k; do :; done\n[ \"$k\" = 4 ] && { echo 'error: out of memory' >&2; exit 1; }\nexec \"$K\" \"$@\"",
    );
    let out = find_k(dir.path(), tmp.path())
        .args(["scene.png", "-o", "-j", "1", "--k-means"])
        .arg(&failing)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr, "error: k_means failed for k = 4: out of memory\n");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2, "no output/");
    assert!(all_entries(tmp.path()).is_empty());
}

#[test]
fn a_missing_k_means_says_where_it_looked() {
    let dir = tempdir().unwrap();
    let tmp = tempdir().unwrap();
    save(dir.path(), "scene.png", &gradient_image(8, 8));
    find_k(dir.path(), tmp.path())
        .args(["scene.png", "--k-means", "no/such/k_means"])
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with(
            "error: cannot run k_means at 'no/such/k_means'",
        ));
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    assert!(all_entries(tmp.path()).is_empty());
}

#[test]
fn an_earlier_k_means_run_folder_is_never_touched() {
    let dir = tempdir().unwrap();
    let tmp = tempdir().unwrap();
    save(dir.path(), "scene.png", &gradient_image(20, 20));
    // The user's own run with the very arguments a child would get.
    k_means(dir.path())
        .args(["scene.png", "2", "-l", "-o", "--seed", "6"])
        .assert()
        .success();
    let before = all_entries(&dir.path().join("output"));
    find_k(dir.path(), tmp.path())
        .args(["scene.png", "-o", "--seed", "6", "--k-max", "3"])
        .assert()
        .success();
    let after = all_entries(&dir.path().join("output"));
    for p in &before {
        assert!(after.contains(p), "{p:?} was removed");
    }
    assert_eq!(
        after.len(),
        before.len() + 4,
        "plus the find_k folder and its 3 files"
    );
}

#[test]
fn bad_ranges_are_usage_errors() {
    let dir = tempdir().unwrap();
    let tmp = tempdir().unwrap();
    find_k(dir.path(), tmp.path())
        .args(["x.png", "--k-min", "0"])
        .assert()
        .code(2);
    save(dir.path(), "scene.png", &gradient_image(8, 8));
    find_k(dir.path(), tmp.path())
        .args(["scene.png", "--k-min", "9", "--k-max", "3"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--k-min 9 is larger than --k-max 3",
        ));
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn the_example_sweep_in_the_repository_is_what_readmes_command_makes() {
    // README shows this graph; a change to the drawing or the engine must redraw it.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempdir().unwrap();
    let out = tmp.path().join("out");
    let out_text = out.to_str().unwrap();
    find_k(repo, tmp.path())
        .args([
            "examples/sample.jpg",
            "-o",
            "--seed",
            "1",
            "--out-dir",
            out_text,
        ])
        .assert()
        .success();
    assert_matches_committed(
        &only_run_dir(&out),
        &["details.txt", "loss_graph.png", "losses.csv"],
        out_text,
        "README's find_k command",
    );
}
