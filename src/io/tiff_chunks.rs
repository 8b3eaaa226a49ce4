//! A TIFF decoded strip by strip (or tile by tile) straight into a [`Picture`]'s triples and alpha.
//!
//! The `image` crate decodes a whole TIFF into a buffer of the file's own samples and then copies
//! that into another buffer of the same size, which kquant then converted into triples: an 8-bit RGB
//! TIFF held 6 bytes a pixel at once beside its file, a 16-bit RGBA one 16, where the picture keeps
//! 3 (4 with alpha). Converted as each strip or tile leaves the tiff crate's decoder, a TIFF takes
//! its picture's bytes and one strip. The pixels are the ones `image` gives: the same decoder (its
//! decompression, predictors and white-is-zero inversion), 1-bit grey made 0 or 255, CMYK made RGB
//! with `image`'s formula, and 16-bit samples rounded to 8 bits as `image` rounds them.
//!
//! Taken here: what `image` reads, unsigned samples of 1, 8 or 16 bits (grey, grey and alpha, RGB,
//! RGBA, CMYK) stored pixel by pixel; and JPEG-compressed YCbCr, which `image` refuses, converted
//! to RGB as kquant's JPEG decoder converts a JPEG's colours (so a JPEG gives the same pixels in a
//! TIFF as on its own). Planes stored apart and floating-point samples are left to `image`, as are
//! the kinds it refuses, so that it words the refusal.

use std::io::Cursor;

use image::error::{
    DecodingError, ImageFormatHint, LimitError, LimitErrorKind, UnsupportedError,
    UnsupportedErrorKind,
};
use image::metadata::Orientation;
use image::{ImageError, ImageFormat};
use tiff::decoder::{Decoder, DecodingResult, Limits};
use tiff::tags::{PlanarConfiguration, SampleFormat, Tag};
use tiff::{ColorType, TiffError};

use super::jpeg_split::ycbcr_to_rgb;
use super::load::to_8_bits;
use crate::pixels::Picture;

/// The TIFF Compression value of JPEG ("new-style", TIFF Technical Note 2).
const JPEG: u16 = 7;

/// How a pixel's samples are stored and become a colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// One bit of grey a pixel, rows padded to whole bytes.
    Bilevel,
    /// `channels` samples of 8 or 16 bits: grey, grey and alpha, RGB or RGBA.
    Samples { channels: usize, sixteen: bool },
    /// Cyan, magenta, yellow and black, 8 or 16 bits each.
    Cmyk { sixteen: bool },
    /// JPEG-compressed YCbCr (8 bits), which the tiff crate decodes (chroma upsampled) without
    /// converting it to RGB, and `image` refuses.
    JpegYcbcr,
}

impl Kind {
    fn of(color: ColorType, compression: Option<u16>) -> Option<Self> {
        let samples = |channels, bits| match bits {
            8 => Some(Kind::Samples {
                channels,
                sixteen: false,
            }),
            16 => Some(Kind::Samples {
                channels,
                sixteen: true,
            }),
            _ => None,
        };
        match color {
            ColorType::Gray(1) => Some(Kind::Bilevel),
            ColorType::Gray(bits) => samples(1, bits),
            ColorType::GrayA(bits) => samples(2, bits),
            ColorType::RGB(bits) => samples(3, bits),
            ColorType::RGBA(bits) => samples(4, bits),
            ColorType::CMYK(8) => Some(Kind::Cmyk { sixteen: false }),
            ColorType::CMYK(16) => Some(Kind::Cmyk { sixteen: true }),
            ColorType::YCbCr(8) if compression == Some(JPEG) => Some(Kind::JpegYcbcr),
            _ => None,
        }
    }

    fn has_alpha(self) -> bool {
        matches!(
            self,
            Kind::Samples {
                channels: 2 | 4,
                ..
            }
        )
    }

    /// Bytes a pixel of the decoder's whole picture as `image` counts them (for its limits).
    fn image_bytes_per_pixel(self) -> u64 {
        match self {
            Kind::Bilevel => 1,
            Kind::Samples { channels, sixteen } => channels as u64 * if sixteen { 2 } else { 1 },
            Kind::Cmyk { sixteen } => 4 * if sixteen { 2 } else { 1 },
            Kind::JpegYcbcr => 3,
        }
    }
}

