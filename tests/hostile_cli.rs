//! The binaries against hostile and damaged input, planted links, races, signals and closed pipes.
//! Every input is built here (bomb headers are a few bytes); the binaries run under a memory limit
//! where memory is the point. Each case checks the exit code, the one `error:` line, that nothing
//! is left behind and that no file of the user's changed.

mod common;

use std::fs;
use std::io::Cursor;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{
    all_entries, blob_image, gradient_image, k_means_run, k_means_stand_in, only_run_dir,
    read_colors, save,
};
use image::{ImageFormat, RgbImage};
use tempfile::tempdir;

const MEMORY_LIMIT: u64 = 1 << 30;

fn bin(name: &str) -> PathBuf {
    assert_cmd::cargo::cargo_bin(name)
}

/// `name` with `args` in `dir`, its address space limited to [`MEMORY_LIMIT`] (as `ulimit -v`).
fn limited(name: &str, dir: &Path, args: &[&str]) -> Output {
    limited_with(name, dir, args, &[])
}

/// [`limited`], with the variables `env` set.
fn limited_with(name: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    limited_to(MEMORY_LIMIT, name, dir, args, env)
}

/// [`limited_with`] under a limit of `bytes`.
fn limited_to(bytes: u64, name: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin(name));
    cmd.args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let limit = rustix::process::Rlimit {
                current: Some(bytes),
                maximum: Some(bytes),
            };
            rustix::process::setrlimit(rustix::process::Resource::As, limit)
                .map_err(std::io::Error::from)
        });
    }
    cmd.output().expect("the binary runs")
}

/// Asserts that the run succeeded, showing its stderr if not.
fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asserts a failure with `code`, exactly one stderr line, starting `error:` and holding `needle`.
fn assert_one_error(out: &Output, code: i32, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
    assert!(out.stdout.is_empty());
}

fn encode(img: &RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), format).unwrap();
    out
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut c = (data.len() as u32).to_be_bytes().to_vec();
    c.extend_from_slice(kind);
    c.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    c.extend_from_slice(&crc.finalize().to_be_bytes());
    c
}

/// A valid PNG header claiming `width x height` RGB pixels, with a few bytes of image data.
fn png_bomb(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(png_chunk(b"IHDR", &ihdr));
    png.extend(png_chunk(b"IDAT", &[0x78, 0x9c, 0x63, 0, 0, 0, 1, 0, 1]));
    png.extend(png_chunk(b"IEND", &[]));
    png
}

/// `n` zero bytes as raw deflate blocks (not the last), a kilobyte per MiB: blocks of a MiB of zeros
/// ending on a byte (a sync flush), repeated (their back-references reach only zeros), then the
/// rest.
fn zeros_deflate(n: u64) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let blocks = |len: usize| {
        let mut deflate = Compress::new(Compression::best(), false);
        let mut block = Vec::with_capacity(1 << 16);
        deflate
            .compress_vec(&vec![0; len], &mut block, FlushCompress::Sync)
            .unwrap();
        assert_eq!(deflate.total_in(), len as u64);
        block
    };
    let mib = blocks(1 << 20);
    let mut out = Vec::new();
    for _ in 0..n >> 20 {
        out.extend(&mib);
    }
    out.extend(blocks((n % (1 << 20)) as usize));
    out
}

/// A zlib stream of `n` zero bytes.
fn zeros_zlib(n: u64) -> Vec<u8> {
    let mut out = vec![0x78, 0xda]; // deflate, best compression
    out.extend(zeros_deflate(n));
    out.extend([0x03, 0x00]); // the last block: empty
    out.extend((((n % 65521) << 16) as u32 | 1).to_be_bytes()); // Adler-32 of the zeros
    out
}

/// A 16x16 RGBA PNG whose colour profile (iCCP) inflates to `mib` MiB of zeros: a file of about a
/// kilobyte per MiB.
fn png_profile_bomb(mib: usize) -> Vec<u8> {
    let mut profile = b"bomb\0\0".to_vec(); // name, method
    profile.extend(zeros_zlib((mib as u64) << 20));
    let rgba = image::DynamicImage::ImageRgb8(gradient_image(16, 16)).to_rgba8();
    let mut png = Vec::new();
    rgba.write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .unwrap();
    let ihdr_end = 8 + 25;
    [
        &png[..ihdr_end],
        &png_chunk(b"iCCP", &profile),
        &png[ihdr_end..],
    ]
    .concat()
}

/// A 16-bit RGB PNG of `width x height` black pixels (every row unfiltered zeros): a kilobyte of
/// file per megapixel.
fn png_16_bit_black(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[16, 2, 0, 0, 0]);
    let raw = u64::from(height) * (1 + 6 * u64::from(width));
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(png_chunk(b"IHDR", &ihdr));
    png.extend(png_chunk(b"IDAT", &zeros_zlib(raw)));
    png.extend(png_chunk(b"IEND", &[]));
    png
}

/// A deflated 16-bit RGBA TIFF of opaque black pixels, in strips of 100 rows (`height` a multiple
/// of 100) that all point at the same compressed strip: a picture of `width x height` in a file of
/// a few kilobytes.
fn tiff_16_bit_rgba(width: u32, height: u32) -> Vec<u8> {
    let pixel = [0u8, 0, 0, 0, 0, 0, 0xff, 0xff];
    let raw: Vec<u8> = pixel.repeat(width as usize * 100);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut z, &raw).unwrap();
    let strip = z.finish().unwrap();
    let strips = height / 100;
    let mut tiff = b"II\x2a\x00".to_vec();
    let ifd = 8 + strip.len() as u32;
    tiff.extend(ifd.to_le_bytes());
    tiff.extend(&strip);
    // The directory's out-of-line values follow its 11 entries.
    let values = ifd + 2 + 11 * 12 + 4;
    let (bits_at, offsets_at) = (values, values + 8);
    let counts_at = offsets_at + 4 * strips;
    let entries: [(u16, u16, u32, u32); 11] = [
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, 4, bits_at),
        (259, 3, 1, 8),
        (262, 3, 1, 2),
        (273, 4, strips, offsets_at),
        (277, 3, 1, 4),
        (278, 4, 1, 100),
        (279, 4, strips, counts_at),
        (284, 3, 1, 1),
        (338, 3, 1, 2),
    ];
    tiff.extend(11u16.to_le_bytes());
    for (tag, kind, count, value) in entries {
        tiff.extend(tag.to_le_bytes());
        tiff.extend(kind.to_le_bytes());
        tiff.extend(count.to_le_bytes());
        tiff.extend(value.to_le_bytes());
    }
    tiff.extend(0u32.to_le_bytes());
    for _ in 0..4 {
        tiff.extend(16u16.to_le_bytes());
    }
    for _ in 0..strips {
        tiff.extend(8u32.to_le_bytes());
    }
    for _ in 0..strips {
        tiff.extend((strip.len() as u32).to_le_bytes());
    }
    tiff
}

/// A 35-byte GIF whose logical screen is `width x height`, holding one 1x1 image.
fn gif_bomb(width: u16, height: u16) -> Vec<u8> {
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&width.to_le_bytes());
    gif.extend_from_slice(&height.to_le_bytes());
    gif.extend_from_slice(&[0x80, 0, 0, 0, 0, 0, 255, 255, 255]);
    gif.extend_from_slice(&[b',', 0, 0, 0, 0, 1, 0, 1, 0, 0]);
    gif.extend_from_slice(&[2, 2, 0x44, 1, 0, b';']);
    gif
}

