//! Palettes people bring (`k_means --palette FILE`): kquant's own palette files in every format it
//! writes, or an image whose distinct colours are the palette.
//!
//! The format is told by content, as images are: an image signature; `GIMP Palette`; a JSON object
//! (its `"rgb": [r, g, b]` arrays, or failing those its `"#rrggbb"` strings); otherwise one colour a
//! line, `R,G,B` (as `colors_k{K}.txt`) or `#rrggbb` (as `colors_k{K}.hex`), with `#` comments and
//! blank lines skipped. The order of the file is kept: "the first K colours" are its first K.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};
use crate::image_file::{decode_picture, LoadLimits};
use crate::kmeans::params::MAX_K;
use crate::pixels::ColorHistogram;

/// A palette file is small; a larger one is not a palette (an image palette is read within the
/// image limits instead).
const MAX_TEXT_BYTES: u64 = 1 << 20;

/// The colours of the palette file at `path`, in its order, at most 256 of them.
///
/// # Errors
/// [`Error::PaletteFile`] when the file cannot be read, holds no colour or a malformed one, or
/// more than 256 colours (an image with more distinct colours is not a palette).
pub fn read_palette_file(path: &Path, limits: &LoadLimits) -> Result<Vec<[u8; 3]>> {
    let err = |message: String| Error::PaletteFile {
        path: path.to_path_buf(),
        message,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limits.max_file_bytes() + 1).read_to_end(&mut bytes))
        .map_err(|e| err(e.to_string()))?;
    let colors = if image::guess_format(&bytes).is_ok() {
        let picture = decode_picture(&bytes, limits).map_err(|e| match e {
            Error::DecodeImage { message, .. } => err(message),
            other => err(other.to_string()),
        })?;
        let hist = ColorHistogram::from_picture(&picture);
        if hist.len() > MAX_K {
            return Err(err(format!(
                "the image has {} distinct colours; a palette image has at most {MAX_K}",
                hist.len()
            )));
        }
        // Most-used first, as kquant writes palettes (ties: in colour order).
        let mut colors: Vec<([u8; 3], u32)> = hist.colors.into_iter().zip(hist.counts).collect();
        colors.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
        colors.into_iter().map(|(c, _)| c).collect()
    } else {
        if bytes.len() as u64 > MAX_TEXT_BYTES {
            return Err(err("the file is too large for a palette".into()));
        }
        let text = String::from_utf8(bytes)
            .map_err(|_| err("not an image, and not a text palette (not UTF-8)".into()))?;
        parse_palette_text(&text).map_err(err)?
    };
    if colors.is_empty() {
        return Err(err("it holds no colour".into()));
    }
    if colors.len() > MAX_K {
        return Err(err(format!(
            "it holds {} colours; a palette has at most {MAX_K}",
            colors.len()
        )));
    }
    Ok(colors)
}

/// The palette for `--palette FILE` with `k` colours: the file's first `k`.
///
/// # Errors
/// As [`read_palette_file`], and when the file holds fewer than `k` colours.
pub fn palette_of_k(path: &Path, k: usize, limits: &LoadLimits) -> Result<Vec<[u8; 3]>> {
    let colors = read_palette_file(path, limits)?;
    if colors.len() < k {
        return Err(Error::PaletteFile {
            path: path.to_path_buf(),
            message: format!("it holds {} colours, fewer than k = {k}", colors.len()),
        });
    }
    Ok(colors[..k].to_vec())
}

/// The colours for `--fixed FILE` with `k` colours in all: every colour of the file, at most `k`.
///
/// # Errors
/// As [`read_palette_file`], and when the file holds more than `k` colours.
pub fn fixed_of_k(path: &Path, k: usize, limits: &LoadLimits) -> Result<Vec<[u8; 3]>> {
    let colors = read_palette_file(path, limits)?;
    if colors.len() > k {
        return Err(Error::PaletteFile {
            path: path.to_path_buf(),
            message: format!("it holds {} colours, more than k = {k}", colors.len()),
        });
    }
    Ok(colors)
}

/// The colours of a text palette (GIMP, JSON, or one colour a line).
pub fn parse_palette_text(text: &str) -> std::result::Result<Vec<[u8; 3]>, String> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with("GIMP Palette") {
        return parse_gpl(trimmed);
    }
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return parse_json(trimmed);
    }
    let mut colors = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || (line.starts_with('#') && parse_hex(line).is_none()) {
            continue;
        }
        let color = parse_hex(line)
            .or_else(|| parse_triple(line, ','))
            .ok_or_else(|| format!("line {} is not a colour (R,G,B or #rrggbb): {line}", n + 1))?;
        colors.push(color);
    }
    Ok(colors)
}

