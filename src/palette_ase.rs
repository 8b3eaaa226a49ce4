//! Adobe Swatch Exchange palettes (`.ase`, from Adobe Color, Illustrator, Photoshop, Coolors):
//! read (the RGB and grey swatches of every group, in the file's order) and written (a palette as
//! one group of RGB swatches, for Adobe's and other design tools to load).
//!
//! The format is unpublished; this follows what readers agree on. `ASEF`, version 1.0 and a block
//! count, then blocks, each a type (`0x0001` a swatch, `0xC001` a group's start, `0xC002` its end)
//! and a length, all big-endian. A swatch holds its name (UTF-16), a colour model (`RGB `,
//! `Gray`, `CMYK`, `LAB `), one float per channel in 0-1 (L in 0-1, a and b in -128-127 for LAB)
//! and a kind. Every length is checked against the bytes that are there: a cut or damaged file is
//! an error, never a shorter palette. CMYK and LAB swatches are refused rather than converted,
//! since the file does not say which profile or white point they assume.

use crate::palette::Palette;
use crate::palette_text::hex;

/// What `ASEF` files start with.
pub const ASE_SIGNATURE: &[u8; 4] = b"ASEF";

/// Why an `.ase` palette cannot be read. Swatches count from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AseError {
    /// The bytes do not start with [`ASE_SIGNATURE`].
    #[error("not an Adobe Swatch Exchange file (it does not start with ASEF)")]
    NotAse,
    /// The file ends inside its header or a block.
    #[error("the swatch file is cut short (in block {block})")]
    Truncated {
        /// The block it ends in (0 for the header).
        block: usize,
    },
    /// A swatch's colour is not RGB or grey.
    #[error("swatch {swatch} is in {model}; only RGB and grey swatches are read (export the palette as RGB)")]
    Model {
        /// The swatch's number.
        swatch: usize,
        /// Its colour model, as the file writes it.
        model: String,
    },
    /// A swatch's channel value is not a number in 0-1.
    #[error("swatch {swatch} has a channel value outside 0-1: {value}")]
    Channel {
        /// The swatch's number.
        swatch: usize,
        /// The value.
        value: String,
    },
}

/// The colours of an `.ase` file's RGB and grey swatches, in its order (channels rounded to 0-255).
///
/// ```
/// // One group holding one RGB swatch named "R", pure red.
/// let mut ase = b"ASEF\0\x01\0\0\0\0\0\x01".to_vec();
/// ase.extend([0, 1, 0, 0, 0, 24, 0, 2, 0, b'R', 0, 0]);
/// ase.extend(b"RGB ");
/// for v in [1.0f32, 0.0, 0.0] {
///     ase.extend(v.to_be_bytes());
/// }
/// ase.extend([0, 2]);
/// assert_eq!(kquant::parse_ase(&ase).unwrap(), [[255, 0, 0]]);
/// ```
///
/// # Errors
/// [`AseError`] when the bytes are not an `.ase` file or are cut short, or a swatch is CMYK, LAB
/// or out of range.
pub fn parse_ase(bytes: &[u8]) -> Result<Vec<[u8; 3]>, AseError> {
    if !bytes.starts_with(ASE_SIGNATURE) {
        return Err(AseError::NotAse);
    }
    let mut r = Reader { bytes, at: 0 };
    let header = AseError::Truncated { block: 0 };
    r.take(8).ok_or(header.clone())?; // ASEF and the version
    let count = r.u32().ok_or(header)? as usize;
    let mut colors = Vec::new();
    let mut swatch = 0;
    // The count says how many blocks there are (a file that stops at a block's end has lost
    // the rest); it is not trusted for any allocation.
    for block in 1..=count {
        let cut = AseError::Truncated { block };
        let kind = r.u16().ok_or(cut.clone())?;
        let len = r.u32().ok_or(cut.clone())? as usize;
        let body = r.take(len).ok_or(cut.clone())?;
        if kind != 0x0001 {
            // A group's start or end, or a block no reader knows: its length says where it ends.
            continue;
        }
        swatch += 1;
        colors.push(swatch_color(body, swatch).ok_or(cut)??);
    }
    Ok(colors)
}