/// A small real JPEG whose frame header is edited to claim `width x height`.
fn jpeg_bomb(width: u16, height: u16) -> Vec<u8> {
    let mut jpeg = encode(&gradient_image(16, 16), ImageFormat::Jpeg);
    let sof = jpeg
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("a baseline frame header");
    jpeg[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    jpeg
}

#[test]
fn bombs_are_refused_from_their_header_within_a_memory_limit() {
    let dir = tempdir().unwrap();
    let cases: [(&str, Vec<u8>, &str); 3] = [
        ("bomb.png", png_bomb(100_000, 100_000), "100000x100000"),
        ("bomb.gif", gif_bomb(20_000, 20_000), "20000x20000"),
        ("bomb.jpg", jpeg_bomb(20_000, 20_000), "20000x20000"),
    ];
    assert_eq!(cases[1].1.len(), 35);
    for (name, bytes, size) in &cases {
        fs::write(dir.path().join(name), bytes).unwrap();
        let before = all_entries(dir.path());
        let out = limited("k_means", dir.path(), &[name, "4", "-i", "--png"]);
        assert_one_error(
            &out,
            1,
            &format!(
                "it is {size} pixels, more than the limit of 256000000 pixels (--max-pixels raises it)"
            ),
        );
        assert_eq!(all_entries(dir.path()), before, "{name} left files");
    }
    // A bomb under the limit (a 700-byte JPEG claiming 15000x15000) is refused by the data check
    // before the decoder fills in 675 MB of picture.
    fs::write(dir.path().join("b15.jpg"), jpeg_bomb(15_000, 15_000)).unwrap();
    let out = limited("k_means", dir.path(), &["b15.jpg", "4"]);
    assert_one_error(&out, 1, "the JPEG is truncated");
    // A PNG claiming 15000x15000 16-bit RGBA with a hundred bytes of data: its picture is filled
    // row by row, so it is refused at the first missing row (it took 1.8 GB, an abort, when it
    // was decoded whole first).
    let mut ihdr = 15_000u32.to_be_bytes().repeat(2);
    ihdr.extend_from_slice(&[16, 6, 0, 0, 0]);
    let png = [
        &b"\x89PNG\r\n\x1a\n"[..],
        &png_chunk(b"IHDR", &ihdr),
        &png_chunk(b"IDAT", &zeros_zlib(100)),
        &png_chunk(b"IEND", &[]),
    ]
    .concat();
    fs::write(dir.path().join("b15.png"), png).unwrap();
    let out = limited("k_means", dir.path(), &["b15.png", "4"]);
    assert_one_error(
        &out,
        1,
        "the PNG is corrupt: IDAT or fDAT chunk does not have enough data",
    );
    // The same limit lets a real run through.
    save(dir.path(), "ok.png", &blob_image(3, 60, 40));
    let out = limited("k_means", dir.path(), &["ok.png", "3", "-i", "-p", "--png"]);
    assert_success(&out);
}

/// A PNG's colour profile is compressed and inflated whole before the pixels: a 1 MB file claimed
/// 1 GB for a 16x16 picture, alone or inside an icon (whose decoder reads it with no limit at
/// all, also when its size is read from its header). kquant does not use the profile: the
/// picture is drawn as if it had none.
#[test]
fn a_png_profile_that_inflates_to_gigabytes_costs_megabytes() {
    let dir = tempdir().unwrap();
    // About 1 MB: it fits within the first MiB that a size is read from.
    let png = png_profile_bomb(1000);
    fs::write(dir.path().join("p.png"), &png).unwrap();
    // An icon of one entry: 16x16, 32 bits a pixel, the PNG right after the directory.
    let mut ico = vec![0, 0, 1, 0, 1, 0, 16, 16, 0, 0, 1, 0, 32, 0];
    ico.extend((png.len() as u32).to_le_bytes());
    ico.extend(22u32.to_le_bytes());
    ico.extend(&png);
    fs::write(dir.path().join("p.ico"), &ico).unwrap();
    for name in ["p.png", "p.ico"] {
        let out = limited("k_means", dir.path(), &[name, "3", "-c", "--seed", "1"]);
        assert_success(&out);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("3 of 3 colours used"), "{name}: {stdout}");
        // find_k reads the picture once itself, within the same limit, before its children do.
        let tmp = tempdir().unwrap();
        let args = [name, "-o", "--k-max", "3", "--seed", "1"];
        let env = [("TMPDIR", tmp.path().to_str().unwrap())];
        assert_success(&limited_with("find_k", dir.path(), &args, &env));
    }
}

