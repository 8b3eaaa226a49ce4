//! Decoding a progressive JPEG on two cores, with the same pixels as one decoder gives.
//!
//! A progressive JPEG's data comes in scans; after the first (the DC coefficients of every
//! component, often in one scan), each carries one component's AC coefficients, and the luma's
//! hold most of the data (about three quarters of a camera photo's). A decoder reads them one
//! after another, on one core: 0.29 s of an 8 MP photo here, more than the whole k-means of its
//! best palette. So the file is cut into two JPEGs that share every header and every scan of
//! several components: one with the luma's own scans, decoded to grey, and one with the chroma's,
//! decoded to YCbCr; they decode on two cores at once. A component's samples depend only on its own
//! coefficients, which only its own scans write, so the first gives the luma and the second the
//! chroma a whole decode computes; the decoder's integer YCbCr to RGB conversion, done here the
//! same way, finishes the picture. The tests compare the pixels with a whole decode.
//!
//! Only a simple, well-formed file is cut (one progressive frame of three 8-bit components sampled
//! 4:4:4, 4:2:2, 4:2:0 or 4:1:1, nothing but tables, comments and application data between scans);
//! anything else, and anything either half's decoder finds wrong (it runs strict), is decoded the
//! usual way, so a damaged file gets the usual error.

use rayon::prelude::*;

use super::jpeg_check;

use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

/// The most scans a decoder reads before refusing the file (zune-jpeg's default, against files of
/// endless tiny scans); a file with more is left to the usual decode, which refuses it.
const MAX_SCANS: usize = 100;

/// The two JPEGs a progressive file is cut into.
#[derive(Debug)]
pub(super) struct Halves {
    /// The component ids: the luma's, then the chroma's.
    ids: [u8; 3],
    /// Every header and shared scan, and the luma's own scans.
    luma: Vec<u8>,
    /// Every header and shared scan, and the chroma's own scans.
    chroma: Vec<u8>,
}

/// Cuts a progressive JPEG in two ([`Halves`]), or `None` when it is not one this module handles.
pub(super) fn cut(bytes: &[u8]) -> Option<Halves> {
    if bytes.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut halves = Halves {
        ids: [0; 3],
        luma: bytes[..2].to_vec(),
        chroma: bytes[..2].to_vec(),
    };
    let (mut framed, mut scans, mut i) = (false, 0, 2);
    loop {
        let marker = match bytes.get(i..i + 2)? {
            [0xFF, marker] => *marker,
            _ => return None,
        };
        if marker == 0xD9 {
            // End of image: whatever follows is not read by a decoder either.
            halves.luma.extend_from_slice(&[0xFF, 0xD9]);
            halves.chroma.extend_from_slice(&[0xFF, 0xD9]);
            return (scans > 0).then_some(halves);
        }
        // Tables (DQT, DHT, DRI), comments, application data, the frame and its scans; any other
        // marker (another kind of frame, arithmetic coding, DNL, fill bytes) is not for this path.
        if !matches!(
            marker,
            0xC2 | 0xC4 | 0xDB | 0xDD | 0xDA | 0xE0..=0xEF | 0xFE
        ) {
            return None;
        }
        let length = usize::from(u16::from_be_bytes(
            bytes.get(i + 2..i + 4)?.try_into().ok()?,
        ));
        let body = bytes.get(i + 4..(i + 2 + length).max(i + 4))?;
        if length < 2 {
            return None;
        }
        let mut end = i + 2 + length;
        let (mut to_luma, mut to_chroma) = (true, true);
        match marker {
            0xC2 => {
                if framed {
                    return None;
                }
                halves.ids = ids_of_frame(body)?;
                framed = true;
            }
            0xDA => {
                if !framed {
                    return None;
                }
                let components = usize::from(*body.first()?);
                if components == 0 || body.len() != 1 + 2 * components + 3 {
                    return None;
                }
                scans += 1;
                if scans > MAX_SCANS {
                    return None;
                }
                // Data with no marker after it runs to the end: the next marker is not found.
                end = jpeg_check::entropy_end(bytes, end);
                if components == 1 {
                    to_luma = body[1] == halves.ids[0];
                    to_chroma = !to_luma;
                }
            }
            _ => {}
        }
        let segment = &bytes[i..end];
        if to_luma {
            halves.luma.extend_from_slice(segment);
        }
        if to_chroma {
            halves.chroma.extend_from_slice(segment);
        }
        i = end;
    }
}

