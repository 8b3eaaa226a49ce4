//! A strict JSON reader, as much as palettes need: the whole text is parsed (so a damaged file is
//! an error naming its line, not a shorter palette), nesting is limited (a file of `[[[[...` cannot
//! exhaust the stack), and numbers are kept as their text (a colour channel is an integer 0-255,
//! told from its digits, never rounded from a float).

use super::PaletteTextError;

/// Nesting deeper than this is refused. Palettes nest two or three levels.
pub(super) const MAX_DEPTH: usize = 64;

/// A JSON value. Object members keep their order.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Null,
    Bool(bool),
    /// The number's text as written (valid JSON number syntax).
    Number(String),
    String(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

impl Value {
    /// An integer 0..=255 written as plain digits (`7`, `255`; not `7.0`, `1e2` or `-0`).
    pub(super) fn channel(&self) -> Option<u8> {
        match self {
            Value::Number(text) if text.bytes().all(|b| b.is_ascii_digit()) => text.parse().ok(),
            _ => None,
        }
    }

    /// `[r, g, b]`: an array of three channels.
    pub(super) fn rgb(&self) -> Option<[u8; 3]> {
        match self {
            Value::Array(items) if items.len() == 3 => Some([
                items[0].channel()?,
                items[1].channel()?,
                items[2].channel()?,
            ]),
            _ => None,
        }
    }
}

/// Parses `text` as one JSON value (surrounding white space allowed, nothing else).
pub(super) fn parse(text: &str) -> Result<Value, PaletteTextError> {
    let mut p = Parser {
        bytes: text.as_bytes(),
        at: 0,
    };
    p.skip_space();
    let value = p.value(0)?;
    p.skip_space();
    if p.at < p.bytes.len() {
        return Err(p.error("the end of the text after the value"));
    }
    Ok(value)
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn error(&self, expected: &'static str) -> PaletteTextError {
        let line = 1 + self.bytes[..self.at.min(self.bytes.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        PaletteTextError::JsonSyntax { line, expected }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, PaletteTextError> {
        match self.peek() {
            Some(b'{' | b'[') if depth >= MAX_DEPTH => Err(PaletteTextError::JsonTooDeep),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.word("true", Value::Bool(true)),
            Some(b'f') => self.word("false", Value::Bool(false)),
            Some(b'n') => self.word("null", Value::Null),
            _ => Err(self.error("a value")),
        }
    }

    fn word(&mut self, word: &'static str, value: Value) -> Result<Value, PaletteTextError> {
        if self.bytes[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(self.error("a value"))
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, PaletteTextError> {
        self.at += 1;
        let mut members = Vec::new();
        self.skip_space();
        if self.eat(b'}') {
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_space();
            if self.peek() != Some(b'"') {
                return Err(self.error("a quoted name"));
            }
            let name = self.string()?;
            self.skip_space();
            if !self.eat(b':') {
                return Err(self.error("':' after a name"));
            }
            self.skip_space();
            members.push((name, self.value(depth + 1)?));
            self.skip_space();
            if self.eat(b'}') {
                return Ok(Value::Object(members));
            }
            if !self.eat(b',') {
                return Err(self.error("',' or '}'"));
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, PaletteTextError> {
        self.at += 1;
        let mut items = Vec::new();
        self.skip_space();
        if self.eat(b']') {
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_space();
            items.push(self.value(depth + 1)?);
            self.skip_space();
            if self.eat(b']') {
                return Ok(Value::Array(items));
            }
            if !self.eat(b',') {
                return Err(self.error("',' or ']'"));
            }
        }
    }

    fn digits(&mut self) -> usize {
        let from = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        self.at - from
    }

    fn number(&mut self) -> Result<Value, PaletteTextError> {
        let from = self.at;
        self.eat(b'-');
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.error("a digit")),
        }
        if self.eat(b'.') && self.digits() == 0 {
            return Err(self.error("a digit after '.'"));
        }
        if self.eat(b'e') || self.eat(b'E') {
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if self.digits() == 0 {
                return Err(self.error("a digit in the exponent"));
            }
        }
        // Only ASCII was consumed, so this is a char boundary.
        let text = std::str::from_utf8(&self.bytes[from..self.at]).unwrap_or_default();
        Ok(Value::Number(text.to_string()))
    }

    fn hex4(&mut self) -> Result<u32, PaletteTextError> {
        let digits = self
            .bytes
            .get(self.at..self.at + 4)
            .filter(|d| d.iter().all(u8::is_ascii_hexdigit))
            .ok_or_else(|| self.error("four hex digits after '\\u'"))?;
        self.at += 4;
        // Four ASCII hex digits: valid UTF-8 and a valid number.
        Ok(u32::from_str_radix(std::str::from_utf8(digits).unwrap_or("0"), 16).unwrap_or(0))
    }

    fn string(&mut self) -> Result<String, PaletteTextError> {
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                return Err(self.error("a closing '\"'"));
            };
            self.at += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let Some(e) = self.peek() else {
                        return Err(self.error("an escape after '\\'"));
                    };
                    self.at += 1;
                    let c = match e {
                        b'"' | b'\\' | b'/' => char::from(e),
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let mut code = self.hex4()?;
                            // A surrogate pair is one character; a lone surrogate is none.
                            if (0xd800..0xdc00).contains(&code)
                                && self.bytes[self.at..].starts_with(b"\\u")
                            {
                                self.at += 2;
                                let low = self.hex4()?;
                                if (0xdc00..0xe000).contains(&low) {
                                    code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
                                }
                            }
                            char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER)
                        }
                        _ => return Err(self.error("a valid escape after '\\'")),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                0..0x20 => {
                    self.at -= 1;
                    return Err(self.error("no control character inside a string"));
                }
                _ => out.push(b),
            }
        }
        // The input is a &str and escapes add whole characters, so this is UTF-8.
        Ok(String::from_utf8(out).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(s: &str) -> Value {
        Value::Number(s.to_string())
    }

    #[test]
    fn values_of_every_kind_parse() {
        let v = parse(r#" {"a": [1, -2.5e3, true, false, null], "b\u00e9\n": "x\"\\\/\u0041"} "#)
            .unwrap();
        assert_eq!(
            v,
            Value::Object(vec![
                (
                    "a".into(),
                    Value::Array(vec![
                        num("1"),
                        num("-2.5e3"),
                        Value::Bool(true),
                        Value::Bool(false),
                        Value::Null
                    ])
                ),
                ("bé\n".into(), Value::String("x\"\\/A".into())),
            ])
        );
        assert_eq!(
            parse(r#""\ud83c\udfa8""#).unwrap(),
            Value::String("🎨".into())
        );
    }

    #[test]
    fn damaged_json_names_its_line() {
        for (text, line) in [
            ("[1, 2,\n 3", 2),
            ("{\"a\" 1}", 1),
            ("[1,]", 1),
            ("[01]", 1),
            ("[1.]", 1),
            ("\n\n[\"tab\there\"]", 3),
            ("[1] x", 1),
            ("[\"\\q\"]", 1),
            ("{\"a\": tru}", 1),
            ("", 1),
        ] {
            match parse(text) {
                Err(PaletteTextError::JsonSyntax { line: l, .. }) => {
                    assert_eq!(l, line, "{text:?}")
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn deep_nesting_is_refused_without_recursing_further() {
        let deep = "[".repeat(1_000_000);
        assert_eq!(parse(&deep), Err(PaletteTextError::JsonTooDeep));
        let fits = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(&fits).is_ok());
    }

    #[test]
    fn channels_are_plain_integers_up_to_255() {
        let rgb = |s: &str| parse(s).unwrap().rgb();
        assert_eq!(rgb("[0, 128, 255]"), Some([0, 128, 255]));
        for bad in [
            "[0, 128, 256]",
            "[0, 1.0, 2]",
            "[0, 1e2, 2]",
            "[-0, 1, 2]",
            "[1, 2]",
        ] {
            assert_eq!(rgb(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 5000, failure_persistence: None, ..Default::default() })]
        #[test]
        fn any_text_parses_or_is_refused_without_panicking(
            text in "[\\[\\]{}\",: 0-9a-fA-F#eE.+\\-\\\\/untrl\n\u{e9}]{0,60}",
        ) {
            let _ = parse(&text);
            let _ = crate::parse_palette_text(&format!("[{text}"));
        }

        #[test]
        fn a_palette_cut_anywhere_is_an_error_not_a_shorter_palette(
            colors in proptest::collection::vec(proptest::prelude::any::<[u8; 3]>(), 1..6),
            shape in 0usize..3,
            cut in proptest::prelude::any::<proptest::sample::Index>(),
        ) {
            let items: Vec<String> = colors
                .iter()
                .map(|c| match shape {
                    0 => format!("{{\"rgb\": [{}, {}, {}]}}", c[0], c[1], c[2]),
                    1 => format!("\"{:02x}{:02x}{:02x}\"", c[0], c[1], c[2]),
                    _ => format!("[{},{},{}]", c[0], c[1], c[2]),
                })
                .collect();
            let text = format!("{{\"colors\": [\n{}\n]}}", items.join(",\n"));
            proptest::prop_assert_eq!(crate::parse_palette_text(&text).unwrap(), colors);
            let at = 1 + cut.index(text.len() - 1);
            let result = crate::parse_palette_text(&text[..at]);
            proptest::prop_assert!(result.is_err(), "{:?} gave {:?}", &text[..at], result);
        }
    }
}