/// The stdout of `k_means NAME 2 -c -o` on `bytes` saved as `name`, run under `limit` bytes of
/// address space, which must succeed. Two threads and two malloc arenas, whatever the machine: on
/// many cores their stacks and arenas would count against the limit.
fn two_colours_within(limit: u64, name: &str, bytes: &[u8]) -> String {
    let dir = tempdir().unwrap();
    fs::write(dir.path().join(name), bytes).unwrap();
    let env = [("MALLOC_ARENA_MAX", "2"), ("RAYON_NUM_THREADS", "2")];
    // A fixed seed: from some random starts one of the two centroids takes no colour.
    let args = [name, "2", "-c", "-o", "--seed", "1"];
    let out = limited_to(limit, "k_means", dir.path(), &args, &env);
    assert_success(&out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A PNG is converted to the picture's 3 bytes a pixel row by row: a 16-bit one used to be decoded
/// whole first (6 bytes a pixel, 8 with alpha) and then copied, so a 120 MP picture in a 700 KB
/// file took 1.06 GB and failed under this limit; now 0.36 GB.
#[test]
fn a_16_bit_png_costs_the_memory_of_its_8_bit_picture() {
    let png = png_16_bit_black(12_000, 10_000);
    assert!(png.len() < 1 << 20, "{}", png.len());
    let stdout = two_colours_within(MEMORY_LIMIT, "deep.png", &png);
    assert!(stdout.contains("1 of 2 colours used"), "{stdout}");
}

/// A TIFF is converted to the picture's bytes strip by strip: `image` decoded a whole 16-bit RGBA
/// one into a buffer of its samples, copied that into another and kquant then into colours and
/// alpha, 16 bytes a pixel at the peak, so a 120 MP picture in a 15 KB file took 1.9 GB and
/// failed under this limit; now 0.48 GB.
#[test]
fn a_16_bit_tiff_costs_the_memory_of_its_8_bit_picture() {
    let tiff = tiff_16_bit_rgba(12_000, 10_000);
    assert!(tiff.len() < 1 << 20, "{}", tiff.len());
    let stdout = two_colours_within(MEMORY_LIMIT, "deep.tif", &tiff);
    assert!(stdout.contains("1 of 2 colours used"), "{stdout}");
}

/// A 16-bit picture that `image` decodes whole (a PNM) is made 8-bit within its own buffer: a copy
/// beside it took 9 bytes a pixel with the file's 6, where 6 do. A 20 MP 16-bit PPM (a 120 MB file)
/// ran out of memory under 360 MiB (it needed about 400), and now needs about 320.
#[test]
fn a_16_bit_pnm_is_made_8_bit_in_place() {
    let (width, height) = (5000usize, 4000usize);
    let mut ppm = format!("P6\n{width} {height}\n65535\n").into_bytes();
    let row: Vec<u8> = (0..width * 6).map(|i| (i % 251) as u8).collect();
    for _ in 0..height {
        ppm.extend_from_slice(&row);
    }
    let stdout = two_colours_within(360 << 20, "deep.ppm", &ppm);
    assert!(stdout.contains("2 of 2 colours used"), "{stdout}");
}

/// A decoded picture with transparency (RGBA) becomes colours and alpha within its own buffer: a
/// copy beside it took 8 bytes a pixel where 5 do. A 35-byte GIF whose 1x1 frame sits on a
/// 12000x12000 screen is a 144 MP RGBA picture: 1.13 GB before, which failed under this limit
/// (an abort), and 0.71 GB now.
#[test]
fn a_picture_with_transparency_is_split_in_place() {
    let stdout = two_colours_within(MEMORY_LIMIT, "wide.gif", &gif_bomb(12_000, 12_000));
    assert!(stdout.contains("colours used"), "{stdout}");
}

/// Memory running out (a machine with less than a picture within the pixel limit needs) is one
/// `error:` line and exit status 1, with nothing left behind, where Rust aborts (SIGABRT, "memory
/// allocation of N bytes failed", and a backtrace with RUST_BACKTRACE set).
#[test]
fn running_out_of_memory_is_one_error_line() {
    let dir = tempdir().unwrap();
    // 120 MP: 360 MB of picture, more than the whole limit.
    fs::write(
        dir.path().join("deep.png"),
        png_16_bit_black(12_000, 10_000),
    )
    .unwrap();
    let before = all_entries(dir.path());
    // Two threads, whatever the machine: on many cores their stacks alone would take much of
    // this limit.
    let env = [
        ("MALLOC_ARENA_MAX", "2"),
        ("RUST_BACKTRACE", "1"),
        ("RAYON_NUM_THREADS", "2"),
    ];
    for name in ["k_means", "find_k"] {
        let args: &[&str] = if name == "k_means" {
            &["deep.png", "2", "-i", "-c"]
        } else {
            &["deep.png", "--k-max", "3", "-j", "1"]
        };
        let tmp = tempdir().unwrap();
        let mut env = env.to_vec();
        env.push(("TMPDIR", tmp.path().to_str().unwrap()));
        let out = limited_to(300 << 20, name, dir.path(), args, &env);
        assert_one_error(&out, 1, "out of memory: ");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--max-pixels"), "{stderr}");
        assert_eq!(all_entries(dir.path()), before, "{name} left files");
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0, "{name}");
    }
}

/// A file size limit (`ulimit -f`) kills a process that writes past it with SIGXFSZ, midway, by
/// default: the staging folder was left, and the exit was 153. The binaries catch the signal, so the
/// write fails instead: one error line, exit 1, nothing left.
#[test]
fn a_file_size_limit_is_a_write_error() {
    let dir = tempdir().unwrap();
    save(dir.path(), "photo.png", &gradient_image(160, 120));
    let before = all_entries(dir.path());
    for name in ["k_means", "find_k"] {
        let args: &[&str] = if name == "k_means" {
            &["photo.png", "8", "-i", "-p", "--png", "--seed", "1"]
        } else {
            &["photo.png", "-o", "--k-max", "3", "--seed", "1"]
        };
        let tmp = tempdir().unwrap();
        let mut cmd = Command::new(bin(name));
        cmd.args(args)
            .current_dir(dir.path())
            .env("TMPDIR", tmp.path())
            .stdin(Stdio::null());
        // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                let limit = rustix::process::Rlimit {
                    current: Some(8 << 10),
                    maximum: Some(8 << 10),
                };
                rustix::process::setrlimit(rustix::process::Resource::Fsize, limit)
                    .map_err(std::io::Error::from)
            });
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
        assert!(
            stderr.starts_with("error: cannot write ") && stderr.contains("File too large"),
            "{name}: {stderr}"
        );
        assert_eq!(all_entries(dir.path()), before, "{name} left files");
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0, "{name}");
    }
}

#[test]
fn the_pixel_limit_is_an_option() {
    let dir = tempdir().unwrap();
    save(dir.path(), "p.png", &blob_image(2, 100, 100));
    let out = limited(
        "k_means",
        dir.path(),
        &["p.png", "2", "--max-pixels", "9999"],
    );
    assert_one_error(
        &out,
        1,
        "it is 100x100 pixels, more than the limit of 9999 pixels (--max-pixels raises it)",
    );
    assert!(!dir.path().join("output").exists());
    k_means_run(dir.path(), &["p.png", "2", "--max-pixels", "10000"]);
    // The file limit follows it: 8 bytes a pixel and 1 MiB.
    let f = fs::File::create(dir.path().join("huge.png")).unwrap();
    f.set_len(2 << 20).unwrap();
    drop(f);
    let mut head = fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("huge.png"))
        .unwrap();
    std::io::Write::write_all(&mut head, b"\x89PNG\r\n\x1a\n").unwrap();
    let out = limited(
        "k_means",
        dir.path(),
        &["huge.png", "2", "--max-pixels", "100"],
    );
    assert_one_error(
        &out,
        1,
        "the file is larger than the limit of 1049376 bytes for pictures of up to 100 pixels (--max-pixels raises it)",
    );
    // A colour's count is 32-bit, so no limit lets a picture of 2^32 pixels (all of one colour,
    // a PNG of a few megabytes) be counted: above that the option is a usage error, and at it a
    // 65536x65536 picture is refused from its header.
    for (bin, args) in [
        ("k_means", &["p.png", "2", "--max-pixels", "4294967296"][..]),
        ("find_k", &["p.png", "--max-pixels", "4294967296"][..]),
    ] {
        let out = limited(bin, dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{bin}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("4294967296 is not in 1..=4294967295"),
            "{bin}: {err}"
        );
    }
    fs::write(dir.path().join("square.png"), png_bomb(65536, 65536)).unwrap();
    let out = limited(
        "k_means",
        dir.path(),
        &["square.png", "2", "--max-pixels", "4294967295"],
    );
    assert_one_error(
        &out,
        1,
        "it is 65536x65536 pixels, more than the limit of 4294967295 pixels",
    );
}

/// Makes a FIFO (a named pipe) at `path`.
fn make_fifo(path: &Path) {
    // (`mkfifo`, POSIX's, rather than a system call that not every Unix's rustix offers.)
    let made = Command::new("mkfifo").arg(path).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo {}", path.display());
}

#[test]
fn devices_and_pipes_are_read_as_bounded_streams() {
    let dir = tempdir().unwrap();
    let out = limited("k_means", dir.path(), &["/dev/zero", "4"]);
    assert_one_error(
        &out,
        1,
        "cannot read image '/dev/zero': not a recognised image format",
    );
    // A folder is a set of images; this one holds none.
    let out = limited("k_means", dir.path(), &[".", "4"]);
    assert_one_error(&out, 1, "cannot read image '.': the folder holds no image");

    // A picture that arrives through a FIFO (as `<(curl ...)` gives it) is read as a stream.
    let fifo = dir.path().join("pipe.png");
    make_fifo(&fifo);
    let png = encode(&blob_image(3, 30, 20), ImageFormat::Png);
    let writer = std::thread::spawn(move || fs::write(fifo, png).unwrap());
    let run = k_means_run(dir.path(), &["pipe.png", "3", "-c", "--seed", "1"]);
    writer.join().unwrap();
    assert_eq!(common::read_colors(&run, 3).len(), 3);
}

