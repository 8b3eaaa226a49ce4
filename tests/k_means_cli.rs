//! The `k_means` binary end to end: every flag, every file, and every bad input.

mod common;

use std::fs;

use common::*;
use predicates::prelude::*;
use tempfile::tempdir;

fn pixels_of(path: &std::path::Path) -> Vec<[u8; 3]> {
    image::open(path)
        .unwrap()
        .to_rgb8()
        .pixels()
        .map(|p| p.0)
        .collect()
}

#[test]
fn every_flag_writes_its_file_and_each_file_says_what_it_should() {
    let dir = tempdir().unwrap();
    let img = save(dir.path(), "scene.png", &gradient_image(90, 60));
    let stdout = success_stdout(k_means(dir.path()).args([
        "scene.png",
        "6",
        "-c",
        "-g",
        "-l",
        "-i",
        "-p",
        "--seed",
        "11",
    ]));
    let run = only_run_dir(&dir.path().join("output"));
    let name = run.file_name().unwrap().to_str().unwrap().to_string();
    assert!(name.starts_with("output") && name.len() == 6 + 64, "{name}");
    assert!(stdout.starts_with(&format!("output folder name: output/{name}\n")));

    let mut files: Vec<String> = fs::read_dir(&run)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "3D_model_after_k6.png",
            "3D_model_init_k6.png",
            "colors_k6.txt",
            "details.txt",
            "final_image_k6.jpeg",
            "loss_graph_k6.png",
            "loss_k6.txt",
        ]
    );
    for f in &files {
        assert!(
            stdout.contains(&format!("{name}/{f}")),
            "a printed line for {f}"
        );
    }

    // Colours: integer triples, at most K, and their loss is the reported loss up to rounding.
    let colors = read_colors(&run, 6);
    assert!(!colors.is_empty() && colors.len() <= 6);
    let loss: f64 = fs::read_to_string(run.join("loss_k6.txt"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let source = pixels_of(&img);
    let recomputed = palette_loss(&source, &colors);
    assert!(
        (recomputed - loss).abs() < 0.5,
        "loss {loss} vs palette loss {recomputed}"
    );
    let loss_text = fs::read_to_string(run.join("loss_k6.txt")).unwrap();
    assert!(loss_text.ends_with('\n') && loss_text.trim().split('.').nth(1).unwrap().len() >= 4);

    // The final image has the source's size, and every pixel is (up to JPEG) a palette colour, the
    // one nearest the source pixel.
    let final_img = image::open(run.join("final_image_k6.jpeg"))
        .unwrap()
        .to_rgb8();
    assert_eq!(final_img.dimensions(), (90, 60));
    let drawn: Vec<[u8; 3]> = final_img.pixels().map(|p| p.0).collect();
    let off = palette_loss(&drawn, &colors);
    assert!(off < 3.0, "final image strays {off} from the palette");

    // Plots decode with their sizes.
    for f in [
        "loss_graph_k6.png",
        "3D_model_init_k6.png",
        "3D_model_after_k6.png",
    ] {
        let p = image::open(run.join(f)).unwrap();
        assert!(p.width() >= 600 && p.height() >= 400, "{f}");
    }

    let details = fs::read_to_string(run.join("details.txt")).unwrap();
    for needle in [
        "image: scene.png",
        "k: 6",
        "flags: -c -g -l -i -p",
        "seed: 11",
        "restarts: 20",
        "final loss: ",
        "epochs run: ",
        &format!("colours used: {} of 6", colors.len()),
        &format!("output folder name: output/{name}"),
    ] {
        assert!(
            details.contains(needle),
            "details.txt lacks {needle:?}:\n{details}"
        );
    }
    assert!(stdout.contains(&format!("loss {}", loss_text.trim())));
}

#[test]
fn well_separated_blobs_come_back_as_their_colours() {
    let dir = tempdir().unwrap();
    save(dir.path(), "blobs.png", &blob_image(4, 80, 40));
    let run = k_means_run(dir.path(), &["blobs.png", "4", "-c", "-l", "--seed", "5"]);
    assert_blob_colours(&read_colors(&run, 4), 4, "k = 4");
    let loss: f64 = fs::read_to_string(run.join("loss_k4.txt"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Each pixel is the noise (3,3,3) away from its blob: distance 3*sqrt(3).
    assert!((loss - 27f64.sqrt()).abs() < 1e-6, "loss {loss}");
}

#[test]
fn the_same_seed_gives_byte_identical_files() {
    let dir = tempdir().unwrap();
    save(dir.path(), "scene.png", &gradient_image(64, 64));
    let run = |out: &str| {
        let run = k_means_run(
            dir.path(),
            &[
                "scene.png",
                "7",
                "-c",
                "-l",
                "--seed",
                "42",
                "--out-dir",
                out,
            ],
        );
        (
            fs::read(run.join("colors_k7.txt")).unwrap(),
            fs::read(run.join("loss_k7.txt")).unwrap(),
        )
    };
    assert_eq!(run("a"), run("b"));
}

#[test]
fn flag_order_and_grouping_name_the_same_folder_and_a_rerun_replaces_its_files() {
    let dir = tempdir().unwrap();
    save(dir.path(), "scene.png", &gradient_image(32, 32));
    let first = k_means_run(dir.path(), &["-l", "scene.png", "3", "-ci", "--seed", "1"]);
    k_means(dir.path())
        .args(["scene.png", "3", "-i", "-c", "-l", "--seed", "1"])
        .assert()
        .success();
    assert_eq!(only_run_dir(&dir.path().join("output")), first);
    // No staging folder or temporary file is left beside the results.
    assert_eq!(fs::read_dir(&first).unwrap().count(), 4);
    // Another K is another folder.
    k_means(dir.path())
        .args(["scene.png", "4", "-l", "--seed", "1"])
        .assert()
        .success();
    assert_eq!(fs::read_dir(dir.path().join("output")).unwrap().count(), 2);
}

#[test]
fn without_a_seed_one_is_drawn_and_recorded_so_the_run_can_be_repeated() {
    let dir = tempdir().unwrap();
    save(dir.path(), "scene.png", &gradient_image(40, 40));
    let run = k_means_run(dir.path(), &["scene.png", "5", "-l", "--out-dir", "a"]);
    let details = fs::read_to_string(run.join("details.txt")).unwrap();
    let seed = details
        .lines()
        .find_map(|l| l.strip_prefix("seed: "))
        .expect("seed recorded");
    let loss = fs::read_to_string(run.join("loss_k5.txt")).unwrap();
    let again = k_means_run(
        dir.path(),
        &["scene.png", "5", "-l", "--out-dir", "b", "--seed", seed],
    );
    let again = fs::read_to_string(again.join("loss_k5.txt")).unwrap();
    assert_eq!(loss, again);
}

#[test]
fn one_round_and_options_are_honoured() {
    let dir = tempdir().unwrap();
    save(dir.path(), "scene.png", &gradient_image(40, 40));
    k_means(dir.path())
        .args([
            "scene.png",
            "5",
            "-o",
            "--seed",
            "3",
            "--max-epochs",
            "2",
            "-g",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("restart 1 of 1 kept"));
    let run = only_run_dir(&dir.path().join("output"));
    let details = fs::read_to_string(run.join("details.txt")).unwrap();
    assert!(details.contains("restarts: 1\n"), "{details}");
    assert!(details.contains("max epochs: 2\n"));
    assert!(
        details.contains("epochs run: 2 (stopped at the epoch limit)")
            || details.contains("converged")
    );
    k_means(dir.path())
        .args([
            "scene.png",
            "5",
            "--restarts",
            "3",
            "--seed",
            "3",
            "--out-dir",
            "r",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(" of 3 kept"));
    k_means(dir.path())
        .args(["scene.png", "5", "-o", "--restarts", "3"])
        .assert()
        .code(2);
}

#[test]
fn transparent_pixels_are_left_out_and_grayscale_works() {
    let dir = tempdir().unwrap();
    save(dir.path(), "half.png", &half_transparent_image(40, 20));
    let run = k_means_run(dir.path(), &["half.png", "3", "-c", "-i", "--seed", "2"]);
    let colors = read_colors(&run, 3);
    assert!(!colors.contains(&[255, 0, 255]), "{colors:?}");
    assert!(colors.iter().all(|c| BLOBS[..2].contains(c)), "{colors:?}");
    let details = fs::read_to_string(run.join("details.txt")).unwrap();
    assert!(details.contains("pixels clustered: 400\n"), "{details}");

    let gray = image::GrayImage::from_fn(30, 30, |x, _| image::Luma([(x * 8) as u8]));
    gray.save(dir.path().join("gray.png")).unwrap();
    let run = k_means_run(
        dir.path(),
        &["gray.png", "2", "-c", "--out-dir", "g", "--seed", "1"],
    );
    let colors = read_colors(&run, 2);
    assert!(
        colors.iter().all(|c| c[0] == c[1] && c[1] == c[2]),
        "{colors:?}"
    );
}

#[test]
fn an_animation_or_a_file_of_pages_gives_its_first_picture() {
    // Two frames (pages): red, then blue. Only the first is clustered, whatever the format.
    let dir = tempdir().unwrap();
    let frames = [[255u8, 0, 0], [0, 0, 255]];
    let frame =
        |c: [u8; 3]| image::RgbaImage::from_pixel(8, 6, image::Rgba([c[0], c[1], c[2], 255]));

    let mut gif = Vec::new();
    image::codecs::gif::GifEncoder::new(&mut gif)
        .encode_frames(frames.map(|c| image::Frame::new(frame(c))))
        .unwrap();
    fs::write(dir.path().join("two.gif"), gif).unwrap();

    let mut apng = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut apng, 8, 6);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_animated(2, 0).unwrap();
        let mut writer = encoder.write_header().unwrap();
        for c in frames {
            writer.write_image_data(frame(c).as_raw()).unwrap();
        }
        writer.finish().unwrap();
    }
    fs::write(dir.path().join("two.png"), apng).unwrap();

    let mut tiff = std::io::Cursor::new(Vec::new());
    {
        let mut encoder = tiff::encoder::TiffEncoder::new(&mut tiff).unwrap();
        for c in frames {
            let rgb: Vec<u8> = c.iter().copied().cycle().take(8 * 6 * 3).collect();
            encoder
                .write_image::<tiff::encoder::colortype::RGB8>(8, 6, &rgb)
                .unwrap();
        }
    }
    fs::write(dir.path().join("two.tif"), tiff.into_inner()).unwrap();

    // Each file holds both pictures, as its decoder sees it.
    let read = |name: &str| fs::read(dir.path().join(name)).unwrap();
    let gif = image::codecs::gif::GifDecoder::new(std::io::Cursor::new(read("two.gif"))).unwrap();
    assert_eq!(image::AnimationDecoder::into_frames(gif).count(), 2);
    let apng = png::Decoder::new(std::io::Cursor::new(read("two.png")))
        .read_info()
        .unwrap();
    assert_eq!(apng.info().animation_control().unwrap().num_frames, 2);
    let mut pages = tiff::decoder::Decoder::new(std::io::Cursor::new(read("two.tif"))).unwrap();
    assert!(pages.more_images());
    pages.next_image().unwrap();
    assert!(!pages.more_images());

    for name in ["two.gif", "two.png", "two.tif"] {
        let out = format!("out_{name}");
        let run = k_means_run(
            dir.path(),
            &[name, "2", "-c", "--seed", "1", "--out-dir", &out],
        );
        assert_eq!(read_colors(&run, 2), [frames[0]], "{name}");
        let details = fs::read_to_string(run.join("details.txt")).unwrap();
        assert!(
            details.contains("pixels clustered: 48\n"),
            "{name}: {details}"
        );
    }
}

#[test]
fn a_jpeg_input_works_and_any_size_is_kept() {
    let dir = tempdir().unwrap();
    save(dir.path(), "wide.jpg", &gradient_image(257, 31));
    let run = k_means_run(dir.path(), &["wide.jpg", "8", "-i", "-o", "--seed", "9"]);
    let img = image::open(run.join("final_image_k8.jpeg")).unwrap();
    assert_eq!((img.width(), img.height()), (257, 31));
}

/// Runs `k_means` with `args` in a fresh folder holding `files`, expects failure with `code` and one
/// `error:` line containing `needle`, and checks that nothing was created.
fn fails_cleanly(files: &[(&str, &[u8])], args: &[&str], code: i32, needle: &str) {
    let dir = tempdir().unwrap();
    for (name, bytes) in files {
        fs::write(dir.path().join(name), bytes).unwrap();
    }
    let before = all_entries(dir.path());
    let out = k_means(dir.path())
        .args(args)
        .assert()
        .code(code)
        .get_output()
        .clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains(needle), "{args:?}: {stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
    if code == 1 {
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
    }
    assert!(out.stdout.is_empty(), "nothing printed on stdout");
    assert_eq!(
        all_entries(dir.path()),
        before,
        "{args:?} left files behind"
    );
}

/// A TGA has no signature: it is told by its name, alone of the formats, and read like the others.
#[test]
fn a_tga_is_read_by_its_name() {
    let dir = tempdir().unwrap();
    let tga = save(dir.path(), "blobs.TGA", &blob_image(3, 30, 20));
    let run = k_means_run(dir.path(), &["blobs.TGA", "3", "-c", "--seed", "1"]);
    assert_blob_colours(&read_colors(&run, 3), 3, "a TGA");
    // The same bytes under another name are not told from any other file, nor is a cut TGA whole.
    let bytes = fs::read(&tga).unwrap();
    fs::write(dir.path().join("blobs.bin"), &bytes).unwrap();
    fs::write(dir.path().join("cut.tga"), &bytes[..bytes.len() / 2]).unwrap();
    for (name, says) in [
        ("blobs.bin", "not a recognised image format"),
        ("cut.tga", "cannot read image 'cut.tga': "),
    ] {
        k_means(dir.path())
            .args([name, "3", "-c", "--out-dir", "other"])
            .assert()
            .code(1)
            .stderr(predicate::str::starts_with("error: ").and(predicate::str::contains(says)));
    }
    assert!(!dir.path().join("other").exists());
}

/// The first bytes of an ISO media file (HEIF, AVIF, a video): its `ftyp` box and the start of
/// the next box.
fn iso_media(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
    let mut b = (16 + 4 * compatible.len() as u32).to_be_bytes().to_vec();
    b.extend_from_slice(b"ftyp");
    b.extend_from_slice(major);
    b.extend_from_slice(&[0; 4]);
    for c in compatible {
        b.extend_from_slice(*c);
    }
    b.extend_from_slice(b"\x00\x00\x01\x00meta");
    b.resize(400, 7);
    b
}

/// A phone's HEIC photo, an AVIF, a JPEG 2000 or a Photoshop file is named as what it is, alone,
/// in a folder (counted as failed, not passed over) and as a palette; a video is not a picture.
#[test]
fn pictures_of_formats_not_read_are_named() {
    let dir = tempdir().unwrap();
    let in_folder = dir.path().join("photos");
    fs::create_dir(&in_folder).unwrap();
    save(&in_folder, "a.png", &blob_image(2, 8, 8));
    // Brands past the first 64 bytes: a HEIF image sequence listed after video brands, and an
    // AVIF after HEIF's.
    let video = [
        b"isom", b"iso2", b"iso4", b"iso6", b"mp41", b"mp42", b"dash", b"avc1",
    ];
    let mut sequence: Vec<&[u8; 4]> = video.iter().chain(video.iter()).copied().collect();
    sequence.push(b"msf1");
    let mut animated: Vec<&[u8; 4]> = vec![b"miaf"; 14];
    animated.push(b"avis");
    let files: [(&str, Vec<u8>, &str); 6] = [
        (
            "IMG_0001.HEIC",
            iso_media(b"heic", &[b"mif1"]),
            "HEIF (HEIC)",
        ),
        (
            "IMG_0002.HEIC",
            iso_media(b"mp42", &sequence),
            "HEIF (HEIC)",
        ),
        ("b.avif", iso_media(b"avif", &[b"mif1"]), "AVIF"),
        ("b2.avif", iso_media(b"mif1", &animated), "AVIF"),
        (
            "c.jp2",
            b"\x00\x00\x00\x0cjP  \r\n\x87\n\x00\x00".to_vec(),
            "JPEG 2000",
        ),
        (
            "d.psd",
            b"8BPS\x00\x01\x00\x00\x00\x00".to_vec(),
            "Photoshop (PSD)",
        ),
    ];
    for (name, bytes, kind) in &files {
        fs::write(in_folder.join(name), bytes).unwrap();
        let says = format!(
            "error: cannot read image 'photos/{name}': it is in the {kind} format, which kquant \
             cannot read (convert it to PNG or JPEG first)\n"
        );
        k_means(dir.path())
            .args([&format!("photos/{name}"), "2", "--out-dir", "other"])
            .assert()
            .code(1)
            .stderr(says);
        k_means(dir.path())
            .args(["photos/a.png", "2", "--palette", &format!("photos/{name}")])
            .assert()
            .code(1)
            .stderr(predicate::str::contains(format!(
                "it is in the {kind} format"
            )));
    }
    fs::write(in_folder.join("clip.mp4"), iso_media(b"isom", &video)).unwrap();
    k_means(dir.path())
        .args(["photos/clip.mp4", "2"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not a recognised image format"));
    assert!(!dir.path().join("other").exists());
    // The folder: the PNG drawn, each of the six reported, the video passed over.
    let out = k_means(dir.path())
        .args(["photos", "2", "--seed", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 6, "{stderr}");
    for (name, _, kind) in &files {
        assert!(
            stderr.contains(&format!("'photos/{name}': it is in the {kind} format")),
            "{stderr}"
        );
    }
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("photos/a.png: k = 2"), "{stdout}");
    assert!(stdout.contains("7 images, 6 failed"), "{stdout}");
}

/// `-` is standard input, as for other Unix tools: the same picture as from its file (the run
/// folder is named by `-`), bounded and checked as a pipe is.
#[test]
fn a_dash_reads_the_image_from_standard_input() {
    let dir = tempdir().unwrap();
    let png = save(dir.path(), "blobs.png", &blob_image(3, 30, 20));
    let bytes = fs::read(&png).unwrap();
    let stdout = success_stdout(
        k_means(dir.path())
            .args(["-", "3", "-c", "--png", "--seed", "1", "--out-dir", "piped"])
            .write_stdin(bytes.clone()),
    );
    // A pipe's size is not known, so the PNG's line does not compare it.
    assert!(
        stdout.contains("KB) saved to") && !stdout.contains("the input is"),
        "{stdout}"
    );
    let piped = only_run_dir(&dir.path().join("piped"));
    let named = k_means_run(dir.path(), &["blobs.png", "3", "-c", "--seed", "1"]);
    assert_eq!(read_colors(&piped, 3), read_colors(&named, 3));
    let details = fs::read_to_string(piped.join("details.txt")).unwrap();
    assert!(details.contains("\nimage: -\n"), "{details}");
    // Nothing, a cut picture: one error line naming `-`.
    for (input, says) in [
        (Vec::new(), "cannot read image '-': the file is empty"),
        (
            bytes[..bytes.len() / 2].to_vec(),
            "cannot read image '-': the PNG is",
        ),
    ] {
        k_means(dir.path())
            .args(["-", "3", "-c", "--out-dir", "other"])
            .write_stdin(input)
            .assert()
            .code(1)
            .stderr(predicate::str::starts_with("error: ").and(predicate::str::contains(says)));
    }
    assert!(!dir.path().join("other").exists());
}

#[test]
fn bad_input_gets_one_clear_error_and_leaves_nothing() {
    let mut png = Vec::new();
    gradient_image(50, 50)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let mut jpeg = Vec::new();
    gradient_image(50, 50)
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    let ok: &[(&str, &[u8])] = &[("ok.png", &png)];

    fails_cleanly(
        &[],
        &["missing.jpg", "4"],
        1,
        "error: cannot read image 'missing.jpg'",
    );
    fails_cleanly(
        &[("notes.jpg", b"hello, not an image")],
        &["notes.jpg", "4"],
        1,
        "cannot read image 'notes.jpg'",
    );
    fails_cleanly(
        &[("empty.png", b"")],
        &["empty.png", "4"],
        1,
        "cannot read image 'empty.png': the file is empty",
    );
    fails_cleanly(
        &[("cut.jpg", &jpeg[..jpeg.len() / 3])],
        &["cut.jpg", "4", "-i"],
        1,
        "cannot read image 'cut.jpg'",
    );
    fails_cleanly(
        &[("cut.png", &png[..png.len() / 2])],
        &["cut.png", "4", "-i"],
        1,
        "cannot read image 'cut.png'",
    );
    fails_cleanly(ok, &["ok.png", "0"], 2, "0 is not in 1..=256");
    fails_cleanly(ok, &["ok.png", "257"], 2, "257 is not in 1..=256");
    fails_cleanly(ok, &["ok.png", "abc"], 2, "invalid value 'abc'");
    fails_cleanly(ok, &["ok.png", "-3"], 2, "error:");
    fails_cleanly(ok, &["ok.png", "2.5"], 2, "invalid value '2.5'");
    fails_cleanly(ok, &["ok.png"], 2, "required");
    fails_cleanly(ok, &["ok.png", "3", "--restarts", "0"], 2, "--restarts");
    fails_cleanly(
        &[("ok.png", &png), ("file", b"x")],
        &["ok.png", "3", "-l", "--out-dir", "file/sub"],
        1,
        "error: cannot write 'file': it is not a folder",
    );
    fails_cleanly(
        &[("ok.png", &png), ("file", b"x")],
        &["ok.png", "3", "-l", "--out-dir", "file"],
        1,
        "error: cannot write 'file': it is not a folder",
    );
}

#[test]
fn a_fully_transparent_image_is_refused() {
    let img = image::RgbaImage::from_pixel(8, 8, image::Rgba([10, 20, 30, 0]));
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    fails_cleanly(
        &[("clear.png", &png)],
        &["clear.png", "2"],
        1,
        "has no opaque pixels",
    );
}

#[test]
fn help_explains_every_flag_and_file_and_version_works() {
    let dir = tempdir().unwrap();
    let help = success_stdout(k_means(dir.path()).arg("--help"));
    for needle in [
        "-c",
        "-g",
        "-l",
        "-i",
        "-p",
        "-o",
        "--seed",
        "--restarts",
        "--max-epochs",
        "--out-dir",
        "colors_k{K}.txt",
        "loss_graph_k{K}.png",
        "loss_k{K}.txt",
        "final_image_k{K}.jpeg",
        "3D_model_init_k{K}.png",
        "details.txt",
        "Example",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
    // The help is written for the command line: no rustdoc links or item names from the library.
    for leak in ["[`", "`]", "KMeansParams"] {
        assert!(!help.contains(leak), "--help shows {leak}:\n{help}");
    }
    k_means(dir.path())
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn the_same_command_and_seed_write_the_same_files_byte_for_byte() {
    let dir = tempdir().unwrap();
    save(dir.path(), "scene.png", &gradient_image(40, 30));
    let args = [
        "scene.png",
        "4",
        "-c",
        "-l",
        "-i",
        "-g",
        "-p",
        "--png",
        "--seed",
        "3",
    ];
    let run = k_means_run(dir.path(), &args);
    let first: Vec<(std::path::PathBuf, Vec<u8>)> = all_entries(&run)
        .into_iter()
        .map(|p| (p.clone(), fs::read(&p).unwrap()))
        .collect();
    k_means_run(dir.path(), &args);
    for (path, bytes) in &first {
        assert_eq!(&fs::read(path).unwrap(), bytes, "{path:?} changed");
    }
    let details = fs::read_to_string(run.join("details.txt")).unwrap();
    assert!(!details.contains("timings:"), "{details}");
    let mut with_timings = args.to_vec();
    with_timings.push("--timings");
    let run = k_means_run(dir.path(), &with_timings);
    assert!(fs::read_to_string(run.join("details.txt"))
        .unwrap()
        .contains("\ntimings: decode "));
}

#[test]
fn completions_and_the_manual_page_come_from_the_arguments() {
    let dir = tempdir().unwrap();
    for (tool, name) in [
        (k_means(dir.path()), "k_means"),
        (find_k(dir.path(), dir.path()), "find_k"),
    ] {
        let mut tool = tool;
        let man = success_stdout(tool.arg("--man"));
        assert!(man.contains(&format!(".TH {name} 1")), "{man}");
        assert!(man.contains("max\\-pixels"), "every option is in it: {man}");
    }
    let bash = success_stdout(k_means(dir.path()).args(["--completions", "bash"]));
    assert!(
        bash.contains("_k_means()") && bash.contains("--best"),
        "{bash}"
    );
    let zsh = success_stdout(find_k(dir.path(), dir.path()).args(["--completions", "zsh"]));
    assert!(
        zsh.contains("#compdef find_k") && zsh.contains("--timeout"),
        "{zsh}"
    );
    k_means(dir.path())
        .args(["--completions", "cmd.exe"])
        .assert()
        .code(2);
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn the_example_run_in_the_repository_is_what_readmes_first_command_makes() {
    // README shows these files; a change to the drawing or the engine must redraw them.
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempdir().unwrap();
    let out = tmp.path().join("out");
    let out_text = out.to_str().unwrap();
    let args = [
        "examples/sample.jpg",
        "16",
        "-i",
        "-l",
        "-p",
        "-c",
        "-g",
        "-o",
        "--png",
        "--swatch",
        "--seed",
        "1",
        "--out-dir",
        out_text,
    ];
    let run = k_means_run(repo, &args);
    assert_matches_committed(
        &run,
        &[
            "3D_model_after_k16.png",
            "3D_model_init_k16.png",
            "colors_k16.txt",
            "details.txt",
            "final_image_k16.jpeg",
            "final_image_k16.png",
            "loss_graph_k16.png",
            "loss_k16.txt",
            "palette_k16.png",
        ],
        out_text,
        "README's first command",
    );
}
