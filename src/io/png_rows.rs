//! A PNG decoded row by row straight into a [`Picture`]'s RGB triples and alpha.
//!
//! The `image` crate decodes a whole picture into a buffer of the file's own layout first, which
//! kquant then copied into triples and alpha: a 16-bit RGBA PNG held 12 bytes a pixel at once
//! beside its file, an 8-bit RGBA one 8, where the picture itself keeps 4. Converted as each row
//! leaves the decoder, a PNG takes its picture's 3 bytes a pixel (4 with alpha) and one row. The
//! pixels are the ones `image` gives: the png crate's same `EXPAND` transformation (palettes,
//! transparency chunks and small bit depths made 8-bit samples), 16-bit samples rounded to 8 bits
//! as `image` rounds them, and Adam7-interlaced passes put in place.

use std::io::Cursor;

use image::error::{
    DecodingError, ImageFormatHint, LimitError, LimitErrorKind, ParameterError, ParameterErrorKind,
};
use image::metadata::Orientation;
use image::{ImageError, ImageFormat};

use super::load;
use crate::pixels::Picture;

/// A PNG whose header and chunks before the pixels have been read.
pub(super) struct PngReader<'a> {
    reader: png::Reader<Cursor<&'a [u8]>>,
}

/// Reads the header and the chunks before the pixels of the PNG `bytes`, with the png crate's
/// allocations (of its colour profile, text and rows) limited to `max_alloc` bytes.
pub(super) fn open(bytes: &[u8], max_alloc: u64) -> Result<PngReader<'_>, ImageError> {
    let bytes_allowed = usize::try_from(max_alloc).unwrap_or(usize::MAX);
    let mut decoder = png::Decoder::new_with_limits(
        Cursor::new(bytes),
        png::Limits {
            bytes: bytes_allowed,
        },
    );
    // As `image` sets it: text chunks are read, so a damaged one is refused as it is there.
    decoder.set_ignore_text_chunk(false);
    decoder.read_header_info().map_err(from_png)?;
    decoder.set_transformations(png::Transformations::EXPAND);
    let reader = decoder.read_info().map_err(from_png)?;
    Ok(PngReader { reader })
}

impl PngReader<'_> {
    /// Width and height in pixels.
    pub fn dimensions(&self) -> (u32, u32) {
        self.reader.info().size()
    }

    /// The orientation its EXIF chunk (eXIf, before the pixels) gives, as `image` reads it.
    pub fn orientation(&self) -> Orientation {
        self.reader
            .info()
            .exif_metadata
            .as_deref()
            .and_then(Orientation::from_exif_chunk)
            .unwrap_or(Orientation::NoTransforms)
    }

    /// Decodes the pixels (the first frame of an animated PNG, as `image` does).
    pub fn read(mut self) -> Result<Picture, ImageError> {
        let (width, height) = self.dimensions();
        let (color, depth) = self.reader.output_color_type();
        let layout = Layout::of(color, depth)?;
        let pixels = width as usize * height as usize;
        let mut rgb = vec![[0u8; 3]; pixels];
        let mut alpha = if layout.has_alpha() {
            vec![0u8; pixels]
        } else {
            Vec::new()
        };
        let line = |reader: &png::Reader<_>, samples: u32| {
            reader.output_line_size(samples).ok_or_else(limits_exceeded)
        };
        let mut row = vec![0u8; line(&self.reader, width)?];
        let w = width as usize;
        if self.reader.info().interlaced {
            for pass in PASSES {
                let samples = pass.count(width, pass.x_offset, pass.x_step);
                let lines = pass.count(height, pass.y_offset, pass.y_step);
                if samples == 0 || lines == 0 {
                    continue;
                }
                let size = line(&self.reader, samples)?;
                for y in 0..lines {
                    self.next_row(&mut row[..size])?;
                    let at =
                        (pass.y_offset + y * pass.y_step) as usize * w + pass.x_offset as usize;
                    layout.convert(&row[..size], &mut rgb, &mut alpha, at, pass.x_step as usize);
                }
            }
        } else if layout == RGB8 {
            // Rows already in the picture's layout are decoded in place.
            for out in rgb.chunks_exact_mut(w) {
                self.next_row(bytemuck::cast_slice_mut(out))?;
            }
        } else {
            for y in 0..height as usize {
                self.next_row(&mut row)?;
                layout.convert(&row, &mut rgb, &mut alpha, y * w, 1);
            }
        }
        // The rest of the image data is read, as a whole decode does, so damage after the last
        // row is found as it was.
        if self.reader.read_row(&mut row).map_err(from_png)?.is_some() {
            return Err(more_rows());
        }
        Ok(Picture {
            width,
            height,
            rgb,
            alpha: layout.has_alpha().then_some(alpha),
        })
    }

    /// Decodes the next row into `out`, which is exactly its size.
    fn next_row(&mut self, out: &mut [u8]) -> Result<(), ImageError> {
        match self.reader.read_row(out).map_err(from_png)? {
            Some(_) => Ok(()),
            None => Err(ImageError::IoError(
                std::io::ErrorKind::UnexpectedEof.into(),
            )),
        }
    }
}