#[test]
fn a_folder_passes_over_pipes_devices_and_broken_links() {
    let dir = tempdir().unwrap();
    let set = dir.path().join("set");
    fs::create_dir(&set).unwrap();
    save(&set, "a.png", &blob_image(3, 30, 20));
    // A FIFO nobody writes to would block a reader for ever; a device never ends.
    make_fifo(&set.join("pipe.png"));
    std::os::unix::fs::symlink("/dev/zero", set.join("zero.png")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("gone.png"), set.join("gone.png")).unwrap();
    // (The time limit only stops a hang from stalling the tests; nothing is timed.)
    let out = assert_cmd::Command::new(bin("k_means"))
        .current_dir(dir.path())
        .args(["set", "3", "-c", "-o", "--seed", "1"])
        .timeout(Duration::from_secs(300))
        .assert()
        .success()
        .get_output()
        .clone();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("set/a.png: k = 3"), "{stdout}");
    assert!(stdout.contains("1 image, 0 failed"), "{stdout}");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A folder's images are drawn in parallel only as far as their pixels fit within the pixel limit
/// of one image, so its memory does not grow with the number of cores.
#[test]
fn a_folder_of_large_pictures_stays_within_one_pictures_memory_on_many_cores() {
    let dir = tempdir().unwrap();
    let set = dir.path().join("set");
    fs::create_dir(&set).unwrap();
    // 8.1 MP of many distinct colours: 88 MB to draw one at a time; sixteen at once (as before)
    // ran out of this limit, an abort at 894 MB.
    let img = RgbImage::from_fn(3000, 2700, |x, y| {
        image::Rgb([
            ((x * 7 / 97 + y / 13) % 256) as u8,
            ((y * 3 / 17 + x / 29) % 256) as u8,
            (((x ^ y) / 7) % 256) as u8,
        ])
    });
    let png = encode(&img, ImageFormat::Png);
    for i in 0..16 {
        fs::write(set.join(format!("p{i:02}.png")), &png).unwrap();
    }
    // Sixteen threads, as a 16-core machine has; two malloc arenas, so that the address-space
    // limit counts memory in use rather than each thread's reserved arena.
    let env = [("RAYON_NUM_THREADS", "16"), ("MALLOC_ARENA_MAX", "2")];
    let args = [
        "set",
        "4",
        "-l",
        "-o",
        "--seed",
        "1",
        "--max-pixels",
        "9000000",
    ];
    let out = limited_with("k_means", dir.path(), &args, &env);
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("16 images, 0 failed"), "{stdout}");
    let runs: Vec<_> = fs::read_dir(dir.path().join("output"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 16, "{stdout}");
    assert!(runs.iter().all(|run| run.join("loss_k4.txt").is_file()));
    // A shared palette's reading (decodes and histograms, in parallel) stays within the limit too.
    let shared = [&args[..], &["--shared-palette", "--out-dir", "shared"]].concat();
    let out = limited_with("k_means", dir.path(), &shared, &env);
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("16 images, 0 failed"), "{stdout}");
}

#[test]
fn a_palette_is_read_within_its_own_limit_and_named_in_its_errors() {
    let dir = tempdir().unwrap();
    save(dir.path(), "p.png", &blob_image(2, 8, 8));
    // Endless zeros are no palette: refused after a megabyte, not after the image limit (2 GB,
    // more than the memory this run may have).
    let out = limited(
        "k_means",
        dir.path(),
        &["p.png", "2", "--palette", "/dev/zero"],
    );
    assert_one_error(
        &out,
        1,
        "cannot read palette '/dev/zero': the file is too large for a palette",
    );
    // A palette image over the pixel limit is named as the palette, not as bytes in memory.
    save(
        dir.path(),
        "swatch.png",
        &RgbImage::from_pixel(4, 1, image::Rgb([9, 9, 9])),
    );
    let out = limited(
        "k_means",
        dir.path(),
        &["p.png", "1", "--palette", "swatch.png", "--max-pixels", "2"],
    );
    assert_one_error(
        &out,
        1,
        "cannot read palette 'swatch.png': it is 4x1 pixels, more than the limit of 2 pixels",
    );
    // Photoshop's palettes, damaged: a cut swatch file, a CMYK swatch, a table of the wrong size.
    let cases: [(&str, &[u8], &str); 3] = [
        ("cut.aco", &[0, 1, 0, 2, 0, 0, 0xff, 0xff], "cut short"),
        (
            "cmyk.aco",
            &[0, 1, 0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0],
            "swatch 1 is in CMYK; only RGB swatches are read",
        ),
        (
            "short.act",
            &[0; 700],
            "768 or 772 bytes long; this file is 700",
        ),
    ];
    for (name, bytes, says) in cases {
        fs::write(dir.path().join(name), bytes).unwrap();
        let out = limited("k_means", dir.path(), &["p.png", "1", "--palette", name]);
        assert_one_error(&out, 1, &format!("cannot read palette '{name}': "));
        assert_one_error(&out, 1, says);
    }
}

#[test]
fn restart_and_epoch_counts_are_capped() {
    let dir = tempdir().unwrap();
    save(dir.path(), "p.png", &blob_image(2, 4, 4));
    let out = limited(
        "k_means",
        dir.path(),
        &["p.png", "2", "--restarts", "4294967295"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not in 1..=1000"));
    let out = limited(
        "k_means",
        dir.path(),
        &["p.png", "2", "--max-epochs", "100001"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not in 1..=100000"));
    k_means_run(
        dir.path(),
        &["p.png", "2", "--restarts", "1000", "--max-epochs", "100000"],
    );
}

/// A JPEG segment: marker, length, payload.
fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
    let mut s = vec![0xFF, marker];
    s.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    s.extend_from_slice(payload);
    s
}

/// An EXIF APP1 segment (big-endian TIFF) with the orientation tag, and, when given, a thumbnail
/// JPEG in IFD1, as cameras write them.
fn exif_segment(orientation: u16, thumbnail: Option<&[u8]>) -> Vec<u8> {
    let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08".to_vec();
    // IFD0 at 8: one entry (orientation), then the offset of IFD1.
    tiff.extend_from_slice(&1u16.to_be_bytes());
    tiff.extend_from_slice(&[0x01, 0x12, 0x00, 0x03, 0, 0, 0, 1]);
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]);
    let ifd1 = 8 + 2 + 12 + 4;
    tiff.extend_from_slice(&(if thumbnail.is_some() { ifd1 } else { 0u32 }).to_be_bytes());
    if let Some(thumb) = thumbnail {
        let data = ifd1 + 2 + 2 * 12 + 4;
        tiff.extend_from_slice(&2u16.to_be_bytes());
        tiff.extend_from_slice(&[0x02, 0x01, 0x00, 0x04, 0, 0, 0, 1]);
        tiff.extend_from_slice(&data.to_be_bytes());
        tiff.extend_from_slice(&[0x02, 0x02, 0x00, 0x04, 0, 0, 0, 1]);
        tiff.extend_from_slice(&(thumb.len() as u32).to_be_bytes());
        tiff.extend_from_slice(&0u32.to_be_bytes());
        tiff.extend_from_slice(thumb);
    }
    let mut payload = b"Exif\x00\x00".to_vec();
    payload.extend(tiff);
    segment(0xE1, &payload)
}

/// `jpeg` with `app1` inserted right after its start-of-image marker.
fn with_app1(jpeg: &[u8], app1: &[u8]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// A photo-like JPEG as a camera writes it: EXIF with a thumbnail (which has its own end marker).
fn camera_jpeg(progressive: bool) -> Vec<u8> {
    let img = gradient_image(240, 160);
    let mut main = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut main, 90);
    enc.set_progressive(progressive);
    enc.encode(img.as_raw(), 240, 160, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    let thumb = encode(&gradient_image(24, 16), ImageFormat::Jpeg);
    with_app1(&main, &exif_segment(1, Some(&thumb)))
}

#[test]
fn cut_jpegs_are_refused_however_they_end() {
    let dir = tempdir().unwrap();
    for progressive in [false, true] {
        let jpeg = camera_jpeg(progressive);
        fs::write(dir.path().join("whole.jpg"), &jpeg).unwrap();
        k_means_run(dir.path(), &["whole.jpg", "4", "-l", "--out-dir", "whole"]);
        let mut cut = jpeg[..jpeg.len() / 2].to_vec();
        fs::write(dir.path().join("cut.jpg"), &cut).unwrap();
        cut.extend_from_slice(&[0xFF, 0xD9]);
        fs::write(dir.path().join("cut_eoi.jpg"), &cut).unwrap();
        for name in ["cut.jpg", "cut_eoi.jpg"] {
            let before = all_entries(dir.path());
            let out = limited("k_means", dir.path(), &[name, "4", "-i"]);
            assert_one_error(
                &out,
                1,
                &format!("cannot read image '{name}': the JPEG is truncated (its image data stops after row"),
            );
            assert_eq!(all_entries(dir.path()), before);
        }
    }
}

/// A progressive JPEG of noisy colours, large enough (over a megabyte) to be decoded in two halves
/// on two cores.
fn large_progressive_jpeg() -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    let img = RgbImage::from_fn(960, 720, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = state.to_le_bytes();
        image::Rgb([
            (x / 4) as u8 ^ n[0],
            ((y / 3) as u8).wrapping_add(n[1]),
            ((x + y) / 8) as u8 ^ n[2],
        ])
    });
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, 95);
    enc.set_progressive(true);
    enc.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_4_4);
    enc.encode(img.as_raw(), 960, 720, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    assert!(out.len() > 1 << 20, "{} bytes", out.len());
    out
}

