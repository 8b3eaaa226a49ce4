//! Reading an image file as an attacker might have made it: within limits, and refusing damage.
//!
//! A file of a few bytes can claim a picture of ten billion pixels, a device can be endless, and a
//! cut-off download decodes "successfully" with its missing part filled in. So the file is read
//! through a bounded reader (its format known from its first bytes before the rest is read), the
//! picture's size is checked from its header before any pixel buffer exists, the decoder runs with
//! the `image` crate's allocation limit on, a JPEG's image data is checked to be whole and a PNG's
//! checksums to be right, and the EXIF orientation is applied so the picture stands as viewers
//! show it. A large progressive JPEG is decoded in two halves on two cores ([`jpeg_split`]), with
//! the pixels of one decode; a PNG is converted row by row as it is decoded ([`png_rows`]), and a
//! TIFF strip by strip ([`tiff_chunks`]), so that a 16-bit one costs the memory of its 8-bit
//! picture.

use std::fs::File;
use std::io::{BufRead, Cursor, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use image::metadata::Orientation;
use image::{DynamicImage, GrayImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};

use super::error::{DecodeError, ImageError as Error, StructureDamage};
use super::jpeg_check;
use super::jpeg_split;
use super::png_rows;
use super::tiff_chunks;
use crate::pixels::{Picture, MAX_PICTURE_PIXELS};

/// The largest picture read by default: 256 megapixels, more than any camera makes (a 100 MP
/// medium-format photo is 11648 x 8736), as libvips and ImageMagick policies do.
pub const DEFAULT_MAX_PIXELS: u64 = 256_000_000;

/// Bytes of file allowed per allowed pixel: the largest uncompressed pixel any format stores
/// (16-bit RGBA), so every real file of an allowed size is read.
const FILE_BYTES_PER_PIXEL: u64 = 8;

/// The eight bytes every PNG starts with.
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// What a PNG may allocate beyond its picture (at 8 bytes a pixel): its colour profile, which the
/// decoder inflates whole (real ones are a few KB to a few MB), and its text.
const METADATA_BYTES: u64 = 16 << 20;

/// Bytes read before the format is known: enough for every signature the decoders recognise.
const SIGNATURE_BYTES: u64 = 64;

/// Bytes read, at most, to name the format of a picture the decoders do not read, and to tell a
/// folder's pictures: an HEIF or AVIF file says what it is by the brands of its first box, which
/// may list more of them than [`SIGNATURE_BYTES`] hold.
pub(crate) const HEAD_BYTES: u64 = 1024;

/// Below this many bytes a JPEG's data is checked before decoding rather than beside it (the
/// check of a 200 KB file takes about a millisecond; a thread costs more to start and join).
const SMALL_JPEG: usize = 64 * 1024;

/// The largest progressive JPEG decoded in two halves on two cores ([`jpeg_split`]): 12 MiB
/// pixels, a 4032 x 3024 phone photo. The halves' decoders each hold every component's
/// coefficients, so a split decode needs up to twice the memory of one (at 4:4:4, 16 bytes a pixel
/// against 9); above this size the usual decode keeps the peak down.
const SPLIT_MAX_PIXELS: u64 = 12 << 20;

/// The smallest progressive JPEG decoded in two halves: below about a megabyte the entropy-coded
/// data, the work the halves share out, is too little to pay for what both halves do twice (each
/// transforms and upsamples every component). Measured against the one-core decode: a 2.5 MP photo
/// of 0.2 MB 4 ms slower (25 against 21 ms) and of 0.5 MB 2-3 ms slower, a 2 MP one of 0.5 MB the
/// same, of 1.1 MB 2 ms faster, 8 MP of 1.9 MB 8 ms faster, Elephants (8.4 MB) 29 ms faster.
const SPLIT_MIN_BYTES: usize = 1 << 20;

/// The most the two halves' decoders hold together, in bytes a pixel (4:4:4: both halves'
/// coefficients, 6 bytes a pixel each, the grey output and the YCbCr output). A picture is cut only
/// when this stays within the decoders' allocation limit ([`LoadLimits::max_alloc`]), which the
/// usual decode keeps to.
const SPLIT_BYTES_PER_PIXEL: u64 = 16;

/// What a picture may cost. Memory while loading is bounded by these: the file (at most
/// [`Self::max_file_bytes`]) and the decoded picture (at most `max_pixels` pixels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadLimits {
    /// The largest picture, in pixels (width x height), that is decoded.
    pub max_pixels: u64,
}

impl Default for LoadLimits {
    fn default() -> Self {
        Self {
            max_pixels: DEFAULT_MAX_PIXELS,
        }
    }
}

impl LoadLimits {
    /// Limits allowing pictures of up to `max_pixels` pixels (at most [`MAX_PICTURE_PIXELS`]:
    /// see [`Self::pixel_limit`]).
    pub fn new(max_pixels: u64) -> Self {
        Self { max_pixels }
    }

    /// The largest picture read, in pixels: `max_pixels`, but never more than
    /// [`MAX_PICTURE_PIXELS`], however the field was set.
    pub fn pixel_limit(&self) -> u64 {
        self.max_pixels.min(MAX_PICTURE_PIXELS)
    }

    /// The largest file read: 8 bytes per allowed pixel, plus 1 MiB for headers and metadata.
    pub fn max_file_bytes(&self) -> u64 {
        self.pixel_limit()
            .saturating_mul(FILE_BYTES_PER_PIXEL)
            .saturating_add(1 << 20)
    }

    /// The most the decoder may allocate for pixels: the largest allowed picture at 16-bit RGBA.
    fn max_alloc(&self) -> u64 {
        self.pixel_limit().saturating_mul(FILE_BYTES_PER_PIXEL)
    }
}

/// Reads and decodes an image with the default [`LoadLimits`]; see [`load_picture_with`].
///
/// # Errors
/// As [`load_picture_with`].
pub fn load_picture(path: &Path) -> Result<Picture, Error> {
    load_picture_with(path, &LoadLimits::default())
}

/// Reads and decodes an image in any format the `image` crate knows (by content, not by extension),
/// within `limits`. Grayscale becomes RGB, 16-bit becomes 8-bit, alpha is kept beside the colours,
/// and the EXIF orientation is applied.
///
/// # Errors
/// [`Error::Read`] when the file cannot be opened or read; [`Error::FileTooLarge`] or
/// [`Error::TooLarge`] when the file or the picture its header describes is over a limit (checked
/// before the pixels are decoded); [`Error::Decode`] when it is empty, not an image, truncated or
/// corrupt.
pub fn load_picture_with(path: &Path, limits: &LoadLimits) -> Result<Picture, Error> {
    let bytes = read_bounded(path, limits)?;
    decode_bytes(&bytes, path, limits)
}

/// Reads an image from `stream` (standard input, a socket) within `limits`, as
/// [`load_picture_with`] reads a pipe: its first bytes must be an image's signature, and no more
/// than [`LoadLimits::max_file_bytes`] are read. Errors name the picture `name`.
///
/// # Errors
/// As [`load_picture_with`].
pub fn read_picture(stream: impl Read, name: &Path, limits: &LoadLimits) -> Result<Picture, Error> {
    let bytes = read_stream(stream, None, name, limits)?;
    decode_bytes(&bytes, name, limits)
}

