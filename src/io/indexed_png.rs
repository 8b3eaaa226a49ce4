//! Writing the quantized picture as a PNG that holds exactly the palette's colours.

use super::error::{check_indices, EncodeError};
use crate::palette::Palette;
use crate::pixels::Picture;

/// Encodes the picture drawn with `palette` (`indices` from [`crate::palette_indices`]) as a PNG.
///
/// An 8-bit indexed PNG whose palette is exactly the palette's colours, most-used first; fully
/// transparent pixels get one extra, transparent entry. A picture with partly transparent pixels
/// (alpha between 1 and 254), or with 256 colours and transparent pixels, cannot be indexed without
/// losing alpha: it is written as 8-bit RGBA with the palette's colours and the original alpha.
///
/// # Errors
/// [`EncodeError::IndexCount`] or [`EncodeError::IndexOutOfPalette`] for indices that do not fit
/// the picture and palette, or the PNG encoder's error.
pub fn encode(
    picture: &Picture,
    palette: &Palette,
    indices: &[Option<u8>],
) -> Result<Vec<u8>, EncodeError> {
    check_indices(picture, palette, indices)?;
    let partial_alpha = picture
        .alpha
        .as_ref()
        .is_some_and(|a| a.iter().any(|&v| v != 0 && v != 255));
    let transparent = indices.iter().any(Option::is_none);
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, picture.width, picture.height);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Balanced);
    let data: Vec<u8> = if partial_alpha || (transparent && palette.len() >= 256) {
        encoder.set_color(png::ColorType::Rgba);
        let alpha = picture.alpha.as_deref();
        indices
            .iter()
            .enumerate()
            .flat_map(|(p, &i)| {
                let rgb = i.map_or([0, 0, 0], |i| palette.entries[usize::from(i)].rgb);
                let a = alpha.map_or(255, |a| a[p]);
                [rgb[0], rgb[1], rgb[2], a]
            })
            .collect()
    } else {
        encoder.set_color(png::ColorType::Indexed);
        let mut colors: Vec<u8> = palette.entries.iter().flat_map(|e| e.rgb).collect();
        let clear = palette.len() as u8;
        if transparent {
            colors.extend([0, 0, 0]);
            let mut trns = vec![255u8; palette.len()];
            trns.push(0);
            encoder.set_trns(trns);
        }
        encoder.set_palette(colors);
        indices.iter().map(|i| i.unwrap_or(clear)).collect()
    };
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&data)?;
    writer.finish()?;
    Ok(out)
}