/// The colour of swatch number `swatch` from its block's body; `None` when the body is cut short.
fn swatch_color(body: &[u8], swatch: usize) -> Option<Result<[u8; 3], AseError>> {
    let mut r = Reader { bytes: body, at: 0 };
    let name_len = usize::from(r.u16()?);
    r.take(2 * name_len)?;
    let model = r.take(4)?;
    let channels = match model {
        b"RGB " => 3,
        b"Gray" => 1,
        _ => {
            return Some(Err(AseError::Model {
                swatch,
                model: String::from_utf8_lossy(model).trim().to_string(),
            }))
        }
    };
    let mut values = [0u8; 3];
    for value in values.iter_mut().take(channels) {
        let v = f32::from_bits(r.u32()?);
        if !(0.0..=1.0).contains(&v) {
            return Some(Err(AseError::Channel {
                swatch,
                value: v.to_string(),
            }));
        }
        *value = (v * 255.0).round() as u8;
    }
    if channels == 1 {
        values = [values[0]; 3];
    }
    Some(Ok(values))
}

/// `palette` as an `.ase` file: one group named `kquant k=K` holding an RGB swatch for each colour,
/// most-used first, named by its hex code (`#rrggbb`), of kind "normal" (neither global nor spot).
/// [`parse_ase`] reads it back to the same colours.
///
/// ```
/// let palette = kquant::Palette::from_colors(&[[255, 0, 0], [0, 128, 255]]).unwrap();
/// let ase = kquant::ase_bytes(&palette, 2);
/// assert_eq!(kquant::parse_ase(&ase).unwrap(), [[255, 0, 0], [0, 128, 255]]);
/// ```
pub fn ase_bytes(palette: &Palette, k: usize) -> Vec<u8> {
    let mut out = ASE_SIGNATURE.to_vec();
    out.extend([0, 1, 0, 0]); // version 1.0
    out.extend(((palette.entries.len() + 2) as u32).to_be_bytes());
    push_block(&mut out, 0xC001, &utf16_name(&format!("kquant k={k}")));
    for e in &palette.entries {
        let mut body = utf16_name(&hex(e.rgb));
        body.extend(b"RGB ");
        for c in e.rgb {
            body.extend((f32::from(c) / 255.0).to_be_bytes());
        }
        body.extend(2u16.to_be_bytes());
        push_block(&mut out, 0x0001, &body);
    }
    push_block(&mut out, 0xC002, &[]);
    out
}

/// A block: its type, its length and its body.
fn push_block(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
    out.extend(kind.to_be_bytes());
    out.extend((body.len() as u32).to_be_bytes());
    out.extend(body);
}

/// A name as Adobe's palette files hold it (an `.ase` block, an `.aco` swatch): its length in
/// UTF-16 units with the final zero, then the units (big-endian) and the zero.
pub(crate) fn utf16_name(name: &str) -> Vec<u8> {
    let units: Vec<u16> = name.encode_utf16().chain([0]).collect();
    let mut out = (units.len() as u16).to_be_bytes().to_vec();
    for u in units {
        out.extend(u.to_be_bytes());
    }
    out
}