/// A TIFF whose first picture's directory has been read, of a kind converted here.
pub(super) struct TiffChunks<'a> {
    decoder: Decoder<Cursor<&'a [u8]>>,
    size: (u32, u32),
    kind: Kind,
}

/// Reads the TIFF `bytes`' header and first directory. `None` when its pixels are of a kind left
/// to `image` (see the module's notes), or when `image` would refuse the file before its pixels:
/// it then reads the file again and words the refusal.
pub(super) fn open(bytes: &[u8], max_alloc: u64) -> Option<TiffChunks<'_>> {
    // As `image` does: the directory is read with the tiff crate's own limits, the pixels with
    // the caller's.
    let mut decoder = Decoder::new(Cursor::new(bytes)).ok()?;
    let size = decoder.dimensions().ok()?;
    let compression = decoder.find_tag_unsigned::<u16>(Tag::Compression).ok()?;
    let kind = Kind::of(decoder.colortype().ok()?, compression)?;
    let unsigned = match decoder
        .find_tag_unsigned_vec::<u16>(Tag::SampleFormat)
        .ok()?
    {
        Some(formats) => formats
            .iter()
            .all(|&f| SampleFormat::from_u16(f) == Some(SampleFormat::Uint)),
        None => true,
    };
    let chunky = match decoder
        .find_tag_unsigned::<u16>(Tag::PlanarConfiguration)
        .ok()?
    {
        Some(config) => PlanarConfiguration::from_u16(config) == Some(PlanarConfiguration::Chunky),
        None => true,
    };
    let (chunk_width, chunk_height) = decoder.chunk_dimensions();
    if !unsigned || !chunky || chunk_width == 0 || chunk_height == 0 {
        return None;
    }
    // `image`'s limits: the whole picture in the file's samples may take what the caller allows,
    // and the decoder's work buffers (a compressed strip) the rest of it.
    let whole = u64::from(size.0)
        .saturating_mul(u64::from(size.1))
        .saturating_mul(kind.image_bytes_per_pixel());
    let intermediate = max_alloc.saturating_sub(whole);
    let mut limits = Limits::default();
    limits.decoding_buffer_size = usize::try_from(max_alloc - intermediate).unwrap_or(usize::MAX);
    limits.intermediate_buffer_size = usize::try_from(intermediate).unwrap_or(usize::MAX);
    limits.ifd_value_size = limits.intermediate_buffer_size;
    Some(TiffChunks {
        decoder: decoder.with_limits(limits),
        size,
        kind,
    })
}

impl TiffChunks<'_> {
    /// Width and height in pixels.
    pub fn dimensions(&self) -> (u32, u32) {
        self.size
    }

    /// The orientation its Orientation tag gives, as `image` reads it (none if the tag cannot
    /// be read, as kquant takes `image`'s).
    pub fn orientation(&mut self) -> Orientation {
        self.decoder
            .find_tag(Tag::Orientation)
            .ok()
            .flatten()
            .and_then(|v| Orientation::from_exif(v.into_u16().ok()?.min(255) as u8))
            .unwrap_or(Orientation::NoTransforms)
    }

    /// Decodes the pixels, one strip or tile at a time, in the file's order.
    pub fn read(mut self) -> Result<Picture, ImageError> {
        let (width, height) = self.size;
        let (w, h) = (width as usize, height as usize);
        let (chunk_width, chunk_height) = self.decoder.chunk_dimensions();
        let across = width.div_ceil(chunk_width);
        let down = height.div_ceil(chunk_height);
        let mut rgb = vec![[0u8; 3]; w * h];
        let mut alpha = if self.kind.has_alpha() {
            vec![0u8; w * h]
        } else {
            Vec::new()
        };
        for chunk in 0..across.saturating_mul(down) {
            let samples = self.decoder.read_chunk(chunk).map_err(from_tiff)?;
            let (data_width, data_height) = self.decoder.chunk_data_dimensions(chunk);
            let x = (chunk % across) as usize * chunk_width as usize;
            let y = (chunk / across) as usize * chunk_height as usize;
            // Tiles at the right and bottom edges hold only the picture's part of them.
            let place = Place {
                first: y * w + x,
                width: w,
                stride: data_width as usize,
                cols: (data_width as usize).min(w.saturating_sub(x)),
                rows: (data_height as usize).min(h.saturating_sub(y)),
            };
            self.kind.convert(&samples, place, &mut rgb, &mut alpha)?;
        }
        Ok(Picture {
            width,
            height,
            rgb,
            alpha: self.kind.has_alpha().then_some(alpha),
        })
    }
}

