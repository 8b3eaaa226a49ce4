//! Writing JPEGs: quality 95 without chroma subsampling, straight from palette indices.

use jpeg_encoder::{ColorType, Encoder, ImageBuffer, JpegColorType, SamplingFactor};
use rayon::prelude::*;

use super::error::{check_indices, EncodeError};
use crate::palette::{Palette, TRANSPARENT_FILL};
use crate::pixels::Picture;

/// Quality of `final_image_k{K}.jpeg`: high, so the picture shows the palette, not JPEG artefacts.
pub const JPEG_QUALITY: u8 = 95;

/// An encoder at [`JPEG_QUALITY`] without chroma subsampling: a quantized image has sharp colour
/// edges, which 4:2:0 or 4:2:2 subsampling would smear into colours not in the palette.
fn encoder(out: &mut Vec<u8>) -> Encoder<&mut Vec<u8>> {
    let mut encoder = Encoder::new(out, JPEG_QUALITY);
    encoder.set_sampling_factor(SamplingFactor::R_4_4_4);
    encoder
}

/// JPEG's limit on each side.
fn dimensions(width: u32, height: u32) -> Result<(u16, u16), EncodeError> {
    match (u16::try_from(width), u16::try_from(height)) {
        (Ok(w), Ok(h)) => Ok((w, h)),
        _ => Err(EncodeError::JpegTooLarge { width, height }),
    }
}

/// Encodes `width` x `height` RGB pixels (row by row, as [`crate::draw`] gives them) as a JPEG.
///
/// # Errors
/// [`EncodeError::Picture`] when `rgb` does not hold `width * height` pixels,
/// [`EncodeError::JpegTooLarge`] for a side over 65535 pixels, or the encoder's error.
pub fn encode_jpeg(width: u32, height: u32, rgb: &[[u8; 3]]) -> Result<Vec<u8>, EncodeError> {
    if rgb.len() as u64 != u64::from(width) * u64::from(height) {
        return Err(crate::Error::PictureSize {
            width,
            height,
            expected: u64::from(width) * u64::from(height),
            got: rgb.len(),
        }
        .into());
    }
    let (w, h) = dimensions(width, height)?;
    let mut out = Vec::new();
    encoder(&mut out).encode(rgb.as_flattened(), w, h, ColorType::Rgb)?;
    Ok(out)
}

/// The picture drawn with the palette, produced row by row as the encoder asks for it, so no RGB
/// copy of a large picture is ever held: rows `y0..y0 + height` of it (a strip, or all of it).
struct PaletteRows<'a> {
    width: u16,
    height: u16,
    y0: usize,
    indices: &'a [Option<u8>],
    /// The YCbCr of each palette entry.
    ycc: &'a [[u8; 3]],
    /// The YCbCr of a transparent pixel.
    clear: [u8; 3],
}

fn ycc(rgb: [u8; 3]) -> [u8; 3] {
    let (y, cb, cr) = jpeg_encoder::rgb_to_ycbcr(rgb[0], rgb[1], rgb[2]);
    [y, cb, cr]
}

impl ImageBuffer for PaletteRows<'_> {
    fn get_jpeg_color_type(&self) -> JpegColorType {
        JpegColorType::Ycbcr
    }

    fn width(&self) -> u16 {
        self.width
    }

    fn height(&self) -> u16 {
        self.height
    }

    fn fill_buffers(&self, y: u16, buffers: &mut [Vec<u8>; 4]) {
        let w = usize::from(self.width);
        let y = self.y0 + usize::from(y);
        let row = &self.indices[y * w..(y + 1) * w];
        for &i in row {
            let c = i.map_or(self.clear, |i| self.ycc[usize::from(i)]);
            buffers[0].push(c[0]);
            buffers[1].push(c[1]);
            buffers[2].push(c[2]);
        }
    }
}