#[test]
fn a_large_progressive_jpeg_gives_the_result_of_its_pixels_and_is_refused_when_cut() {
    let dir = tempdir().unwrap();
    let jpeg = large_progressive_jpeg();
    fs::write(dir.path().join("photo.jpg"), &jpeg).unwrap();
    // The same pixels, decoded here by one decoder, as a PNG: the same clustering, to the byte.
    let pixels = image::load_from_memory(&jpeg).unwrap().into_rgb8();
    save(dir.path(), "photo.png", &pixels);
    let args = |name: &'static str, out: &'static str| {
        [
            name,
            "12",
            "-o",
            "-l",
            "-c",
            "--seed",
            "5",
            "--out-dir",
            out,
        ]
    };
    let from_jpeg = k_means_run(dir.path(), &args("photo.jpg", "j"));
    let from_png = k_means_run(dir.path(), &args("photo.png", "p"));
    for file in ["colors_k12.txt", "loss_k12.txt"] {
        assert_eq!(
            fs::read(from_jpeg.join(file)).unwrap(),
            fs::read(from_png.join(file)).unwrap(),
            "{file}"
        );
    }
    // Cut in its last scan, or between two scans, with an end marker appended: one error, under
    // the memory limit, and nothing written.
    let last_scan = jpeg.windows(2).rposition(|w| w == [0xFF, 0xDA]).unwrap();
    for (cut, words) in [
        (
            jpeg.len() - 200,
            "the JPEG is truncated (its image data stops after row",
        ),
        (
            last_scan,
            "the JPEG is truncated (the scans that complete its picture are missing)",
        ),
    ] {
        let mut damaged = jpeg[..cut].to_vec();
        damaged.extend_from_slice(&[0xFF, 0xD9]);
        fs::write(dir.path().join("cut.jpg"), &damaged).unwrap();
        let before = all_entries(dir.path());
        let out = limited("k_means", dir.path(), &["cut.jpg", "12", "-i", "-l"]);
        assert_one_error(&out, 1, &format!("cannot read image 'cut.jpg': {words}"));
        assert_eq!(all_entries(dir.path()), before);
    }
}

#[test]
fn damaged_files_get_plain_messages() {
    let dir = tempdir().unwrap();
    let img = gradient_image(64, 48);
    let tiff = encode(&img, ImageFormat::Tiff);
    let bmp = encode(&img, ImageFormat::Bmp);
    let mut png = encode(&img, ImageFormat::Png);
    let idat = png.windows(4).position(|w| w == b"IDAT").unwrap();
    png[idat + 10] ^= 0x55;
    let cases: [(&str, &[u8], &str); 4] = [
        ("cut.tiff", &tiff[..tiff.len() / 2], "the TIFF is truncated"),
        ("cut.bmp", &bmp[..bmp.len() / 2], "the BMP is truncated"),
        (
            "bad.png",
            &png,
            "the PNG is corrupt: bad checksum in chunk IDAT",
        ),
        (
            "cut.png",
            &png[..idat + 20],
            "the PNG is truncated (chunk IDAT is cut short)",
        ),
    ];
    for (name, bytes, message) in cases {
        fs::write(dir.path().join(name), bytes).unwrap();
        let out = limited("k_means", dir.path(), &[name, "4"]);
        assert_one_error(&out, 1, &format!("cannot read image '{name}': {message}"));
    }
}

#[test]
fn exif_orientation_is_applied() {
    let dir = tempdir().unwrap();
    // 40x20 as stored: blue on the left, red on the right. Orientation 6 (the camera was turned
    // a quarter clockwise) shows it 20x40 with blue on top.
    let stored = RgbImage::from_fn(40, 20, |x, _| {
        image::Rgb(if x < 20 { [30, 30, 200] } else { [200, 30, 30] })
    });
    let jpeg = with_app1(&encode(&stored, ImageFormat::Jpeg), &exif_segment(6, None));
    fs::write(dir.path().join("phone.jpg"), jpeg).unwrap();
    let run = k_means_run(dir.path(), &["phone.jpg", "2", "--png", "--seed", "1"]);
    let out = image::open(run.join("final_image_k2.png"))
        .unwrap()
        .to_rgb8();
    assert_eq!(out.dimensions(), (20, 40));
    assert!(out.get_pixel(10, 5)[2] > 150, "{:?}", out.get_pixel(10, 5));
    assert!(
        out.get_pixel(10, 35)[0] > 150,
        "{:?}",
        out.get_pixel(10, 35)
    );
}

/// The run folder's name for `args`, learned from a run in a scratch out-dir.
fn run_folder_name(dir: &Path, args: &[&str]) -> String {
    let mut all = args.to_vec();
    all.extend(["--out-dir", "scratch"]);
    let run = k_means_run(dir, &all);
    let name = run.file_name().unwrap().to_str().unwrap().to_string();
    fs::remove_dir_all(dir.join("scratch")).unwrap();
    name
}

#[test]
fn links_planted_where_we_write_are_refused_and_their_targets_untouched() {
    let dir = tempdir().unwrap();
    save(dir.path(), "p.png", &blob_image(3, 30, 20));
    let args = ["p.png", "3", "-l", "-c"];
    let name = run_folder_name(dir.path(), &args);
    let precious = dir.path().join("precious");
    fs::create_dir(&precious).unwrap();
    fs::write(precious.join("loss_k3.txt"), b"mine").unwrap();
    fs::create_dir(dir.path().join("shared")).unwrap();
    std::os::unix::fs::symlink(&precious, dir.path().join("shared").join(&name)).unwrap();
    let out = limited(
        "k_means",
        dir.path(),
        &["p.png", "3", "-l", "-c", "--out-dir", "shared"],
    );
    assert_one_error(&out, 1, "it is a symbolic link, not a folder");
    assert_eq!(fs::read(precious.join("loss_k3.txt")).unwrap(), b"mine");
    assert_eq!(all_entries(&precious).len(), 1);

    // A link at one of the file names inside a real run folder: refused, nothing changed.
    let run = dir.path().join("out").join(&name);
    fs::create_dir_all(&run).unwrap();
    std::os::unix::fs::symlink(precious.join("loss_k3.txt"), run.join("loss_k3.txt")).unwrap();
    let out = limited(
        "k_means",
        dir.path(),
        &["p.png", "3", "-l", "-c", "--out-dir", "out"],
    );
    assert_one_error(
        &out,
        1,
        "it is a symbolic link, not a file kquant wrote; nothing was changed",
    );
    assert_eq!(fs::read(precious.join("loss_k3.txt")).unwrap(), b"mine");
    assert_eq!(all_entries(&run), [run.join("loss_k3.txt")]);
}

