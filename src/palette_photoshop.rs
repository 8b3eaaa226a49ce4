//! Photoshop's own palette files, read and written: Color Swatches (`.aco`, what the Swatches
//! panel saves) and Color Tables (`.act`, the table of an indexed-colour picture or a GIF).
//!
//! Both are big-endian and follow Adobe's "Photoshop File Formats Specification". An `.aco` file
//! is a version 1 section (`0x0001`, a count, then per swatch a colour space and four 16-bit
//! values) usually followed by a version 2 section holding the same swatches with their names
//! (UTF-16); the names are not needed, but a cut or damaged section is an error, never a shorter
//! palette. Only RGB swatches are read (channels 0-65535, 8-bit values written as `v * 257`):
//! HSB, CMYK, Lab and grey ones are refused rather than converted, as in an `.ase` file. An `.act`
//! file is 256 RGB triples (768 bytes), optionally followed by how many of them are used and which
//! one is transparent (772 bytes); the transparent entry is not a colour and is left out.

use crate::palette::Palette;
use crate::palette_ase::utf16_name;
use crate::palette_text::hex;

/// Why a Photoshop palette cannot be read. Swatches count from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PhotoshopPaletteError {
    /// The `.aco` file ends inside a section.
    #[error("the swatch file is cut short (in its version {version} section)")]
    Truncated {
        /// The section's version (1 or 2).
        version: u16,
    },
    /// The bytes do not start with a version 1 or 2 section.
    #[error("not a Photoshop swatch file (it starts with neither version 1 nor 2)")]
    NotAco,
    /// Bytes after the sections that are not a version 2 section following version 1.
    #[error("the swatch file has unexpected data after its swatches (at byte {at})")]
    Trailing {
        /// Where they start.
        at: usize,
    },
    /// A swatch's colour is not RGB.
    #[error(
        "swatch {swatch} is in {space}; only RGB swatches are read (save the swatches in RGB)"
    )]
    Space {
        /// The swatch's number.
        swatch: usize,
        /// Its colour space.
        space: &'static str,
    },
    /// An `.act` file of another size than 768 or 772 bytes.
    #[error("a Photoshop colour table is 768 or 772 bytes long; this file is {len}")]
    TableSize {
        /// Its size in bytes.
        len: usize,
    },
    /// An `.act` file whose count of colours is 0 or more than 256.
    #[error("the colour table says it holds {count} colours (1 to 256)")]
    TableCount {
        /// The count it gives.
        count: u16,
    },
}

/// The colours of an `.aco` file's RGB swatches, in its order (channels rounded to 0-255).
///
/// ```
/// // Version 1, one swatch: RGB (space 0), pure red.
/// let aco = [0, 1, 0, 1, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0];
/// assert_eq!(kquant::parse_aco(&aco).unwrap(), [[255, 0, 0]]);
/// ```
///
/// # Errors
/// [`PhotoshopPaletteError`] when the bytes are not such a file, are cut short, or hold a swatch
/// that is not RGB.
pub fn parse_aco(bytes: &[u8]) -> Result<Vec<[u8; 3]>, PhotoshopPaletteError> {
    let mut at = 0;
    let mut colors = None;
    while at < bytes.len() {
        // A version 1 section, a version 2 one, or version 1 then version 2.
        let version = match be16(bytes, at) {
            Some(v @ (1 | 2)) if !(v == 1 && colors.is_some()) => v,
            _ if at == 0 => return Err(PhotoshopPaletteError::NotAco),
            _ => return Err(PhotoshopPaletteError::Trailing { at }),
        };
        let (section, end) = aco_section(bytes, at, version)?;
        // Version 2 repeats version 1's swatches with names; its colours are the ones kept.
        colors = Some(section);
        at = end;
        if version == 2 {
            break;
        }
    }
    if at < bytes.len() {
        return Err(PhotoshopPaletteError::Trailing { at });
    }
    colors.ok_or(PhotoshopPaletteError::Truncated { version: 1 })
}

