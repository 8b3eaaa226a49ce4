//! Thousands of damaged small images through the loader: truncations, flipped bytes and edited
//! header fields of JPEG (baseline and progressive), PNG (8-bit RGB, 16-bit RGBA, a 4-bit palette
//! with transparency), GIF, BMP, TIFF (8-bit RGB, 16-bit RGBA, JPEG-compressed YCbCr with its
//! directory first), WebP and ICO files. A PNG's edited header also gets its
//! checksums made anew, so that the decoder meets any size, depth, colour type and interlacing
//! with data that does not fit them.
//! Whatever the damage, loading returns (never panics), and never allocates more than the limit
//! allows.
//!
//! This binary holds one test, so the allocation counter sees only the loader's work.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Cursor;
use std::sync::atomic::{AtomicUsize, Ordering};

use image::{ImageFormat, RgbImage, RgbaImage};
use kquant::io::{decode_picture, LoadLimits};
use proptest::prelude::*;

/// The system allocator, counting the bytes in use and their peak.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = IN_USE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            let now = IN_USE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let grow = new_size - layout.size();
                let now = IN_USE.fetch_add(grow, Ordering::Relaxed) + grow;
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                IN_USE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The limit the loader runs with: 64 thousand pixels, so a header edited to claim more is refused.
const MAX_PIXELS: u64 = 1 << 16;
/// What a load may hold at its peak beyond what was in use before it: the largest allowed picture
/// at 16-bit RGBA several times over (decoder buffer, conversions, orientation), plus decoder
/// tables. Far below what any edited header could claim (up to 4 billion pixels).
const PEAK_ALLOWED: usize = 64 << 20;

fn scene(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let h = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) >> 11;
        image::Rgb([
            (x * 255 / width) as u8 ^ (h as u8 & 7),
            (y * 255 / height) as u8,
            ((x * 3 + y) % 256) as u8,
        ])
    })
}

fn encoded(format: ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    let img = scene(37, 23);
    match format {
        ImageFormat::WebP | ImageFormat::Gif | ImageFormat::Ico => {
            let rgba: RgbaImage = image::DynamicImage::ImageRgb8(img).to_rgba8();
            rgba.write_to(&mut Cursor::new(&mut out), format).unwrap();
        }
        _ => img.write_to(&mut Cursor::new(&mut out), format).unwrap(),
    }
    out
}

fn progressive_jpeg() -> Vec<u8> {
    let img = scene(37, 23);
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, 85);
    enc.set_progressive(true);
    enc.encode(img.as_raw(), 37, 23, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    out
}

fn originals() -> Vec<Vec<u8>> {
    let mut files: Vec<Vec<u8>> = [
        ImageFormat::Jpeg,
        ImageFormat::Png,
        ImageFormat::Gif,
        ImageFormat::Bmp,
        ImageFormat::Tiff,
        ImageFormat::WebP,
        ImageFormat::Ico,
    ]
    .into_iter()
    .map(encoded)
    .collect();
    files.push(progressive_jpeg());
    files.push(rgba_16_bit(ImageFormat::Png));
    files.push(png_palette());
    files.push(rgba_16_bit(ImageFormat::Tiff));
    files.push(tiff_jpeg_ycbcr());
    files
}

/// A TIFF of one strip holding a whole 4:2:0 JPEG (YCbCr), its directory right after the header,
/// where edits of the first 64 bytes reach it.
fn tiff_jpeg_ycbcr() -> Vec<u8> {
    let img = scene(37, 23);
    let mut jpeg = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut jpeg, 85);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    encoder
        .encode(img.as_raw(), 37, 23, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    // (tag, type: 3 SHORT or 4 LONG, value); the strip follows the directory and its one
    // out-of-line value (BitsPerSample).
    let entries: [(u16, u16, u32, u32); 11] = [
        (256, 4, 1, 37),
        (257, 4, 1, 23),
        (258, 3, 3, 0), // out of line: set below
        (259, 3, 1, 7),
        (262, 3, 1, 6),
        (273, 4, 1, 0), // the strip's offset: set below
        (277, 3, 1, 3),
        (278, 4, 1, 23),
        (279, 4, 1, jpeg.len() as u32),
        (284, 3, 1, 1),
        (530, 3, 2, 2 | 2 << 16),
    ];
    let bits_at = 8 + 2 + 12 * entries.len() as u32 + 4;
    let strip_at = bits_at + 6;
    let mut out = b"II\x2a\x00\x08\x00\x00\x00".to_vec();
    out.extend((entries.len() as u16).to_le_bytes());
    for (tag, kind, count, value) in entries {
        let value = match tag {
            258 => bits_at,
            273 => strip_at,
            _ => value,
        };
        out.extend(tag.to_le_bytes());
        out.extend(kind.to_le_bytes());
        out.extend(count.to_le_bytes());
        out.extend(value.to_le_bytes());
    }
    out.extend(0u32.to_le_bytes());
    for _ in 0..3 {
        out.extend(8u16.to_le_bytes());
    }
    out.extend(jpeg);
    out
}