/// `#rrggbb` or `rrggbb`.
fn parse_hex(s: &str) -> Option<[u8; 3]> {
    let h = s.strip_prefix('#').unwrap_or(s);
    if h.len() != 6 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let v = u32::from_str_radix(h, 16).ok()?;
    Some([(v >> 16) as u8, (v >> 8) as u8, v as u8])
}

/// Three integers 0..=255 separated by `sep` (and spaces).
fn parse_triple(s: &str, sep: char) -> Option<[u8; 3]> {
    let parts: Vec<&str> = s
        .split(sep)
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if parts.len() != 3 {
        return None;
    }
    let mut out = [0u8; 3];
    for (o, p) in out.iter_mut().zip(parts) {
        *o = p.parse().ok()?;
    }
    Some(out)
}

/// A GIMP palette: a header (`GIMP Palette`, `Name:`, `Columns:`, `#` comments), then
/// `R G B [name]` lines.
fn parse_gpl(text: &str) -> std::result::Result<Vec<[u8; 3]>, String> {
    let mut colors = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let line = line.trim();
        if line.is_empty()
            || line.starts_with('#')
            || line.starts_with("Name:")
            || line.starts_with("Columns:")
        {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().take(3).collect();
        let color = parse_triple(&fields.join(" "), ' ')
            .ok_or_else(|| format!("line {} of the GIMP palette is not R G B: {line}", n + 1))?;
        colors.push(color);
    }
    Ok(colors)
}

/// A JSON palette: every `"rgb": [r, g, b]` array in order (kquant's `colors_k{K}.json`), or, if
/// there is none, every `"#rrggbb"` string.
fn parse_json(text: &str) -> std::result::Result<Vec<[u8; 3]>, String> {
    let mut colors = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("\"rgb\"") {
        rest = &rest[at + 5..];
        let open = rest
            .find('[')
            .ok_or("an \"rgb\" value is not an array of three numbers")?;
        let close = rest[open..]
            .find(']')
            .ok_or("an \"rgb\" array is not closed")?;
        let color = parse_triple(&rest[open + 1..open + close], ',')
            .ok_or("an \"rgb\" array is not three integers 0-255")?;
        colors.push(color);
        rest = &rest[open + close..];
    }
    if colors.is_empty() {
        for part in text.split('"') {
            if part.starts_with('#') {
                if let Some(c) = parse_hex(part) {
                    colors.push(c);
                }
            }
        }
    }
    Ok(colors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::palette::{Palette, PaletteEntry};
    use crate::report::{colors_text, gpl_text, hex_text, json_text};

    fn palette(colors: &[[u8; 3]]) -> Palette {
        Palette {
            entries: colors
                .iter()
                .enumerate()
                .map(|(i, &rgb)| PaletteEntry {
                    centroid: i,
                    rgb,
                    exact: rgb.map(f64::from),
                    pixels: 10 - i as u64,
                })
                .collect(),
            unused: 0,
            color_entries: Vec::new(),
        }
    }

    #[test]
    fn every_format_kquant_writes_reads_back() {
        let colors = [[255, 0, 7], [1, 2, 3], [128, 200, 64], [0, 0, 0]];
        let p = palette(&colors);
        for text in [
            colors_text(&p),
            hex_text(&p),
            gpl_text(&p, 4),
            json_text(&p, 4),
        ] {
            assert_eq!(parse_palette_text(&text).unwrap(), colors, "{text}");
        }
    }

    #[test]
    fn other_peoples_palettes_read_too() {
        assert_eq!(
            parse_palette_text("# brand\n#FFFFFF\n\n 00ff00 \n10, 20 ,30\n").unwrap(),
            [[255, 255, 255], [0, 255, 0], [10, 20, 30]]
        );
        let gimp = "GIMP Palette\nName: x\nColumns: 0\n#\n255   0   0\tRed\n  0 255 0\n";
        assert_eq!(
            parse_palette_text(gimp).unwrap(),
            [[255, 0, 0], [0, 255, 0]]
        );
        assert_eq!(
            parse_palette_text(r##"{"palette": ["#102030", "#405060"]}"##).unwrap(),
            [[16, 32, 48], [64, 80, 96]]
        );
        assert!(parse_palette_text("1,2\n").is_err());
        assert!(parse_palette_text("256,0,0\n").is_err());
        assert!(parse_palette_text("GIMP Palette\nfoo bar baz\n").is_err());
    }
}
