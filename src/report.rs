//! The text of the small output files: colours, loss and the details of a run.

use crate::palette::Palette;

/// `colors_k{K}.txt`: one `R,G,B` line per used colour, most-used first.
pub fn colors_text(palette: &Palette) -> String {
    palette
        .entries
        .iter()
        .map(|e| format!("{},{},{}\n", e.rgb[0], e.rgb[1], e.rgb[2]))
        .collect()
}

/// A palette file format beyond `colors_k{K}.txt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum PaletteFormat {
    /// `colors_k{K}.hex`: one `#rrggbb` per line.
    Hex,
    /// `colors_k{K}.gpl`: a GIMP palette.
    Gpl,
    /// `colors_k{K}.json`: hex, RGB, pixels and share of pixels per colour.
    Json,
}

impl PaletteFormat {
    /// The file name extension (and the name on the command line).
    pub fn extension(self) -> &'static str {
        match self {
            Self::Hex => "hex",
            Self::Gpl => "gpl",
            Self::Json => "json",
        }
    }

    /// The file's text for `palette` of a run with `k` centroids.
    pub fn text(self, palette: &Palette, k: usize) -> String {
        match self {
            Self::Hex => hex_text(palette),
            Self::Gpl => gpl_text(palette, k),
            Self::Json => json_text(palette, k),
        }
    }
}

/// `#rrggbb`, lowercase.
pub fn hex(rgb: [u8; 3]) -> String {
    format!("#{}", hex::encode(rgb))
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

/// `loss_k{K}.txt`: the loss with six decimals and a newline.
pub fn loss_text(loss: f64) -> String {
    format!("{loss:.6}\n")
}

/// Reads a loss written by [`loss_text`].
pub fn parse_loss(text: &str) -> Option<f64> {
    // What `loss_text` writes: digits, a point, six decimals. Anything else (a sign, an exponent,
    // 309 digits, `inf`) did not come from a k_means run and is refused.
    let text = text.strip_suffix('\n').unwrap_or(text);
    let (whole, decimals) = text.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || whole.len() > 6 || decimals.len() != 6 || !digits(decimals) {
        return None;
    }
    text.parse()
        .ok()
        .filter(|l: &f64| l.is_finite() && *l >= 0.0)
}

/// `details.txt`: a header naming the tool, `name: value` lines, then the lines the run printed.
pub fn details_text(tool: &str, entries: &[(&str, String)], printed: &[String]) -> String {
    let mut out = format!("{tool} (kquant {})\n", env!("CARGO_PKG_VERSION"));
    for (name, value) in entries {
        out.push_str(&format!("{name}: {value}\n"));
    }
    out.push_str("\noutput:\n");
    for line in printed {
        out.push_str(line);
        out.push('\n');
    }
    out
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

    #[test]
    fn loss_round_trips_with_six_decimals() {
        assert_eq!(loss_text(10.123_456_78), "10.123457\n");
        assert_eq!(parse_loss("10.123457\n"), Some(10.123457));
        assert_eq!(parse_loss("nope"), None);
        assert_eq!(parse_loss("0.000000"), Some(0.0));
        for bad in [
            "-1.000000\n",
            "1e308",
            "inf",
            "NaN",
            " 1.000000",
            "1.0",
            "1234567.000000",
        ] {
            assert_eq!(parse_loss(bad), None, "{bad}");
        }
        assert_eq!(parse_loss(&format!("{}.000000", "9".repeat(309))), None);
    }

    #[test]
    fn details_hold_entries_then_output_lines() {
        let t = details_text("k_means", &[("k", "3".into())], &["a".into()]);
        assert!(t.starts_with("k_means (kquant "));
        assert!(t.contains("\nk: 3\n\noutput:\na\n"));
    }
}
