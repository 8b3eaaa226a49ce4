//! Palettes as text: the files `k_means -c` writes (`colors_k{K}.txt`, `.hex`, `.gpl`, `.json`)
//! and the reading of text palettes people bring, in those formats and other people's.
//!
//! Reading tells the format by content: `GIMP Palette`; `JASC-PAL`; JSON (its `"rgb": [r, g, b]`
//! members, or failing those its `"#rrggbb"` strings and, listed in arrays, `"rrggbb"` strings and
//! `[r, g, b]` arrays), parsed whole so that damage is an error; otherwise one colour a line,
//! `R,G,B` (as `colors_k{K}.txt`), `#rrggbb` (as `colors_k{K}.hex`), `#rgb`, `#rrggbbaa` or
//! `AARRGGBB` (Paint.NET), with `#` and `;` comments and blank lines skipped. The order of the text
//! is kept.

use crate::palette::Palette;

mod json;

/// `colors_k{K}.txt`: one `R,G,B` line per used colour, most-used first.
pub fn colors_text(palette: &Palette) -> String {
    palette
        .entries
        .iter()
        .map(|e| format!("{},{},{}\n", e.rgb[0], e.rgb[1], e.rgb[2]))
        .collect()
}

/// A palette file format beyond `colors_k{K}.txt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[non_exhaustive]
pub enum PaletteFormat {
    /// `colors_k{K}.hex`: one `#rrggbb` per line.
    Hex,
    /// `colors_k{K}.gpl`: a GIMP palette.
    Gpl,
    /// `colors_k{K}.json`: hex, RGB, pixels and share of pixels per colour.
    Json,
    /// `colors_k{K}.ase`: Adobe Swatch Exchange, for Adobe's and other design tools.
    Ase,
    /// `colors_k{K}.aco`: Photoshop's Color Swatches.
    Aco,
    /// `colors_k{K}.act`: Photoshop's Color Table (an indexed picture's or a GIF's).
    Act,
}

impl PaletteFormat {
    /// The file name extension (and the name on the command line).
    pub fn extension(self) -> &'static str {
        match self {
            Self::Hex => "hex",
            Self::Gpl => "gpl",
            Self::Json => "json",
            Self::Ase => "ase",
            Self::Aco => "aco",
            Self::Act => "act",
        }
    }

    /// The file's contents for `palette` of a run with `k` centroids (text, but for Adobe's
    /// binary formats).
    pub fn contents(self, palette: &Palette, k: usize) -> Vec<u8> {
        match self {
            Self::Hex => hex_text(palette).into_bytes(),
            Self::Gpl => gpl_text(palette, k).into_bytes(),
            Self::Json => json_text(palette, k).into_bytes(),
            Self::Ase => crate::palette_ase::ase_bytes(palette, k),
            Self::Aco => crate::palette_photoshop::aco_bytes(palette),
            Self::Act => crate::palette_photoshop::act_bytes(palette),
        }
    }
}