/// The colours of the section of `version` at `at`, and where it ends.
fn aco_section(
    bytes: &[u8],
    at: usize,
    version: u16,
) -> Result<(Vec<[u8; 3]>, usize), PhotoshopPaletteError> {
    let cut = PhotoshopPaletteError::Truncated { version };
    let count = usize::from(be16(bytes, at + 2).ok_or(cut.clone())?);
    let mut at = at + 4;
    // At most 65535 swatches of at least 10 bytes: the count is checked against the bytes there
    // before anything is kept.
    let mut colors = Vec::new();
    for swatch in 1..=count {
        let value = |i: usize| be16(bytes, at + 2 + 2 * i).ok_or(cut.clone());
        let space = be16(bytes, at).ok_or(cut.clone())?;
        let rgb = [value(0)?, value(1)?, value(2)?];
        value(3)?;
        at += 10;
        if version == 2 {
            // The name: two reserved bytes, a count of UTF-16 units (its final zero included),
            // then the units.
            let units = usize::from(be16(bytes, at + 2).ok_or(cut.clone())?);
            at = Some(at + 4 + 2 * units)
                .filter(|&end| end <= bytes.len())
                .ok_or(cut.clone())?;
        }
        let space = match space {
            0 => None,
            1 => Some("HSB"),
            2 | 9 => Some("CMYK"),
            7 => Some("Lab"),
            8 => Some("greyscale"),
            _ => Some("an unknown colour space"),
        };
        if let Some(space) = space {
            return Err(PhotoshopPaletteError::Space { swatch, space });
        }
        colors.push(rgb.map(|v| ((u32::from(v) + 128) / 257) as u8));
    }
    Ok((colors, at))
}

/// `palette` as an `.aco` file: a version 1 section and a version 2 one naming each swatch by its
/// hex code (`#rrggbb`), most-used first. [`parse_aco`] reads it back to the same colours.
///
/// ```
/// let palette = kquant::Palette::from_colors(&[[255, 0, 0], [0, 128, 255]]).unwrap();
/// let aco = kquant::aco_bytes(&palette);
/// assert_eq!(kquant::parse_aco(&aco).unwrap(), [[255, 0, 0], [0, 128, 255]]);
/// ```
pub fn aco_bytes(palette: &Palette) -> Vec<u8> {
    let count = palette.entries.len() as u16;
    let mut out = Vec::new();
    for version in [1u16, 2] {
        out.extend(version.to_be_bytes());
        out.extend(count.to_be_bytes());
        for e in &palette.entries {
            out.extend([0, 0]); // RGB
            for c in e.rgb {
                out.extend((u16::from(c) * 257).to_be_bytes());
            }
            out.extend([0, 0]);
            if version == 2 {
                out.extend([0, 0]); // reserved
                out.extend(utf16_name(&hex(e.rgb)));
            }
        }
    }
    out
}

/// The colours of an `.act` file, in its order: its first `count` entries when it says how many it
/// uses (772 bytes), else all 256, without the transparent entry if it names one.
///
/// ```
/// let mut act = vec![0u8; 772];
/// act[..6].copy_from_slice(&[255, 0, 0, 0, 0, 255]);
/// act[768..].copy_from_slice(&[0, 2, 0xff, 0xff]); // two colours, none transparent
/// assert_eq!(kquant::parse_act(&act).unwrap(), [[255, 0, 0], [0, 0, 255]]);
/// ```
///
/// # Errors
/// [`PhotoshopPaletteError`] for another size than 768 or 772 bytes, or a count of 0 or past 256.
pub fn parse_act(bytes: &[u8]) -> Result<Vec<[u8; 3]>, PhotoshopPaletteError> {
    let (count, transparent) = match bytes.len() {
        768 => (256, None),
        772 => {
            let count = be16(bytes, 768).unwrap_or(0);
            if !(1..=256).contains(&count) {
                return Err(PhotoshopPaletteError::TableCount { count });
            }
            (usize::from(count), be16(bytes, 770).map(usize::from))
        }
        len => return Err(PhotoshopPaletteError::TableSize { len }),
    };
    Ok(bytes[..3 * count]
        .chunks_exact(3)
        .enumerate()
        .filter(|&(i, _)| Some(i) != transparent)
        .map(|(_, c)| [c[0], c[1], c[2]])
        .collect())
}

/// `palette` as a 772-byte `.act` file: its colours, most-used first, the other entries black, the
/// number of colours, and no transparent entry. [`parse_act`] reads it back to the same colours.
pub fn act_bytes(palette: &Palette) -> Vec<u8> {
    let mut out = vec![0u8; 772];
    for (slot, e) in out.chunks_exact_mut(3).zip(&palette.entries) {
        slot.copy_from_slice(&e.rgb);
    }
    out[768..770].copy_from_slice(&(palette.entries.len() as u16).to_be_bytes());
    out[770..].copy_from_slice(&[0xff, 0xff]);
    out
}

