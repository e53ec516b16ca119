//! Strings borrowed from a frame.
//!
//! A JSON string member may contain escapes (`"caf\u00e9"`). Unescaping it would need a
//! buffer, so [`Str`] keeps the text exactly as it appeared between the quotes, already
//! validated, and unescapes lazily: [`Str::chars`] yields the decoded characters and
//! comparisons, lengths and re-encoding all work on those. Strings that contain no escape
//! (almost all ids and names) are plain `&str` and cost nothing.

use core::fmt;

/// A string member of a frame: either plain text, or the still-escaped body of a JSON string
/// that the JSON scanner has validated (escapes well-formed, surrogates paired, no raw
/// control characters).
///
/// Equality, ordering-free comparisons with `&str`, [`len`](Self::len) and `Display` all see
/// the unescaped text.
#[derive(Clone, Copy)]
pub struct Str<'a> {
    raw: &'a str,
    escaped: bool,
}

impl<'a> Str<'a> {
    /// A plain string (no escapes to undo).
    pub const fn new(text: &'a str) -> Self {
        Self {
            raw: text,
            escaped: false,
        }
    }

    /// The body of a JSON string as it appeared between its quotes. `escaped` says whether it
    /// contains a backslash. The caller must have validated it.
    #[cfg(any(feature = "json", test))]
    pub(crate) const fn from_json(raw: &'a str, escaped: bool) -> Self {
        Self { raw, escaped }
    }

    /// The text, when it needs no unescaping.
    pub const fn as_plain(&self) -> Option<&'a str> {
        if self.is_escaped() {
            None
        } else {
            Some(self.raw)
        }
    }

    /// Whether the text still contains JSON escapes. Always false without the `json`
    /// feature: only the JSON decoder makes escaped strings, so the unescaping code compiles
    /// away in postcard-only firmware.
    pub const fn is_escaped(&self) -> bool {
        cfg!(feature = "json") && self.escaped
    }

    /// The text as it was on the wire: JSON escapes intact when [`is_escaped`](Self::is_escaped).
    pub const fn raw(&self) -> &'a str {
        self.raw
    }

    /// The unescaped characters.
    pub fn chars(&self) -> Chars<'a> {
        Chars {
            rest: self.raw,
            escaped: self.is_escaped(),
        }
    }

    /// Length of the unescaped text in bytes of UTF-8.
    #[inline]
    pub fn len(&self) -> usize {
        if self.is_escaped() {
            self.unescaped_len()
        } else {
            self.raw.len()
        }
    }

    fn unescaped_len(&self) -> usize {
        self.segments()
            .map(|segment| segment.as_bytes(&mut [0; 4]).len())
            .sum()
    }

    /// Whether the unescaped text is `other`'s bytes (segment by segment: no character
    /// iteration, less code on firmware).
    fn unescaped_eq(&self, other: &[u8]) -> bool {
        let mut rest = other;
        for segment in self.segments() {
            match rest.strip_prefix(segment.as_bytes(&mut [0; 4])) {
                Some(tail) => rest = tail,
                None => return false,
            }
        }
        rest.is_empty()
    }

    /// Whether the unescaped text is empty.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Copies the unescaped text into `out`, returning the written prefix, or `None` when it
    /// does not fit.
    pub fn unescape_into<'o>(&self, out: &'o mut [u8]) -> Option<&'o str> {
        let mut len = 0;
        let mut buf = [0; 4];
        for segment in self.segments() {
            let bytes = segment.as_bytes(&mut buf);
            let end = len + bytes.len();
            out.get_mut(len..end)?.copy_from_slice(bytes);
            len = end;
        }
        core::str::from_utf8(out.get(..len)?).ok()
    }

    /// Copies the unescaped text into a fixed-capacity string, or `None` when it is longer
    /// than `N` bytes.
    pub fn to_heapless<const N: usize>(&self) -> Option<heapless::String<N>> {
        self.to_heapless_with_len()
    }

    /// [`to_heapless`](Self::to_heapless) with the string's length stored as an `L`.
    pub(crate) fn to_heapless_with_len<const N: usize, L: heapless::LenType>(
        self,
    ) -> Option<heapless::String<N, L>> {
        let mut out = heapless::String::new();
        for segment in self.segments() {
            out.push_str(segment.as_str(&mut [0; 4])).ok()?;
        }
        Some(out)
    }

    /// The unescaped text as runs of plain text and single decoded characters. Runs between
    /// escapes are borrowed as they are, which makes re-encoding cheap.
    pub(crate) fn segments(&self) -> Segments<'a> {
        Segments {
            rest: self.raw,
            escaped: self.is_escaped(),
        }
    }
}

