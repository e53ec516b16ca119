//! A validating JSON scanner that walks one message without recursion and without building a
//! tree. It reads the top-level object's members, hands back the raw text of the ones the
//! envelope needs, and checks everything else for well-formedness (RFC 8259, strictly).
//!
//! Nesting is tracked in a 128-bit stack (one bit per open container: object or array), so
//! the depth limit costs no stack and no memory.

use crate::codec::{DecodeError, SyntaxError};
use crate::limits::MAX_DEPTH;

const _: () = assert!(MAX_DEPTH <= 128, "the nesting stack is a u128");

/// Byte classes for the string fast path: 1 = stop (quote, backslash, control character).
static STRING_STOP: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = true;
        i += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

pub(super) struct Scanner<'a> {
    text: &'a str,
    input: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Self {
            text,
            input: text.as_bytes(),
            pos: 0,
        }
    }

    /// The text from `start` to `end`, which the scanner found at character boundaries.
    pub(super) fn slice(&self, start: usize, end: usize) -> &'a str {
        self.text.get(start..end).unwrap_or_default()
    }

    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    pub(super) fn syntax(&self, kind: SyntaxError) -> DecodeError {
        let kind = if self.pos >= self.input.len() {
            SyntaxError::UnexpectedEnd
        } else {
            kind
        };
        DecodeError::Syntax {
            kind,
            at: u32::try_from(self.pos).unwrap_or(u32::MAX),
        }
    }

    #[inline]
    pub(super) fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    #[inline]
    pub(super) fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.input.len()
    }

    /// Consumes `byte` or fails.
    #[inline]
    pub(super) fn expect(&mut self, byte: u8) -> Result<(), DecodeError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.syntax(SyntaxError::UnexpectedByte))
        }
    }

    /// Reads a string starting at the opening quote. Returns the text between the quotes
    /// (still escaped) and whether it contains an escape.
    pub(super) fn string(&mut self) -> Result<(&'a str, bool), DecodeError> {
        self.expect(b'"')?;
        let start = self.pos;
        let mut escaped = false;
        loop {
            // Fast path: skip ordinary bytes (UTF-8 was validated by the caller).
            while let Some(&b) = self.input.get(self.pos) {
                if STRING_STOP[b as usize] {
                    break;
                }
                self.pos += 1;
            }
            match self.peek() {
                Some(b'"') => {
                    let text = self.slice(start, self.pos);
                    self.pos += 1;
                    return Ok((text, escaped));
                }
                Some(b'\\') => {
                    escaped = true;
                    self.escape()?;
                }
                Some(_) => return Err(self.syntax(SyntaxError::ControlCharacter)),
                None => return Err(self.syntax(SyntaxError::UnexpectedEnd)),
            }
        }
    }

    /// Validates one escape at the cursor (a backslash), pairing surrogates.
    fn escape(&mut self) -> Result<(), DecodeError> {
        match self.input.get(self.pos + 1) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.pos += 2;
                Ok(())
            }
            Some(b'u') => {
                let first = self.hex4_at(self.pos + 2)?;
                match first {
                    0xD800..=0xDBFF => {
                        let low = match self.input.get(self.pos + 6..self.pos + 8) {
                            Some(b"\\u") => Some(self.hex4_at(self.pos + 8)?),
                            _ => None,
                        };
                        match low {
                            Some(0xDC00..=0xDFFF) => {
                                self.pos += 12;
                                Ok(())
                            }
                            _ => Err(self.syntax(SyntaxError::LoneSurrogate)),
                        }
                    }
                    0xDC00..=0xDFFF => Err(self.syntax(SyntaxError::LoneSurrogate)),
                    _ => {
                        self.pos += 6;
                        Ok(())
                    }
                }
            }
            Some(_) => Err(self.syntax(SyntaxError::InvalidEscape)),
            None => Err(self.syntax(SyntaxError::UnexpectedEnd)),
        }
    }

    fn hex4_at(&self, at: usize) -> Result<u32, DecodeError> {
        match self.input.get(at..at + 4) {
            Some(digits) => crate::text::hex4(Some(digits)).ok_or_else(|| DecodeError::Syntax {
                kind: SyntaxError::InvalidEscape,
                at: u32::try_from(self.pos).unwrap_or(u32::MAX),
            }),
            None => Err(DecodeError::Syntax {
                kind: SyntaxError::UnexpectedEnd,
                at: u32::try_from(self.input.len()).unwrap_or(u32::MAX),
            }),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), DecodeError> {
        match self.input.get(self.pos..self.pos + word.len()) {
            Some(found) if found == word => {
                self.pos += word.len();
                Ok(())
            }
            Some(_) => Err(self.syntax(SyntaxError::InvalidLiteral)),
            None => Err(DecodeError::Syntax {
                kind: if word.starts_with(&self.input[self.pos..]) {
                    SyntaxError::UnexpectedEnd
                } else {
                    SyntaxError::InvalidLiteral
                },
                at: u32::try_from(self.pos).unwrap_or(u32::MAX),
            }),
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Result<(), DecodeError> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.syntax(SyntaxError::InvalidNumber)),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.syntax(SyntaxError::InvalidNumber));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.syntax(SyntaxError::InvalidNumber));
            }
            self.digits();
        }
        Ok(())
    }

    #[inline]
    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    /// Skips one value (after any whitespace), validating it. `depth` is the number of
    /// containers already open around it.
    pub(super) fn value(&mut self, depth: usize) -> Result<(), DecodeError> {
        // One bit per open container inside this value: 1 = object, 0 = array.
        let mut stack: u128 = 0;
        let mut open: usize = 0;
        loop {
            // Expecting a value.
            self.skip_ws();
            match self.peek() {
                Some(b'{') | Some(b'[') => {
                    let is_object = self.peek() == Some(b'{');
                    if depth + open + 1 > MAX_DEPTH {
                        return Err(DecodeError::TooDeep);
                    }
                    self.pos += 1;
                    stack = stack << 1 | u128::from(is_object);
                    open += 1;
                    self.skip_ws();
                    let close = if is_object { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.pos += 1;
                        stack >>= 1;
                        open -= 1;
                    } else {
                        if is_object {
                            self.member_key()?;
                        }
                        continue;
                    }
                }
                Some(b'"') => {
                    self.string()?;
                }
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'n') => self.literal(b"null")?,
                Some(b'-' | b'0'..=b'9') => self.number()?,
                Some(b'N' | b'I') => return Err(self.syntax(SyntaxError::InvalidNumber)),
                _ => return Err(self.syntax(SyntaxError::UnexpectedByte)),
            }
            // After a value: close containers or move to the next element.
            loop {
                if open == 0 {
                    return Ok(());
                }
                self.skip_ws();
                let in_object = stack & 1 == 1;
                match (self.peek(), in_object) {
                    (Some(b','), _) => {
                        self.pos += 1;
                        if in_object {
                            self.skip_ws();
                            self.member_key()?;
                        }
                        break;
                    }
                    (Some(b'}'), true) | (Some(b']'), false) => {
                        self.pos += 1;
                        stack >>= 1;
                        open -= 1;
                    }
                    _ => return Err(self.syntax(SyntaxError::UnexpectedByte)),
                }
            }
        }
    }

    /// `"key" :` inside a nested object.
    fn member_key(&mut self) -> Result<(), DecodeError> {
        self.string()?;
        self.skip_ws();
        self.expect(b':')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str) -> Result<(), DecodeError> {
        let mut s = Scanner::new(input);
        s.value(0)?;
        s.skip_ws();
        if s.at_end() {
            Ok(())
        } else {
            Err(DecodeError::TrailingData)
        }
    }

    #[test]
    fn accepts_rfc8259_values() {
        for ok in [
            "0",
            "-0",
            "1.5e-7",
            "1E2",
            "-12.0e+3",
            "12345678901234567890",
            "true",
            "false",
            "null",
            "\"\"",
            "\"a\\u00e9\\ud83d\\ude00\"",
            "[]",
            "{}",
            " [ 1 , { \"a\" : [ ] } ] ",
            "{\"a\":{\"b\":{\"c\":[null]}}}",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_what_rfc8259_refuses() {
        use SyntaxError::*;
        let cases: &[(&str, SyntaxError)] = &[
            ("", UnexpectedEnd),
            ("NaN", InvalidNumber),
            ("Infinity", InvalidNumber),
            ("-Infinity", InvalidNumber),
            ("01", UnexpectedByte), // a value followed by more: caught as trailing below
            ("1.", UnexpectedEnd),
            ("1.e3", InvalidNumber),
            ("1e", UnexpectedEnd),
            ("+1", UnexpectedByte),
            ("tru", UnexpectedEnd),
            ("trUe", InvalidLiteral),
            ("\"a\u{1}\"", ControlCharacter),
            ("\"\\x\"", InvalidEscape),
            ("\"\\u12g4\"", InvalidEscape),
            ("\"\\ud800\"", LoneSurrogate),
            ("\"\\udc00\"", LoneSurrogate),
            ("\"\\ud800\\u0041\"", LoneSurrogate),
            ("[1,]", UnexpectedByte),
            ("[1 2]", UnexpectedByte),
            ("{\"a\" 1}", UnexpectedByte),
            ("{\"a\":1,}", UnexpectedByte),
            ("{1:1}", UnexpectedByte),
            ("[}", UnexpectedByte),
            ("{]", UnexpectedByte),
            ("[[", UnexpectedEnd),
        ];
        for &(input, kind) in cases {
            match check(input) {
                Err(DecodeError::Syntax { kind: found, .. }) => {
                    assert_eq!(found, kind, "{input:?}");
                }
                Err(DecodeError::TrailingData) if input == "01" => {}
                other => panic!("{input:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn depth_limit_without_recursion() {
        let deep_ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert_eq!(check(&deep_ok), Ok(()));
        let too_deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(check(&too_deep), Err(DecodeError::TooDeep));
        // Far deeper than any stack could recurse: still a clean error.
        let huge = "[".repeat(1_000_000);
        assert_eq!(check(&huge), Err(DecodeError::TooDeep));
    }
}