/// Decodes an image held in memory, within `limits`, as [`load_picture_with`] decodes a file
/// (errors name the picture `<memory>`).
///
/// # Errors
/// As [`load_picture_with`], but for reading.
pub fn decode_picture(bytes: &[u8], limits: &LoadLimits) -> Result<Picture, Error> {
    decode_read(bytes, Path::new("<memory>"), limits)
}

/// [`decode_picture`] for the bytes read from the file at `path`: errors name it, and a TGA is
/// told by its name.
pub(crate) fn decode_read(
    bytes: &[u8],
    path: &Path,
    limits: &LoadLimits,
) -> Result<Picture, Error> {
    if bytes.len() as u64 > limits.max_file_bytes() {
        return Err(Error::FileTooLarge {
            path: path.to_path_buf(),
            max_bytes: limits.max_file_bytes(),
            max_pixels: limits.pixel_limit(),
        });
    }
    if bytes.is_empty() {
        return Err(Error::Decode {
            path: path.to_path_buf(),
            source: DecodeError::Empty,
        });
    }
    decode_bytes(bytes, path, limits)
}

/// The format of the file at `path` from its first bytes, or for a TGA, which has no signature,
/// from its name (as every viewer tells one); `None` for a format the decoders do not read.
pub(crate) fn format_of(head: &[u8], path: &Path) -> Option<ImageFormat> {
    // BigTIFF (version 43, 64-bit offsets), which the TIFF decoder reads but `image` does not
    // recognise by its first bytes.
    if head.starts_with(b"II\x2b\x00") || head.starts_with(b"MM\x00\x2b") {
        return Some(ImageFormat::Tiff);
    }
    match image::guess_format(head) {
        Ok(format) => READ.contains(&format).then_some(format),
        Err(_) => {
            let tga = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("tga"));
            tga.then_some(ImageFormat::Tga)
        }
    }
}

/// The formats `image` is built to decode (its features in Cargo.toml).
const READ: [ImageFormat; 10] = [
    ImageFormat::Jpeg,
    ImageFormat::Png,
    ImageFormat::Gif,
    ImageFormat::Bmp,
    ImageFormat::Tiff,
    ImageFormat::WebP,
    ImageFormat::Pnm,
    ImageFormat::Tga,
    ImageFormat::Qoi,
    ImageFormat::Ico,
];

/// Whether the first bytes `head` of the file at `path` are those of a picture: one the decoders
/// read, or one of a format they do not, whose error then names it (a folder's HEIC photo is
/// reported, not passed over).
pub(crate) fn is_picture(head: &[u8], path: &Path) -> bool {
    format_of(head, path).is_some() || super::unreadable::kind_of(head).is_some()
}

/// The error for a file whose first bytes `head` are no format the decoders read.
fn not_readable(head: &[u8]) -> DecodeError {
    match super::unreadable::kind_of(head) {
        Some(kind) => DecodeError::Unsupported(kind),
        None => DecodeError::UnknownFormat,
    }
}

/// Bytes of a file read, at most, to learn the size of its picture ([`picture_size`]): a JPEG's
/// EXIF, ICC and XMP segments and a PNG's text chunks before its data fit many times over.
const PROBE_BYTES: u64 = 1 << 20;

/// What the decoders may allocate while reading a header for [`picture_size`] (a palette, a
/// TIFF's strip offsets, a PNG's colour profile): far more than real headers need.
const PROBE_ALLOC: u64 = METADATA_BYTES;

/// The width and height that the header of the regular file at `path` gives (as stored, before the
/// EXIF orientation), learnt from at most 1 MiB of it: no pixel is decoded, and a bomb's claim is
/// given, not believed into an allocation. A TIFF whose directory is at its end is read there by
/// seeking. Meant for sharing memory out between pictures before any is decoded (kquant's folders
/// and `find_k`), so anything unexpected is `None`: not a regular file (a pipe's bytes, once read,
/// would be gone), not an image, a header beyond the first MiB, a decoder's error or panic. It
/// checks nothing else: [`load_picture_with`] still refuses a damaged file.
pub fn picture_size(path: &Path) -> Option<(u32, u32)> {
    // A pipe's bytes, once read, would be gone for the loader (and opening one waits for a writer).
    if !std::fs::metadata(path).ok()?.is_file() {
        return None;
    }
    let file = File::open(path).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut reader = Capped {
        inner: std::io::BufReader::new(file),
        left: PROBE_BYTES,
    };
    guarded(|| {
        let format = format_of(reader.fill_buf().ok()?, path)?;
        match format {
            ImageFormat::Ico => return ico_size(reader),
            ImageFormat::Jpeg => return jpeg_size(reader),
            _ => {}
        }
        let mut reader = ImageReader::with_format(reader, format);
        let mut limits = image::Limits::default();
        limits.max_image_width = None;
        limits.max_image_height = None;
        limits.max_alloc = Some(PROBE_ALLOC);
        reader.limits(limits);
        Some(reader.into_decoder().ok()?.dimensions())
    })
    .ok()
    .flatten()
}

/// The size a JPEG's frame header (SOF) gives, reading only the segments before it: the decoder
/// would read the whole file first (up to the probe's MiB), and parse every table.
fn jpeg_size(mut reader: impl Read) -> Option<(u32, u32)> {
    fn byte(reader: &mut impl Read) -> Option<u8> {
        let mut b = [0];
        reader.read_exact(&mut b).ok().map(|()| b[0])
    }
    if (byte(&mut reader)?, byte(&mut reader)?) != (0xff, 0xd8) {
        return None;
    }
    loop {
        // The next marker: 0xff (any number of them, as fill), then its code.
        let mut code = byte(&mut reader)?;
        while code != 0xff {
            code = byte(&mut reader)?;
        }
        while code == 0xff {
            code = byte(&mut reader)?;
        }
        match code {
            0x00 | 0x01 | 0xd0..=0xd8 => continue, // not a marker, or one without a length
            0xd9 | 0xda => return None,            // the image ends, or data starts, with no frame
            _ => {}
        }
        let len = u16::from_be_bytes([byte(&mut reader)?, byte(&mut reader)?]);
        if matches!(code, 0xc0..=0xcf) && !matches!(code, 0xc4 | 0xc8 | 0xcc) {
            let mut frame = [0; 5]; // precision, height, width
            reader.read_exact(&mut frame).ok()?;
            let height = u16::from_be_bytes([frame[1], frame[2]]);
            let width = u16::from_be_bytes([frame[3], frame[4]]);
            return Some((u32::from(width), u32::from(height)));
        }
        let skip = u64::from(len.checked_sub(2)?);
        if std::io::copy(&mut (&mut reader).take(skip), &mut std::io::sink()).ok()? != skip {
            return None;
        }
    }
}