/// Bytes read front to back, each read checked against what is left.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let slice = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(slice)
    }

    /// A big-endian `u16`.
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    /// A big-endian `u32`.
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block of `kind` holding `body`.
    fn block(kind: u16, body: &[u8]) -> Vec<u8> {
        let mut b = kind.to_be_bytes().to_vec();
        b.extend((body.len() as u32).to_be_bytes());
        b.extend(body);
        b
    }

    /// A swatch's body: `name`, `model` and its channel values, kind "normal".
    fn swatch(name: &str, model: &[u8; 4], values: &[f32]) -> Vec<u8> {
        let units: Vec<u16> = name.encode_utf16().chain([0]).collect();
        let mut b = (units.len() as u16).to_be_bytes().to_vec();
        for u in units {
            b.extend(u.to_be_bytes());
        }
        b.extend(model);
        for v in values {
            b.extend(v.to_be_bytes());
        }
        b.extend(2u16.to_be_bytes());
        b
    }

    fn file(blocks: &[Vec<u8>]) -> Vec<u8> {
        let mut f = b"ASEF\0\x01\0\0".to_vec();
        f.extend((blocks.len() as u32).to_be_bytes());
        for b in blocks {
            f.extend(b);
        }
        f
    }

    fn group_of_three() -> Vec<u8> {
        file(&[
            block(0xC001, &swatch("Brand", b"RGB ", &[])[..14]),
            block(1, &swatch("Red", b"RGB ", &[1.0, 0.0, 0.0])),
            block(1, &swatch("Grey", b"Gray", &[0.5])),
            block(1, &swatch("Teal é", b"RGB ", &[0.0, 0.5, 0.5])),
            block(0xC002, &[]),
        ])
    }

    #[test]
    fn rgb_and_grey_swatches_of_every_group_read_in_order() {
        assert_eq!(
            parse_ase(&group_of_three()).unwrap(),
            [[255, 0, 0], [128, 128, 128], [0, 128, 128]]
        );
    }

    #[test]
    fn a_file_cut_anywhere_is_an_error_never_a_shorter_palette() {
        let whole = group_of_three();
        assert_eq!(parse_ase(&whole[..3]), Err(AseError::NotAse));
        for at in 4..whole.len() {
            assert!(
                matches!(parse_ase(&whole[..at]), Err(AseError::Truncated { .. })),
                "cut at {at}: {:?}",
                parse_ase(&whole[..at])
            );
        }
    }

    #[test]
    fn cmyk_lab_and_out_of_range_swatches_are_refused() {
        let cmyk = file(&[block(1, &swatch("C", b"CMYK", &[1.0, 0.0, 0.0, 0.0]))]);
        assert_eq!(
            parse_ase(&cmyk),
            Err(AseError::Model {
                swatch: 1,
                model: "CMYK".into()
            })
        );
        let lab = file(&[block(1, &swatch("L", b"LAB ", &[0.5, 10.0, -10.0]))]);
        assert!(matches!(parse_ase(&lab), Err(AseError::Model { .. })));
        let over = file(&[block(1, &swatch("O", b"RGB ", &[1.5, 0.0, 0.0]))]);
        assert!(matches!(
            parse_ase(&over),
            Err(AseError::Channel { swatch: 1, .. })
        ));
        let nan = file(&[block(1, &swatch("N", b"RGB ", &[f32::NAN, 0.0, 0.0]))]);
        assert!(matches!(parse_ase(&nan), Err(AseError::Channel { .. })));
    }

    #[test]
    fn lengths_and_counts_are_not_trusted() {
        // A count of four billion blocks with none there, and a block claiming 4 GB.
        let mut f = b"ASEF\0\x01\0\0\xff\xff\xff\xff".to_vec();
        assert_eq!(parse_ase(&f), Err(AseError::Truncated { block: 1 }));
        f.extend([0, 1, 0xff, 0xff, 0xff, 0xff, 0, 0]);
        assert_eq!(parse_ase(&f), Err(AseError::Truncated { block: 1 }));
        // A name claiming more units than its block holds.
        let mut body = swatch("R", b"RGB ", &[1.0, 0.0, 0.0]);
        body[1] = 200;
        assert_eq!(
            parse_ase(&file(&[block(1, &body)])),
            Err(AseError::Truncated { block: 1 })
        );
    }

    #[test]
    fn a_written_palette_reads_back_to_its_colours_in_order() {
        // Every channel value, so each float must round back to its byte.
        let colors: Vec<[u8; 3]> = (0..=255u8).map(|v| [v, 255 - v, v / 3]).collect();
        let palette = Palette::from_colors(&colors).unwrap();
        let ase = ase_bytes(&palette, 256);
        assert_eq!(parse_ase(&ase).unwrap(), colors);
        // One group (start and end) around the swatches, named as documented.
        assert_eq!(&ase[8..12], &258u32.to_be_bytes());
        assert_eq!(&ase[12..14], &[0xC0, 0x01]);
        assert!(ase.ends_with(&[0xC0, 0x02, 0, 0, 0, 0]));
        let group = utf16_name("kquant k=256");
        assert_eq!(&ase[18..18 + group.len()], &group[..]);
        let first = utf16_name("#00ff00");
        let at = 18 + group.len() + 6;
        assert_eq!(&ase[at..at + first.len()], &first[..]);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 3000, failure_persistence: None, ..Default::default() })]
        #[test]
        fn any_bytes_after_the_signature_read_or_are_refused_without_panicking(
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
        ) {
            let mut f = b"ASEF".to_vec();
            f.extend(tail);
            let _ = parse_ase(&f);
        }
    }
}