/// Encodes `picture` drawn with `palette` (`indices` from [`crate::palette_indices`] or
/// [`crate::dither`]) as a JPEG; fully transparent pixels become [`TRANSPARENT_FILL`].
///
/// A picture of more than 1 MiB pixels is encoded in strips on all cores, joined at restart
/// markers: the same pixels as one encode, within a few bytes of its size.
///
/// # Errors
/// [`EncodeError::JpegTooLarge`] for a side over 65535 pixels, [`EncodeError::IndexCount`] or
/// [`EncodeError::IndexOutOfPalette`] for indices that do not fit, or the encoder's error.
pub fn encode_palette_jpeg(
    picture: &Picture,
    palette: &Palette,
    indices: &[Option<u8>],
) -> Result<Vec<u8>, EncodeError> {
    check_indices(picture, palette, indices)?;
    let (width, height) = dimensions(picture.width, picture.height)?;
    let ycc_of: Vec<[u8; 3]> = palette.entries.iter().map(|e| ycc(e.rgb)).collect();
    let rows = |y0: usize, height: u16| PaletteRows {
        width,
        height,
        y0,
        indices,
        ycc: &ycc_of,
        clear: ycc(TRANSPARENT_FILL),
    };
    let (strip_rows, interval) = strips(width, height);
    if strip_rows >= usize::from(height) {
        let mut out = Vec::new();
        encoder(&mut out).encode_image(rows(0, height))?;
        return Ok(out);
    }
    let starts: Vec<usize> = (0..usize::from(height)).step_by(strip_rows).collect();
    let encoded: Vec<Vec<u8>> = starts
        .par_iter()
        .map(|&y0| {
            let h = strip_rows.min(usize::from(height) - y0) as u16;
            let mut out = Vec::new();
            let mut encoder = encoder(&mut out);
            encoder.set_restart_interval(interval);
            encoder.encode_image(rows(y0, h))?;
            Ok(out)
        })
        .collect::<Result<_, EncodeError>>()?;
    Ok(join_strips(encoded, height))
}

/// Pixels of a picture above which its JPEG is encoded in strips, and about the most a strip
/// holds.
const STRIP_PIXELS: usize = 1 << 20;

/// The rows of each strip of a `width` x `height` JPEG (all of them: one strip) and the restart
/// interval that ends each strip, in blocks of 8x8 pixels (4:4:4). A strip is whole rows of blocks,
/// so its last row of blocks is the one a single encode makes, and at most 65535 blocks (the
/// interval's limit).
fn strips(width: u16, height: u16) -> (usize, u16) {
    if usize::from(width) * usize::from(height) <= STRIP_PIXELS {
        return (usize::from(height), 0);
    }
    let columns = usize::from(width).div_ceil(8);
    let by_size = (STRIP_PIXELS / (8 * usize::from(width))).max(1);
    let block_rows = by_size.min(usize::from(u16::MAX) / columns);
    (8 * block_rows, (block_rows * columns) as u16)
}

/// One baseline JPEG of `height` rows from the JPEGs of its strips, each encoded with a restart
/// interval of the whole strip (so none holds a restart marker): the first's headers with the
/// picture's height, then each strip's entropy-coded data followed by the next restart marker
/// (RST0 to RST7 in turn), and the end marker. This is byte for byte the JPEG a single encode with
/// that restart interval gives: a restart ends the bits of a strip on a byte boundary and starts
/// the next strip's DC predictions afresh, as encoding it alone does.
///
/// Each strip is let go once copied, so the strips and the JPEG together hold little more than
/// the JPEG (the joined buffer's pages are touched only as it fills).
fn join_strips(strips: Vec<Vec<u8>>, height: u16) -> Vec<u8> {
    let total = strips.iter().map(Vec::len).sum::<usize>() + 2 * strips.len();
    let mut out = Vec::with_capacity(total);
    for (i, strip) in strips.into_iter().enumerate() {
        let (headers, height_at, data) = split_at_scan(&strip);
        if i == 0 {
            out.extend_from_slice(headers);
            out[height_at..height_at + 2].copy_from_slice(&height.to_be_bytes());
        } else {
            out.extend_from_slice(&[0xff, 0xd0 + ((i - 1) % 8) as u8]);
        }
        out.extend_from_slice(data);
    }
    out.extend_from_slice(&[0xff, 0xd9]);
    out
}