#[test]
fn names_that_differ_in_any_byte_get_their_own_run_folders() {
    let dir = tempdir().unwrap();
    let png = encode(&blob_image(2, 8, 8), ImageFormat::Png);
    let a = std::ffi::OsStr::from_bytes(b"a\xff.png");
    let b = std::ffi::OsStr::from_bytes(b"a\xfe.png");
    fs::write(dir.path().join(a), &png).unwrap();
    fs::write(dir.path().join(b), &png).unwrap();
    for name in [a, b] {
        let status = Command::new(bin("k_means"))
            .current_dir(dir.path())
            .arg(name)
            .args(["2", "-l", "--seed", "1"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    }
    assert_eq!(fs::read_dir(dir.path().join("output")).unwrap().count(), 2);
}

/// Whether `bytes` hold a control character other than a line's own end.
fn holds_control(bytes: &[u8]) -> bool {
    String::from_utf8_lossy(bytes)
        .chars()
        .any(|c| c.is_control() && c != '\n')
}

#[test]
fn names_with_line_breaks_and_terminal_escapes_are_shown_escaped() {
    let dir = tempdir().unwrap();
    let folder = dir.path().join("in");
    fs::create_dir(&folder).unwrap();
    // A picture whose name would recolour the terminal and set its title, and one whose name would
    // print a second, made-up line.
    let png = encode(&blob_image(2, 8, 8), ImageFormat::Png);
    let escape = "\u{1b}[31mred\u{1b}]0;title\u{7}.png";
    fs::write(folder.join(escape), &png).unwrap();
    let broken = "cut\nerror: fake.png";
    fs::write(folder.join(broken), &png[..40]).unwrap();

    let folder_run = Command::new(bin("k_means"))
        .current_dir(dir.path())
        .args(["in", "2", "-c", "--seed", "1"])
        .output()
        .unwrap();
    assert_eq!(folder_run.status.code(), Some(1));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&folder_run.stdout),
        String::from_utf8_lossy(&folder_run.stderr),
    );
    assert!(!holds_control(&folder_run.stdout), "{stdout:?}");
    assert!(!holds_control(&folder_run.stderr), "{stderr:?}");
    assert!(
        stdout.contains("in/\\u{1b}[31mred\\u{1b}]0;title\\u{7}.png: k = 2"),
        "{stdout:?}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(
        stderr.starts_with("error: cannot read image 'in/cut\\nerror: fake.png': "),
        "{stderr:?}"
    );
    // details.txt keeps one line per entry.
    let run = fs::read_dir(dir.path().join("output"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("details.txt").exists())
        .expect("the good picture's run folder");
    let details = fs::read(run.join("details.txt")).unwrap();
    assert!(!holds_control(&details));
    assert!(String::from_utf8_lossy(&details)
        .contains("\nimage: in/\\u{1b}[31mred\\u{1b}]0;title\\u{7}.png\n"));

    // One image named on the command line: the same on both streams.
    let one = Command::new(bin("k_means"))
        .current_dir(dir.path())
        .arg(format!("in/{escape}"))
        .args(["2", "-o", "--seed", "1"])
        .output()
        .unwrap();
    assert!(one.status.success());
    assert!(!holds_control(&one.stdout));
    let one_bad = Command::new(bin("k_means"))
        .current_dir(dir.path())
        .arg(format!("in/{broken}"))
        .arg("2")
        .output()
        .unwrap();
    assert_one_error(&one_bad, 1, "'in/cut\\nerror: fake.png'");
}

/// Checks that a run folder holds one run's files: the loss and the first colour agree with what
/// details.txt says, and nothing else (no staging or set-aside folder) is there.
fn assert_one_runs_files(run: &Path) {
    let details = fs::read_to_string(run.join("details.txt")).unwrap();
    let loss = fs::read_to_string(run.join("loss_k8.txt")).unwrap();
    assert!(
        details.contains(&format!("final loss: {}", loss.trim())),
        "loss {loss} does not match {details}"
    );
    let colors = common::read_colors(run, 8);
    let [r, g, b] = colors[0];
    assert!(
        details.contains(&format!("colour shares: #{r:02x}{g:02x}{b:02x}")),
        "colours do not match {details}"
    );
    let mut names: Vec<String> = fs::read_dir(run)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["colors_k8.txt", "details.txt", "loss_k8.txt"]);
}