/// The scene at 16 bits a sample, with an alpha ramp, as a `format` file (PNG or TIFF).
fn rgba_16_bit(format: ImageFormat) -> Vec<u8> {
    let img = scene(37, 23);
    let deep = image::ImageBuffer::<image::Rgba<u16>, Vec<u16>>::from_fn(37, 23, |x, y| {
        let p = img.get_pixel(x, y);
        image::Rgba([
            u16::from(p[0]) * 257,
            u16::from(p[1]) * 255,
            u16::from(p[2]) << 8,
            (x * 1700) as u16,
        ])
    });
    let mut out = Vec::new();
    deep.write_to(&mut Cursor::new(&mut out), format).unwrap();
    out
}

/// A 4-bit palette PNG whose first entries are partly transparent.
fn png_palette() -> Vec<u8> {
    let img = scene(37, 23);
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, 37, 23);
    encoder.set_color(png::ColorType::Indexed);
    encoder.set_depth(png::BitDepth::Four);
    let palette: Vec<u8> = (0..48u8).map(|i| i.wrapping_mul(37)).collect();
    encoder.set_palette(palette);
    encoder.set_trns(vec![0u8, 90, 180]);
    let mut writer = encoder.write_header().unwrap();
    let rows: Vec<u8> = (0..23)
        .flat_map(|y| {
            (0..37u32)
                .step_by(2)
                .map(move |x| (x, y))
                .collect::<Vec<_>>()
        })
        .map(|(x, y)| {
            let index = |x: u32| img.get_pixel(x.min(36), y)[0] >> 4;
            (index(x) << 4) | index(x + 1)
        })
        .collect();
    writer.write_image_data(&rows).unwrap();
    drop(writer);
    out
}

/// Makes every whole chunk's checksum of a PNG match its (edited) contents.
fn fix_png_checksums(bytes: &mut [u8]) {
    if !bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return;
    }
    let mut pos = 8;
    while let Some(head) = bytes.get(pos..pos + 8) {
        let len = u32::from_be_bytes(head[..4].try_into().unwrap()) as usize;
        let Some(end) = (pos + 8).checked_add(len).filter(|&e| e + 4 <= bytes.len()) else {
            return;
        };
        let crc = crc32fast::hash(&bytes[pos + 4..end]);
        bytes[end..end + 4].copy_from_slice(&crc.to_be_bytes());
        pos = end + 4;
    }
}

/// One kind of damage.
#[derive(Debug, Clone)]
enum Damage {
    /// Keep the first `at` (as a fraction of the length, in thousandths) bytes.
    Truncate(u32),
    /// XOR bytes at these positions (thousandths of the length) with these values.
    Flip(Vec<(u32, u8)>),
    /// Overwrite bytes in the first 64 (where the headers and sizes are) with these values.
    Header(Vec<(u8, u8)>),
    /// Overwrite bytes of a PNG's header (IHDR: size, depth, colour type, interlacing) with these
    /// values, then make its checksums match.
    PngHeader(Vec<(u8, u8)>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (0u32..1000).prop_map(Damage::Truncate),
        prop::collection::vec((0u32..1000, 1u8..=255), 1..8).prop_map(Damage::Flip),
        prop::collection::vec((0u8..64, any::<u8>()), 1..6).prop_map(Damage::Header),
        // Mostly values a header field can take: depths, colour types, interlacing.
        prop::collection::vec(
            (
                16u8..29,
                prop_oneof![
                    prop::sample::select(vec![0u8, 1, 2, 3, 4, 6, 8, 16]),
                    any::<u8>()
                ]
            ),
            1..4
        )
        .prop_map(Damage::PngHeader),
    ]
}

fn apply(original: &[u8], damage: &Damage) -> Vec<u8> {
    let mut bytes = original.to_vec();
    let len = bytes.len();
    let at = |t: u32| (t as usize * len / 1000).min(len.saturating_sub(1));
    match damage {
        Damage::Truncate(t) => bytes.truncate(at(*t)),
        Damage::Flip(flips) => {
            for &(t, v) in flips {
                let i = at(t);
                bytes[i] ^= v;
            }
        }
        Damage::Header(edits) | Damage::PngHeader(edits) => {
            for &(i, v) in edits {
                if let Some(b) = bytes.get_mut(usize::from(i)) {
                    *b = v;
                }
            }
            if matches!(damage, Damage::PngHeader(_)) {
                fix_png_checksums(&mut bytes);
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn damaged_files_never_panic_nor_allocate_past_the_limit(which in 0usize..12, damage in damage()) {
        thread_local! {
            static ORIGINALS: Vec<Vec<u8>> = originals();
        }
        let bytes = ORIGINALS.with(|o| apply(&o[which], &damage));
        let limits = LoadLimits::new(MAX_PIXELS);
        let before = IN_USE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let result = decode_picture(&bytes, &limits);
        let peak = PEAK.load(Ordering::Relaxed) - before;
        prop_assert!(peak <= PEAK_ALLOWED, "{damage:?} of file {which}: peak {peak} bytes");
        if let Ok(picture) = &result {
            prop_assert!(u64::from(picture.width()) * u64::from(picture.height()) <= MAX_PIXELS);
        }
        if let Err(e) = &result {
            let text = e.to_string();
            prop_assert!(!text.contains('{') && !text.contains('\n'), "{text}");
        }
    }
}

#[test]
fn the_undamaged_files_load() {
    for (i, bytes) in originals().iter().enumerate() {
        let picture = decode_picture(bytes, &LoadLimits::new(MAX_PIXELS))
            .unwrap_or_else(|e| panic!("file {i}: {e}"));
        assert_eq!((picture.width(), picture.height()), (37, 23), "file {i}");
    }
}