/// The big-endian `u16` at `at`, if the bytes reach that far.
fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_value() -> Vec<[u8; 3]> {
        (0..=255u8).map(|v| [v, 255 - v, v / 3]).collect()
    }

    #[test]
    fn written_files_read_back_to_their_colours() {
        let palette = Palette::from_colors(&every_value()).unwrap();
        assert_eq!(parse_aco(&aco_bytes(&palette)).unwrap(), every_value());
        assert_eq!(parse_act(&act_bytes(&palette)).unwrap(), every_value());
        let few = Palette::from_colors(&[[1, 2, 3], [250, 251, 252]]).unwrap();
        assert_eq!(
            parse_act(&act_bytes(&few)).unwrap(),
            [[1, 2, 3], [250, 251, 252]]
        );
        // Version 1 alone, as older Photoshops write it.
        let aco = aco_bytes(&few);
        assert_eq!(
            parse_aco(&aco[..4 + 2 * 10]).unwrap(),
            [[1, 2, 3], [250, 251, 252]]
        );
    }

    #[test]
    fn a_swatch_file_cut_anywhere_is_an_error_never_a_shorter_palette() {
        let few = Palette::from_colors(&[[1, 2, 3], [250, 251, 252]]).unwrap();
        let whole = aco_bytes(&few);
        let v1_end = 4 + 2 * 10;
        for at in 0..whole.len() {
            if at == v1_end {
                continue; // version 1 whole, version 2 not begun: a whole file
            }
            assert!(parse_aco(&whole[..at]).is_err(), "cut at {at}");
        }
        // Bytes after the sections, or a second version 1 section.
        let mut more = whole.clone();
        more.extend([0, 3]);
        assert_eq!(
            parse_aco(&more),
            Err(PhotoshopPaletteError::Trailing { at: whole.len() })
        );
        let twice = [&whole[..v1_end], &whole[..v1_end]].concat();
        assert_eq!(
            parse_aco(&twice),
            Err(PhotoshopPaletteError::Trailing { at: v1_end })
        );
        assert_eq!(parse_aco(b"#ff0000\n"), Err(PhotoshopPaletteError::NotAco));
    }

    #[test]
    fn other_colour_spaces_and_odd_tables_are_refused() {
        for (space, name) in [(1u8, "HSB"), (2, "CMYK"), (7, "Lab"), (8, "greyscale")] {
            let aco = [0, 1, 0, 1, 0, space, 0, 0, 0, 0, 0, 0, 0, 0];
            assert_eq!(
                parse_aco(&aco),
                Err(PhotoshopPaletteError::Space {
                    swatch: 1,
                    space: name
                })
            );
        }
        assert_eq!(
            parse_act(&[0; 700]),
            Err(PhotoshopPaletteError::TableSize { len: 700 })
        );
        let mut act = vec![0u8; 772];
        act[768..770].copy_from_slice(&300u16.to_be_bytes());
        assert_eq!(
            parse_act(&act),
            Err(PhotoshopPaletteError::TableCount { count: 300 })
        );
        // A table of 256 whose entry 1 is transparent: 255 colours.
        act[768..].copy_from_slice(&[1, 0, 0, 1]);
        act[3..6].copy_from_slice(&[9, 9, 9]);
        let colors = parse_act(&act).unwrap();
        assert_eq!(colors.len(), 255);
        assert!(!colors.contains(&[9, 9, 9]));
        assert_eq!(parse_act(&[7; 768]).unwrap(), vec![[7, 7, 7]; 256]);
    }

    #[test]
    fn names_are_not_trusted_for_lengths() {
        // A version 2 swatch whose name claims 65535 units, with two there.
        let mut aco = vec![0, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        aco.extend([0, 0, 0xff, 0xff, 0, 0x41, 0, 0]);
        assert_eq!(
            parse_aco(&aco),
            Err(PhotoshopPaletteError::Truncated { version: 2 })
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 3000, failure_persistence: None, ..Default::default() })]
        #[test]
        fn any_bytes_read_or_are_refused_without_panicking(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
        ) {
            let _ = parse_aco(&bytes);
            let _ = parse_act(&bytes);
        }
    }
}