/// Where a decoded chunk's pixels go in the picture.
#[derive(Debug, Clone, Copy)]
struct Place {
    /// The picture's index of the chunk's first pixel.
    first: usize,
    /// The picture's width.
    width: usize,
    /// Pixels in each of the chunk's rows.
    stride: usize,
    /// How many of them are the picture's (a tile may reach past its right edge).
    cols: usize,
    /// How many of its rows are the picture's.
    rows: usize,
}

impl Place {
    /// The chunk's rows of `row_len` samples that are the picture's, each with the picture's
    /// index of its first pixel; an error if the chunk holds fewer rows than that.
    fn rows<T>(
        self,
        samples: &[T],
        row_len: usize,
    ) -> Result<impl Iterator<Item = (&[T], usize)>, ImageError> {
        if row_len == 0 || samples.len() / row_len < self.rows {
            return Err(decoding("a strip holds fewer rows than its picture needs"));
        }
        let starts = (0..self.rows).map(move |r| self.first + r * self.width);
        Ok(samples.chunks_exact(row_len).zip(starts))
    }
}

impl Kind {
    /// Writes one decoded chunk's pixels to the picture.
    fn convert(
        self,
        samples: &DecodingResult,
        place: Place,
        rgb: &mut [[u8; 3]],
        alpha: &mut [u8],
    ) -> Result<(), ImageError> {
        match (self, samples) {
            (Kind::Bilevel, DecodingResult::U8(bytes)) => {
                for (row, at) in place.rows(bytes, place.stride.div_ceil(8))? {
                    for (i, out) in rgb[at..at + place.cols].iter_mut().enumerate() {
                        let bit = (row[i / 8] >> (7 - i % 8)) & 1;
                        *out = [bit * 255; 3];
                    }
                }
            }
            (Kind::Samples { channels, .. }, DecodingResult::U8(v)) => {
                samples_to_picture(v, channels, place, rgb, alpha, |s| s)?;
            }
            (Kind::Samples { channels, .. }, DecodingResult::U16(v)) => {
                samples_to_picture(v, channels, place, rgb, alpha, to_8_bits)?;
            }
            (Kind::Cmyk { .. }, DecodingResult::U8(v)) => {
                pixels_to_rgb::<4, _>(v, place, rgb, cmyk_to_rgb)?;
            }
            (Kind::Cmyk { .. }, DecodingResult::U16(v)) => {
                pixels_to_rgb::<4, _>(v, place, rgb, cmyk16_to_rgb)?;
            }
            (Kind::JpegYcbcr, DecodingResult::U8(v)) => {
                pixels_to_rgb::<3, _>(v, place, rgb, |p| {
                    let [y, cb, cr] = p.map(i32::from);
                    ycbcr_to_rgb(y, cb, cr)
                })?;
            }
            _ => return Err(decoding("a strip holds samples of another size")),
        }
        Ok(())
    }
}

/// Pixels of `N` samples each, made one colour by `to_rgb`, to the picture.
#[inline]
fn pixels_to_rgb<const N: usize, T: Copy>(
    samples: &[T],
    place: Place,
    rgb: &mut [[u8; 3]],
    to_rgb: impl Fn([T; N]) -> [u8; 3],
) -> Result<(), ImageError> {
    for (row, at) in place.rows(samples, N * place.stride)? {
        for (p, out) in row.chunks_exact(N).zip(&mut rgb[at..at + place.cols]) {
            *out = to_rgb(p.try_into().expect("chunks of N"));
        }
    }
    Ok(())
}