/// A JPEG written by the encoder, cut after its scan header: the markers up to and including the
/// start of scan, where in them the baseline frame header (SOF0) holds the picture's height, and
/// the entropy-coded data (without the end marker).
fn split_at_scan(jpeg: &[u8]) -> (&[u8], usize, &[u8]) {
    let (mut at, mut height_at) = (2, 0);
    loop {
        let marker = jpeg[at + 1];
        if marker == 0xc0 {
            // FF C0, length, precision, then the height.
            height_at = at + 5;
        }
        let len = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        at += 2 + len;
        if marker == 0xda {
            return (&jpeg[..at], height_at, &jpeg[at..jpeg.len() - 2]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::palette::{draw, PaletteEntry};

    #[test]
    fn pixels_and_indices_that_do_not_fit_are_errors_not_panics() {
        assert!(matches!(
            encode_jpeg(2, 2, &[[0, 0, 0]; 3]),
            Err(EncodeError::Picture(_))
        ));
        assert!(matches!(
            encode_jpeg(70_000, 1, &vec![[0, 0, 0]; 70_000]),
            Err(EncodeError::JpegTooLarge { .. })
        ));
        let picture = Picture::from_rgb(2, 1, vec![[0, 0, 0], [9, 9, 9]]).unwrap();
        let palette = Palette::from_colors(&[[0, 0, 0]]).unwrap();
        assert!(matches!(
            encode_palette_jpeg(&picture, &palette, &[Some(0)]),
            Err(EncodeError::IndexCount { .. })
        ));
        assert!(matches!(
            encode_palette_jpeg(&picture, &palette, &[Some(0), Some(1)]),
            Err(EncodeError::IndexOutOfPalette { index: 1, len: 1 })
        ));
        assert!(matches!(
            crate::io::encode_indexed_png(&picture, &palette, &[Some(0), Some(3)]),
            Err(EncodeError::IndexOutOfPalette { index: 3, len: 1 })
        ));
        assert!(encode_palette_jpeg(&picture, &palette, &[Some(0), None]).is_ok());
    }

    #[test]
    fn a_large_picture_encoded_in_strips_is_one_encode_with_restarts() {
        // Over a megapixel, an odd height (the last strip ends in a padded row of blocks).
        let (w, h) = (1201u32, 1003u32);
        let colors: Vec<[u8; 3]> = (0..12u8).map(|i| [i * 20, 250 - i * 17, i * 9]).collect();
        let palette = Palette::from_colors(&colors).unwrap();
        let indices: Vec<Option<u8>> = (0..w * h)
            .map(|i| (i % 101 != 0).then_some(((i % w / 9 + i / w / 13) % 12) as u8))
            .collect();
        let mut picture = Picture::from_rgb(w, h, vec![[0, 0, 0]; (w * h) as usize]).unwrap();
        picture.alpha = Some(
            indices
                .iter()
                .map(|i| if i.is_some() { 255 } else { 0 })
                .collect(),
        );
        let (strip_rows, interval) = strips(w as u16, h as u16);
        assert!(strip_rows < h as usize && strip_rows % 8 == 0);
        let joined = encode_palette_jpeg(&picture, &palette, &indices).unwrap();
        // The same bytes as one encode with the strips' restart interval.
        let rows = draw(&palette, &indices);
        let mut single = Vec::new();
        let mut one = encoder(&mut single);
        one.set_restart_interval(interval);
        one.encode(rows.as_flattened(), w as u16, h as u16, ColorType::Rgb)
            .unwrap();
        assert!(joined == single);
        // And the pixels of one encode without restarts.
        let plain = encode_jpeg(w, h, &rows).unwrap();
        let decode = |jpeg: &[u8]| image::load_from_memory(jpeg).unwrap().to_rgb8();
        assert_eq!(decode(&joined), decode(&plain));
    }

    #[test]
    fn palette_rows_encode_like_the_drawn_image() {
        let entry = |rgb: [u8; 3]| PaletteEntry {
            centroid: 0,
            rgb,
            exact: rgb.map(f64::from),
            pixels: 1,
        };
        let palette = Palette {
            entries: vec![entry([200, 30, 40]), entry([10, 120, 250])],
            unused: 0,
            color_entries: Vec::new(),
        };
        let (w, h) = (37u32, 21u32);
        let mut picture = Picture::from_rgb(w, h, vec![[0, 0, 0]; (w * h) as usize]).unwrap();
        picture.alpha = Some(
            (0..w * h)
                .map(|i| if i % 7 == 0 { 0 } else { 255 })
                .collect(),
        );
        let indices: Vec<Option<u8>> = (0..w * h)
            .map(|i| (i % 7 != 0).then_some((i % 2) as u8))
            .collect();
        let direct = encode_jpeg(picture.width, picture.height, &draw(&palette, &indices)).unwrap();
        let rows = encode_palette_jpeg(&picture, &palette, &indices).unwrap();
        assert_eq!(direct, rows);
    }
}