/// One piece of unescaped text: a borrowed run, or one character that was escaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Segment<'a> {
    Text(&'a str),
    Char(char),
}

impl<'a> Segment<'a> {
    /// The segment as text (a decoded character is written into `buf`).
    pub(crate) fn as_str<'b>(&self, buf: &'b mut [u8; 4]) -> &'b str
    where
        'a: 'b,
    {
        match *self {
            Segment::Text(text) => text,
            Segment::Char(c) => c.encode_utf8(buf),
        }
    }

    pub(crate) fn as_bytes<'b>(&self, buf: &'b mut [u8; 4]) -> &'b [u8]
    where
        'a: 'b,
    {
        self.as_str(buf).as_bytes()
    }
}

/// Iterator over the [`Segment`]s of a [`Str`].
#[derive(Clone)]
pub(crate) struct Segments<'a> {
    rest: &'a str,
    escaped: bool,
}

impl<'a> Iterator for Segments<'a> {
    type Item = Segment<'a>;

    fn next(&mut self) -> Option<Segment<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        if !(cfg!(feature = "json") && self.escaped) {
            let text = self.rest;
            self.rest = "";
            return Some(Segment::Text(text));
        }
        match self.rest.bytes().position(|b| b == b'\\') {
            Some(0) => {
                let (c, used) = decode_escape(self.rest.as_bytes());
                self.rest = self.rest.get(used..).unwrap_or("");
                Some(Segment::Char(c))
            }
            Some(n) => {
                // `n` is the index of an ASCII byte: always a boundary.
                let (text, rest) = self.rest.split_at_checked(n).unwrap_or((self.rest, ""));
                self.rest = rest;
                Some(Segment::Text(text))
            }
            None => {
                let text = self.rest;
                self.rest = "";
                Some(Segment::Text(text))
            }
        }
    }
}

/// Iterator over the unescaped characters of a [`Str`].
#[derive(Clone)]
pub struct Chars<'a> {
    rest: &'a str,
    escaped: bool,
}

impl Iterator for Chars<'_> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        let bytes = self.rest.as_bytes();
        if cfg!(feature = "json") && self.escaped && bytes.first() == Some(&b'\\') {
            let (c, used) = decode_escape(bytes);
            self.rest = self.rest.get(used..).unwrap_or("");
            return Some(c);
        }
        let mut chars = self.rest.chars();
        let c = chars.next()?;
        self.rest = chars.as_str();
        Some(c)
    }
}

/// Decodes the escape at the start of `bytes` (which starts with a backslash): the character
/// and the number of bytes used. Input validated by the scanner never hits the fallbacks;
/// anything else yields U+FFFD rather than a panic.
fn decode_escape(bytes: &[u8]) -> (char, usize) {
    let simple = match bytes.get(1) {
        Some(b'"') => '"',
        Some(b'\\') => '\\',
        Some(b'/') => '/',
        Some(b'b') => '\u{8}',
        Some(b'f') => '\u{c}',
        Some(b'n') => '\n',
        Some(b'r') => '\r',
        Some(b't') => '\t',
        Some(b'u') => return decode_unicode_escape(bytes),
        _ => return (char::REPLACEMENT_CHARACTER, bytes.len().min(2)),
    };
    (simple, 2)
}

fn decode_unicode_escape(bytes: &[u8]) -> (char, usize) {
    let Some(first) = hex4(bytes.get(2..6)) else {
        return (char::REPLACEMENT_CHARACTER, bytes.len().min(6));
    };
    if (0xD800..0xDC00).contains(&first) {
        let low = match bytes.get(6..8) {
            Some(b"\\u") => hex4(bytes.get(8..12)),
            _ => None,
        };
        if let Some(low @ 0xDC00..0xE000) = low {
            let code = 0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00);
            return (
                char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER),
                12,
            );
        }
        return (char::REPLACEMENT_CHARACTER, 6);
    }
    (
        char::from_u32(first).unwrap_or(char::REPLACEMENT_CHARACTER),
        6,
    )
}