/// One of the seven passes of Adam7 interlacing: which pixels of each 8x8 square it holds.
#[derive(Clone, Copy)]
struct Pass {
    x_offset: u32,
    x_step: u32,
    y_offset: u32,
    y_step: u32,
}

impl Pass {
    /// How many of `size` columns (or rows) the pass holds.
    fn count(self, size: u32, offset: u32, step: u32) -> u32 {
        size.saturating_sub(offset).div_ceil(step)
    }
}

/// The passes in file order (the PNG specification, section 8.2).
const PASSES: [Pass; 7] = [
    Pass {
        x_offset: 0,
        x_step: 8,
        y_offset: 0,
        y_step: 8,
    },
    Pass {
        x_offset: 4,
        x_step: 8,
        y_offset: 0,
        y_step: 8,
    },
    Pass {
        x_offset: 0,
        x_step: 4,
        y_offset: 4,
        y_step: 8,
    },
    Pass {
        x_offset: 2,
        x_step: 4,
        y_offset: 0,
        y_step: 4,
    },
    Pass {
        x_offset: 0,
        x_step: 2,
        y_offset: 2,
        y_step: 4,
    },
    Pass {
        x_offset: 1,
        x_step: 2,
        y_offset: 0,
        y_step: 2,
    },
    Pass {
        x_offset: 0,
        x_step: 1,
        y_offset: 1,
        y_step: 2,
    },
];

/// The layout of a decoded row: 1 (grey), 2 (grey, alpha), 3 (RGB) or 4 (RGBA) samples a pixel,
/// of 8 or 16 bits (big-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    channels: usize,
    sixteen: bool,
}

const RGB8: Layout = Layout {
    channels: 3,
    sixteen: false,
};

impl Layout {
    fn of(color: png::ColorType, depth: png::BitDepth) -> Result<Self, ImageError> {
        let sixteen = match depth {
            png::BitDepth::Eight => false,
            png::BitDepth::Sixteen => true,
            // `EXPAND` makes every other depth 8 bits (and a palette RGB or RGBA).
            _ => return Err(unsupported(color, depth)),
        };
        let channels = match color {
            png::ColorType::Grayscale => 1,
            png::ColorType::GrayscaleAlpha => 2,
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            png::ColorType::Indexed => return Err(unsupported(color, depth)),
        };
        Ok(Self { channels, sixteen })
    }

    fn has_alpha(self) -> bool {
        matches!(self.channels, 2 | 4)
    }

