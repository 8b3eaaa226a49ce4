//! The options beyond the original: k-means++, reseeding empty clusters, the indexed PNG, palette
//! formats and quality figures.

mod common;

use std::fs;

use common::*;
use tempfile::tempdir;

#[test]
fn kmeans_plus_plus_finds_every_blob_from_any_seed() {
    let dir = tempdir().unwrap();
    save(dir.path(), "blobs.png", &blob_image(6, 120, 20));
    for seed in 0..6 {
        let out = format!("s{seed}");
        let run = k_means_run(
            dir.path(),
            &[
                "blobs.png",
                "6",
                "-c",
                "-o",
                "--init",
                "kmeans++",
                "--seed",
                &seed.to_string(),
                "--out-dir",
                &out,
            ],
        );
        let mut colors = read_colors(&run, 6);
        colors.sort();
        let mut want = BLOBS.to_vec();
        want.sort();
        assert_eq!(
            colors, want,
            "seed {seed}: one restart of k-means++ finds all six"
        );
    }
}

#[test]
fn a_picture_of_one_colour_is_counted_in_the_singular() {
    let dir = tempdir().unwrap();
    save(
        dir.path(),
        "flat.png",
        &image::RgbImage::from_pixel(6, 4, image::Rgb([10, 20, 30])),
    );
    let stdout = success_stdout(k_means(dir.path()).args(["flat.png", "4", "--png", "-o"]));
    assert!(
        stdout.contains("note: the image has only 1 distinct colour, fewer than k = 4"),
        "{stdout}"
    );
    assert!(
        stdout.contains("final image as PNG (1 colour, "),
        "{stdout}"
    );
}

#[test]
fn reseeding_uses_as_many_colours_as_the_image_has() {
    let dir = tempdir().unwrap();
    save(dir.path(), "three.png", &blob_image(3, 30, 10));
    // blob_image's noise makes 2 variants of each of 3 colours: 6 distinct colours.
    let stdout = success_stdout(k_means(dir.path()).args([
        "three.png",
        "9",
        "-c",
        "--empty",
        "reseed",
        "--seed",
        "1",
        "-o",
    ]));
    assert!(
        stdout.contains("note: the image has only 6 distinct colours, fewer than k = 9"),
        "{stdout}"
    );
    let run = only_run_dir(&dir.path().join("output"));
    let colors = read_colors(&run, 9);
    assert_eq!(colors.len(), 6);
    let details = fs::read_to_string(run.join("details.txt")).unwrap();
    assert!(details.contains("note: the image has only 6 distinct colours"));
    assert!(details.contains("empty clusters: reseed"));

    for k in ["2", "4", "6"] {
        let out = format!("k{k}");
        let run = k_means_run(
            dir.path(),
            &[
                "three.png",
                k,
                "-c",
                "--empty",
                "reseed",
                "--seed",
                "3",
                "--out-dir",
                &out,
            ],
        );
        let colors = read_colors(&run, k);
        assert_eq!(colors.len(), k.parse::<usize>().unwrap(), "k = {k}");
    }
}

#[test]
fn the_png_holds_exactly_the_palette_and_every_pixel_its_nearest_colour() {
    let dir = tempdir().unwrap();
    let img = save(dir.path(), "scene.png", &gradient_image(64, 48));
    let run = k_means_run(
        dir.path(),
        &["scene.png", "7", "-c", "--png", "--seed", "2"],
    );
    let palette = read_colors(&run, 7);
    let decoded = image::open(run.join("final_image_k7.png"))
        .unwrap()
        .to_rgb8();
    assert_eq!(decoded.dimensions(), (64, 48));
    let source = image::open(&img).unwrap().to_rgb8();
    let d2 = |a: [u8; 3], b: [u8; 3]| kquant::kmeans::dist2(a.map(f64::from), b.map(f64::from));
    let mut distinct = std::collections::HashSet::new();
    for (out, src) in decoded.pixels().zip(source.pixels()) {
        assert!(
            palette.contains(&out.0),
            "{:?} is not a palette colour",
            out.0
        );
        distinct.insert(out.0);
        let best = palette
            .iter()
            .map(|&c| d2(src.0, c))
            .fold(f64::INFINITY, f64::min);
        // Nearest up to the rounding of centroids to integers (at most sqrt(3)/2 from exact).
        assert!(
            d2(src.0, out.0).sqrt() <= best.sqrt() + 1.8,
            "{:?} -> {:?}",
            src.0,
            out.0
        );
    }
    assert!(distinct.len() <= 7);
    let bytes = fs::read(run.join("final_image_k7.png")).unwrap();
    assert_eq!(bytes[25], 3, "colour type 3: indexed");
}