/// The component ids (the luma's first) of a progressive frame header of three 8-bit components
/// sampled as [`SAMPLINGS`] allows.
fn ids_of_frame(body: &[u8]) -> Option<[u8; 3]> {
    // Precision, height, width, the number of components, then id, sampling and table of each.
    if body.len() != 6 + 3 * 3 || body[0] != 8 || body[5] != 3 {
        return None;
    }
    let sampling = |c: usize| body[7 + 3 * c];
    (SAMPLINGS.contains(&sampling(0)) && sampling(1) == 0x11 && sampling(2) == 0x11)
        .then_some([body[6], body[9], body[12]])
}

/// The luma samplings (horizontal, vertical) cut, each with chroma sampled once per MCU: 4:4:4,
/// 4:2:2, 4:2:0 and 4:1:1, whose halves the tests compare with a whole decode. Not 4:4:0
/// (luma 1x2): the decoder's grey output of such a file differs from the luma of its colour output.
const SAMPLINGS: [u8; 4] = [0x11, 0x21, 0x22, 0x41];

/// Whether a JPEG's three components are YCbCr as its decoder reads them (not RGB or YCCK).
pub(super) fn is_ycbcr(bytes: &[u8]) -> bool {
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(bytes), options(ColorSpace::RGB));
    decoder.decode_headers().is_ok() && decoder.input_colorspace() == Some(ColorSpace::YCbCr)
}

/// The options of the `image` crate's decoder, but strict: whatever it would pass over with a
/// warning fails here, and the file goes the usual way.
fn options(out: ColorSpace) -> DecoderOptions {
    DecoderOptions::default()
        .set_strict_mode(true)
        .set_max_width(usize::MAX)
        .set_max_height(usize::MAX)
        .jpeg_set_out_colorspace(out)
}

/// Decodes one half to `out` (1 or 3 bytes a pixel); `None` when it fails or its size is not
/// `width` x `height`.
fn decode(half: &[u8], out: ColorSpace, width: u32, height: u32) -> Option<Vec<u8>> {
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(half), options(out));
    let pixels = decoder.decode().ok()?;
    let expected = usize::try_from(u64::from(width) * u64::from(height)).ok()?;
    (decoder.dimensions() == Some((width as usize, height as usize))
        && pixels.len() == expected * out.num_components())
    .then_some(pixels)
}

impl Halves {
    /// The component ids: the luma's, then the chroma's.
    pub(super) fn ids(&self) -> [u8; 3] {
        self.ids
    }

    /// The luma of every pixel, or `None` when the half does not decode.
    pub(super) fn decode_luma(&self, width: u32, height: u32) -> Option<Vec<u8>> {
        decode(&self.luma, ColorSpace::Luma, width, height)
    }

    /// The YCbCr of every pixel, whose luma is not the picture's, or `None` when the half does not
    /// decode.
    pub(super) fn decode_chroma(&self, width: u32, height: u32) -> Option<Vec<u8>> {
        decode(&self.chroma, ColorSpace::YCbCr, width, height)
    }
}

/// Pixels converted per task: a few hundred kilobytes.
const CONVERT_CHUNK: usize = 1 << 16;

/// The RGB picture, in the place of `ycc` (the chroma half's YCbCr) with the luma put in: the
/// conversion of zune-jpeg (BT.601 full range, 14-bit fixed point), which the decoder itself uses.
pub(super) fn to_rgb(luma: &[u8], mut ycc: Vec<u8>) -> Vec<u8> {
    debug_assert_eq!(ycc.len(), 3 * luma.len());
    ycc.par_chunks_mut(3 * CONVERT_CHUNK)
        .zip(luma.par_chunks(CONVERT_CHUNK))
        .for_each(|(out, luma)| {
            // Lanes of 16 pixels, gathered into arrays so the arithmetic is vectorised.
            let whole = luma.len() / LANES * LANES;
            let (out, out_rest) = out.split_at_mut(3 * whole);
            let (luma, luma_rest) = luma.split_at(whole);
            for (out, luma) in out
                .chunks_exact_mut(3 * LANES)
                .zip(luma.chunks_exact(LANES))
            {
                let (mut cb, mut cr) = ([0u8; LANES], [0u8; LANES]);
                for j in 0..LANES {
                    (cb[j], cr[j]) = (out[3 * j + 1], out[3 * j + 2]);
                }
                let (mut r, mut g, mut b) = ([0u8; LANES], [0u8; LANES], [0u8; LANES]);
                for j in 0..LANES {
                    [r[j], g[j], b[j]] =
                        ycbcr_to_rgb(i32::from(luma[j]), i32::from(cb[j]), i32::from(cr[j]));
                }
                for j in 0..LANES {
                    out[3 * j..3 * j + 3].copy_from_slice(&[r[j], g[j], b[j]]);
                }
            }
            for (p, &y) in out_rest.chunks_exact_mut(3).zip(luma_rest) {
                let rgb = ycbcr_to_rgb(i32::from(y), i32::from(p[1]), i32::from(p[2]));
                p.copy_from_slice(&rgb);
            }
        });
    ycc
}