/// Grey, grey and alpha, RGB or RGBA samples (each made 8 bits by `to_u8`) to the picture.
#[inline]
fn samples_to_picture<T: Copy>(
    samples: &[T],
    channels: usize,
    place: Place,
    rgb: &mut [[u8; 3]],
    alpha: &mut [u8],
    to_u8: impl Fn(T) -> u8,
) -> Result<(), ImageError> {
    for (row, at) in place.rows(samples, channels * place.stride)? {
        for (i, p) in row.chunks_exact(channels).take(place.cols).enumerate() {
            rgb[at + i] = if channels < 3 {
                [to_u8(p[0]); 3]
            } else {
                [to_u8(p[0]), to_u8(p[1]), to_u8(p[2])]
            };
            if channels == 2 || channels == 4 {
                alpha[at + i] = to_u8(p[channels - 1]);
            }
        }
    }
    Ok(())
}

/// CMYK to RGB as `image` converts an 8-bit CMYK TIFF.
fn cmyk_to_rgb(cmyk: [u8; 4]) -> [u8; 3] {
    let k = 1. - f32::from(cmyk[3]) / 255.;
    [0, 1, 2].map(|c| ((255. - f32::from(cmyk[c])) * k) as u8)
}

/// CMYK to RGB as `image` converts a 16-bit CMYK TIFF: to 16-bit RGB, then to 8 bits.
fn cmyk16_to_rgb(cmyk: [u16; 4]) -> [u8; 3] {
    let k = 1. - f32::from(cmyk[3]) / 65535.;
    [0, 1, 2].map(|c| to_8_bits(((65535. - f32::from(cmyk[c])) * k) as u16))
}

/// A tiff crate error as `image` words it, so that it is described as before.
fn from_tiff(err: TiffError) -> ImageError {
    match err {
        TiffError::IoError(err) => ImageError::IoError(err),
        err @ (TiffError::FormatError(_) | TiffError::IntSizeError | TiffError::UsageError(_)) => {
            ImageError::Decoding(DecodingError::new(ImageFormat::Tiff.into(), err))
        }
        TiffError::UnsupportedError(desc) => {
            ImageError::Unsupported(UnsupportedError::from_format_and_kind(
                ImageFormat::Tiff.into(),
                UnsupportedErrorKind::GenericFeature(desc.to_string()),
            ))
        }
        TiffError::LimitsExceeded => {
            ImageError::Limits(LimitError::from_kind(LimitErrorKind::InsufficientMemory))
        }
    }
}