#[test]
fn the_png_keeps_transparency() {
    let dir = tempdir().unwrap();
    save(dir.path(), "half.png", &half_transparent_image(40, 20));
    let run = k_means_run(dir.path(), &["half.png", "2", "--png", "--seed", "2"]);
    let decoded = image::open(run.join("final_image_k2.png"))
        .unwrap()
        .to_rgba8();
    for (x, _, p) in decoded.enumerate_pixels() {
        if x < 20 {
            assert_eq!(p.0[3], 255);
            assert!(BLOBS[..2].contains(&[p.0[0], p.0[1], p.0[2]]));
        } else {
            assert_eq!(p.0[3], 0, "transparent stays transparent");
        }
    }
}

#[test]
fn every_palette_format_parses_back_to_the_palette() {
    let dir = tempdir().unwrap();
    save(dir.path(), "scene.png", &gradient_image(50, 50));
    let run = k_means_run(
        dir.path(),
        &[
            "scene.png",
            "5",
            "-c",
            "--palette-format",
            "hex,gpl,json,ase,aco,act",
            "--seed",
            "4",
        ],
    );
    let palette = read_colors(&run, 5);

    // Adobe's binary formats read back, and are palettes to draw with, as the others are.
    type Parse = fn(&[u8]) -> Result<Vec<[u8; 3]>, Box<dyn std::error::Error>>;
    let parsers: [(&str, Parse); 3] = [
        ("ase", |b| Ok(kquant::parse_ase(b)?)),
        ("aco", |b| Ok(kquant::parse_aco(b)?)),
        ("act", |b| Ok(kquant::parse_act(b)?)),
    ];
    for (ext, parse) in parsers {
        let name = format!("colors_k5.{ext}");
        assert_eq!(parse(&fs::read(run.join(&name)).unwrap()).unwrap(), palette);
        let other = tempdir().unwrap();
        fs::copy(dir.path().join("scene.png"), other.path().join("scene.png")).unwrap();
        let copy = format!("p.{ext}");
        fs::copy(run.join(&name), other.path().join(&copy)).unwrap();
        let again = k_means_run(other.path(), &["scene.png", "5", "-c", "--palette", &copy]);
        assert_eq!(read_colors(&again, 5), palette, "{ext}");
    }

    let hex = fs::read_to_string(run.join("colors_k5.hex")).unwrap();
    let from_hex: Vec<[u8; 3]> = hex
        .lines()
        .map(|l| {
            let v = u32::from_str_radix(l.strip_prefix('#').unwrap(), 16).unwrap();
            [(v >> 16) as u8, (v >> 8) as u8, v as u8]
        })
        .collect();
    assert_eq!(from_hex, palette);

    let gpl = fs::read_to_string(run.join("colors_k5.gpl")).unwrap();
    assert!(gpl.starts_with("GIMP Palette\n"));
    let from_gpl: Vec<[u8; 3]> = gpl
        .lines()
        .skip_while(|l| *l != "#")
        .skip(1)
        .map(|l| {
            let v: Vec<u8> = l
                .split_whitespace()
                .take(3)
                .map(|x| x.parse().unwrap())
                .collect();
            [v[0], v[1], v[2]]
        })
        .collect();
    assert_eq!(from_gpl, palette);

    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(run.join("colors_k5.json")).unwrap()).unwrap();
    let colors = json["colors"].as_array().unwrap();
    let from_json: Vec<[u8; 3]> = colors
        .iter()
        .map(|c| {
            let v: Vec<u8> = c["rgb"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u8)
                .collect();
            [v[0], v[1], v[2]]
        })
        .collect();
    assert_eq!(from_json, palette);
    let shares: f64 = colors.iter().map(|c| c["share"].as_f64().unwrap()).sum();
    assert!((shares - 1.0).abs() < 1e-4);
    assert_eq!(json["pixels"].as_u64(), Some(2500));
}