/// Parses four hex digits.
pub(crate) fn hex4(digits: Option<&[u8]>) -> Option<u32> {
    let digits = digits?;
    if digits.len() != 4 {
        return None;
    }
    digits
        .iter()
        .try_fold(0u32, |acc, &d| Some(acc << 4 | (d as char).to_digit(16)?))
}

impl PartialEq for Str<'_> {
    fn eq(&self, other: &Self) -> bool {
        if !self.is_escaped() && !other.is_escaped() {
            return self.raw == other.raw;
        }
        self.chars().eq(other.chars())
    }
}

impl Eq for Str<'_> {}

impl PartialEq<str> for Str<'_> {
    fn eq(&self, other: &str) -> bool {
        if self.is_escaped() {
            self.unescaped_eq(other.as_bytes())
        } else {
            self.raw == other
        }
    }
}

impl PartialEq<&str> for Str<'_> {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

impl fmt::Display for Str<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.is_escaped() {
            return f.write_str(self.raw);
        }
        for segment in self.segments() {
            match segment {
                Segment::Text(text) => f.write_str(text)?,
                Segment::Char(c) => fmt::Write::write_char(f, c)?,
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Str<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for c in self.chars() {
            fmt::Display::fmt(&c.escape_debug(), f)?;
        }
        f.write_str("\"")
    }
}

impl<'a> From<&'a str> for Str<'a> {
    fn from(text: &'a str) -> Self {
        Self::new(text)
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Str<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        // The raw form: defmt cannot format an iterator of chars, and escapes are readable.
        defmt::write!(f, "{=str}", self.raw);
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Chars<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "Chars({=str})", self.rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    fn collect(s: Str<'_>) -> String {
        s.chars().collect()
    }

    #[test]
    fn plain_text_is_borrowed() {
        let s = Str::new("héllo");
        assert_eq!(s.as_plain(), Some("héllo"));
        assert_eq!(s.len(), 6);
        assert_eq!(s, "héllo");
    }

    #[test]
    #[cfg(feature = "json")]
    fn escapes_decode_lazily() {
        let s = Str::from_json(r#"a\"b\\c\/d\b\f\n\r\te\u00e9\ud83d\ude00"#, true);
        assert_eq!(collect(s), "a\"b\\c/d\u{8}\u{c}\n\r\teé😀");
        assert_eq!(s.len(), collect(s).len());
        assert_eq!(s, "a\"b\\c/d\u{8}\u{c}\n\r\teé😀");
        assert_ne!(s, "a\"b\\c/d");
        assert_eq!(s.as_plain(), None);
    }

    #[test]
    #[cfg(feature = "json")]
    fn escaped_and_plain_compare_by_content() {
        assert_eq!(Str::from_json(r"\u0069d", true), Str::new("id"));
        assert_ne!(Str::from_json(r"\u0069d", true), Str::new("ix"));
    }

    #[test]
    #[cfg(feature = "json")]
    fn unescape_into_fits_or_refuses() {
        let s = Str::from_json(r"caf\u00e9", true);
        let mut buf = [0u8; 5];
        assert_eq!(s.unescape_into(&mut buf), Some("café"));
        let mut small = [0u8; 4];
        assert_eq!(s.unescape_into(&mut small), None);
        assert_eq!(s.to_heapless::<5>().as_deref(), Some("café"));
        assert_eq!(s.to_heapless::<4>(), None);
    }

    #[test]
    #[cfg(feature = "json")]
    fn invalid_escapes_never_panic() {
        for raw in [r"\", r"\u12", r"\ud800", r"\ud800\u0041", r"\x", r"\uzzzz"] {
            let s = Str::from_json(raw, true);
            assert!(collect(s).contains(char::REPLACEMENT_CHARACTER), "{raw}");
        }
    }
}