/// The size of the picture an icon's decoder chooses (the most bits a pixel, then the most
/// pixels), from its directory: the decoder itself reads an embedded PNG with no limit at all.
fn ico_size(mut reader: impl Read) -> Option<(u32, u32)> {
    let mut head = [0; 6];
    reader.read_exact(&mut head).ok()?;
    let count = usize::from(u16::from_le_bytes([head[4], head[5]]));
    let mut entries = vec![0; 16 * count];
    reader.read_exact(&mut entries).ok()?;
    let side = |byte: u8| if byte == 0 { 256 } else { u32::from(byte) };
    entries
        .chunks_exact(16)
        .map(|e| (side(e[0]), side(e[1]), u16::from_le_bytes([e[6], e[7]])))
        .max_by_key(|&(w, h, bits)| (bits, w * h))
        .map(|(w, h, _)| (w, h))
}

/// A reader that yields at most `left` more bytes (then acts as at the end of the file), wherever
/// it is moved to: what a decoder reading a header may take of a file.
struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R: BufRead> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Capped<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        let left = usize::try_from(self.left).unwrap_or(usize::MAX);
        let buf = self.inner.fill_buf()?;
        Ok(&buf[..buf.len().min(left)])
    }

    fn consume(&mut self, n: usize) {
        self.inner.consume(n);
        self.left = self.left.saturating_sub(n as u64);
    }
}

impl<R: Seek> Seek for Capped<R> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