    /// Writes the pixels of `row` to `rgb` (and `alpha`, if it has one) at `at`, `at + step`, ...
    fn convert(self, row: &[u8], rgb: &mut [[u8; 3]], alpha: &mut [u8], at: usize, step: usize) {
        // One loop for each layout, so that each is a plain loop with constant offsets.
        match (self.channels, self.sixteen) {
            (1, false) => convert::<1, false>(row, rgb, alpha, at, step),
            (2, false) => convert::<2, false>(row, rgb, alpha, at, step),
            (3, false) => convert::<3, false>(row, rgb, alpha, at, step),
            (4, false) => convert::<4, false>(row, rgb, alpha, at, step),
            (1, true) => convert::<1, true>(row, rgb, alpha, at, step),
            (2, true) => convert::<2, true>(row, rgb, alpha, at, step),
            (3, true) => convert::<3, true>(row, rgb, alpha, at, step),
            _ => convert::<4, true>(row, rgb, alpha, at, step),
        }
    }
}

/// [`Layout::convert`] for `CHANNELS` samples of 8 or 16 bits.
#[inline]
fn convert<const CHANNELS: usize, const SIXTEEN: bool>(
    row: &[u8],
    rgb: &mut [[u8; 3]],
    alpha: &mut [u8],
    at: usize,
    step: usize,
) {
    let width = if SIXTEEN { 2 } else { 1 };
    let sample = |p: &[u8], c: usize| {
        if SIXTEEN {
            to_8_bits(p[2 * c], p[2 * c + 1])
        } else {
            p[c]
        }
    };
    for (i, p) in row.chunks_exact(CHANNELS * width).enumerate() {
        let to = at + i * step;
        rgb[to] = if CHANNELS < 3 {
            let v = sample(p, 0);
            [v, v, v]
        } else {
            [sample(p, 0), sample(p, 1), sample(p, 2)]
        };
        if CHANNELS == 2 || CHANNELS == 4 {
            alpha[to] = sample(p, CHANNELS - 1);
        }
    }
}

/// A big-endian 16-bit sample rounded to 8 bits, as `image` converts it.
#[inline]
fn to_8_bits(high: u8, low: u8) -> u8 {
    load::to_8_bits(u16::from_be_bytes([high, low]))
}

/// A png crate error as `image` words it, so that it is described as before.
fn from_png(err: png::DecodingError) -> ImageError {
    match err {
        png::DecodingError::IoError(err) => ImageError::IoError(err),
        err @ png::DecodingError::Format(_) => {
            ImageError::Decoding(DecodingError::new(ImageFormat::Png.into(), err))
        }
        err @ png::DecodingError::Parameter(_) => ImageError::Parameter(ParameterError::from_kind(
            ParameterErrorKind::Generic(err.to_string()),
        )),
        png::DecodingError::LimitsExceeded => limits_exceeded(),
    }
}

fn limits_exceeded() -> ImageError {
    ImageError::Limits(LimitError::from_kind(LimitErrorKind::InsufficientMemory))
}

fn more_rows() -> ImageError {
    ImageError::Decoding(DecodingError::new(
        ImageFormatHint::Exact(ImageFormat::Png),
        "more rows than its height",
    ))
}