/// `#rrggbb`, lowercase.
pub fn hex(rgb: [u8; 3]) -> String {
    let [r, g, b] = rgb;
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// One `#rrggbb` line per colour, most-used first.
pub fn hex_text(palette: &Palette) -> String {
    palette
        .entries
        .iter()
        .map(|e| format!("{}\n", hex(e.rgb)))
        .collect()
}

/// A GIMP palette (`GIMP Palette` header, then `R G B<TAB>name` lines).
pub fn gpl_text(palette: &Palette, k: usize) -> String {
    let mut out = format!("GIMP Palette\nName: kquant k={k}\nColumns: 4\n#\n");
    for e in &palette.entries {
        out.push_str(&format!(
            "{:3} {:3} {:3}\t{}\n",
            e.rgb[0],
            e.rgb[1],
            e.rgb[2],
            hex(e.rgb)
        ));
    }
    out
}

/// A JSON object: `k`, `pixels`, and `colors`, an array of `{hex, rgb, pixels, share}`.
pub fn json_text(palette: &Palette, k: usize) -> String {
    let total = palette.total_pixels().max(1) as f64;
    let colors: Vec<String> = palette
        .entries
        .iter()
        .map(|e| {
            format!(
                "    {{\"hex\": \"{}\", \"rgb\": [{}, {}, {}], \"pixels\": {}, \"share\": {:.6}}}",
                hex(e.rgb),
                e.rgb[0],
                e.rgb[1],
                e.rgb[2],
                e.pixels,
                e.pixels as f64 / total
            )
        })
        .collect();
    format!(
        "{{\n  \"k\": {k},\n  \"pixels\": {},\n  \"colors\": [\n{}\n  ]\n}}\n",
        palette.total_pixels(),
        colors.join(",\n")
    )
}

/// Why a text palette cannot be read. Line numbers count from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PaletteTextError {
    /// A line of a one-colour-a-line palette is neither `R,G,B` nor `#rrggbb`.
    #[error("line {line} is not a colour (R,G,B or #rrggbb): {text}")]
    NotAColour {
        /// Its number.
        line: usize,
        /// The line, trimmed.
        text: String,
    },
    /// A line of a JASC palette is not what it should be: its number of colours, or `R G B`.
    #[error("line {line} of the JASC palette is not {expected}: {text}")]
    NotJasc {
        /// Its number.
        line: usize,
        /// What the line should hold.
        expected: &'static str,
        /// The line, trimmed.
        text: String,
    },
    /// A JASC palette holds fewer colours than it says (a cut file).
    #[error("the JASC palette says it holds {said} colours but holds {found}")]
    JascShort {
        /// The number on its third line.
        said: usize,
        /// The colours found.
        found: usize,
    },
    /// A colour line of a GIMP palette is not three numbers 0-255.
    #[error("line {line} of the GIMP palette is not R G B: {text}")]
    NotGimpColour {
        /// Its number.
        line: usize,
        /// The line, trimmed.
        text: String,
    },
    /// A JSON palette's `"rgb"` value is not an array.
    #[error("an \"rgb\" value is not an array of three numbers")]
    JsonRgbNotArray,
    /// A JSON palette's `"rgb"` array does not hold three integers 0-255.
    #[error("an \"rgb\" array is not three integers 0-255")]
    JsonRgbNotThree,
    /// A palette that starts as JSON (`{` or `[`) is not valid JSON.
    #[error("the JSON is damaged at line {line}: expected {expected}")]
    JsonSyntax {
        /// The line where it goes wrong.
        line: usize,
        /// What would have been valid there.
        expected: &'static str,
    },
    /// A JSON palette nests arrays and objects deeper than 64 levels.
    #[error("the JSON nests deeper than {} levels", json::MAX_DEPTH)]
    JsonTooDeep,
}

/// The colours of a text palette (GIMP, JASC, JSON, or one colour a line), in its order.
///
/// ```
/// let colours = kquant::parse_palette_text("#ff0000\n0,128,255\n").unwrap();
/// assert_eq!(colours, [[255, 0, 0], [0, 128, 255]]);
/// ```
///
/// # Errors
/// [`PaletteTextError`] naming the first line (or JSON value) that is not a colour.
pub fn parse_palette_text(text: &str) -> Result<Vec<[u8; 3]>, PaletteTextError> {
    // A byte order mark (Windows editors write one) is not part of the first line.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let trimmed = text.trim_start();
    // Lines are numbered from the top of the file, blank ones before the header included.
    let skipped = text[..text.len() - trimmed.len()].matches('\n').count();
    if trimmed.starts_with("GIMP Palette") {
        return parse_gpl(trimmed, skipped);
    }
    if trimmed.starts_with("JASC-PAL") {
        return parse_jasc(trimmed, skipped);
    }
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return parse_json(text);
    }
    let mut colors = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        // A `#` line is a colour when its first word is one (`#ff0000 red`), else a comment; `;`
        // starts a comment in Paint.NET's palettes.
        if line.starts_with('#') {
            let word = line.split_whitespace().next().unwrap_or(line);
            colors.extend(parse_hex(word));
            continue;
        }
        if line.is_empty() || line.starts_with(';') {
            continue;
        }
        let color = parse_hex(line)
            .or_else(|| parse_triple(line))
            .or_else(|| parse_argb(line))
            .ok_or_else(|| PaletteTextError::NotAColour {
                line: n + 1,
                text: line.to_string(),
            })?;
        colors.push(color);
    }
    Ok(colors)
}