fn decoding(text: &str) -> ImageError {
    ImageError::Decoding(DecodingError::new(
        ImageFormatHint::Exact(ImageFormat::Tiff),
        text,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::load::{decode_picture, describe, oriented, picture_from_dynamic, LoadLimits};

    /// A sample of `bits` bits for pixel (x, y), channel c: scattered, so that every layout meets
    /// many values (and 16-bit ones many roundings).
    fn sample(x: u32, y: u32, c: u32, bits: u16) -> u16 {
        let v = (x * 7919 + y * 104_729 + c * 7907 + 13).wrapping_mul(2_654_435_761);
        ((v >> 9) & ((1u32 << bits) - 1)) as u16
    }

    /// How a test TIFF stores its pixels.
    #[derive(Debug, Clone, Copy)]
    enum Chunking {
        /// Strips of this many rows.
        Strips(u32),
        /// Tiles of this size (multiples of 16, as TIFF asks).
        Tiles(u32, u32),
    }

    /// A test TIFF's layout.
    #[derive(Debug, Clone, Copy)]
    struct Spec {
        size: (u32, u32),
        bits: u16,
        samples: u16,
        /// 0 white is zero, 1 black is zero, 2 RGB, 5 CMYK.
        photometric: u16,
        chunking: Chunking,
        /// Deflate (with the horizontal predictor where samples are whole bytes) or none.
        deflate: bool,
        orientation: Option<u16>,
    }

    /// The rows `y0..y1`, columns `x0..x0 + cols` of the test picture, packed as TIFF packs a
    /// row (little-endian samples; bits from the highest; each row whole bytes), differenced
    /// horizontally when `predict`.
    fn rows(spec: &Spec, x0: u32, cols: u32, y0: u32, y1: u32, predict: bool) -> Vec<u8> {
        let (width, height) = spec.size;
        let mut out = Vec::new();
        for y in y0..y1 {
            let (mut acc, mut filled) = (0u8, 0u16);
            let mut previous = vec![0u16; usize::from(spec.samples)];
            for x in x0..x0 + cols {
                for c in 0..spec.samples {
                    // Beyond the picture (a tile's padding): zeros.
                    let inside = x < width && y < height;
                    let v = if inside {
                        sample(x, y, u32::from(c), spec.bits)
                    } else {
                        0
                    };
                    let stored = if predict {
                        let d = v.wrapping_sub(previous[usize::from(c)]);
                        previous[usize::from(c)] = v;
                        if spec.bits == 8 {
                            d & 0xff
                        } else {
                            d
                        }
                    } else {
                        v
                    };
                    match spec.bits {
                        16 => out.extend(stored.to_le_bytes()),
                        8 => out.push(stored as u8),
                        bits => {
                            acc |= (stored as u8) << (8 - bits - filled);
                            filled += bits;
                            if filled == 8 {
                                out.push(acc);
                                (acc, filled) = (0, 0);
                            }
                        }
                    }
                }
            }
            if filled > 0 {
                out.push(acc);
            }
        }
        out
    }

    /// A little-endian TIFF of one picture, as `spec` says.
    fn tiff(spec: &Spec) -> Vec<u8> {
        let (width, height) = spec.size;
        let predict = spec.deflate && spec.bits >= 8;
        let chunks: Vec<Vec<u8>> = match spec.chunking {
            Chunking::Strips(rows_per) => (0..height.div_ceil(rows_per))
                .map(|s| {
                    let y1 = ((s + 1) * rows_per).min(height);
                    rows(spec, 0, width, s * rows_per, y1, predict)
                })
                .collect(),
            Chunking::Tiles(tw, th) => {
                let across = width.div_ceil(tw);
                (0..across * height.div_ceil(th))
                    .map(|t| {
                        let (x, y) = ((t % across) * tw, (t / across) * th);
                        rows(spec, x, tw, y, y + th, predict)
                    })
                    .collect()
            }
        };
        let chunks: Vec<Vec<u8>> = if spec.deflate {
            chunks
                .into_iter()
                .map(|c| {
                    let mut z =
                        flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
                    std::io::Write::write_all(&mut z, &c).unwrap();
                    z.finish().unwrap()
                })
                .collect()
        } else {
            chunks
        };
        let short = |v: u16| vec![u32::from(v)];
        // (tag, type: 3 SHORT or 4 LONG, values)
        let mut entries: Vec<(u16, u16, Vec<u32>)> = vec![
            (256, 4, vec![width]),
            (257, 4, vec![height]),
            (
                258,
                3,
                vec![u32::from(spec.bits); usize::from(spec.samples)],
            ),
            (259, 3, short(if spec.deflate { 8 } else { 1 })),
            (262, 3, short(spec.photometric)),
            (277, 3, short(spec.samples)),
            (284, 3, short(1)),
        ];
        if let Some(o) = spec.orientation {
            entries.push((274, 3, short(o)));
        }
        if predict {
            entries.push((317, 3, short(2)));
        }
        let alpha = match spec.photometric {
            0 | 1 => spec.samples == 2,
            2 => spec.samples == 4,
            _ => false,
        };
        if alpha {
            entries.push((338, 3, short(2)));
        }
        assemble(&chunks, spec.chunking, entries)
    }

    /// A little-endian TIFF of `chunks` stored as `chunking` says, with the directory's other
    /// `entries` (tag, type: 3 SHORT or 4 LONG, values).
    fn assemble(
        chunks: &[Vec<u8>],
        chunking: Chunking,
        mut entries: Vec<(u16, u16, Vec<u32>)>,
    ) -> Vec<u8> {
        // The data first (after the 8-byte header), then the directory and its values.
        let mut out = b"II\x2a\x00\0\0\0\0".to_vec();
        let mut offsets = Vec::new();
        for c in chunks {
            offsets.push(out.len() as u32);
            out.extend(c);
        }
        let counts: Vec<u32> = chunks.iter().map(|c| c.len() as u32).collect();
        match chunking {
            Chunking::Strips(rows_per) => {
                entries.push((273, 4, offsets));
                entries.push((278, 4, vec![rows_per]));
                entries.push((279, 4, counts));
            }
            Chunking::Tiles(tw, th) => {
                entries.push((322, 4, vec![tw]));
                entries.push((323, 4, vec![th]));
                entries.push((324, 4, offsets));
                entries.push((325, 4, counts));
            }
        }
        entries.sort_by_key(|e| e.0);
        let ifd = out.len() as u32;
        out[4..8].copy_from_slice(&ifd.to_le_bytes());
        let values_at = ifd as usize + 2 + 12 * entries.len() + 4;
        let mut values = Vec::new();
        out.extend((entries.len() as u16).to_le_bytes());
        for (tag, kind, vals) in &entries {
            let bytes: Vec<u8> = vals
                .iter()
                .flat_map(|&v| {
                    if *kind == 3 {
                        (v as u16).to_le_bytes().to_vec()
                    } else {
                        v.to_le_bytes().to_vec()
                    }
                })
                .collect();
            out.extend(tag.to_le_bytes());
            out.extend(kind.to_le_bytes());
            out.extend((vals.len() as u32).to_le_bytes());
            if bytes.len() <= 4 {
                let mut inline = bytes.clone();
                inline.resize(4, 0);
                out.extend(inline);
            } else {
                out.extend(((values_at + values.len()) as u32).to_le_bytes());
                values.extend(bytes);
            }
        }
        out.extend(0u32.to_le_bytes());
        out.extend(values);
        out
    }

    /// What `image` makes of a TIFF, turned by its orientation, as a picture.
    fn reference(bytes: &[u8]) -> Result<Picture, String> {
        use image::ImageDecoder;
        let reader = image::ImageReader::with_format(Cursor::new(bytes), ImageFormat::Tiff);
        let mut decoder = reader.into_decoder().map_err(|e| describe("TIFF", &e))?;
        // As kquant reads other formats: an unreadable orientation is none.
        let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
        let mut img =
            image::DynamicImage::from_decoder(decoder).map_err(|e| describe("TIFF", &e))?;
        img.apply_orientation(orientation);
        Ok(picture_from_dynamic(img))
    }

    /// kquant's picture of a TIFF, through this module only.
    fn ours(bytes: &[u8]) -> Result<Picture, String> {
        let chunks = open(bytes, u64::MAX).expect("a kind read strip by strip");
        chunks.read().map_err(|e| describe("TIFF", &e))
    }

    fn spec(size: (u32, u32), bits: u16, samples: u16, photometric: u16) -> Spec {
        Spec {
            size,
            bits,
            samples,
            photometric,
            chunking: Chunking::Strips(3),
            deflate: false,
            orientation: None,
        }
    }

    #[test]
    fn every_layout_decodes_to_the_pixels_image_gives() {
        // (photometric, samples, bit depths)
        let kinds: [(u16, u16, &[u16]); 7] = [
            (1, 1, &[1, 8, 16]),
            (0, 1, &[1, 8, 16]),
            (1, 2, &[8, 16]),
            (2, 3, &[8, 16]),
            (2, 4, &[8, 16]),
            (5, 4, &[8, 16]),
            (0, 2, &[8, 16]),
        ];
        let chunkings = [
            Chunking::Strips(1),
            Chunking::Strips(3),
            Chunking::Strips(40),
            Chunking::Strips(u32::MAX),
            Chunking::Tiles(16, 16),
            Chunking::Tiles(32, 16),
        ];
        let mut read = 0;
        for (photometric, samples, depths) in kinds {
            for &bits in depths {
                for size in [(1, 1), (17, 5), (33, 40)] {
                    for chunking in chunkings {
                        for deflate in [false, true] {
                            let spec = Spec {
                                chunking,
                                deflate,
                                ..spec(size, bits, samples, photometric)
                            };
                            let bytes = tiff(&spec);
                            let expected = reference(&bytes);
                            match open(&bytes, u64::MAX) {
                                Some(chunks) => {
                                    let got = chunks.read().map_err(|e| describe("TIFF", &e));
                                    assert_eq!(got, expected, "{spec:?}");
                                    read += 1;
                                }
                                // Left to `image`: only kinds that it refuses.
                                None => assert!(expected.is_err(), "{spec:?}"),
                            }
                        }
                    }
                }
            }
        }
        // Grey with alpha is not a kind the tiff crate reads (`image` refuses it); the other 12
        // kinds are read here, in 3 sizes, 6 chunkings, with and without compression.
        assert_eq!(read, 12 * 3 * 6 * 2, "layouts read strip by strip");
    }

    #[test]
    fn the_orientation_tag_turns_colours_and_alpha_as_image_does() {
        for orientation in 1..=8 {
            let spec = Spec {
                orientation: Some(orientation),
                ..spec((7, 4), 8, 4, 2)
            };
            let bytes = tiff(&spec);
            let got = decode_picture(&bytes, &LoadLimits::default()).unwrap();
            assert_eq!(Ok(got), reference(&bytes), "orientation {orientation}");
        }
    }

    #[test]
    fn kinds_image_reads_otherwise_are_left_to_it() {
        let base = tiff(&spec((5, 4), 8, 3, 2));
        assert!(open(&base, u64::MAX).is_some());
        // Planes stored apart (PlanarConfiguration 2) and floating-point samples (SampleFormat
        // 3): the same file with the one value changed.
        let planar = patch_short(&base, 284, 2);
        assert!(open(&planar, u64::MAX).is_none());
        let mut float = spec((5, 4), 16, 3, 2);
        float.bits = 16;
        let float = with_sample_format(&tiff(&float), 3);
        assert!(open(&float, u64::MAX).is_none());
        assert!(open(b"II\x2a\x00\x08\0\0\0", u64::MAX).is_none());
    }

    /// `bytes` with the inline SHORT value of tag `tag` set to `value`.
    fn patch_short(bytes: &[u8], tag: u16, value: u16) -> Vec<u8> {
        let mut out = bytes.to_vec();
        let ifd = u32::from_le_bytes(out[4..8].try_into().unwrap()) as usize;
        let n = usize::from(u16::from_le_bytes([out[ifd], out[ifd + 1]]));
        let entry = (0..n)
            .map(|i| ifd + 2 + 12 * i)
            .find(|&e| u16::from_le_bytes([out[e], out[e + 1]]) == tag)
            .expect("the tag is there");
        out[entry + 8..entry + 10].copy_from_slice(&value.to_le_bytes());
        out
    }

    /// `bytes` with a SampleFormat tag of `format` for its three samples: the PlanarConfiguration
    /// entry (always 1 here) is turned into it, which keeps the entries in order.
    fn with_sample_format(bytes: &[u8], format: u16) -> Vec<u8> {
        let mut out = patch_short(bytes, 284, format);
        let ifd = u32::from_le_bytes(out[4..8].try_into().unwrap()) as usize;
        let n = usize::from(u16::from_le_bytes([out[ifd], out[ifd + 1]]));
        let entry = (0..n)
            .map(|i| ifd + 2 + 12 * i)
            .find(|&e| u16::from_le_bytes([out[e], out[e + 1]]) == 284)
            .unwrap();
        out[entry..entry + 2].copy_from_slice(&339u16.to_le_bytes());
        out
    }

    #[test]
    fn damage_is_worded_as_image_words_it() {
        let good = tiff(&Spec {
            deflate: true,
            ..spec((20, 9), 16, 3, 2)
        });
        assert!(ours(&good).is_ok());
        // The second strip's compressed data (at byte 8 + the first's length) overwritten.
        let first = {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            let spec = Spec {
                deflate: true,
                ..spec((20, 9), 16, 3, 2)
            };
            std::io::Write::write_all(&mut z, &rows(&spec, 0, 20, 0, 3, true)).unwrap();
            z.finish().unwrap().len()
        };
        let mut garbled = good.clone();
        for b in &mut garbled[8 + first + 2..8 + first + 12] {
            *b = 0xff;
        }
        let ours = ours(&garbled);
        let theirs = reference(&garbled);
        assert!(ours.is_err(), "{ours:?}");
        assert_eq!(ours.err(), theirs.err());
    }

    #[test]
    fn jpeg_compressed_ycbcr_is_read_as_its_jpegs_decode() {
        // Two strips of 16 rows, each a whole JPEG (4:2:0), as TIFF Technical Note 2 stores them.
        let (width, height, rows) = (40u16, 32u16, 16u16);
        let band = |y0: u16| -> Vec<u8> {
            let mut rgb = Vec::new();
            for y in y0..y0 + rows {
                for x in 0..width {
                    let [r, g, b] = [0, 1, 2].map(|c| sample(x.into(), y.into(), c, 8) as u8);
                    rgb.extend([r, g / 2 + 60, b]);
                }
            }
            let mut jpeg = Vec::new();
            let mut encoder = jpeg_encoder::Encoder::new(&mut jpeg, 90);
            encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
            encoder
                .encode(&rgb, width, rows, jpeg_encoder::ColorType::Rgb)
                .unwrap();
            jpeg
        };
        let strips = [band(0), band(rows)];
        let short = |v: u32| vec![v];
        let entries = vec![
            (256, 4, short(width.into())),
            (257, 4, short(height.into())),
            (258, 3, vec![8, 8, 8]),
            (259, 3, short(7)),
            (262, 3, short(6)),
            (277, 3, short(3)),
            (284, 3, short(1)),
            (530, 3, vec![2, 2]),
        ];
        let bytes = assemble(&strips, Chunking::Strips(rows.into()), entries);
        // `image` refuses the TIFF, and decodes each JPEG on its own.
        assert!(reference(&bytes).is_err());
        let expected: Vec<[u8; 3]> = strips
            .iter()
            .flat_map(|jpeg| {
                let img = image::load_from_memory_with_format(jpeg, ImageFormat::Jpeg).unwrap();
                picture_from_dynamic(img).rgb
            })
            .collect();
        let picture = decode_picture(&bytes, &LoadLimits::default()).unwrap();
        assert_eq!((picture.width, picture.height), (40, 32));
        assert!(picture.alpha.is_none());
        assert!(picture.rgb == expected, "the JPEGs' own pixels");
    }

    /// Damaged files (cut, bytes changed anywhere or in the directory) of several kinds: this
    /// module reads exactly what `image` reads, to the same pixels, and refuses what it refuses.
    #[test]
    fn damaged_files_are_read_or_refused_as_image_reads_them() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let specs = [
            Spec {
                deflate: true,
                ..spec((33, 40), 16, 4, 2)
            },
            Spec {
                chunking: Chunking::Tiles(16, 16),
                ..spec((33, 40), 8, 3, 2)
            },
            Spec {
                chunking: Chunking::Tiles(16, 16),
                deflate: true,
                ..spec((33, 40), 1, 1, 0)
            },
            spec((33, 40), 16, 4, 5),
            Spec {
                orientation: Some(6),
                ..spec((13, 9), 8, 3, 2)
            },
        ];
        let (mut read, mut refused) = (0, 0);
        for spec in specs {
            let good = tiff(&spec);
            let ifd = u32::from_le_bytes(good[4..8].try_into().unwrap()) as usize;
            for _ in 0..400 {
                let mut bytes = good.clone();
                match rng.random_range(0..3) {
                    0 => bytes.truncate(rng.random_range(0..good.len())),
                    1 => {
                        for _ in 0..rng.random_range(1..4) {
                            let i = rng.random_range(0..bytes.len());
                            bytes[i] = rng.random();
                        }
                    }
                    _ => bytes[rng.random_range(ifd..good.len())] = rng.random(),
                }
                // A size edited to gigapixels is refused from the header before this module
                // runs (and `image` would try to allocate it).
                let size = Decoder::new(Cursor::new(&bytes[..])).and_then(|mut d| d.dimensions());
                if size.is_ok_and(|(w, h)| u64::from(w) * u64::from(h) > 1 << 20) {
                    continue;
                }
                // `image`'s default allocation limit: 512 MiB.
                let Some(mut chunks) = open(&bytes, 512 << 20) else {
                    // Left to `image` (the damage is in what this module looks at first).
                    assert!(reference(&bytes).is_err(), "{spec:?}");
                    refused += 1;
                    continue;
                };
                let orientation = chunks.orientation();
                let ours = chunks.read().map(|p| oriented(p, orientation));
                match (ours, reference(&bytes)) {
                    (Ok(ours), Ok(theirs)) => {
                        assert_eq!(ours, theirs, "{spec:?}");
                        read += 1;
                    }
                    (Err(_), Err(_)) => refused += 1,
                    (ours, theirs) => {
                        panic!("{spec:?}: {:?} against {:?}", ours.err(), theirs.err())
                    }
                }
            }
        }
        assert!(
            read > 200 && refused > 200,
            "{read} read, {refused} refused"
        );
    }
}
