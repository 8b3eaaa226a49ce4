//! The text of the small output files: colours, loss and the details of a run.

use super::printable;

/// The ending of a plural noun after the count `n`: `"s"`, or nothing for one.
pub fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
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

/// `details.txt`: a header naming the tool, `name: value` lines, then the lines the run printed,
/// each one line whatever the file names in it hold ([`mod@super::printable`]).
pub fn details_text(tool: &str, entries: &[(&str, String)], printed: &[String]) -> String {
    let mut out = format!("{tool} (kquant {})\n", env!("CARGO_PKG_VERSION"));
    for (name, value) in entries {
        out.push_str(&format!("{name}: {}\n", printable(value)));
    }
    out.push_str("\noutput:\n");
    for line in printed {
        out.push_str(&printable(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn details_keep_one_line_per_entry_whatever_a_name_holds() {
        let t = details_text(
            "k_means",
            &[("image", "a\nseed: 7\u{1b}[2J.jpg".into())],
            &["b\nc".into()],
        );
        assert!(t.contains("\nimage: a\\nseed: 7\\u{1b}[2J.jpg\n"), "{t}");
        assert!(t.ends_with("\noutput:\nb\\nc\n"), "{t}");
    }
}