/// `#rrggbb`, `rrggbb`, `#rgb` or `#rrggbbaa`.
fn parse_hex(s: &str) -> Option<[u8; 3]> {
    let (h, marked) = match s.strip_prefix('#') {
        Some(h) => (h, true),
        None => (s, false),
    };
    if !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let v = u32::from_str_radix(h, 16).ok()?;
    match h.len() {
        6 => Some([(v >> 16) as u8, (v >> 8) as u8, v as u8]),
        // CSS's `#rrggbbaa`: the alpha is dropped.
        8 if marked => Some([(v >> 24) as u8, (v >> 16) as u8, (v >> 8) as u8]),
        // CSS's short form, `#f80` for `#ff8800`; only with its `#` (a bare `bad` is a word).
        3 if marked => Some([
            (v >> 8) as u8 * 17,
            (v >> 4 & 15) as u8 * 17,
            (v & 15) as u8 * 17,
        ]),
        _ => None,
    }
}

/// `AARRGGBB`, as Paint.NET writes its palettes (the alpha is dropped).
fn parse_argb(s: &str) -> Option<[u8; 3]> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    parse_hex(&s[2..])
}

/// Three integers 0..=255 separated by commas (and spaces): `R,G,B`.
fn parse_triple(s: &str) -> Option<[u8; 3]> {
    let parts: Vec<&str> = s
        .split(',')
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

/// The first three of `line`'s words (there are three to `most`) as channels 0..=255.
fn leading_rgb(line: &str, most: usize) -> Option<[u8; 3]> {
    let words: Vec<&str> = line.split_whitespace().collect();
    if !(3..=most).contains(&words.len()) {
        return None;
    }
    let mut out = [0u8; 3];
    for (o, w) in out.iter_mut().zip(words) {
        *o = w.parse().ok()?;
    }
    Some(out)
}

/// A GIMP palette: a header (`GIMP Palette`, `Name:`, `Columns:`, `#` comments), then
/// `R G B [name]` lines. `text` starts at the header, after `skipped` lines of the file.
fn parse_gpl(text: &str, skipped: usize) -> Result<Vec<[u8; 3]>, PaletteTextError> {
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
        // A name may follow the three numbers.
        let color =
            leading_rgb(line, usize::MAX).ok_or_else(|| PaletteTextError::NotGimpColour {
                line: skipped + n + 1,
                text: line.to_string(),
            })?;
        colors.push(color);
    }
    Ok(colors)
}

