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
    if partial_alpha || (transparent && palette.len() >= 256) {
        encoder.set_color(png::ColorType::Rgba);
        let alpha = picture.alpha.as_deref();
        let data: Vec<u8> = indices
            .iter()
            .enumerate()
            .flat_map(|(p, &i)| {
                let rgb = i.map_or([0, 0, 0], |i| palette.entries[usize::from(i)].rgb);
                let a = alpha.map_or(255, |a| a[p]);
                [rgb[0], rgb[1], rgb[2], a]
            })
            .collect();
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&data)?;
        writer.finish()?;
        return Ok(out);
    }
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
    // Each row as PNG stores it: its filter byte, then its indices. Indices are labels, not
    // intensities: differences between neighbours (the filters) only hide their runs from
    // deflate, as libpng's default for palettes has it, so every row is unfiltered (filter 0):
    // a photo's PNG is 13-27 % smaller (Storm and Elephants at K = 16 and 256), and as fast.
    let width = picture.width as usize;
    let mut rows = Vec::with_capacity(indices.len() + picture.height as usize);
    for row in indices.chunks(width.max(1)) {
        rows.push(0);
        rows.extend(row.iter().map(|i| i.unwrap_or(clear)));
    }
    // Deflated in parts on all cores (deflate is most of the time of writing a photo's PNG), each
    // part an IDAT chunk of its own: a PNG's zlib stream may be cut anywhere between them, and a
    // part (1 MiB of rows, deflated) is far within a chunk's 2^31 bytes.
    let zlib = super::zlib_parts::compress(&rows, ZLIB_LEVEL).map_err(png::EncodingError::from)?;
    drop(rows);
    let mut writer = encoder.write_header()?;
    for part in &zlib {
        writer.write_chunk(png::chunk::IDAT, part)?;
    }
    writer.finish()?;
    Ok(out)
}

/// The deflate level of the indexed PNG: `png::Compression::Balanced`'s, zlib's default.
const ZLIB_LEVEL: u32 = 6;

#[cfg(test)]
mod tests {
    use super::*;

    /// The data of each IDAT chunk of a PNG.
    fn idat_chunks(png: &[u8]) -> Vec<&[u8]> {
        let mut chunks = Vec::new();
        let mut at = 8;
        while at + 8 <= png.len() {
            let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
            if &png[at + 4..at + 8] == b"IDAT" {
                chunks.push(&png[at + 8..at + 8 + len]);
            }
            at += 12 + len;
        }
        chunks
    }

    /// The filter type of each row of a PNG's image data (inflated from its IDAT chunks).
    fn row_filters(png: &[u8], row_bytes: usize) -> Vec<u8> {
        let data = idat_chunks(png).concat();
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::ZlibDecoder::new(&data[..]), &mut raw)
            .unwrap();
        raw.chunks(row_bytes + 1).map(|row| row[0]).collect()
    }

    #[test]
    fn a_large_picture_deflated_in_parts_reads_back_whole() {
        // 1500x900 indices (1.35 MB of rows: two parts), some transparent.
        let (w, h) = (1500u32, 900u32);
        let colors: Vec<[u8; 3]> = (0..16u8).map(|i| [i * 16, 255 - i * 8, 9]).collect();
        let palette = Palette::from_colors(&colors).unwrap();
        let rgba: Vec<[u8; 4]> = (0..w * h)
            .map(|i| {
                let c = colors[((i % w / 7 + i / w / 5 + i % 3) % 16) as usize];
                [c[0], c[1], c[2], if i.is_multiple_of(97) { 0 } else { 255 }]
            })
            .collect();
        let picture = Picture::from_rgba(w, h, &rgba).unwrap();
        let indices = palette.remap(&picture);
        let png = encode(&picture, &palette, &indices).unwrap();
        assert!(idat_chunks(&png).len() >= 2);
        let decoded = image::load_from_memory(&png).unwrap().to_rgba8();
        assert_eq!(decoded.dimensions(), (w, h));
        for (p, (got, want)) in decoded.pixels().zip(&rgba).enumerate() {
            if want[3] == 0 {
                assert_eq!(got.0[3], 0, "pixel {p}");
            } else {
                assert_eq!(&got.0, want, "pixel {p}");
            }
        }
    }

    #[test]
    fn indices_are_stored_unfiltered_and_truecolour_filtered() {
        // A gradient, which the adaptive filters would difference.
        let (w, h) = (64u32, 16u32);
        let rgb: Vec<[u8; 3]> = (0..w * h)
            .map(|i| [(i % w * 4) as u8, (i / w * 16) as u8, 9])
            .collect();
        let colors: Vec<[u8; 3]> = (0..16u8).map(|i| [i * 16, i * 8, 9]).collect();
        let palette = Palette::from_colors(&colors).unwrap();
        let picture = Picture::from_rgb(w, h, rgb.clone()).unwrap();
        let indices = palette.remap(&picture);
        let png = encode(&picture, &palette, &indices).unwrap();
        assert_eq!(row_filters(&png, w as usize), vec![0; h as usize]);
        // With partly transparent pixels the picture is RGBA, where filters pay.
        let rgba: Vec<[u8; 4]> = rgb.iter().map(|&[r, g, b]| [r, g, b, 128]).collect();
        let picture = Picture::from_rgba(w, h, &rgba).unwrap();
        let png = encode(&picture, &palette, &indices).unwrap();
        assert!(row_filters(&png, 4 * w as usize).iter().any(|&f| f != 0));
    }
}
