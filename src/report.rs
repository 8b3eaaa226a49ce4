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

/// `loss_k{K}.txt`: the loss with six decimals and a newline.
pub fn loss_text(loss: f64) -> String {
    format!("{loss:.6}\n")
}

/// Reads a loss written by [`loss_text`].
pub fn parse_loss(text: &str) -> Option<f64> {
    text.trim().parse().ok().filter(|l: &f64| l.is_finite())
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

    #[test]
    fn colors_are_integer_triples_in_palette_order() {
        let entry = |rgb, pixels| PaletteEntry {
            centroid: 0,
            rgb,
            exact: [0.0; 3],
            pixels,
        };
        let p = Palette {
            entries: vec![entry([255, 0, 7], 9), entry([1, 2, 3], 1)],
            unused: 0,
        };
        assert_eq!(colors_text(&p), "255,0,7\n1,2,3\n");
    }

    #[test]
    fn loss_round_trips_with_six_decimals() {
        assert_eq!(loss_text(10.123_456_78), "10.123457\n");
        assert_eq!(parse_loss("10.123457\n"), Some(10.123457));
        assert_eq!(parse_loss("nope"), None);
    }

    #[test]
    fn details_hold_entries_then_output_lines() {
        let t = details_text("k_means", &[("k", "3".into())], &["a".into()]);
        assert!(t.starts_with("k_means (kquant "));
        assert!(t.contains("\nk: 3\n\noutput:\na\n"));
    }
}