/// A JASC palette (Paint Shop Pro, Aseprite, Lospec's `.pal`): `JASC-PAL`, a version line
/// (`0100`), the number of colours, then an `R G B` line for each (a fourth number, alpha, is
/// dropped). `text` starts at the header, after `skipped` lines of the file.
fn parse_jasc(text: &str, skipped: usize) -> Result<Vec<[u8; 3]>, PaletteTextError> {
    let mut lines = text
        .lines()
        .enumerate()
        .skip(2)
        .map(|(n, line)| (skipped + n + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty());
    let Some((n, count)) = lines.next() else {
        return Ok(Vec::new());
    };
    let said: usize = count.parse().map_err(|_| PaletteTextError::NotJasc {
        line: n,
        expected: "its number of colours",
        text: count.to_string(),
    })?;
    let mut colors = Vec::new();
    for (n, line) in lines.take(said) {
        let color = leading_rgb(line, 4).ok_or_else(|| PaletteTextError::NotJasc {
            line: n,
            expected: "R G B",
            text: line.to_string(),
        })?;
        colors.push(color);
    }
    if colors.len() < said {
        return Err(PaletteTextError::JascShort {
            said,
            found: colors.len(),
        });
    }
    Ok(colors)
}

/// A JSON palette, parsed whole. Its colours, in the text's order, are every `"rgb": [r, g, b]`
/// member (kquant's `colors_k{K}.json`, Coolors' export); or, if there is none, every `"#rrggbb"`
/// string (a value or a name), and in an array every `"rrggbb"` string (Lospec's `"colors"`) and
/// every `[r, g, b]` (`[[255, 0, 0], ...]`).
fn parse_json(text: &str) -> Result<Vec<[u8; 3]>, PaletteTextError> {
    let doc = json::parse(text)?;
    let mut colors = Vec::new();
    rgb_members(&doc, &mut colors)?;
    if colors.is_empty() {
        loose_colours(&doc, true, &mut colors);
    }
    Ok(colors)
}

/// Appends the value of every `"rgb"` member under `v` (an object with one is not looked into
/// further: its other members describe the same colour).
fn rgb_members(v: &json::Value, out: &mut Vec<[u8; 3]>) -> Result<(), PaletteTextError> {
    match v {
        json::Value::Object(members) => {
            if let Some((_, rgb)) = members.iter().find(|(name, _)| name == "rgb") {
                let color = rgb.rgb().ok_or(match rgb {
                    json::Value::Array(_) => PaletteTextError::JsonRgbNotThree,
                    _ => PaletteTextError::JsonRgbNotArray,
                })?;
                out.push(color);
                return Ok(());
            }
            for (_, m) in members {
                rgb_members(m, out)?;
            }
        }
        json::Value::Array(items) => {
            for item in items {
                rgb_members(item, out)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Appends the colours under `v` written without `"rgb"` (see [`parse_json`]); `listed`: `v` is an
/// element of an array (or the whole text), where a bare `"rrggbb"` or `[r, g, b]` is a colour
/// (elsewhere `"facade"` may be a name and `[16, 16, 16]` a size).
fn loose_colours(v: &json::Value, listed: bool, out: &mut Vec<[u8; 3]>) {
    match v {
        json::Value::String(s) if s.starts_with('#') || listed => out.extend(parse_hex(s)),
        json::Value::Array(items) => match v.rgb() {
            Some(color) if listed => out.push(color),
            _ => {
                for item in items {
                    loose_colours(item, true, out);
                }
            }
        },
        json::Value::Object(members) => {
            for (name, m) in members {
                if name.starts_with('#') {
                    out.extend(parse_hex(name));
                }
                loose_colours(m, false, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::palette::PaletteEntry;

    /// A two-colour palette: #ff0007 on 3 pixels, #010203 on 1.
    fn two_colours() -> Palette {
        let entry = |rgb, pixels| PaletteEntry {
            centroid: 0,
            rgb,
            exact: [0.0; 3],
            pixels,
        };
        Palette {
            entries: vec![entry([255, 0, 7], 3), entry([1, 2, 3], 1)],
            unused: 0,
            color_entries: Vec::new(),
        }
    }

    #[test]
    fn colors_are_integer_triples_in_palette_order() {
        assert_eq!(colors_text(&two_colours()), "255,0,7\n1,2,3\n");
    }

    #[test]
    fn palette_formats_hold_every_colour() {
        let p = two_colours();
        assert_eq!(hex_text(&p), "#ff0007\n#010203\n");
        let gpl = gpl_text(&p, 2);
        assert!(gpl.starts_with("GIMP Palette\n"));
        assert!(gpl.contains("255   0   7\t#ff0007\n"));
        let json = json_text(&p, 2);
        assert!(json.contains(
            "\"hex\": \"#ff0007\", \"rgb\": [255, 0, 7], \"pixels\": 3, \"share\": 0.750000"
        ));
    }

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
    fn json_rgb_members_come_first_and_damage_is_an_error() {
        // Where "rgb" members exist, they alone are the colours (a "#hex" beside them is the same
        // colour, and a background elsewhere is not one of the palette's).
        let coolors = r##"{"bg": "#ffffff", "c": [{"name": "Red", "hex": "ff0000", "rgb": [255, 0, 0],
            "hsl": [0, 100, 50]}, {"hex": "#0000ff", "rgb": [0, 0, 255]}]}"##;
        assert_eq!(
            parse_palette_text(coolors).unwrap(),
            [[255, 0, 0], [0, 0, 255]]
        );
        assert_eq!(
            parse_palette_text(r#"[{"rgb": "red"}]"#),
            Err(PaletteTextError::JsonRgbNotArray)
        );
        assert_eq!(
            parse_palette_text(r#"[{"rgb": [255, 0.5, 0]}]"#),
            Err(PaletteTextError::JsonRgbNotThree)
        );
        // Cut short: the colours before the cut are not taken as the palette.
        let cut = "{\"colors\": [\n  {\"rgb\": [1, 2, 3]},\n  {\"rgb\": [4, 5";
        let err = parse_palette_text(cut).unwrap_err();
        assert!(
            matches!(err, PaletteTextError::JsonSyntax { line: 3, .. }),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "the JSON is damaged at line 3: expected ',' or ']'"
        );
        assert_eq!(
            parse_palette_text(&"[".repeat(100_000)),
            Err(PaletteTextError::JsonTooDeep)
        );
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
        // Lospec's JSON: hex without '#', in a list (its name is not a colour, even in hex).
        assert_eq!(
            parse_palette_text(r#"{"name": "facade", "colors": ["102030", "405060"]}"#).unwrap(),
            [[16, 32, 48], [64, 80, 96]]
        );
        // A list of [r, g, b] (numpy's tolist()); a size of three numbers is not a colour.
        assert_eq!(
            parse_palette_text(r#"{"size": [16, 16, 16], "p": [[1, 2, 3], [4, 5, 6]]}"#).unwrap(),
            [[1, 2, 3], [4, 5, 6]]
        );
        // A map from hex codes to names.
        assert_eq!(
            parse_palette_text(r##"{"#ff0000": "red", "#00ff00": "green"}"##).unwrap(),
            [[255, 0, 0], [0, 255, 0]]
        );
        // Paint.NET: `;` comments, AARRGGBB.
        assert_eq!(
            parse_palette_text(";paint.net Palette File\n;Colors: 2\nFFFF0000\n8000FF80\n")
                .unwrap(),
            [[255, 0, 0], [0, 255, 128]]
        );
        // JASC: a header, a version, a count, then R G B (an alpha after is dropped).
        assert_eq!(
            parse_palette_text("JASC-PAL\r\n0100\r\n2\r\n255 0 0\r\n0 255 128 255\r\n").unwrap(),
            [[255, 0, 0], [0, 255, 128]]
        );
        assert_eq!(
            parse_palette_text("JASC-PAL\n0100\n3\n255 0 0\n0 255 128\n"),
            Err(PaletteTextError::JascShort { said: 3, found: 2 })
        );
        assert_eq!(
            parse_palette_text("JASC-PAL\n0100\n2\n255 0\n"),
            Err(PaletteTextError::NotJasc {
                line: 4,
                expected: "R G B",
                text: "255 0".into()
            })
        );
        assert!(matches!(
            parse_palette_text("JASC-PAL\n0100\nsixteen\n"),
            Err(PaletteTextError::NotJasc { line: 3, .. })
        ));
        // CSS's short form is a colour, not a comment to pass over.
        assert_eq!(
            parse_palette_text("#ff0000\n#0f8\n# three reds\n#10203080\n#0000ff blue\n").unwrap(),
            [[255, 0, 0], [0, 255, 136], [16, 32, 48], [0, 0, 255]]
        );
        assert!(parse_palette_text("bad\n").is_err());
        // A byte order mark does not spoil the first colour, and lines count from the top.
        assert_eq!(
            parse_palette_text("\u{feff}#ff0000\n0,0,255\n").unwrap(),
            [[255, 0, 0], [0, 0, 255]]
        );
        assert_eq!(
            parse_palette_text("\u{feff}\n\nGIMP Palette\n1 2\n"),
            Err(PaletteTextError::NotGimpColour {
                line: 4,
                text: "1 2".into()
            })
        );
        assert!(matches!(
            parse_palette_text("\u{feff}\n\n[1, 2,\n"),
            Err(PaletteTextError::JsonSyntax { line: 4, .. })
        ));
        assert!(parse_palette_text("1,2\n").is_err());
        assert!(parse_palette_text("256,0,0\n").is_err());
        assert!(parse_palette_text("GIMP Palette\nfoo bar baz\n").is_err());
    }
}