fn unsupported(color: png::ColorType, depth: png::BitDepth) -> ImageError {
    ImageError::Decoding(DecodingError::new(
        ImageFormatHint::Exact(ImageFormat::Png),
        format!("{color:?} pixels of {} bits are not expanded", depth as u8),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::load::{describe, oriented};

    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend_from_slice(kind);
        c.extend_from_slice(data);
        c.extend(crc32fast::hash(&[kind, data].concat()).to_be_bytes());
        c
    }

    /// A sample of `bits` bits for pixel (x, y), channel c: scattered, so that every layout meets
    /// many values (and 16-bit ones many roundings).
    fn sample(x: u32, y: u32, c: u32, bits: u8) -> u16 {
        let v = (x * 7919 + y * 104_729 + c * 7907 + 13).wrapping_mul(2_654_435_761);
        ((v >> 9) & ((1 << bits) - 1)) as u16
    }

    /// A PNG of PNG colour type `color` with `bits` a sample, unfiltered, Adam7-interlaced when
    /// asked, with `extra` chunks (already framed) before its pixels. A palette has 2^bits entries.
    fn png(size: (u32, u32), color: u8, bits: u8, interlaced: bool, extra: &[Vec<u8>]) -> Vec<u8> {
        let (width, height) = size;
        let channels = match color {
            0 | 3 => 1,
            2 => 3,
            4 => 2,
            _ => 4,
        };
        let passes: Vec<Pass> = if interlaced {
            PASSES.to_vec()
        } else {
            vec![Pass {
                x_offset: 0,
                x_step: 1,
                y_offset: 0,
                y_step: 1,
            }]
        };
        let mut raw = Vec::new();
        for pass in passes {
            let columns = pass.count(width, pass.x_offset, pass.x_step);
            let lines = pass.count(height, pass.y_offset, pass.y_step);
            if columns == 0 || lines == 0 {
                continue;
            }
            for line in 0..lines {
                raw.push(0); // filter: none
                let y = pass.y_offset + line * pass.y_step;
                let (mut acc, mut filled) = (0u8, 0u8);
                for column in 0..columns {
                    let x = pass.x_offset + column * pass.x_step;
                    for c in 0..channels {
                        let v = sample(x, y, c, bits);
                        match bits {
                            16 => raw.extend(v.to_be_bytes()),
                            8 => raw.push(v as u8),
                            _ => {
                                acc |= (v as u8) << (8 - bits - filled);
                                filled += bits;
                                if filled == 8 {
                                    raw.push(acc);
                                    (acc, filled) = (0, 0);
                                }
                            }
                        }
                    }
                }
                if filled > 0 {
                    raw.push(acc);
                }
            }
        }
        let mut ihdr = width.to_be_bytes().to_vec();
        ihdr.extend(height.to_be_bytes());
        ihdr.extend([bits, color, 0, 0, u8::from(interlaced)]);
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        out.extend(chunk(b"IHDR", &ihdr));
        if color == 3 {
            let palette: Vec<u8> = (0..(1u32 << bits) * 3)
                .map(|i| sample(i, 1, 2, 8) as u8)
                .collect();
            out.extend(chunk(b"PLTE", &palette));
        }
        for c in extra {
            out.extend_from_slice(c);
        }
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut z, &raw).unwrap();
        out.extend(chunk(b"IDAT", &z.finish().unwrap()));
        out.extend(chunk(b"IEND", &[]));
        out
    }

    /// What the `image` crate decodes, as triples and alpha.
    fn reference(bytes: &[u8]) -> Picture {
        let img = image::load_from_memory_with_format(bytes, ImageFormat::Png).unwrap();
        let (width, height) = (img.width(), img.height());
        if img.color().has_alpha() {
            let rgba = img.to_rgba8();
            Picture {
                width,
                height,
                rgb: rgba.pixels().map(|p| [p[0], p[1], p[2]]).collect(),
                alpha: Some(rgba.pixels().map(|p| p[3]).collect()),
            }
        } else {
            let rgb = img.to_rgb8();
            Picture {
                width,
                height,
                rgb: rgb.pixels().map(|p| p.0).collect(),
                alpha: None,
            }
        }
    }

    fn decode(bytes: &[u8]) -> Result<Picture, ImageError> {
        open(bytes, 1 << 30)?.read()
    }

    #[test]
    fn every_layout_decodes_to_the_pixels_image_gives() {
        let layouts: [(u8, &[u8]); 5] = [
            (0, &[1, 2, 4, 8, 16]),
            (2, &[8, 16]),
            (3, &[1, 2, 4, 8]),
            (4, &[8, 16]),
            (6, &[8, 16]),
        ];
        let mut cases = 0;
        for (color, depths) in layouts {
            for &bits in depths {
                // Transparency chunks: a grey or RGB value, a palette's alphas.
                let trns = match color {
                    0 => Some(chunk(b"tRNS", &sample(1, 0, 0, bits).to_be_bytes())),
                    2 => {
                        let value: Vec<u8> = (0..3)
                            .flat_map(|c| sample(1, 0, c, bits).to_be_bytes())
                            .collect();
                        Some(chunk(b"tRNS", &value))
                    }
                    3 => Some(chunk(b"tRNS", &[0, 128])),
                    _ => None,
                };
                let mut extras = vec![vec![]];
                extras.extend(trns.map(|t| vec![t]));
                for extra in &extras {
                    for size in [(1, 1), (3, 5), (9, 10), (17, 3), (2, 9)] {
                        for interlaced in [false, true] {
                            let bytes = png(size, color, bits, interlaced, extra);
                            let ours = decode(&bytes).unwrap();
                            let theirs = reference(&bytes);
                            assert_eq!((ours.width, ours.height), (theirs.width, theirs.height));
                            let what = format!("type {color}, {bits} bits, {size:?}, interlaced {interlaced}, {} extra", extra.len());
                            assert_eq!(ours.rgb, theirs.rgb, "{what}");
                            assert_eq!(ours.alpha, theirs.alpha, "{what}");
                            cases += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(cases, 260);
    }

    #[test]
    fn the_exif_orientation_turns_colours_and_alpha_as_image_does() {
        // A TIFF header (big-endian) and one IFD entry: orientation (0x0112), SHORT, 1, value.
        for orientation in 1..=8u8 {
            let mut exif = b"MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0".to_vec();
            exif.extend([orientation, 0, 0, 0, 0, 0, 0]);
            let bytes = png((5, 3), 6, 8, false, &[chunk(b"eXIf", &exif)]);
            let reader = open(&bytes, 1 << 30).unwrap();
            let turn = reader.orientation();
            let ours = oriented(reader.read().unwrap(), turn);
            let mut theirs = image::load_from_memory_with_format(&bytes, ImageFormat::Png).unwrap();
            let mut decoder =
                image::ImageReader::with_format(Cursor::new(&bytes), ImageFormat::Png)
                    .into_decoder()
                    .unwrap();
            use image::ImageDecoder as _;
            assert_eq!(turn, decoder.orientation().unwrap());
            theirs.apply_orientation(turn);
            let theirs = theirs.to_rgba8();
            assert_eq!((ours.width, ours.height), theirs.dimensions());
            let rgb: Vec<[u8; 3]> = theirs.pixels().map(|p| [p[0], p[1], p[2]]).collect();
            let alpha: Vec<u8> = theirs.pixels().map(|p| p[3]).collect();
            assert_eq!(ours.rgb, rgb, "orientation {orientation}");
            assert_eq!(ours.alpha, Some(alpha), "orientation {orientation}");
        }
    }

    #[test]
    fn damage_is_worded_as_image_words_it() {
        let good = png((9, 10), 2, 8, false, &[]);
        let idat = good.windows(4).position(|w| w == b"IDAT").unwrap() - 4;
        let len = u32::from_be_bytes(good[idat..idat + 4].try_into().unwrap()) as usize;
        let data = &good[idat + 8..idat + 8 + len];
        // Image data that stops after a few rows, and data that is not deflate at all.
        let short = {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut z, &[0; 40]).unwrap();
            z.finish().unwrap()
        };
        let garbage: Vec<u8> = data.iter().map(|b| b ^ 0x5a).collect();
        for bad in [short, garbage] {
            let bytes = [
                &good[..idat],
                &chunk(b"IDAT", &bad),
                &good[idat + 12 + len..],
            ]
            .concat();
            let ours = decode(&bytes).expect_err("damage is found");
            let theirs = image::load_from_memory_with_format(&bytes, ImageFormat::Png)
                .expect_err("damage is found");
            assert_eq!(describe("PNG", &ours), describe("PNG", &theirs));
        }
    }
}