#[test]
fn palette_formats_need_colours() {
    let dir = tempdir().unwrap();
    save(dir.path(), "scene.png", &gradient_image(8, 8));
    k_means(dir.path())
        .args(["scene.png", "2", "--palette-format", "gpl"])
        .assert()
        .code(2);
}

#[test]
fn details_report_mse_psnr_and_shares() {
    let dir = tempdir().unwrap();
    save(dir.path(), "blobs.png", &blob_image(2, 20, 10));
    let run = k_means_run(
        dir.path(),
        &["blobs.png", "2", "--seed", "1", "--init", "kmeans++"],
    );
    let details = fs::read_to_string(run.join("details.txt")).unwrap();
    // Every pixel is 3 units off in each channel: MSE 9, PSNR 10 log10(255^2 / 9).
    let psnr = 10.0 * (255.0f64 * 255.0 / 9.0).log10();
    assert!(details.contains("MSE: 9.0000\n"), "{details}");
    assert!(
        details.contains(&format!("PSNR: {psnr:.2} dB\n")),
        "{details}"
    );
    assert!(
        details.contains("colour shares: #c82828 50.00%, #28b43c 50.00%")
            || details.contains("colour shares: #28b43c 50.00%, #c82828 50.00%"),
        "{details}"
    );
    assert!(details.contains("init: kmeans++\n"));
}

#[test]
fn find_k_passes_init_and_empty_through() {
    let dir = tempdir().unwrap();
    let tmp = tempdir().unwrap();
    save(dir.path(), "scene.png", &gradient_image(30, 30));
    find_k(dir.path(), tmp.path())
        .args([
            "scene.png",
            "-o",
            "--seed",
            "5",
            "--k-max",
            "4",
            "--init",
            "kmeans++",
            "--empty",
            "reseed",
        ])
        .assert()
        .success();
    let run = only_run_dir(&dir.path().join("output"));
    let csv = fs::read_to_string(run.join("losses.csv")).unwrap();
    let k4: f64 = csv
        .lines()
        .last()
        .unwrap()
        .split(',')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let single = k_means_run(
        dir.path(),
        &[
            "scene.png",
            "4",
            "-l",
            "-o",
            "--seed",
            "5",
            "--init",
            "kmeans++",
            "--empty",
            "reseed",
            "--out-dir",
            "single",
        ],
    );
    let loss = fs::read_to_string(single.join("loss_k4.txt")).unwrap();
    assert_eq!(loss.trim(), format!("{k4:.6}"));
}

#[test]
fn dithering_draws_only_palette_colours_and_keeps_the_mean_colour() {
    let dir = tempdir().unwrap();
    save(dir.path(), "scene.png", &gradient_image(80, 60));
    let run_with = |extra: &[&str], out: &str| {
        let mut args = vec![
            "scene.png",
            "3",
            "-c",
            "--png",
            "--seed",
            "1",
            "--out-dir",
            out,
        ];
        args.extend_from_slice(extra);
        let run = k_means_run(dir.path(), &args);
        let palette = read_colors(&run, 3);
        let img = image::open(run.join("final_image_k3.png"))
            .unwrap()
            .to_rgb8();
        (palette, img)
    };
    let (palette, plain) = run_with(&[], "plain");
    let (dpalette, dithered) = run_with(&["--dither"], "dithered");
    assert_eq!(
        palette, dpalette,
        "dithering changes the drawing, not the palette"
    );
    assert_ne!(plain, dithered);
    assert!(dithered.pixels().all(|p| palette.contains(&p.0)));
    let source = gradient_image(80, 60);
    let mean = |img: &image::RgbImage| -> [f64; 3] {
        let n = f64::from(img.width() * img.height());
        std::array::from_fn(|d| img.pixels().map(|p| f64::from(p.0[d])).sum::<f64>() / n)
    };
    // Error diffusion keeps the local (and so the overall) average colour.
    let (m_src, m_dith) = (mean(&source), mean(&dithered));
    for d in 0..3 {
        assert!(
            (m_dith[d] - m_src[d]).abs() < 2.5,
            "channel {d}: dithered mean {} source {}",
            m_dith[d],
            m_src[d]
        );
    }
}