/// Pixels converted together.
const LANES: usize = 16;

/// zune-jpeg's colour conversion of 8-bit samples (`color_convert::scalar`, whose vector versions
/// agree with it).
#[inline]
pub(super) fn ycbcr_to_rgb(y: i32, cb: i32, cr: i32) -> [u8; 3] {
    const PRECISION: i32 = 14;
    const ROUND: i32 = (1 << (PRECISION - 1)) - 1;
    let (cb, cr) = (cb - 128, cr - 128);
    let y = y * 16384 + ROUND;
    let clamp = |v: i32| (v >> PRECISION).clamp(0, 255) as u8;
    [
        clamp(y + cr * 22970),
        clamp(y - cr * 11700 - cb * 5638),
        clamp(y + cb * 29032),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use jpeg_encoder::{ColorType, Encoder, SamplingFactor};

    /// A colourful, noisy picture, so every scan carries data.
    fn photo(width: u16, height: u16) -> Vec<u8> {
        let mut state = 0x2545_f491_u32;
        let mut rgb = Vec::with_capacity(3 * usize::from(width) * usize::from(height));
        for y in 0..u32::from(height) {
            for x in 0..u32::from(width) {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let noise = state % 48;
                rgb.extend_from_slice(&[
                    ((x * 255 / u32::from(width)) + noise).min(255) as u8,
                    ((y * 255 / u32::from(height)) + noise / 2).min(255) as u8,
                    (((x + y) * 7) % 256) as u8,
                ]);
            }
        }
        rgb
    }

    fn jpeg(
        width: u16,
        height: u16,
        sampling: SamplingFactor,
        progressive: bool,
        restart: u16,
        color: ColorType,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = Encoder::new(&mut out, 90);
        encoder.set_sampling_factor(sampling);
        encoder.set_progressive(progressive);
        if restart > 0 {
            encoder.set_restart_interval(restart);
        }
        let pixels = photo(width, height);
        let data = match color {
            ColorType::Luma => pixels.chunks_exact(3).map(|p| p[1]).collect(),
            _ => pixels,
        };
        encoder.encode(&data, width, height, color).unwrap();
        out
    }

    /// The picture from the two halves, as [`super::super::load`] puts it together.
    fn split_decode(bytes: &[u8], width: u32, height: u32) -> Option<Vec<u8>> {
        let halves = cut(bytes)?;
        let luma = halves.decode_luma(width, height)?;
        let ycc = halves.decode_chroma(width, height)?;
        Some(to_rgb(&luma, ycc))
    }

    #[test]
    fn the_halves_give_the_pixels_of_a_whole_decode() {
        for sampling in [
            SamplingFactor::R_4_4_4,
            SamplingFactor::R_4_2_2,
            SamplingFactor::R_4_2_0,
            SamplingFactor::R_4_1_1,
        ] {
            for (width, height, restart) in [(96, 64, 0), (67, 45, 0), (131, 9, 3), (1, 1, 0)] {
                let bytes = jpeg(width, height, sampling, true, restart, ColorType::Rgb);
                let whole = image::load_from_memory(&bytes).unwrap().into_rgb8();
                let (w, h) = (u32::from(width), u32::from(height));
                let split = split_decode(&bytes, w, h)
                    .unwrap_or_else(|| panic!("{sampling:?} {width}x{height} is cut and decoded"));
                assert!(
                    split == whole.as_raw().as_slice(),
                    "{sampling:?} {width}x{height} restart {restart}: pixels differ"
                );
            }
        }
    }

    #[test]
    fn the_colour_conversion_is_the_decoders() {
        // A picture of every (luma, chroma) combination worth telling apart: the decoder's own
        // RGB output against ours from its YCbCr output.
        let bytes = jpeg(256, 96, SamplingFactor::R_4_4_4, true, 0, ColorType::Rgb);
        let decode = |out| decode(&bytes, out, 256, 96).unwrap();
        let (ycc, rgb) = (decode(ColorSpace::YCbCr), decode(ColorSpace::RGB));
        let luma: Vec<u8> = ycc.chunks_exact(3).map(|p| p[0]).collect();
        assert_eq!(to_rgb(&luma, ycc), rgb);
        // And the extremes, where the clamping works.
        assert_eq!(ycbcr_to_rgb(0, 0, 0), [0, 135, 0]);
        assert_eq!(ycbcr_to_rgb(255, 255, 255), [255, 121, 255]);
        assert_eq!(ycbcr_to_rgb(128, 128, 128), [128, 128, 128]);
    }

    #[test]
    fn only_progressive_colour_files_are_cut() {
        let baseline = jpeg(64, 64, SamplingFactor::R_4_2_0, false, 0, ColorType::Rgb);
        assert!(
            cut(&baseline).is_none(),
            "a baseline file has one scan of all components"
        );
        let grey = jpeg(64, 64, SamplingFactor::R_4_4_4, true, 0, ColorType::Luma);
        assert!(cut(&grey).is_none(), "a grey file has nothing to share out");
        let colour = jpeg(64, 64, SamplingFactor::R_4_2_0, true, 0, ColorType::Rgb);
        assert!(cut(&colour).is_some());
        // Luma sampled twice vertically: the halves would not give a whole decode's pixels.
        let tall = jpeg(64, 64, SamplingFactor::R_4_4_0, true, 0, ColorType::Rgb);
        assert!(cut(&tall).is_none());
        assert!(image::load_from_memory(&tall).is_ok());
        assert!(is_ycbcr(&colour));
    }

    #[test]
    fn odd_or_damaged_structure_is_left_to_the_usual_decode() {
        let good = jpeg(64, 64, SamplingFactor::R_4_2_0, true, 0, ColorType::Rgb);
        // Cut anywhere before its end marker.
        for len in [0, 1, 2, 3, 20, good.len() / 2, good.len() - 2] {
            assert!(cut(&good[..len]).is_none(), "cut at {len}");
        }
        // Fill bytes before a marker.
        let sof = good.windows(2).position(|w| w == [0xFF, 0xC2]).unwrap();
        let mut filled = good.clone();
        filled.insert(sof, 0xFF);
        assert!(cut(&filled).is_none());
        // A second frame header.
        let frame_len = usize::from(u16::from_be_bytes([good[sof + 2], good[sof + 3]]));
        let mut twice = good.clone();
        let frame = good[sof..sof + 2 + frame_len].to_vec();
        twice.splice(sof..sof, frame);
        assert!(cut(&twice).is_none());
        // A scan before the frame.
        let sos = good.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        let mut early = good[..sof].to_vec();
        early.extend_from_slice(&good[sos..]);
        assert!(cut(&early).is_none());
        // A frame claiming a precision of 12 bits.
        let mut twelve = good.clone();
        twelve[sof + 4] = 12;
        assert!(cut(&twelve).is_none());
        // More scans than a decoder reads: the scans repeated past the limit.
        let eoi = good.len() - 2;
        let scans = good[sos..eoi].to_vec();
        let mut many = good[..eoi].to_vec();
        // Each repeat holds at least the three DC scans.
        for _ in 0..MAX_SCANS / 3 {
            many.extend_from_slice(&scans);
        }
        many.extend_from_slice(&[0xFF, 0xD9]);
        assert!(cut(&many).is_none());
    }

    #[test]
    fn a_half_that_does_not_decode_is_none() {
        let good = jpeg(64, 64, SamplingFactor::R_4_2_0, true, 0, ColorType::Rgb);
        let halves = cut(&good).unwrap();
        assert!(halves.decode_luma(64, 64).is_some());
        assert!(halves.decode_luma(64, 63).is_none(), "another size");
        let broken = Halves {
            ids: halves.ids(),
            luma: good[..good.len() / 2].to_vec(),
            chroma: good[..good.len() / 2].to_vec(),
        };
        assert!(broken.decode_luma(64, 64).is_none());
        assert!(broken.decode_chroma(64, 64).is_none());
    }
}