#[test]
fn identical_runs_at_once_leave_one_consistent_set_and_all_succeed() {
    let dir = tempdir().unwrap();
    save(dir.path(), "scene.png", &gradient_image(60, 40));
    for round in 0..4 {
        let out_dir = format!("fresh{round}/nested/out");
        let children: Vec<_> = (0..8)
            .map(|_| {
                Command::new(bin("k_means"))
                    .current_dir(dir.path())
                    .args([
                        "scene.png",
                        "8",
                        "-c",
                        "-l",
                        "--restarts",
                        "3",
                        "--out-dir",
                        &out_dir,
                    ])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            assert_success(&child.wait_with_output().unwrap());
        }
        assert_one_runs_files(&only_run_dir(&dir.path().join(&out_dir)));
    }
}

#[test]
fn leftovers_of_a_killed_run_are_removed_by_the_next() {
    let dir = tempdir().unwrap();
    save(dir.path(), "p.png", &blob_image(3, 30, 20));
    let run = k_means_run(dir.path(), &["p.png", "3", "-l", "--seed", "2"]);
    // What SIGKILL in the middle of writing leaves: a staging folder whose run is gone.
    let stage = run.join(".kquant-staging-00000000deadbeef");
    fs::create_dir(&stage).unwrap();
    fs::write(stage.join("loss_k3.txt"), b"half").unwrap();
    k_means_run(dir.path(), &["p.png", "3", "-l", "--seed", "2"]);
    assert!(!stage.exists());
    let mut names: Vec<PathBuf> = all_entries(&run);
    names.sort();
    assert_eq!(names, [run.join("details.txt"), run.join("loss_k3.txt")]);
}

/// Waits (bounded) until `child` has a handler for SIGINT, so a signal sent now is caught; stops it
/// if it never gets one.
fn wait_for_handler(child: &mut std::process::Child) {
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) {
            let caught = status
                .lines()
                .find_map(|l| l.strip_prefix("SigCgt:"))
                .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
                .unwrap_or(0);
            if caught & (1 << (2 - 1)) != 0 {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("process {pid} never handled SIGINT");
}

fn signal(pid: u32, sig: rustix::process::Signal) {
    rustix::process::kill_process(rustix::process::Pid::from_raw(pid as i32).unwrap(), sig)
        .unwrap();
}

#[test]
fn a_signal_mid_run_removes_everything_and_exits_128_plus_its_number() {
    use rustix::process::Signal;
    let dir = tempdir().unwrap();
    save(dir.path(), "big.png", &gradient_image(400, 300));
    for (sig, code) in [(Signal::INT, 130), (Signal::TERM, 143), (Signal::HUP, 129)] {
        // Minutes of work: the signal surely comes mid-run.
        let mut child = Command::new(bin("k_means"))
            .current_dir(dir.path())
            .args([
                "big.png",
                "256",
                "-i",
                "-c",
                "--init",
                "kmeans++",
                "--restarts",
                "1000",
                "--max-epochs",
                "100000",
                "--out-dir",
                "new/out",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for_handler(&mut child);
        signal(child.id(), sig);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{sig:?}");
        assert!(!dir.path().join("new").exists(), "{sig:?} left the out-dir");
    }
}

/// A folder's lines come as its images finish, in name order: a run stopped midway has said which
/// images it finished, and their run folders stay; the unfinished image leaves nothing.
#[test]
fn a_folder_stopped_midway_has_told_which_images_it_finished() {
    use std::io::BufRead;
    let dir = tempdir().unwrap();
    let set = dir.path().join("set");
    fs::create_dir(&set).unwrap();
    save(&set, "a.png", &blob_image(2, 8, 8));
    save(&set, "b.png", &gradient_image(400, 300));
    // a.png takes moments, b.png minutes: the signal surely comes while b.png runs.
    let mut child = Command::new(bin("k_means"))
        .current_dir(dir.path())
        .args(["set", "64", "-c", "--best", "--restarts", "1000"])
        .args(["--max-epochs", "100000", "--seed", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    // (The time limit only stops a run that prints nothing until the end from stalling the tests.)
    let (sent, first) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        sent.send(first).unwrap();
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
        rest
    });
    let Ok(first) = first.recv_timeout(Duration::from_secs(300)) else {
        let _ = child.kill();
        panic!("no line while the folder ran");
    };
    assert!(first.starts_with("set/a.png: k = 64: "), "{first}");
    signal(child.id(), rustix::process::Signal::TERM);
    let rest = reader.join().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143), "{rest}");
    assert_eq!(rest, "", "nothing more is printed");
    let run = first.trim_end().rsplit(" -> ").next().unwrap();
    let entries = all_entries(&dir.path().join("output"));
    assert_eq!(
        entries.len(),
        3,
        "a.png's folder and its two files: {entries:?}"
    );
    // Two stripes, each of two colours (its noise): all four, each a colour of the palette.
    assert_eq!(read_colors(&dir.path().join(run), 64).len(), 4);
    assert!(dir.path().join(run).join("details.txt").is_file());
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let dir = tempdir().unwrap();
    let tmp = tempdir().unwrap();
    save(dir.path(), "p.png", &blob_image(3, 30, 20));
    for name in ["k_means", "find_k"] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let args: &[&str] = if name == "k_means" {
            &["p.png", "3", "-l"]
        } else {
            &["p.png", "-o", "--k-max", "4", "--out-dir", "sweep"]
        };
        let out = Command::new(bin(name))
            .current_dir(dir.path())
            .env("TMPDIR", tmp.path())
            .args(args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(141), "{name}");
        assert!(
            out.stderr.is_empty(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // k_means had finished its files; find_k stops at its first line and removes everything.
    assert!(only_run_dir(&dir.path().join("output"))
        .join("loss_k3.txt")
        .exists());
    assert!(!dir.path().join("sweep").exists());
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
}

/// `find_k` run in `dir`, with its temporary folders in `tmp` (so a test sees what it leaves there).
fn find_k_in(dir: &Path, tmp: &Path) -> Command {
    let mut cmd = Command::new(bin("find_k"));
    cmd.current_dir(dir).env("TMPDIR", tmp);
    cmd
}

/// find_k reads the image once and gives every child a copy of it, so a picture that arrives through
/// a pipe (a FIFO, as `<(curl ...)` gives it, or `-`, standard input) is swept like a file, with the
/// same losses; a child never reads the pipe (which would hold every child but the first for ever).
#[test]
fn find_k_reads_a_pipe_once_and_sweeps_it_like_the_file() {
    let dir = tempdir().unwrap();
    let tmp = tempdir().unwrap();
    let png = encode(&blob_image(3, 30, 20), ImageFormat::Png);
    fs::write(dir.path().join("photo.png"), &png).unwrap();
    let losses = |out_dir: &str| {
        let run = only_run_dir(&dir.path().join(out_dir));
        fs::read_to_string(run.join("losses.csv")).unwrap()
    };
    let args = ["-o", "--seed", "3", "--k-max", "6", "--out-dir"];
    assert_success(
        &find_k_in(dir.path(), tmp.path())
            .args(args)
            .args(["file", "--", "photo.png"])
            .output()
            .unwrap(),
    );
    let fifo = dir.path().join("pipe.png");
    make_fifo(&fifo);
    let bytes = png.clone();
    let writer = std::thread::spawn(move || fs::write(fifo, bytes).unwrap());
    // (The time limit only stops a hang from stalling the tests; nothing is timed.)
    let out = assert_cmd::Command::from_std(find_k_in(dir.path(), tmp.path()))
        .args(args)
        .args(["fifo", "--", "pipe.png"])
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap();
    writer.join().unwrap();
    assert_success(&out);
    let out = assert_cmd::Command::from_std(find_k_in(dir.path(), tmp.path()))
        .args(args)
        .args(["stdin", "--", "-"])
        .write_stdin(png)
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap();
    assert_success(&out);
    assert_eq!(losses("fifo"), losses("file"));
    assert_eq!(losses("stdin"), losses("file"));
    assert_eq!(losses("file").lines().count(), 6, "a header and K = 2..=6");
    assert!(all_entries(tmp.path()).is_empty());
    // A pipe that holds no image is the sweep's own error, before any child runs.
    let out = assert_cmd::Command::from_std(find_k_in(dir.path(), tmp.path()))
        .args(["-o", "--out-dir", "none", "--", "-"])
        .write_stdin(b"not an image".to_vec())
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap();
    assert_one_error(
        &out,
        1,
        "cannot read image '-': not a recognised image format",
    );
    assert!(!dir.path().join("none").exists() && all_entries(tmp.path()).is_empty());
}

/// Reading a FIFO nobody writes to, or standard input nobody feeds, waits for ever: a signal still
/// stops find_k, which removes its private folder and exits with 128 + the signal's number.
#[test]
fn find_k_waiting_for_a_pipe_still_stops_on_a_signal() {
    use rustix::process::Signal;
    let dir = tempdir().unwrap();
    let tmp = tempdir().unwrap();
    make_fifo(&dir.path().join("pipe.png"));
    for (name, sig, code) in [("pipe.png", Signal::INT, 130), ("-", Signal::TERM, 143)] {
        let mut child = find_k_in(dir.path(), tmp.path())
            .args(["-o", "--out-dir", "sweep", "--", name])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The private folder is made once the handler is in place, before the picture is read.
        let deadline = Instant::now() + Duration::from_secs(30);
        while all_entries(tmp.path()).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            !all_entries(tmp.path()).is_empty(),
            "{name}: no private folder"
        );
        wait_for_handler(&mut child);
        signal(child.id(), sig);
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            panic!("{name}: find_k went on waiting after {sig:?}");
        }
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{name}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "error: interrupted; nothing was written\n"
        );
        assert!(all_entries(tmp.path()).is_empty(), "{name}");
        assert!(!dir.path().join("sweep").exists(), "{name}");
    }
}

/// A TMPDIR that does not exist, or is a file: find_k says it is the temporary folder, before any
/// child runs, and makes nothing.
#[test]
fn find_k_names_a_bad_tmpdir() {
    let dir = tempdir().unwrap();
    save(dir.path(), "p.png", &blob_image(3, 30, 20));
    for tmp in [dir.path().join("missing"), dir.path().join("p.png")] {
        let out = find_k_in(dir.path(), &tmp)
            .args(["p.png", "-o"])
            .output()
            .unwrap();
        let says = format!(
            "cannot make a temporary folder in '{}' (TMPDIR): ",
            tmp.display()
        );
        assert_one_error(&out, 1, &says);
        // The operating system's words, without the random name tempfile tried.
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.trim_end().ends_with(')'), "{stderr}");
        assert!(!stderr.contains(".find_k-"), "{stderr}");
        assert_eq!(all_entries(dir.path()).len(), 1, "only p.png");
    }
}

