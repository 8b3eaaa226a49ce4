//! Text made safe to show: a file's name comes from whoever made the file, and printed as it is,
//! a line break in it would split one message into two, and a terminal would obey the escape
//! sequences in it (colours, a new window title, a cursor moved over earlier lines).

use std::borrow::Cow;

/// `text` with every control character (C0, DEL, C1) and every bidirectional formatting character
/// written as an escape (`\n`, `\t`, `\r`, `\u{1b}`, `\u{202e}`), so it shows as one line and as
/// what it is; text without them is returned as it is.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            // `\n`, `\r`, `\t` as in Rust strings; anything else as `\u{..}`.
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Writes each of `lines` on a line of its own, [`printable`]: what both binaries print on
/// standard output goes through here.
pub fn write_lines(out: &mut impl std::io::Write, lines: &[String]) -> std::io::Result<()> {
    for line in lines {
        writeln!(out, "{}", printable(line))?;
    }
    Ok(())
}

/// Control characters, and the characters that reorder text on screen (the "Trojan Source"
/// ones: a name could show as another).
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_untouched() {
        let text = "photo d'été 'x.jpg': 16 colours, ~50%";
        assert!(matches!(printable(text), Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn lines_are_written_escaped_one_each() {
        let mut out = Vec::new();
        write_lines(&mut out, &["a\nb".into(), "c".into()]).unwrap();
        assert_eq!(out, b"a\\nb\nc\n");
    }

    #[test]
    fn controls_and_reordering_characters_are_escaped() {
        assert_eq!(printable("a\nb\r\tc"), "a\\nb\\r\\tc");
        assert_eq!(
            printable("\u{1b}[31mred\u{1b}]0;title\u{7}"),
            "\\u{1b}[31mred\\u{1b}]0;title\\u{7}"
        );
        assert_eq!(printable("\u{7f}\u{9b}"), "\\u{7f}\\u{9b}");
        assert_eq!(printable("gpj.\u{202e}exe"), "gpj.\\u{202e}exe");
        assert_eq!(printable("\u{2066}x\u{2069}"), "\\u{2066}x\\u{2069}");
    }
}
