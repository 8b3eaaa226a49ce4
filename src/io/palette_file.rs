//! Palettes people bring (`k_means --palette FILE`): kquant's own palette files in every format it
//! writes, or an image whose distinct colours are the palette.
//!
//! The format is told by content, as images are: an image signature, an Adobe Swatch Exchange file
//! ([`crate::parse_ase`]), a Photoshop swatch file ([`crate::parse_aco`], by its version or an
//! `.aco` name), a Photoshop colour table ([`crate::parse_act`], by an `.act` name: it has no
//! signature), otherwise a text palette as [`crate::parse_palette_text`] reads it. The order of the
//! file is kept: "the first K colours" are its first K.

use std::io::Read;
use std::path::Path;

use super::error::{ImageError, PaletteFileError, PaletteProblem};
use super::load::{decode_read, is_picture, LoadLimits};
use crate::kmeans::params::MAX_K;
use crate::palette_text::parse_palette_text;
use crate::pixels::ColorHistogram;

/// A palette file is small; a larger one is not a palette (an image palette is read within the
/// image limits instead).
const MAX_TEXT_BYTES: u64 = 1 << 20;

/// The colours of the palette file at `path`, in its order, at most 256 of them.
///
/// # Errors
/// [`PaletteFileError`] when the file cannot be read, holds no colour or a malformed one, or
/// more than 256 colours (an image with more distinct colours is not a palette).
pub fn read_palette_file(
    path: &Path,
    limits: &LoadLimits,
) -> Result<Vec<[u8; 3]>, PaletteFileError> {
    let err = |source: PaletteProblem| PaletteFileError {
        path: path.to_path_buf(),
        source,
    };
    // A text palette is refused past MAX_TEXT_BYTES, so only that much is read before the content
    // says what the file is (`/dev/zero` would otherwise fill the image limit, 2 GB by default);
    // an image palette is then read on, within the image limits.
    let mut bytes = Vec::new();
    let mut file = std::fs::File::open(path).map_err(|e| err(PaletteProblem::Read(e)))?;
    (&mut file)
        .take(MAX_TEXT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| err(PaletteProblem::Read(e)))?;
    let colors = if is_picture(&bytes, path) {
        let rest = (limits.max_file_bytes() + 1).saturating_sub(bytes.len() as u64);
        file.take(rest)
            .read_to_end(&mut bytes)
            .map_err(|e| err(PaletteProblem::Read(e)))?;
        let picture = decode_read(&bytes, path, limits).map_err(|e| match e {
            ImageError::Decode { source, .. } => err(PaletteProblem::Decode(source)),
            other => err(PaletteProblem::Image(Box::new(other))),
        })?;
        let hist = ColorHistogram::from_picture(&picture);
        if hist.len() > MAX_K {
            return Err(err(PaletteProblem::ImageTooColourful {
                colors: hist.len(),
                max: MAX_K,
            }));
        }
        // Most-used first, as kquant writes palettes (ties: in colour order).
        let mut colors: Vec<([u8; 3], u32)> = hist.colors.into_iter().zip(hist.counts).collect();
        colors.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
        colors.into_iter().map(|(c, _)| c).collect()
    } else {
        if bytes.len() as u64 > MAX_TEXT_BYTES {
            return Err(err(PaletteProblem::TooLarge));
        }
        let named = |ext: &str| {
            path.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case(ext))
        };
        if bytes.starts_with(crate::ASE_SIGNATURE) {
            crate::parse_ase(&bytes).map_err(|e| err(PaletteProblem::Ase(e)))?
        } else if named("aco") || bytes.starts_with(&[0, 1]) || bytes.starts_with(&[0, 2]) {
            // No text palette starts with a zero byte: this is a swatch file or nothing.
            crate::parse_aco(&bytes).map_err(|e| err(PaletteProblem::Photoshop(e)))?
        } else if named("act") {
            // A colour table has no signature, only its size: it is told by its name.
            crate::parse_act(&bytes).map_err(|e| err(PaletteProblem::Photoshop(e)))?
        } else {
            let text = String::from_utf8(bytes).map_err(|_| err(PaletteProblem::NotText))?;
            parse_palette_text(&text).map_err(|e| err(PaletteProblem::Text(e)))?
        }
    };
    if colors.is_empty() {
        return Err(err(PaletteProblem::NoColour));
    }
    if colors.len() > MAX_K {
        return Err(err(PaletteProblem::TooManyColours {
            colors: colors.len(),
            max: MAX_K,
        }));
    }
    Ok(colors)
}

/// The palette for `--palette FILE` with `k` colours: the file's first `k`.
///
/// # Errors
/// As [`read_palette_file`], and when the file holds fewer than `k` colours.
pub fn palette_of_k(
    path: &Path,
    k: usize,
    limits: &LoadLimits,
) -> Result<Vec<[u8; 3]>, PaletteFileError> {
    let colors = read_palette_file(path, limits)?;
    if colors.len() < k {
        return Err(PaletteFileError {
            path: path.to_path_buf(),
            source: PaletteProblem::FewerThanK {
                colors: colors.len(),
                k,
            },
        });
    }
    Ok(colors[..k].to_vec())
}

/// The colours for `--fixed FILE` with `k` colours in all: every colour of the file, at most `k`.
///
/// # Errors
/// As [`read_palette_file`], and when the file holds more than `k` colours.
pub fn fixed_of_k(
    path: &Path,
    k: usize,
    limits: &LoadLimits,
) -> Result<Vec<[u8; 3]>, PaletteFileError> {
    let colors = read_palette_file(path, limits)?;
    if colors.len() > k {
        return Err(PaletteFileError {
            path: path.to_path_buf(),
            source: PaletteProblem::MoreThanK {
                colors: colors.len(),
                k,
            },
        });
    }
    Ok(colors)
}