#[test]
fn perceptual_spaces_find_the_blobs_and_report_both_losses() {
    let dir = tempdir().unwrap();
    save(dir.path(), "blobs.png", &blob_image(4, 80, 20));
    for space in ["lab", "oklab"] {
        let stdout = success_stdout(
            k_means(dir.path())
                .args([
                    "blobs.png",
                    "4",
                    "-c",
                    "-l",
                    "--init",
                    "kmeans++",
                    "--seed",
                    "1",
                    "--space",
                    space,
                ])
                .args(["--out-dir", space]),
        );
        assert!(stdout.contains(&format!("({space}; RGB loss ")), "{stdout}");
        let run = only_run_dir(&dir.path().join(space));
        assert_blob_colours(&read_colors(&run, 4), 4, space);
        let details = fs::read_to_string(run.join("details.txt")).unwrap();
        assert!(details.contains(&format!("space: {space}\n")));
        let rgb_loss: f64 = details
            .lines()
            .find_map(|l| l.strip_prefix("final loss in RGB units: "))
            .unwrap()
            .parse()
            .unwrap();
        // Each pixel is (3, 3, 3) or (-3, -3, -3) from its blob.
        assert!((rgb_loss - 27f64.sqrt()).abs() < 0.6, "{space}: {rgb_loss}");
        let space_loss: f64 = fs::read_to_string(run.join("loss_k4.txt"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(
            space_loss > 0.0 && (space_loss - rgb_loss).abs() > 1e-3,
            "loss in {space} units"
        );
    }
}

#[test]
fn dithered_runs_report_the_quality_of_the_dithered_image() {
    let dir = tempdir().unwrap();
    save(dir.path(), "scene.png", &gradient_image(64, 48));
    let args = ["scene.png", "4", "--png", "--seed", "2", "--out-dir"];
    let plain = k_means_run(dir.path(), &[&args[..], &["plain"]].concat());
    let details = fs::read_to_string(plain.join("details.txt")).unwrap();
    assert!(!details.contains("dithered image"), "{details}");

    let run = k_means_run(dir.path(), &[&args[..], &["dithered", "--dither"]].concat());
    let details = fs::read_to_string(run.join("details.txt")).unwrap();
    // Recompute from the PNG written (it holds the palette's colours exactly).
    let drawn = image::open(run.join("final_image_k4.png"))
        .unwrap()
        .to_rgb8();
    let source = gradient_image(64, 48);
    let sse: f64 = source
        .pixels()
        .zip(drawn.pixels())
        .map(|(a, b)| {
            (0..3)
                .map(|d| (f64::from(a.0[d]) - f64::from(b.0[d])).powi(2))
                .sum::<f64>()
        })
        .sum();
    let mse = sse / (3.0 * f64::from(64 * 48));
    let psnr = 10.0 * (255.0f64 * 255.0 / mse).log10();
    assert!(
        details.contains(&format!("MSE of the dithered image: {mse:.4}\n")),
        "{details}"
    );
    assert!(
        details.contains(&format!("PSNR of the dithered image: {psnr:.2} dB\n")),
        "{details}"
    );
}

#[test]
fn best_is_the_best_palette_mode_and_is_named_first_in_help() {
    let dir = tempdir().unwrap();
    save(dir.path(), "scene.png", &gradient_image(40, 30));
    let best = k_means_run(
        dir.path(),
        &[
            "scene.png",
            "6",
            "-c",
            "-l",
            "--best",
            "--seed",
            "4",
            "--out-dir",
            "a",
        ],
    );
    let spelled = k_means_run(
        dir.path(),
        &[
            "scene.png",
            "6",
            "-c",
            "-l",
            "--init",
            "kmeans++",
            "--empty",
            "reseed",
            "--seed",
            "4",
            "--out-dir",
            "b",
        ],
    );
    // The same run: the same folder name and the same files.
    assert_eq!(best.file_name(), spelled.file_name());
    for name in ["colors_k6.txt", "loss_k6.txt"] {
        assert_eq!(
            fs::read(best.join(name)).unwrap(),
            fs::read(spelled.join(name)).unwrap(),
            "{name}"
        );
    }
    let details = fs::read_to_string(best.join("details.txt")).unwrap();
    assert_eq!(
        details.replace("a/output", "b/output"),
        fs::read_to_string(spelled.join("details.txt")).unwrap()
    );
    assert!(details.contains("init: kmeans++\n"), "{details}");
    assert!(
        details.contains("restart kept by: lowest SSE (best mode)\n"),
        "{details}"
    );
    assert_eq!(read_colors(&best, 6).len(), 6);

    k_means(dir.path())
        .args(["scene.png", "6", "--best", "--init", "random"])
        .assert()
        .code(2);
    let help = success_stdout(k_means(dir.path()).arg("--help"));
    let head: Vec<&str> = help.lines().take(4).collect();
    assert!(head.join(" ").contains("--best"), "{help}");
}

#[test]
fn every_pixel_is_drawn_with_its_nearest_written_colour() {
    let dir = tempdir().unwrap();
    let scene = gradient_image(90, 70);
    save(dir.path(), "scene.png", &scene);
    for space in ["rgb", "oklab"] {
        let run = k_means_run(
            dir.path(),
            &[
                "scene.png",
                "8",
                "-c",
                "--png",
                "--space",
                space,
                "--seed",
                "2",
                "--out-dir",
                space,
            ],
        );
        let palette = read_colors(&run, 8);
        let encode = |c: [u8; 3]| {
            let c = c.map(f64::from);
            if space == "oklab" {
                kquant::colorspace::srgb_to_oklab(c)
            } else {
                c
            }
        };
        let drawn = image::open(run.join("final_image_k8.png"))
            .unwrap()
            .to_rgb8();
        for (x, d) in scene.pixels().zip(drawn.pixels()) {
            assert!(palette.contains(&d.0), "{:?} is not in the palette", d.0);
            let dist = |c: [u8; 3]| kquant::kmeans::dist2(encode(x.0), encode(c));
            let best = palette
                .iter()
                .map(|&c| dist(c))
                .fold(f64::INFINITY, f64::min);
            assert_eq!(dist(d.0), best, "{space}: {:?} drawn as {:?}", x.0, d.0);
        }
    }
}

#[test]
fn the_swatch_shows_each_colour_as_a_bar_in_palette_order() {
    let dir = tempdir().unwrap();
    save(dir.path(), "blobs.png", &blob_image(3, 90, 20));
    let run = k_means_run(
        dir.path(),
        &["blobs.png", "3", "-c", "--swatch", "--seed", "1"],
    );
    let colors = read_colors(&run, 3);
    let swatch = image::open(run.join("palette_k3.png")).unwrap().to_rgb8();
    // A title, then one 26-pixel row per colour, most-used first, each bar starting at x = 16.
    assert_eq!(swatch.dimensions(), (760, 48 + 26 * 3 + 16));
    for (row, c) in colors.iter().enumerate() {
        let y = 48 + 26 * row as u32 + 13;
        assert_eq!(&swatch.get_pixel(40, y).0, c, "row {row}");
    }
    // The bars of equal shares are equally long: the first bar's colour reaches x = 16 + 480.
    assert_eq!(&swatch.get_pixel(16 + 470, 48 + 13).0, &colors[0]);
}

#[test]
fn a_palette_file_in_any_format_draws_the_image_without_clustering() {
    let dir = tempdir().unwrap();
    save(dir.path(), "blobs.png", &blob_image(4, 80, 20));
    let brand: [[u8; 3]; 4] = [[250, 250, 250], [10, 10, 10], [200, 40, 40], [40, 180, 60]];
    let hex = |c: [u8; 3]| format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2]);
    let files = [
        (
            "p.txt",
            brand
                .iter()
                .map(|c| format!("{},{},{}\n", c[0], c[1], c[2]))
                .collect::<String>(),
        ),
        ("p.hex", brand.iter().map(|&c| hex(c) + "\n").collect()),
        (
            "p.gpl",
            "GIMP Palette\nName: brand\nColumns: 4\n#\n".to_string()
                + &brand
                    .iter()
                    .map(|c| format!("{:3} {:3} {:3}\tname\n", c[0], c[1], c[2]))
                    .collect::<String>(),
        ),
        (
            "p.json",
            format!(
                "{{\"colors\": [{}]}}",
                brand
                    .iter()
                    .map(|c| format!("{{\"rgb\": [{}, {}, {}]}}", c[0], c[1], c[2]))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        (
            "p.pal",
            "JASC-PAL\r\n0100\r\n4\r\n".to_string()
                + &brand
                    .iter()
                    .map(|c| format!("{} {} {}\r\n", c[0], c[1], c[2]))
                    .collect::<String>(),
        ),
        (
            // Paint.NET: `;` comments, AARRGGBB.
            "pdn.txt",
            ";paint.net Palette File\n;Colors: 4\n".to_string()
                + &brand
                    .iter()
                    .map(|&c| format!("FF{}\n", &hex(c)[1..]))
                    .collect::<String>(),
        ),
        (
            // Lospec's JSON: hex codes without '#'.
            "lospec.json",
            format!(
                "{{\"name\": \"brand\", \"colors\": [{}]}}",
                brand
                    .iter()
                    .map(|&c| format!("\"{}\"", &hex(c)[1..]))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
    ];
    // Adobe Swatch Exchange: big-endian blocks, one RGB swatch each, channels as floats 0-1.
    let mut ase = b"ASEF\0\x01\0\0\0\0\0\x04".to_vec();
    for c in brand {
        ase.extend([0, 1, 0, 0, 0, 24, 0, 2, 0, b'c', 0, 0]);
        ase.extend(b"RGB ");
        for v in c {
            ase.extend((f32::from(v) / 255.0).to_be_bytes());
        }
        ase.extend([0, 2]);
    }
    fs::write(dir.path().join("p.ase"), &ase).unwrap();
    // Photoshop's swatches: a version 1 section (colour space 0, RGB as v * 257), then version 2,
    // the same with names (two reserved bytes, a count of UTF-16 units, the units).
    let mut aco = vec![0, 1, 0, 4];
    for c in brand {
        aco.extend([0, 0]);
        for v in c {
            aco.extend((u16::from(v) * 257).to_be_bytes());
        }
        aco.extend([0, 0]);
    }
    aco.extend([0, 2, 0, 4]);
    for c in brand {
        aco.extend([0, 0]);
        for v in c {
            aco.extend((u16::from(v) * 257).to_be_bytes());
        }
        aco.extend([0, 0, 0, 0, 0, 3, 0, b'o', 0, b'k', 0, 0]);
    }
    fs::write(dir.path().join("p.aco"), &aco).unwrap();
    // Photoshop's colour tables: 256 triples, then (in the longer form) the count and no
    // transparent entry.
    let mut act: Vec<u8> = brand.iter().flatten().copied().collect();
    act.resize(768, 0);
    fs::write(dir.path().join("p256.act"), &act).unwrap();
    act.extend([0, 4, 0xff, 0xff]);
    fs::write(dir.path().join("p.act"), &act).unwrap();
    // An image whose four colours are the palette, in equal parts.
    let swatch = image::RgbImage::from_fn(4, 1, |x, _| image::Rgb(brand[x as usize]));
    swatch.save(dir.path().join("p_image.png")).unwrap();
    swatch.save(dir.path().join("p_image.tga")).unwrap(); // no signature: told by its name
    let mut names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    for (name, text) in &files {
        fs::write(dir.path().join(name), text).unwrap();
    }
    names.extend(["p.ase", "p.aco", "p.act", "p256.act"]);
    names.push("p_image.png");
    names.push("p_image.tga");
    let mut folders = std::collections::BTreeSet::new();
    for name in names {
        let out = format!("out_{name}");
        let stdout = success_stdout(k_means(dir.path()).args([
            "blobs.png",
            "4",
            "-c",
            "-g",
            "--png",
            "--palette",
            name,
            "--out-dir",
            &out,
        ]));
        assert!(stdout.contains("with the given palette"), "{stdout}");
        assert!(stdout.contains("loss graph: nothing to draw"), "{stdout}");
        let run = only_run_dir(&dir.path().join(&out));
        assert!(!run.join("loss_graph_k4.png").exists());
        folders.insert(run.file_name().unwrap().to_owned());
        // Every colour written is one of the palette's, and every pixel is drawn with its nearest.
        let colors = read_colors(&run, 4);
        assert!(
            colors.iter().all(|c| brand.contains(c)),
            "{name}: {colors:?}"
        );
        let drawn = image::open(run.join("final_image_k4.png"))
            .unwrap()
            .to_rgb8();
        let source = image::open(dir.path().join("blobs.png")).unwrap().to_rgb8();
        for (x, d) in source.pixels().zip(drawn.pixels()) {
            let dist = |c: [u8; 3]| kquant::kmeans::dist2(x.0.map(f64::from), c.map(f64::from));
            let best = brand.iter().map(|&c| dist(c)).fold(f64::INFINITY, f64::min);
            assert_eq!(dist(d.0), best, "{name}");
        }
    }
    // The same colours are the same run, whatever the file's format (the images, PNG and TGA,
    // list them in another order, so they name another run).
    assert_eq!(folders.len(), 2, "{folders:?}");

    // K at most the palette's size: the first K colours.
    let run = k_means_run(
        dir.path(),
        &[
            "blobs.png",
            "2",
            "-c",
            "--palette",
            "p.hex",
            "--out-dir",
            "two",
        ],
    );
    assert!(read_colors(&run, 2).iter().all(|c| brand[..2].contains(c)));
    let out = k_means(dir.path())
        .args(["blobs.png", "5", "--palette", "p.hex"])
        .assert()
        .code(1)
        .get_output()
        .stderr
        .clone();
    let stderr = String::from_utf8(out).unwrap();
    assert!(
        stderr.contains("it holds 4 colours, fewer than k = 5"),
        "{stderr}"
    );
    k_means(dir.path())
        .args(["blobs.png", "4", "--palette", "p.hex", "--restarts", "3"])
        .assert()
        .code(2);
}

#[test]
fn fixed_colours_are_in_the_palette_unchanged() {
    let dir = tempdir().unwrap();
    save(dir.path(), "scene.png", &gradient_image(60, 40));
    fs::write(dir.path().join("brand.hex"), "#ffffff\n#000000\n#e4002b\n").unwrap();
    for mode in [&["--seed", "3"][..], &["--seed", "3", "--best"][..]] {
        let mut args = vec!["scene.png", "8", "-c", "--png", "--fixed", "brand.hex"];
        args.extend(mode);
        args.extend(["--out-dir", if mode.len() == 2 { "random" } else { "best" }]);
        let run = k_means_run(dir.path(), &args);
        let colors = read_colors(&run, 8);
        assert_eq!(colors.len(), 8, "{colors:?}");
        for c in [[255, 255, 255], [0, 0, 0], [228, 0, 43]] {
            assert!(colors.contains(&c), "{c:?} missing from {colors:?}");
        }
        let details = fs::read_to_string(run.join("details.txt")).unwrap();
        assert!(
            details.contains("fixed colours: #ffffff, #000000, #e4002b (brand.hex)"),
            "{details}"
        );
    }
    let out = k_means(dir.path())
        .args(["scene.png", "2", "--fixed", "brand.hex"])
        .assert()
        .code(1)
        .get_output()
        .stderr
        .clone();
    assert!(String::from_utf8(out)
        .unwrap()
        .contains("holds 3 colours, more than k = 2"));
}

#[test]
fn a_folder_of_images_gives_a_run_each_and_a_bad_one_is_reported_and_skipped() {
    let dir = tempdir().unwrap();
    let set = dir.path().join("set");
    fs::create_dir_all(set.join("sub")).unwrap();
    save(&set, "a.png", &blob_image(3, 30, 20));
    save(&set, "b.png", &gradient_image(40, 30));
    save(&set.join("sub"), "c.png", &gradient_image(8, 8)); // not in the set: a subfolder
    let mut cut = Vec::new();
    gradient_image(40, 30)
        .write_to(&mut std::io::Cursor::new(&mut cut), image::ImageFormat::Png)
        .unwrap();
    fs::write(set.join("broken.png"), &cut[..cut.len() / 2]).unwrap();
    fs::write(set.join("notes.txt"), "not an image").unwrap();

    let out = k_means(dir.path())
        .args([
            "set",
            "3",
            "-c",
            "--png",
            "--seed",
            "1",
            "--out-dir",
            "runs",
        ])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("broken.png"), "{stderr}");
    assert!(stdout.contains("\n3 images, 1 failed, "), "{stdout}");
    assert!(
        stdout.contains("a.png: k = 3") && stdout.contains("b.png: k = 3"),
        "{stdout}"
    );
    assert_eq!(fs::read_dir(dir.path().join("runs")).unwrap().count(), 2);

    // One palette for the set: written once, and every image's palette is that same list.
    k_means(dir.path())
        .args([
            "set",
            "3",
            "-c",
            "--png",
            "--seed",
            "1",
            "--shared-palette",
            "--out-dir",
            "shared",
        ])
        .assert()
        .code(1);
    let mut palettes = Vec::new();
    let mut shared_folders = 0;
    for entry in fs::read_dir(dir.path().join("shared")).unwrap() {
        let run = entry.unwrap().path();
        let name = run.file_name().unwrap().to_str().unwrap().to_string();
        shared_folders += usize::from(name.starts_with("shared_palette"));
        let colors = read_colors(&run, 3);
        if run.join("final_image_k3.png").exists() {
            let png = image::open(run.join("final_image_k3.png"))
                .unwrap()
                .to_rgb8();
            assert!(png.pixels().all(|p| colors.contains(&p.0)));
        }
        palettes.push(colors);
    }
    assert_eq!(shared_folders, 1);
    assert_eq!(
        palettes.len(),
        3,
        "the shared palette's folder and one per good image"
    );
    assert!(palettes.windows(2).all(|w| w[0] == w[1]), "{palettes:?}");
}

#[test]
fn fast_starts_from_wus_boxes_finds_every_blob_and_needs_no_seed() {
    let dir = tempdir().unwrap();
    save(dir.path(), "blobs.png", &blob_image(6, 120, 20));
    let mut runs = Vec::new();
    for (out, mode) in [
        ("a", &["--fast"][..]),
        ("b", &["--fast"][..]),
        ("c", &["--init", "wu"][..]),
    ] {
        let mut args = vec!["blobs.png", "6", "-c", "-l", "--out-dir", out];
        args.extend(mode);
        let run = k_means_run(dir.path(), &args);
        let mut colors = read_colors(&run, 6);
        colors.sort();
        let mut want = BLOBS.to_vec();
        want.sort();
        assert_eq!(colors, want, "{mode:?}: every blob");
        let details = fs::read_to_string(run.join("details.txt")).unwrap();
        assert!(details.contains("init: wu\n"), "{details}");
        assert!(details.contains("restarts: 1\n"), "{details}");
        // No number is recorded as the seed: none made the result.
        assert!(
            details.contains("seed: not used (init wu draws nothing at random)\n"),
            "{details}"
        );
        runs.push(fs::read_to_string(run.join("loss_k6.txt")).unwrap());
    }
    // No seed was given, and none is needed: the two --fast runs gave the same result.
    assert_eq!(runs[0], runs[1]);
    // --fast is --init wu --empty reseed --max-epochs 20, and restarts make no sense with Wu.
    let fast = fs::read_to_string(only_run_dir(&dir.path().join("a")).join("details.txt")).unwrap();
    assert!(fast.contains("empty clusters: reseed\n") && fast.contains("max epochs: 20\n"));
    for bad in [
        &["--init", "wu", "--restarts", "3"][..],
        &["--fast", "--best"][..],
        &["--fast", "--init", "random"][..],
    ] {
        let mut args = vec!["blobs.png", "6"];
        args.extend(bad);
        k_means(dir.path()).args(&args).assert().code(2);
    }
}