fn alive(pid: i32) -> bool {
    // A zombie has finished; only a process still running counts.
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

fn pids_in(file: &Path) -> Vec<i32> {
    fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

#[test]
fn find_k_stops_children_and_grandchildren_on_sigterm_and_hanging_ones_on_timeout() {
    let dir = tempdir().unwrap();
    let tmp = tempdir().unwrap();
    save(dir.path(), "p.png", &blob_image(3, 30, 20));
    let pids = dir.path().join("pids");
    let hang = k_means_stand_in(
        dir.path(),
        "hang.sh",
        &format!(
            "echo $$ >> '{0}'\nsleep 600 &\necho $! >> '{0}'\nwait",
            pids.display()
        ),
    );
    let hang = hang.to_str().unwrap();

    let mut child = find_k_in(dir.path(), tmp.path())
        .args(["p.png", "-j", "2", "--k-means", hang, "--out-dir", "sweep"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while pids_in(&pids).len() < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(pids_in(&pids).len(), 4, "two wrappers and their sleeps");
    wait_for_handler(&mut child);
    signal(child.id(), rustix::process::Signal::TERM);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143));
    for pid in pids_in(&pids) {
        assert!(!alive(pid), "process {pid} outlived find_k");
    }
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    assert!(!dir.path().join("sweep").exists());

    fs::remove_file(&pids).unwrap();
    let out = find_k_in(dir.path(), tmp.path())
        .args(["p.png", "--k-max", "2", "--timeout", "1", "--k-means", hang])
        .output()
        .unwrap();
    assert_one_error(&out, 1, "k_means timed out for k = 2 after 1 s (--timeout)");
    for pid in pids_in(&pids) {
        assert!(!alive(pid), "process {pid} outlived find_k");
    }
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn find_k_reads_a_chatty_childs_stderr_as_it_comes() {
    let dir = tempdir().unwrap();
    let tmp = tempdir().unwrap();
    save(dir.path(), "p.png", &blob_image(3, 30, 20));
    // 300 KB on stderr: far more than a pipe holds.
    let chatty = k_means_stand_in(
        dir.path(),
        "chatty.sh",
        "i=0\nwhile [ $i -lt 3000 ]; do echo 'chatter chatter chatter chatter chatter chatter chatter chatter chatter chatter' >&2; i=$((i+1)); done\nexec \"$K\" \"$@\"",
    );
    let out = find_k_in(dir.path(), tmp.path())
        .args([
            "p.png",
            "-o",
            "--k-max",
            "4",
            "--timeout",
            "60",
            "--k-means",
        ])
        .arg(&chatty)
        .output()
        .unwrap();
    assert_success(&out);
}

#[test]
fn find_k_arguments_and_childrens_results_are_checked() {
    let dir = tempdir().unwrap();
    let tmp = tempdir().unwrap();
    save(dir.path(), "-i.png", &blob_image(3, 30, 20));
    let out = find_k_in(dir.path(), tmp.path())
        .args(["-o", "--k-max", "4", "--", "-i.png"])
        .output()
        .unwrap();
    assert_success(&out);

    // A folder is not one image to sweep.
    let out = find_k_in(dir.path(), tmp.path())
        .args(["--", "."])
        .output()
        .unwrap();
    assert_one_error(&out, 1, "it is a folder; find_k sweeps one image");

    // An out-dir that is a file is refused before any child runs (this one would hang).
    fs::write(dir.path().join("file"), b"x").unwrap();
    let hang = k_means_stand_in(dir.path(), "hang.sh", "sleep 600");
    let out = find_k_in(dir.path(), tmp.path())
        .args(["--out-dir", "file", "--timeout", "30", "--k-means"])
        .arg(&hang)
        .args(["--", "-i.png"])
        .output()
        .unwrap();
    assert_one_error(&out, 1, "cannot write 'file': it is not a folder");

    // A child whose loss file says something no k_means run writes.
    for fake in ["-1.000000", "1e308", &format!("{}.000000", "9".repeat(309))] {
        let liar = k_means_stand_in(
            dir.path(),
            "liar.sh",
            &format!(
                "\"$K\" \"$@\" || exit $?\nwhile [ \"$1\" != --out-dir ]; do shift; done\nfor f in \"$2\"/*/loss_k*.txt; do echo '{fake}' > \"$f\"; done"
            ),
        );
        let out = find_k_in(dir.path(), tmp.path())
            .args(["-o", "--k-max", "3", "--out-dir", "sweep", "--k-means"])
            .arg(&liar)
            .args(["--", "-i.png"])
            .output()
            .unwrap();
        assert_one_error(&out, 1, "holds no loss");
        assert!(!dir.path().join("sweep").exists());
    }
    // A child that names another run folder than its own: find_k reads and removes only a run
    // folder inside its private folder, whatever a child prints.
    let victim = dir.path().join("victim");
    fs::create_dir(&victim).unwrap();
    fs::write(victim.join("loss_k2.txt"), "1.000000\n").unwrap();
    for printed in ["../../victim", "victim", "/"] {
        let liar = k_means_stand_in(
            dir.path(),
            "points_elsewhere.sh",
            &format!("\"$K\" \"$@\" > /dev/null || exit $?\necho 'output folder name: {printed}'"),
        );
        let out = find_k_in(dir.path(), tmp.path())
            .args(["-o", "--k-max", "3", "--out-dir", "sweep", "--k-means"])
            .arg(&liar)
            .args(["--", "-i.png"])
            .output()
            .unwrap();
        assert_one_error(&out, 1, "it did not print its run folder");
        assert!(victim.join("loss_k2.txt").exists(), "{printed}");
        assert!(!dir.path().join("sweep").exists());
    }
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn ctrl_c_at_the_terminal_interrupts_find_k_not_its_children() {
    let dir = tempdir().unwrap();
    let tmp = tempdir().unwrap();
    save(dir.path(), "p.png", &blob_image(3, 30, 20));
    let pids = dir.path().join("pids");
    let hang = k_means_stand_in(
        dir.path(),
        "hang.sh",
        &format!("echo $$ >> '{}'\nexec sleep 600", pids.display()),
    );
    // A terminal sends Ctrl-C to its whole foreground process group: find_k leads one here.
    let mut child = find_k_in(dir.path(), tmp.path())
        .args(["p.png", "-j", "3", "--out-dir", "sweep", "--k-means"])
        .arg(&hang)
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while pids_in(&pids).len() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    wait_for_handler(&mut child);
    let group = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process_group(group, rustix::process::Signal::INT).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_one_error(&out, 130, "interrupted; nothing was written");
    for pid in pids_in(&pids) {
        assert!(!alive(pid), "process {pid} outlived find_k");
    }
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
}
