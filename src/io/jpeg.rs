//! Writing JPEGs: quality 95 without chroma subsampling, straight from palette indices.

use jpeg_encoder::{ColorType, Encoder, ImageBuffer, JpegColorType, SamplingFactor};

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
/// copy of a large picture is ever held.
struct PaletteRows<'a> {
    width: u16,
    height: u16,
    indices: &'a [Option<u8>],
    /// The YCbCr of each palette entry.
    ycc: Vec<[u8; 3]>,
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
        let row = &self.indices[usize::from(y) * w..(usize::from(y) + 1) * w];
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
    let rows = PaletteRows {
        width,
        height,
        indices,
        ycc: palette.entries.iter().map(|e| ycc(e.rgb)).collect(),
        clear: ycc(TRANSPARENT_FILL),
    };
    let mut out = Vec::new();
    encoder(&mut out).encode_image(rows)?;
    Ok(out)
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