thread_local! {
    /// Whether this thread is inside a decoder, whose panics become errors.
    static DECODING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether a panic on this thread happens inside a decoder, where [`load_picture`] turns it into an
/// error; a binary's panic hook stays quiet then, so the error is the one line printed.
pub fn panic_is_handled() -> bool {
    DECODING.with(|d| d.get())
}

/// Runs `f` with its panics caught and marked as handled (also inside another `guarded`).
fn guarded<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    let outer = DECODING.with(|d| d.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    DECODING.with(|d| d.set(outer));
    result
}

fn decode_bytes(bytes: &[u8], path: &Path, limits: &LoadLimits) -> Result<Picture, Error> {
    // The decoders are fuzzed by their authors and here, but a file no one tried could still
    // reach a bug in one: that is a damaged file, not a crash.
    guarded(|| decode_guarded(bytes, path, limits)).unwrap_or_else(|_| {
        Err(Error::Decode {
            path: path.to_path_buf(),
            source: DecodeError::DecoderFailed,
        })
    })
}

fn decode_guarded(bytes: &[u8], path: &Path, limits: &LoadLimits) -> Result<Picture, Error> {
    let decode_err = |source: DecodeError| Error::Decode {
        path: path.to_path_buf(),
        source,
    };
    let format = format_of(bytes, path).ok_or_else(|| decode_err(not_readable(bytes)))?;
    if format == ImageFormat::Png {
        check_png(bytes).map_err(|d| decode_err(d.into()))?;
    }
    if format == ImageFormat::Tiff {
        check_tiff(bytes).map_err(|d| decode_err(d.into()))?;
    }
    let decoder_err = |source: image::ImageError| {
        decode_err(DecodeError::Decoder {
            format: format_name(format),
            source,
        })
    };
    // A PNG's colour profile (iCCP) is compressed, and its decoder inflates it whole, before the
    // pixels, within the allocation limit: a 1 MB file could take 1 GB for a 16x16 picture (also
    // inside an icon). So a PNG may allocate what its own picture needs at most, and
    // METADATA_BYTES besides; an icon, what its largest picture can need (256 x 256).
    let own_pixels = match format {
        ImageFormat::Png => png_pixels(bytes),
        ImageFormat::Ico => Some(256 * 256),
        _ => None,
    };
    let max_alloc = match own_pixels {
        Some(pixels) => pixels
            .saturating_mul(FILE_BYTES_PER_PIXEL)
            .saturating_add(METADATA_BYTES)
            .min(limits.max_alloc()),
        None => limits.max_alloc(),
    };
    // The icon decoder reads an embedded PNG with no limit at all: its profile is renamed away.
    let unprofiled = (format == ImageFormat::Ico)
        .then(|| ico_without_profiles(bytes))
        .flatten();
    let icon = unprofiled.as_deref();
    let open = || {
        let mut reader = ImageReader::with_format(Cursor::new(icon.unwrap_or(bytes)), format);
        let mut image_limits = image::Limits::default();
        image_limits.max_image_width = None;
        image_limits.max_image_height = None;
        image_limits.max_alloc = Some(max_alloc);
        reader.limits(image_limits);
        reader.into_decoder()
    };
    let too_large = |width: u32, height: u32| Error::TooLarge {
        path: path.to_path_buf(),
        width,
        height,
        max_pixels: limits.pixel_limit(),
    };
    let check_size = |width: u32, height: u32| {
        if u64::from(width) * u64::from(height) > limits.pixel_limit() {
            return Err(too_large(width, height));
        }
        if width == 0 || height == 0 {
            return Err(decode_err(DecodeError::NoPixels {
                format: format_name(format),
                width,
                height,
            }));
        }
        Ok(())
    };
    let limits_err = |e: image::ImageError, (width, height): (u32, u32)| match e {
        image::ImageError::Limits(_) => too_large(width, height),
        e => decoder_err(e),
    };
    if format == ImageFormat::Png {
        // Row by row into the picture's own layout (see png_rows: the picture's memory only).
        let png = png_rows::open(bytes, max_alloc).map_err(decoder_err)?;
        let size = png.dimensions();
        check_size(size.0, size.1)?;
        let orientation = png.orientation();
        let picture = png.read().map_err(|e| limits_err(e, size))?;
        return Ok(oriented(picture, orientation));
    }
    if format == ImageFormat::Tiff {
        // Strip by strip into the picture's own layout, when of a kind read so (tiff_chunks).
        if let Some(mut tiff) = tiff_chunks::open(bytes, max_alloc) {
            let size = tiff.dimensions();
            check_size(size.0, size.1)?;
            let orientation = tiff.orientation();
            let picture = tiff.read().map_err(|e| limits_err(e, size))?;
            return Ok(oriented(picture, orientation));
        }
    }
    let mut decoder = open().map_err(decoder_err)?;
    let (width, height) = decoder.dimensions();
    check_size(width, height)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let pixels = u64::from(width) * u64::from(height);
    let is_jpeg = format == ImageFormat::Jpeg;
    // A JPEG's data needs at least a bit or two per 8x8 block. A file far smaller than its picture
    // (a bomb: a few hundred bytes claiming 200 megapixels) is checked before the decoder fills
    // the whole picture in; the check stops where the data does, so it is quick on such a file.
    // A small file is checked at once too: its check takes less than starting a thread would.
    let small = bytes.len() < SMALL_JPEG;
    let checked = is_jpeg && (small || (bytes.len() as u64).saturating_mul(64) < pixels);
    if checked {
        jpeg_check::check(bytes).map_err(|damage| decode_err(damage.into()))?;
    }
    // A progressive JPEG of up to SPLIT_MAX_PIXELS decodes in two halves on two cores.
    let fits = pixels <= SPLIT_MAX_PIXELS
        && pixels.saturating_mul(SPLIT_BYTES_PER_PIXEL) <= limits.max_alloc();
    let halves = (is_jpeg && bytes.len() >= SPLIT_MIN_BYTES && fits)
        .then(|| jpeg_split::cut(bytes).filter(|_| jpeg_split::is_ycbcr(bytes)))
        .flatten();
    let decoded = if let Some(halves) = halves {
        // The usual decoder's copy of the file is not needed unless a half fails.
        drop(decoder);
        match decode_halves(bytes, &halves, width, height, !checked) {
            Split::Pixels(rgb) => Ok(DynamicImage::ImageRgb8(
                image::RgbImage::from_raw(width, height, rgb)
                    .expect("each half was checked to be width x height"),
            )),
            Split::Damaged(damage) => return Err(decode_err(damage.into())),
            Split::Undecoded => open().and_then(DynamicImage::from_decoder),
        }
    } else {
        // Otherwise the check reads all the entropy-coded data (a third to a half of a decode),
        // so it runs on another core beside the decoder.
        let (damage, decoded) = std::thread::scope(|scope| {
            let check =
                (is_jpeg && !checked).then(|| scope.spawn(|| guarded(|| jpeg_check::check(bytes))));
            let decoded = DynamicImage::from_decoder(decoder);
            (check.map(|c| flatten_check(c.join())), decoded)
        });
        if let Some(Err(damage)) = damage {
            return Err(decode_err(damage.into()));
        }
        decoded
    };
    let mut image = decoded.map_err(|e| limits_err(e, (width, height)))?;
    image.apply_orientation(orientation);
    Ok(picture_from_dynamic(image))
}

/// Pictures decoded in halves, for the tests to see that they were.
#[cfg(test)]
static HALVES_DECODED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// What decoding a progressive JPEG in two halves gave.
enum Split {
    /// The RGB picture.
    Pixels(Vec<u8>),
    /// The check found damage (as the whole file's check words it).
    Damaged(jpeg_check::JpegDamage),
    /// The data is whole, but a half did not decode: the usual decoder is left to try.
    Undecoded,
}

/// What a check that could not finish (a bug in it, caught) reports.
fn unchecked() -> jpeg_check::JpegDamage {
    jpeg_check::JpegDamage::Corrupt("its data could not be checked")
}

/// A check's result, or damage when it could not finish.
fn flatten_check(
    joined: std::thread::Result<std::thread::Result<Result<(), jpeg_check::JpegDamage>>>,
) -> Result<(), jpeg_check::JpegDamage> {
    match joined {
        Ok(Ok(result)) => result,
        _ => Err(unchecked()),
    }
}

/// Decodes a progressive JPEG's [`jpeg_split::Halves`] on two cores, the file's check (when
/// `check`) shared out beside them by component ([`jpeg_check::check_scans`]): the luma half's
/// decode is the longest job, so the other core checks the luma's scans before decoding the chroma
/// half, and the chroma's scans, two short checks, go to whichever core is free first.
fn decode_halves(
    bytes: &[u8],
    halves: &jpeg_split::Halves,
    width: u32,
    height: u32,
    check: bool,
) -> Split {
    let [luma, cb, cr] = halves.ids();
    let checked =
        |id: u8| flatten_check(Ok(guarded(|| jpeg_check::check_scans(bytes, |c| c == id))));
    // The chroma components' checks, each taken by the first core to come for it.
    let unclaimed = [cb, cr].map(|id| (id, AtomicBool::new(check)));
    let claim = || {
        let mut damage = Ok(());
        for (id, open) in &unclaimed {
            if open.swap(false, Ordering::Relaxed) {
                damage = damage.and(checked(*id));
            }
        }
        damage
    };
    let (y, ycc, damaged) = std::thread::scope(|scope| {
        let beside = scope.spawn(|| {
            let damage = if check { checked(luma) } else { Ok(()) };
            let ycc = damage
                .is_ok()
                .then(|| guarded(|| halves.decode_chroma(width, height)).unwrap_or(None))
                .flatten();
            (damage.and(claim()), ycc)
        });
        let y = guarded(|| halves.decode_luma(width, height)).unwrap_or(None);
        let damage = claim();
        let (beside_damage, ycc) = match beside.join() {
            Ok(done) => done,
            Err(_) => (Err(unchecked()), None),
        };
        (y, ycc, damage.is_err() || beside_damage.is_err())
    });
    if damaged {
        // Worded as the whole file's check words it: the first damage in the file.
        return Split::Damaged(jpeg_check::check(bytes).err().unwrap_or_else(unchecked));
    }
    match (y, ycc) {
        (Some(y), Some(ycc)) => {
            #[cfg(test)]
            HALVES_DECODED.fetch_add(1, Ordering::Relaxed);
            Split::Pixels(jpeg_split::to_rgb(&y, ycc))
        }
        _ => Split::Undecoded,
    }
}

/// Reads the whole file, refusing it as soon as it is known not to be an image or to be too large:
/// after its first bytes (its signature), then a regular file by its size before reading the rest,
/// a pipe or device once it passes the size limit, so `/dev/zero` or an endless pipe costs nothing.
fn read_bounded(path: &Path, limits: &LoadLimits) -> Result<Vec<u8>, Error> {
    let read_err = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(read_err)?;
    let meta = file.metadata().map_err(read_err)?;
    if meta.is_dir() {
        return Err(Error::Decode {
            path: path.to_path_buf(),
            source: DecodeError::Folder,
        });
    }
    read_stream(&file, meta.is_file().then_some(meta.len()), path, limits)
}

/// [`read_bounded`] from a stream named `path`, whose size is `size` when it is known.
fn read_stream(
    mut stream: impl Read,
    size: Option<u64>,
    path: &Path,
    limits: &LoadLimits,
) -> Result<Vec<u8>, Error> {
    let read_err = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let decode_err = |source: DecodeError| Error::Decode {
        path: path.to_path_buf(),
        source,
    };
    let max = limits.max_file_bytes();
    let file_too_large = || Error::FileTooLarge {
        path: path.to_path_buf(),
        max_bytes: max,
        max_pixels: limits.pixel_limit(),
    };
    let mut bytes = Vec::new();
    (&mut stream)
        .take(SIGNATURE_BYTES)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.is_empty() {
        return Err(decode_err(DecodeError::Empty));
    }
    if format_of(&bytes, path).is_none() {
        (&mut stream)
            .take(HEAD_BYTES - bytes.len() as u64)
            .read_to_end(&mut bytes)
            .map_err(read_err)?;
        return Err(decode_err(not_readable(&bytes)));
    }
    if let Some(size) = size {
        if size > max {
            return Err(file_too_large());
        }
        bytes.reserve_exact((size as usize).saturating_sub(bytes.len()));
    }
    stream
        .take(max + 1 - bytes.len() as u64)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > max {
        return Err(file_too_large());
    }
    Ok(bytes)
}

/// The format's usual name.
fn format_name(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Jpeg => "JPEG",
        ImageFormat::Png => "PNG",
        ImageFormat::Gif => "GIF",
        ImageFormat::Bmp => "BMP",
        ImageFormat::Tiff => "TIFF",
        ImageFormat::WebP => "WebP",
        ImageFormat::Pnm => "PNM",
        ImageFormat::Tga => "TGA",
        ImageFormat::Qoi => "QOI",
        ImageFormat::Ico => "ICO",
        _ => "image",
    }
}

/// One plain phrase for a decoder's error: "the TIFF is truncated", "the GIF is corrupt: ...".
pub(super) fn describe(name: &str, e: &image::ImageError) -> String {
    match e {
        image::ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            format!("the {name} is truncated")
        }
        image::ImageError::IoError(io) => format!("the {name} cannot be read: {io}"),
        // Decoders name what they do not support with debug dumps too ("Multiband { .. }").
        image::ImageError::Unsupported(u) => {
            format!(
                "this kind of {name} is not supported: {}",
                plain(&u.to_string())
            )
        }
        image::ImageError::Limits(l) => format!(
            "the {name} needs more memory than allowed: {}",
            plain(&l.to_string())
        ),
        image::ImageError::Decoding(d) => {
            let text = d.to_string();
            let lower = text.to_lowercase();
            if lower.contains("eof")
                || lower.contains("end of file")
                || lower.contains("unexpected end")
                || lower.contains("fill whole buffer")
                || lower.contains("truncated")
            {
                format!("the {name} is truncated")
            } else {
                format!("the {name} is corrupt: {}", plain(&text))
            }
        }
        other => format!(
            "the {name} cannot be decoded: {}",
            plain(&other.to_string())
        ),
    }
}

/// A decoder's message without the format prefix and without debug dumps of its structures.
fn plain(text: &str) -> String {
    let text = text
        .split_once(": ")
        .filter(|(head, _)| head.starts_with("Format error"))
        .map_or(text, |(_, rest)| rest);
    let mut out = String::with_capacity(text.len());
    let mut depth = 0;
    for c in text.chars() {
        match c {
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    let out = out.split_whitespace().collect::<Vec<_>>().join(" ");
    out.trim_end_matches('.').to_string()
}

/// A copy of the icon `ico` whose embedded PNGs' colour profiles (iCCP chunks) are renamed to a
/// chunk no decoder reads, with their checksums made anew, or `None` when it holds none. The
/// `image` crate's icon decoder reads an embedded PNG without any limit, so a profile inflating to
/// gigabytes would be inflated whole; kquant does not use profiles.
fn ico_without_profiles(ico: &[u8]) -> Option<Vec<u8>> {
    let count = u16::from_le_bytes([*ico.get(4)?, *ico.get(5)?]);
    let mut copy: Option<Vec<u8>> = None;
    for i in 0..usize::from(count) {
        let Some(entry) = ico.get(6 + 16 * i..22 + 16 * i) else {
            break;
        };
        let le = |at: usize| {
            u32::from_le_bytes([entry[at], entry[at + 1], entry[at + 2], entry[at + 3]])
        };
        let start = le(12) as usize;
        let data = ico.get(start..start.saturating_add(le(8) as usize).min(ico.len()));
        if !data.is_some_and(|d| d.starts_with(PNG_SIGNATURE)) {
            continue;
        }
        let data = data.unwrap_or_default();
        let mut pos = PNG_SIGNATURE.len();
        while let Ok((kind, len)) = png_chunk(data, pos) {
            let end = pos + 12 + len;
            if &kind == b"iCCP" {
                let copy = copy.get_or_insert_with(|| ico.to_vec());
                let chunk = &mut copy[start + pos + 4..start + end];
                chunk[..4].copy_from_slice(b"icCP");
                let crc = crc32fast::hash(&chunk[..4 + len]).to_be_bytes();
                chunk[4 + len..].copy_from_slice(&crc);
            }
            pos = end;
        }
    }
    copy
}

/// The pixels of a PNG's picture, from its IHDR chunk (the first, by the format).
fn png_pixels(bytes: &[u8]) -> Option<u64> {
    let ihdr = bytes.get(12..24).filter(|h| h.starts_with(b"IHDR"))?;
    let width = u32::from_be_bytes([ihdr[4], ihdr[5], ihdr[6], ihdr[7]]);
    let height = u32::from_be_bytes([ihdr[8], ihdr[9], ihdr[10], ihdr[11]]);
    Some(u64::from(width) * u64::from(height))
}

/// Checks a PNG's chunk structure and checksums, so damage gets a plain message (the decoder's is a
/// debug dump) and a cut file is called truncated.
fn check_png(bytes: &[u8]) -> Result<(), StructureDamage> {
    let mut pos = PNG_SIGNATURE.len();
    loop {
        let (chunk, len) = png_chunk(bytes, pos)?;
        let crc = &bytes[pos + 8 + len..pos + 12 + len];
        let expected = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
        if crc32fast::hash(&bytes[pos + 4..pos + 8 + len]) != expected {
            return Err(StructureDamage::PngBadChecksum { chunk });
        }
        pos += 12 + len;
        if &chunk == b"IEND" {
            return Ok(());
        }
    }
}

/// The type and data length of the PNG chunk at `pos` of `bytes`, which hold all of it (its length,
/// type, data and checksum), or what is wrong with it.
fn png_chunk(bytes: &[u8], pos: usize) -> Result<([u8; 4], usize), StructureDamage> {
    let Some(header) = bytes.get(pos..pos + 8) else {
        return Err(if pos >= bytes.len() {
            StructureDamage::PngNoEnd
        } else {
            StructureDamage::PngCutHeader
        });
    };
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let chunk = [header[4], header[5], header[6], header[7]];
    if len > i32::MAX as usize {
        return Err(StructureDamage::PngBadLength { chunk });
    }
    if bytes.len() < pos + 12 + len {
        return Err(StructureDamage::PngChunkCut { chunk });
    }
    Ok((chunk, len))
}

/// Checks that every value of a TIFF's first directory lies within the file. The TIFF decoder reads
/// that directory before any limit applies, and sizes its buffers by the counts it finds there, so
/// a flipped byte in a count would otherwise cost up to 256 MB.
fn check_tiff(bytes: &[u8]) -> Result<(), StructureDamage> {
    let truncated = || StructureDamage::TiffTruncated;
    let big_endian = match bytes.get(..2) {
        Some(b"MM") => true,
        Some(b"II") => false,
        _ => return Err(StructureDamage::TiffByteOrder),
    };
    let get = |at: usize, n: usize| -> Option<u64> {
        let b = bytes.get(at..at.checked_add(n)?)?;
        Some(if big_endian {
            b.iter().fold(0u64, |v, &x| v << 8 | u64::from(x))
        } else {
            b.iter().rev().fold(0u64, |v, &x| v << 8 | u64::from(x))
        })
    };
    let version = get(2, 2).ok_or_else(truncated)?;
    let big = match version {
        42 => false,
        43 => true,
        _ => return Err(StructureDamage::TiffVersion),
    };
    let (offset_size, count_size, entry_size, inline) =
        if big { (8, 8, 20, 8) } else { (4, 2, 12, 4) };
    let ifd = get(if big { 8 } else { 4 }, offset_size).ok_or_else(truncated)?;
    let ifd = usize::try_from(ifd).map_err(|_| truncated())?;
    let entries = get(ifd, count_size).ok_or_else(truncated)?;
    let first = ifd + count_size;
    let end = u64::try_from(first)
        .unwrap_or(u64::MAX)
        .saturating_add(entries.saturating_mul(entry_size as u64));
    if end > bytes.len() as u64 {
        return Err(truncated());
    }
    for e in 0..entries as usize {
        let at = first + e * entry_size;
        // An entry: tag, type, value count (4 or 8 bytes), then the value or its offset.
        let (Some(tag), Some(kind), Some(count)) =
            (get(at, 2), get(at + 2, 2), get(at + 4, offset_size))
        else {
            return Err(truncated());
        };
        let size: u64 = match kind {
            1 | 2 | 6 | 7 => 1,
            3 | 8 => 2,
            4 | 9 | 11 | 13 => 4,
            5 | 10 | 12 | 16 | 17 | 18 => 8,
            _ => continue,
        };
        let Some(len) = count.checked_mul(size) else {
            return Err(StructureDamage::TiffBadCount { tag });
        };
        if len > inline {
            let value_at = get(at + 4 + offset_size, offset_size).ok_or_else(truncated)?;
            if value_at.saturating_add(len) > bytes.len() as u64 {
                return Err(
                    if value_at < bytes.len() as u64 && len < bytes.len() as u64 {
                        truncated()
                    } else {
                        StructureDamage::TiffBeyondFile { tag }
                    },
                );
            }
        }
    }
    Ok(())
}

/// Converts a decoded image to a [`Picture`], keeping alpha only when the image has it.
pub fn picture_from_dynamic(image: DynamicImage) -> Picture {
    let image = eight_bits_in_place(image);
    let (width, height) = (image.width(), image.height());
    if image.color().has_alpha() {
        // The colours are packed to the front of the RGBA buffer itself, which then shrinks: 5 bytes
        // a pixel at the peak rather than 8 for a copy beside it.
        let mut raw = image.into_rgba8().into_raw();
        let alpha: Vec<u8> = raw.chunks_exact(4).map(|p| p[3]).collect();
        let pixels = alpha.len();
        for i in 0..pixels {
            let (r, g, b) = (raw[4 * i], raw[4 * i + 1], raw[4 * i + 2]);
            raw[3 * i..3 * i + 3].copy_from_slice(&[r, g, b]);
        }
        raw.truncate(3 * pixels);
        raw.shrink_to_fit();
        Picture {
            width,
            height,
            rgb: bytes_to_triples(raw),
            alpha: Some(alpha),
        }
    } else {
        let raw = image.into_rgb8().into_raw();
        Picture {
            width,
            height,
            rgb: bytes_to_triples(raw),
            alpha: None,
        }
    }
}

/// Turns the picture as a viewer shows it, following its EXIF orientation.
pub(super) fn oriented(picture: Picture, orientation: Orientation) -> Picture {
    if orientation == Orientation::NoTransforms {
        return picture;
    }
    let Picture {
        width,
        height,
        rgb,
        alpha,
    } = picture;
    let mut colour = DynamicImage::ImageRgb8(
        RgbImage::from_raw(width, height, bytemuck::cast_vec(rgb))
            .expect("a picture holds width x height pixels"),
    );
    colour.apply_orientation(orientation);
    let alpha = alpha.map(|a| {
        let mut grey = DynamicImage::ImageLuma8(
            GrayImage::from_raw(width, height, a).expect("one alpha value a pixel"),
        );
        grey.apply_orientation(orientation);
        grey.into_luma8().into_raw()
    });
    let (width, height) = (colour.width(), colour.height());
    Picture {
        width,
        height,
        rgb: bytes_to_triples(colour.into_rgb8().into_raw()),
        alpha,
    }
}

/// A 16-bit image (a 16-bit PNM is decoded so) made 8-bit, rounded as `image` converts it, within
/// its own buffer: the samples are packed to its front, which then shrinks, before they are copied
/// out. A copy beside the 16-bit buffer took 9 bytes a pixel for RGB (12 for RGBA); this takes 6
/// (8). Other images are returned as they are.
fn eight_bits_in_place(image: DynamicImage) -> DynamicImage {
    fn packed(samples: Vec<u16>) -> Vec<u8> {
        let n = samples.len();
        let mut samples = samples;
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut samples);
        for i in 0..n {
            let v = u16::from_ne_bytes([bytes[2 * i], bytes[2 * i + 1]]);
            // Sample i is read (bytes 2i, 2i + 1) before byte i is written, and i <= 2i.
            bytes[i] = to_8_bits(v);
        }
        samples.truncate(n.div_ceil(2));
        samples.shrink_to_fit();
        bytemuck::cast_slice::<u16, u8>(&samples)[..n].to_vec()
    }
    let (width, height) = (image.width(), image.height());
    let rebuilt = "the same number of samples, 8-bit";
    match image {
        DynamicImage::ImageRgb16(b) => DynamicImage::ImageRgb8(
            RgbImage::from_raw(width, height, packed(b.into_raw())).expect(rebuilt),
        ),
        DynamicImage::ImageRgba16(b) => DynamicImage::ImageRgba8(
            image::RgbaImage::from_raw(width, height, packed(b.into_raw())).expect(rebuilt),
        ),
        DynamicImage::ImageLuma16(b) => DynamicImage::ImageLuma8(
            GrayImage::from_raw(width, height, packed(b.into_raw())).expect(rebuilt),
        ),
        DynamicImage::ImageLumaA16(b) => DynamicImage::ImageLumaA8(
            image::GrayAlphaImage::from_raw(width, height, packed(b.into_raw())).expect(rebuilt),
        ),
        other => other,
    }
}

/// A 16-bit sample rounded to 8 bits as `image` converts it: round(v * 255 / 65535). Every decoder
/// path that makes 16-bit samples 8-bit itself (PNG rows, TIFF strips, buffers packed in place)
/// uses it, so they all give `image`'s pixels.
#[inline]
pub(super) fn to_8_bits(v: u16) -> u8 {
    ((u32::from(v) + 128) / 257) as u8
}

/// Reinterprets packed RGB bytes as triples, in place when the buffer allows it.
pub(super) fn bytes_to_triples(raw: Vec<u8>) -> Vec<[u8; 3]> {
    // A decoded photo's buffer has exactly 3 bytes a pixel, so it becomes a Vec of triples without a
    // copy (a 24 MP photo: a 72 MB copy saved). Other capacities fall back to a copy.
    match bytemuck::allocation::try_cast_vec(raw) {
        Ok(triples) => triples,
        Err((_, raw)) => raw.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn errors_keep_their_cause() {
        // A GIF header claiming a picture, then nothing: the decoder's own error is the cause.
        let gif = b"GIF89a\x10\x00\x10\x00\x80\x00\x00";
        let e = decode_picture(gif, &LoadLimits::default()).unwrap_err();
        assert!(
            e.to_string().starts_with("cannot read image '<memory>': "),
            "{e}"
        );
        let cause = e.source().expect("a decode error has a cause");
        assert!(cause.downcast_ref::<DecodeError>().is_some());
        let e = decode_picture(b"not an image at all", &LoadLimits::default()).unwrap_err();
        assert!(matches!(
            e,
            Error::Decode {
                source: DecodeError::UnknownFormat,
                ..
            }
        ));
        let e = load_picture(Path::new("/no/such/file.png")).unwrap_err();
        let io = e.source().and_then(|c| c.downcast_ref::<std::io::Error>());
        assert_eq!(
            io.map(std::io::Error::kind),
            Some(std::io::ErrorKind::NotFound)
        );
    }

    #[test]
    fn picture_sizes_come_from_headers_in_every_format() {
        let dir = tempfile::tempdir().unwrap();
        let save = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        };
        let (w, h) = (210, 97);
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 3]));
        for format in READ {
            let mut bytes = Vec::new();
            img.write_to(&mut Cursor::new(&mut bytes), format).unwrap();
            let path = save(&format!("x.{}", format.extensions_str()[0]), &bytes);
            assert_eq!(picture_size(&path), Some((w, h)), "{format:?}");
        }
        // A TIFF keeps its directory after its pixels: read there, though past the first MiB.
        let big = image::RgbImage::from_fn(800, 600, |x, y| image::Rgb([x as u8, y as u8, 9]));
        let mut tiff = Vec::new();
        big.write_to(&mut Cursor::new(&mut tiff), ImageFormat::Tiff)
            .unwrap();
        assert!(tiff.len() as u64 > PROBE_BYTES);
        assert_eq!(picture_size(&save("big.tif", &tiff)), Some((800, 600)));
        // A bomb's header is read, not believed into an allocation.
        let bomb = png_bomb(100_000, 100_000);
        assert_eq!(
            picture_size(&save("bomb.png", &bomb)),
            Some((100_000, 100_000))
        );
        // Not an image, a folder, nothing there, a header past the first MiB: not known.
        assert_eq!(picture_size(&save("notes.txt", b"hello")), None);
        assert_eq!(picture_size(dir.path()), None);
        assert_eq!(picture_size(&dir.path().join("missing.png")), None);
        let fifo = dir.path().join("fifo.png");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .is_ok_and(|s| s.success()));
        assert_eq!(
            picture_size(&fifo),
            None,
            "a FIFO is neither opened nor read"
        );
        let mut jpeg = Vec::new();
        img.write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg)
            .unwrap();
        let padded = |segments: usize| {
            let mut out = jpeg[..2].to_vec(); // SOI
            for _ in 0..segments {
                out.extend([0xff, 0xe2, 0xff, 0xff]); // an APP2 (ICC) segment of 64 KiB
                out.extend(std::iter::repeat_n(0u8, 0xfffd));
            }
            out.extend(&jpeg[2..]);
            out
        };
        assert_eq!(picture_size(&save("icc.jpg", &padded(8))), Some((w, h)));
        // A thumbnail inside an EXIF segment has its own frame header: the walk passes over it.
        let mut thumb = Vec::new();
        image::RgbImage::new(8, 8)
            .write_to(&mut Cursor::new(&mut thumb), ImageFormat::Jpeg)
            .unwrap();
        let mut exif = jpeg[..2].to_vec();
        exif.extend([0xff, 0xe1]);
        exif.extend((thumb.len() as u16 + 2).to_be_bytes());
        exif.extend(&thumb);
        exif.extend(&jpeg[2..]);
        assert_eq!(picture_size(&save("exif.jpg", &exif)), Some((w, h)));
        let mut progressive = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut progressive, 80);
        encoder.set_progressive(true);
        encoder
            .encode(
                img.as_raw(),
                w as u16,
                h as u16,
                jpeg_encoder::ColorType::Rgb,
            )
            .unwrap();
        assert_eq!(picture_size(&save("p.jpg", &progressive)), Some((w, h)));
        assert_eq!(picture_size(&save("far.jpg", &padded(17))), None);
    }

    #[test]
    fn packed_bytes_become_triples_with_or_without_a_copy() {
        let exact = vec![1u8, 2, 3, 4, 5, 6];
        assert_eq!(bytes_to_triples(exact), vec![[1, 2, 3], [4, 5, 6]]);
        let mut spare = Vec::with_capacity(7);
        spare.extend_from_slice(&[9u8, 8, 7]);
        assert_eq!(bytes_to_triples(spare), vec![[9, 8, 7]]);
    }

    #[test]
    fn a_bigtiff_is_read_as_a_tiff() {
        let img =
            image::RgbImage::from_fn(9, 7, |x, y| image::Rgb([x as u8 * 20, y as u8 * 30, 5]));
        let mut file = Vec::new();
        tiff::encoder::TiffEncoder::new_big(Cursor::new(&mut file))
            .unwrap()
            .write_image::<tiff::encoder::colortype::RGB8>(9, 7, img.as_raw())
            .unwrap();
        assert_eq!(&file[..4], b"II\x2b\x00");
        let picture = decode_picture(&file, &LoadLimits::default()).unwrap();
        assert_eq!(picture.rgb, bytes_to_triples(img.into_raw()));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("big.tif"), &file).unwrap();
        assert_eq!(picture_size(&dir.path().join("big.tif")), Some((9, 7)));
        // Its big-endian signature too.
        let head = b"MM\x00\x2b\x00\x08\x00\x00";
        assert_eq!(format_of(head, Path::new("x")), Some(ImageFormat::Tiff));
    }

    #[test]
    fn sixteen_bit_images_become_the_pixels_image_converts_them_to() {
        let sample = |i: u32| (i.wrapping_mul(2_654_435_761) >> 16) as u16;
        let (w, h) = (7, 5);
        let raw = |channels: u32| (0..w * h * channels).map(sample).collect::<Vec<u16>>();
        let images = [
            DynamicImage::ImageRgb16(image::ImageBuffer::from_raw(w, h, raw(3)).unwrap()),
            DynamicImage::ImageRgba16(image::ImageBuffer::from_raw(w, h, raw(4)).unwrap()),
            DynamicImage::ImageLuma16(image::ImageBuffer::from_raw(w, h, raw(1)).unwrap()),
            DynamicImage::ImageLumaA16(image::ImageBuffer::from_raw(w, h, raw(2)).unwrap()),
        ];
        for img in images {
            let rgba = img.to_rgba8();
            let expected = Picture {
                width: w,
                height: h,
                rgb: rgba.pixels().map(|p| [p[0], p[1], p[2]]).collect(),
                alpha: img
                    .color()
                    .has_alpha()
                    .then(|| rgba.pixels().map(|p| p[3]).collect()),
            };
            assert_eq!(
                picture_from_dynamic(img.clone()),
                expected,
                "{:?}",
                img.color()
            );
        }
    }

    fn png_bytes() -> Vec<u8> {
        let img =
            image::RgbImage::from_fn(16, 9, |x, y| image::Rgb([x as u8 * 9, y as u8 * 20, 7]));
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn png_checksums_and_cuts_have_plain_messages() {
        let png = png_bytes();
        assert_eq!(check_png(&png), Ok(()));
        let idat = png.windows(4).position(|w| w == b"IDAT").unwrap();
        let mut flipped = png.clone();
        flipped[idat + 6] ^= 0x40;
        assert_eq!(
            check_png(&flipped).unwrap_err().to_string(),
            "the PNG is corrupt: bad checksum in chunk IDAT"
        );
        assert_eq!(
            check_png(&png[..idat + 5]).unwrap_err().to_string(),
            "the PNG is truncated (chunk IDAT is cut short)"
        );
        assert_eq!(
            check_png(&png[..png.len() - 12]).unwrap_err().to_string(),
            "the PNG is truncated (it ends before its IEND chunk)"
        );
    }

    #[test]
    fn decoder_messages_lose_their_debug_dumps() {
        assert_eq!(
            plain("Format error decoding Png: CRC error: expected 0x1 have 0x2 while decoding ChunkType { type: IDAT, critical: true } chunk."),
            "CRC error: expected 0x1 have 0x2 while decoding ChunkType chunk"
        );
        // What a damaged TIFF's colour type once gave (found by tests/loader_fuzz.rs).
        let unsupported =
            image::ImageError::Unsupported(image::error::UnsupportedError::from_format_and_kind(
                ImageFormat::Tiff.into(),
                image::error::UnsupportedErrorKind::GenericFeature(
                    "Unhandled TIFF color type Multiband { bit_depth: 8, num_samples: 3 }".into(),
                ),
            ));
        let text = describe("TIFF", &unsupported);
        assert!(
            text.starts_with("this kind of TIFF is not supported: "),
            "{text}"
        );
        assert!(text.contains("Multiband") && !text.contains('{'), "{text}");
    }

    /// A progressive JPEG of noisy colours, over [`SPLIT_MIN_BYTES`].
    fn progressive_jpeg(width: u16, height: u16, rotated: bool) -> Vec<u8> {
        let mut state = 0x9e37_79b9_u32;
        let img = image::RgbImage::from_fn(u32::from(width), u32::from(height), |x, y| {
            // Noise in every channel, so the file is large for its size.
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let n = state.to_le_bytes();
            image::Rgb([
                (x as u8) ^ n[3],
                (y as u8).wrapping_add(n[2]),
                ((x + y) as u8) ^ n[1],
            ])
        });
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, 95);
        encoder.set_progressive(true);
        encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_2);
        if rotated {
            // EXIF orientation 6 (the camera turned a quarter clockwise), big-endian TIFF.
            let exif = b"MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0";
            encoder
                .add_app_segment(1, [&b"Exif\0\0"[..], &exif[..]].concat())
                .unwrap();
        }
        encoder
            .encode(img.as_raw(), width, height, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        assert!(out.len() >= SPLIT_MIN_BYTES, "{} bytes", out.len());
        out
    }

    #[test]
    fn a_progressive_jpeg_decodes_in_halves_to_the_pixels_of_one_decode() {
        for rotated in [false, true] {
            let jpeg = progressive_jpeg(960, 720, rotated);
            let before = HALVES_DECODED.load(Ordering::Relaxed);
            let ours = decode_picture(&jpeg, &LoadLimits::default()).unwrap();
            assert!(
                HALVES_DECODED.load(Ordering::Relaxed) > before,
                "decoded in halves"
            );
            let mut decoder = ImageReader::new(Cursor::new(&jpeg))
                .with_guessed_format()
                .unwrap()
                .into_decoder()
                .unwrap();
            let orientation = decoder.orientation().unwrap();
            let mut theirs = DynamicImage::from_decoder(decoder).unwrap();
            theirs.apply_orientation(orientation);
            assert_eq!(
                (ours.width(), ours.height()),
                if rotated { (720, 960) } else { (960, 720) }
            );
            let theirs = theirs.into_rgb8();
            assert!(ours.rgb().as_flattened() == theirs.as_raw().as_slice());
            // With the pixel limit at the picture's size, the halves would need more than the
            // decoder may allocate: the usual decode, the same pixels.
            let before = HALVES_DECODED.load(Ordering::Relaxed);
            let tight = decode_picture(&jpeg, &LoadLimits::new(960 * 720)).unwrap();
            assert_eq!(HALVES_DECODED.load(Ordering::Relaxed), before);
            assert!(tight.rgb().as_flattened() == theirs.as_raw().as_slice());
        }
    }

    #[test]
    fn a_cut_progressive_jpeg_is_refused_in_the_whole_checks_words() {
        let jpeg = progressive_jpeg(960, 720, false);
        // Cut in its last scan, and cut between two scans, each with an end marker appended.
        let last_scan = jpeg.windows(2).rposition(|w| w == [0xFF, 0xDA]).unwrap();
        for cut in [jpeg.len() - 100, last_scan] {
            let mut damaged = jpeg[..cut].to_vec();
            damaged.extend_from_slice(&[0xFF, 0xD9]);
            let damage = jpeg_check::check(&damaged).unwrap_err();
            let e = decode_picture(&damaged, &LoadLimits::default()).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("cannot read image '<memory>': {damage}")
            );
        }
    }

    #[test]
    fn a_decoder_panic_becomes_an_error_and_is_marked_handled() {
        let result = guarded(|| {
            assert!(panic_is_handled());
            panic!("a decoder bug")
        });
        assert!(result.is_err());
        assert!(!panic_is_handled());
    }

    /// An RGB PNG whose header claims `width` x `height` and whose data is a single byte.
    fn png_bomb(width: u32, height: u32) -> Vec<u8> {
        let mut ihdr = width.to_be_bytes().to_vec();
        ihdr.extend(height.to_be_bytes());
        ihdr.extend([8, 2, 0, 0, 0]);
        let chunk = |kind: &[u8], data: &[u8]| {
            let mut c = (data.len() as u32).to_be_bytes().to_vec();
            c.extend([kind, data].concat());
            c.extend(crc32fast::hash(&[kind, data].concat()).to_be_bytes());
            c
        };
        let mut bomb = b"\x89PNG\r\n\x1a\n".to_vec();
        bomb.extend(chunk(b"IHDR", &ihdr));
        bomb.extend(chunk(b"IDAT", &[0x78, 0x9c, 0x63, 0, 0, 0, 1, 0, 1]));
        bomb.extend(chunk(b"IEND", &[]));
        bomb
    }

    #[test]
    fn the_file_limit_follows_the_pixel_limit() {
        assert_eq!(LoadLimits::new(1000).max_file_bytes(), 8000 + (1 << 20));
        // No limit passes what a colour's count holds, however it is set.
        let most = MAX_PICTURE_PIXELS * 8 + (1 << 20);
        assert_eq!(LoadLimits::new(u64::MAX).max_file_bytes(), most);
        // (A caller outside the crate sets the public field so.)
        let set = LoadLimits {
            max_pixels: u64::MAX,
        };
        assert_eq!(set.pixel_limit(), MAX_PICTURE_PIXELS);
        assert_eq!(set.max_file_bytes(), most);
    }

    #[test]
    fn a_header_of_more_pixels_than_a_count_holds_is_refused_at_any_limit() {
        // An RGB PNG claiming 65536x65536 (2^32 pixels) and holding a byte of data: refused from its
        // header, before a buffer of 12 GB is asked for.
        let png = png_bomb(65536, 65536);
        let limits = LoadLimits {
            max_pixels: u64::MAX,
        };
        let err = decode_picture(&png, &limits).unwrap_err();
        assert!(
            err.to_string()
                .contains("it is 65536x65536 pixels, more than the limit of 4294967295 pixels"),
            "{err}"
        );
    }
}
