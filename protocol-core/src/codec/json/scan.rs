//! A validating JSON scanner that walks one message without recursion and without building a
//! tree. It reads the top-level object's members, hands back the raw bytes of the ones the
//! envelope needs, and checks everything else for well-formedness (RFC 8259, strictly).
//!
//! Nesting is tracked in a 128-bit stack (one bit per open container: object or array), so
//! the depth limit costs no recursion and no memory.
//!
//! The scanner reads bytes and checks UTF-8 only where JSON allows anything but ASCII:
//! inside strings. Everywhere else it accepts ASCII bytes only; a string that holds non-ASCII
//! bytes is checked as a whole with the standard library's UTF-8 check. A message the scanner
//! reads to its end is therefore UTF-8. Plain
//! string text is skipped a machine word at a time (SWAR: eight bytes per step on 64-bit
//! targets, four on 32-bit ones).
//!
//! Speed-only code applies on hosted targets: on bare-metal targets (firmware: short
//! messages, flash counted) the compiler decides what to inline and plain string text is
//! skipped byte by byte, which saves about 2 KiB of flash.

use crate::codec::{DecodeError, SyntaxError};
use crate::limits::MAX_DEPTH;

const _: () = assert!(MAX_DEPTH <= 128, "the nesting stack is a u128");

/// Open containers, innermost last: one bit each, 1 for an object, 0 for an array.
struct Nesting {
    bits: u128,
    open: usize,
}

impl Nesting {
    /// Opens a container; `false` when that would pass [`MAX_DEPTH`] (with `outer` more
    /// around this value).
    #[inline]
    fn push(&mut self, is_object: bool, outer: usize) -> bool {
        if outer + self.open + 1 > MAX_DEPTH {
            return false;
        }
        self.bits = self.bits << 1 | u128::from(is_object);
        self.open += 1;
        true
    }

    #[inline]
    fn pop(&mut self) {
        self.bits >>= 1;
        self.open = self.open.saturating_sub(1);
    }

    /// Whether the innermost open container is an object.
    #[inline]
    fn in_object(&self) -> bool {
        self.bits & 1 == 1
    }
}

/// The machine word the SWAR steps use: eight bytes on 64-bit targets, four on 32-bit ones
/// (where 64-bit arithmetic would take two registers and twice the code).
type Word = usize;
/// Bytes per [`Word`].
const WORD_LEN: usize = core::mem::size_of::<Word>();
/// `0x01` in every byte lane.
const LANES: Word = Word::MAX / 0xFF;
/// The high bit of every byte lane.
const HIGH_BITS: Word = LANES * 0x80;

/// Marks, with the lane's high bit, the bytes of `word` that end a run of plain string text:
/// `"`, `\`, a control character (below 0x20) and any byte of a non-ASCII character (0x80
/// and above). The lowest marked lane is exact; a lane above it may be marked by a borrow, so
/// only the lowest one is used.
#[cfg_attr(not(target_os = "none"), inline(always))]
const fn stop_lanes(word: Word) -> Word {
    let quote = word ^ (LANES * b'"' as Word);
    let backslash = word ^ (LANES * b'\\' as Word);
    let is_quote = quote.wrapping_sub(LANES) & !quote;
    let is_backslash = backslash.wrapping_sub(LANES) & !backslash;
    let is_control = word.wrapping_sub(LANES * 0x20) & !word;
    (is_quote | is_backslash | is_control | word) & HIGH_BITS
}

/// The bytes [`stop_lanes`] marks, one at a time (for the last few bytes of the input).
#[inline]
const fn is_string_stop(b: u8) -> bool {
    b < 0x20 || b >= 0x80 || b == b'"' || b == b'\\'
}

#[derive(Clone, Copy)]
pub(super) struct Scanner<'a> {
    /// The bytes not read yet.
    rest: &'a [u8],
    /// The length of the whole input, to turn `rest` into an offset.
    len: usize,
}

impl<'a> Scanner<'a> {
    pub(super) const fn new(input: &'a [u8]) -> Self {
        Self {
            rest: input,
            len: input.len(),
        }
    }

    /// The offset of the cursor in the input.
    #[inline]
    pub(super) const fn pos(&self) -> usize {
        self.len.saturating_sub(self.rest.len())
    }

    /// A mark at the cursor, for [`since`](Self::since).
    #[inline]
    pub(super) const fn mark(&self) -> &'a [u8] {
        self.rest
    }

    /// The bytes read since `mark` was taken.
    #[inline]
    pub(super) fn since(&self, mark: &'a [u8]) -> &'a [u8] {
        let read = mark.len().saturating_sub(self.rest.len());
        mark.get(..read).unwrap_or_default()
    }

    /// A syntax error at the cursor (at the end of the input, always `UnexpectedEnd`).
    #[cfg_attr(not(target_os = "none"), inline(always))]
    pub(super) fn syntax(&self, kind: SyntaxError) -> DecodeError {
        syntax_error(kind, self.rest.is_empty(), self.pos())
    }

    #[inline]
    pub(super) fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Moves the cursor `n` bytes on (to the end at most).
    #[cfg_attr(not(target_os = "none"), inline(always))]
    fn advance(&mut self, n: usize) {
        self.rest = self.rest.get(n..).unwrap_or_default();
    }

    #[inline]
    pub(super) fn skip_ws(&mut self) {
        while let [b' ' | b'\n' | b'\r' | b'\t', tail @ ..] = self.rest {
            self.rest = tail;
        }
    }

    pub(super) const fn at_end(&self) -> bool {
        self.rest.is_empty()
    }

    /// Consumes `byte` or fails.
    #[inline]
    pub(super) fn expect(&mut self, byte: u8) -> Result<(), DecodeError> {
        match self.rest {
            [first, tail @ ..] if *first == byte => {
                self.rest = tail;
                Ok(())
            }
            _ => Err(self.syntax(SyntaxError::UnexpectedByte)),
        }
    }

    /// Reads a string starting at the opening quote. Returns the bytes between the quotes
    /// (still escaped, and valid UTF-8) and whether they contain an escape.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    pub(super) fn string(&mut self) -> Result<(&'a [u8], bool), DecodeError> {
        self.expect(b'"')?;
        let body = self.mark();
        self.skip_plain();
        if let [b'"', tail @ ..] = self.rest {
            let text = self.since(body);
            self.rest = tail;
            return Ok((text, false));
        }
        // Taken and given back by value, so that the cursor of the caller can stay in
        // registers.
        let (rest, text, escaped) = Self::string_tail(*self, body)?;
        self.rest = rest;
        Ok((text, escaped))
    }

    /// The rest of a string whose body starts at `body`, from the first byte that is not
    /// plain text. Returns what is left after the closing quote, the body and whether it
    /// has escapes.
    #[cfg_attr(not(target_os = "none"), inline(never))]
    fn string_tail(mut self, body: &'a [u8]) -> Result<(&'a [u8], &'a [u8], bool), DecodeError> {
        let mut escaped = false;
        // Bytes of non-ASCII characters are stepped over and the body checked once, with the
        // standard library's UTF-8 check (one validator in the image, not two).
        let mut non_ascii = false;
        loop {
            match self.peek() {
                Some(b'"') => {
                    let text = self.since(body);
                    if non_ascii && core::str::from_utf8(text).is_err() {
                        return Err(DecodeError::NotUtf8);
                    }
                    self.advance(1);
                    return Ok((self.rest, text, escaped));
                }
                Some(b'\\') => {
                    escaped = true;
                    self.escape()?;
                }
                Some(0x80..) => {
                    non_ascii = true;
                    self.advance(1);
                }
                Some(_) => return Err(self.syntax(SyntaxError::ControlCharacter)),
                None => {
                    // Cut short: a broken character reads as what it is.
                    if non_ascii && core::str::from_utf8(self.since(body)).is_err() {
                        return Err(DecodeError::NotUtf8);
                    }
                    return Err(self.syntax(SyntaxError::UnexpectedEnd));
                }
            }
            self.skip_plain();
        }
    }

    /// Moves the cursor to the next byte that ends a run of plain string text (see
    /// [`stop_lanes`]), or to the end of the input.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    fn skip_plain(&mut self) {
        // Word steps are for speed; firmware (short messages, flash counted) goes byte by
        // byte.
        while let Some(chunk) = self
            .rest
            .first_chunk::<WORD_LEN>()
            .filter(|_| cfg!(not(target_os = "none")))
        {
            let stops = stop_lanes(Word::from_le_bytes(*chunk));
            if stops != 0 {
                // Little-endian: the lowest lane is the first byte.
                self.advance((stops.trailing_zeros() / 8) as usize);
                return;
            }
            self.advance(WORD_LEN);
        }
        while let [b, tail @ ..] = self.rest {
            if is_string_stop(*b) {
                return;
            }
            self.rest = tail;
        }
    }

    /// Validates one escape at the cursor (a backslash), pairing surrogates.
    fn escape(&mut self) -> Result<(), DecodeError> {
        match self.rest.get(1) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.advance(2);
                Ok(())
            }
            Some(b'u') => {
                let first = self.hex4_at(2)?;
                match first {
                    0xD800..=0xDBFF => {
                        let low = match self.rest.get(6..8) {
                            Some(b"\\u") => Some(self.hex4_at(8)?),
                            _ => None,
                        };
                        match low {
                            Some(0xDC00..=0xDFFF) => {
                                self.advance(12);
                                Ok(())
                            }
                            _ => Err(self.syntax(SyntaxError::LoneSurrogate)),
                        }
                    }
                    0xDC00..=0xDFFF => Err(self.syntax(SyntaxError::LoneSurrogate)),
                    _ => {
                        self.advance(6);
                        Ok(())
                    }
                }
            }
            Some(_) => Err(self.syntax(SyntaxError::InvalidEscape)),
            None => Err(self.syntax(SyntaxError::UnexpectedEnd)),
        }
    }

    /// The four hex digits `at` bytes after the cursor.
    fn hex4_at(&self, at: usize) -> Result<u32, DecodeError> {
        match self.rest.get(at..at + 4) {
            Some(digits) => crate::text::hex4(Some(digits)).ok_or_else(|| DecodeError::Syntax {
                kind: SyntaxError::InvalidEscape,
                at: offset(self.pos()),
            }),
            None => Err(DecodeError::Syntax {
                kind: SyntaxError::UnexpectedEnd,
                at: offset(self.len),
            }),
        }
    }

    pub(super) fn literal(&mut self, word: &[u8]) -> Result<(), DecodeError> {
        match self.rest.get(..word.len()) {
            Some(found) if found == word => {
                self.advance(word.len());
                Ok(())
            }
            Some(_) => Err(self.syntax(SyntaxError::InvalidLiteral)),
            None => Err(DecodeError::Syntax {
                kind: if word.starts_with(self.rest) {
                    SyntaxError::UnexpectedEnd
                } else {
                    SyntaxError::InvalidLiteral
                },
                at: offset(self.pos()),
            }),
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    pub(super) fn number(&mut self) -> Result<(), DecodeError> {
        if let [b'-', tail @ ..] = self.rest {
            self.rest = tail;
        }
        match self.rest {
            [b'0', tail @ ..] => self.rest = tail,
            [b'1'..=b'9', ..] => self.digits(),
            _ => return Err(self.syntax(SyntaxError::InvalidNumber)),
        }
        if let [b'.', tail @ ..] = self.rest {
            self.rest = tail;
            if !matches!(self.rest, [b'0'..=b'9', ..]) {
                return Err(self.syntax(SyntaxError::InvalidNumber));
            }
            self.digits();
        }
        if let [b'e' | b'E', tail @ ..] = self.rest {
            self.rest = tail;
            if let [b'+' | b'-', tail @ ..] = self.rest {
                self.rest = tail;
            }
            if !matches!(self.rest, [b'0'..=b'9', ..]) {
                return Err(self.syntax(SyntaxError::InvalidNumber));
            }
            self.digits();
        }
        Ok(())
    }

    #[inline]
    fn digits(&mut self) {
        while let [b'0'..=b'9', tail @ ..] = self.rest {
            self.rest = tail;
        }
    }

    /// Skips one value (after any whitespace), validating it. `depth` is the number of
    /// containers already open around it.
    pub(super) fn value(&mut self, depth: usize) -> Result<(), DecodeError> {
        // A local cursor, which the compiler keeps in registers.
        let mut s = *self;
        let result = s.walk_value(depth);
        *self = s;
        result
    }

    #[cfg_attr(not(target_os = "none"), inline(always))]
    fn walk_value(&mut self, depth: usize) -> Result<(), DecodeError> {
        // The containers open inside this value.
        let mut nesting = Nesting { bits: 0, open: 0 };
        loop {
            // Expecting a value.
            self.skip_ws();
            match self.peek() {
                Some(b'{') | Some(b'[') => {
                    let is_object = self.peek() == Some(b'{');
                    if !nesting.push(is_object, depth) {
                        return Err(DecodeError::TooDeep);
                    }
                    self.advance(1);
                    self.skip_ws();
                    let close = if is_object { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.advance(1);
                        nesting.pop();
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
                if nesting.open == 0 {
                    return Ok(());
                }
                self.skip_ws();
                let in_object = nesting.in_object();
                match (self.peek(), in_object) {
                    (Some(b','), _) => {
                        self.advance(1);
                        if in_object {
                            self.skip_ws();
                            self.member_key()?;
                        }
                        break;
                    }
                    (Some(b'}'), true) | (Some(b']'), false) => {
                        self.advance(1);
                        nesting.pop();
                    }
                    _ => return Err(self.syntax(SyntaxError::UnexpectedByte)),
                }
            }
        }
    }

    /// `"key" :` inside a nested object.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    fn member_key(&mut self) -> Result<(), DecodeError> {
        self.string()?;
        self.skip_ws();
        self.expect(b':')
    }
}

#[cold]
#[inline(never)]
fn syntax_error(kind: SyntaxError, at_end: bool, pos: usize) -> DecodeError {
    DecodeError::Syntax {
        kind: if at_end {
            SyntaxError::UnexpectedEnd
        } else {
            kind
        },
        at: offset(pos),
    }
}

/// A byte offset as [`DecodeError::Syntax`] holds it.
fn offset(pos: usize) -> u32 {
    u32::try_from(pos).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str) -> Result<(), DecodeError> {
        let mut s = Scanner::new(input.as_bytes());
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

    /// Reads one string from `input` (which starts with its opening quote).
    fn string_of(input: &[u8]) -> Result<(&[u8], bool), DecodeError> {
        Scanner::new(input).string()
    }

    /// The bytes that end a run of plain string text, one at a time.
    fn is_stop(b: u8) -> bool {
        !(0x20..0x80).contains(&b) || b == b'"' || b == b'\\'
    }

    #[test]
    fn stop_lanes_find_the_first_stop_byte() {
        // Every byte value at every lane, after plain bytes and before any byte.
        for b in 0..=255u8 {
            for at in 0..WORD_LEN {
                for after in [b'a', b'"', 0x00, 0xff] {
                    let mut word = [b'a'; WORD_LEN];
                    word[at] = b;
                    for lane in word.iter_mut().skip(at + 1) {
                        *lane = after;
                    }
                    let stops = stop_lanes(Word::from_le_bytes(word));
                    let first = word.iter().position(|&b| is_stop(b));
                    let found = (stops != 0).then(|| (stops.trailing_zeros() / 8) as usize);
                    assert_eq!(found, first, "{word:02x?}");
                }
            }
        }
    }

    #[test]
    fn skip_plain_stops_at_every_offset_in_words_and_tail() {
        for len in 0..40 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut input = std::vec![b'x'; len];
                    input[at] = b;
                    let mut s = Scanner::new(&input);
                    s.skip_plain();
                    let expected = if is_stop(b) { at } else { len };
                    assert_eq!(s.pos(), expected, "len {len}, byte {b:#04x} at {at}");
                }
            }
        }
    }

    #[test]
    fn strings_of_every_length_end_at_their_quote() {
        for len in 0..40 {
            for trailing in 0..10 {
                let mut input = std::vec![b'"'];
                input.extend((0..len).map(|i| b'a' + (i % 26) as u8));
                input.push(b'"');
                input.extend(std::iter::repeat_n(b' ', trailing));
                let (body, escaped) = string_of(&input).unwrap();
                assert_eq!(body.len(), len);
                assert!(!escaped);
                // Unterminated: the end of the input is found in the word or in the tail.
                let cut = &input[..=len];
                assert_eq!(
                    string_of(cut),
                    Err(DecodeError::Syntax {
                        kind: SyntaxError::UnexpectedEnd,
                        at: offset(len + 1)
                    })
                );
            }
        }
    }

    #[test]
    fn control_characters_at_every_offset() {
        for len in 1..30 {
            for at in 0..len {
                for c in 0..0x20u8 {
                    let mut input = std::vec![b'"'];
                    input.extend(std::iter::repeat_n(b'a', len));
                    input.push(b'"');
                    input[1 + at] = c;
                    assert_eq!(
                        string_of(&input),
                        Err(DecodeError::Syntax {
                            kind: SyntaxError::ControlCharacter,
                            at: offset(1 + at)
                        }),
                        "{c:#04x} at {at} of {len}"
                    );
                }
            }
        }
    }

    #[test]
    fn escapes_at_every_offset() {
        for len in 0..20 {
            for at in 0..=len {
                for escape in [&br#"\""#[..], br"\\", br"\n", br"\u00e9", br"\ud83d\ude00"] {
                    let mut body: std::vec::Vec<u8> =
                        (0..len).map(|i| b'k' + (i % 8) as u8).collect();
                    body.splice(at..at, escape.iter().copied());
                    let mut input = std::vec![b'"'];
                    input.extend_from_slice(&body);
                    input.extend_from_slice(b"\"tail");
                    assert_eq!(string_of(&input), Ok((&body[..], true)));
                }
            }
        }
    }

    /// Multi-byte characters at every offset, so that they straddle the boundaries of the
    /// eight-byte words and sit in the last bytes of the input.
    #[test]
    fn multibyte_characters_across_word_boundaries() {
        for c in [
            'é',
            '€',
            '\u{2028}',
            '\u{ffff}',
            '😀',
            '\u{10ffff}',
            '\u{7f}',
        ] {
            let mut buf = [0; 4];
            let encoded = c.encode_utf8(&mut buf).as_bytes();
            for before in 0..20 {
                for after in 0..12 {
                    for suffix in [&b"\""[..], b"\"}", b"\"           "] {
                        let mut body = std::vec![b'a'; before];
                        body.extend_from_slice(encoded);
                        body.extend(std::iter::repeat_n(b'z', after));
                        body.extend_from_slice(encoded);
                        let mut input = std::vec![b'"'];
                        input.extend_from_slice(&body);
                        input.extend_from_slice(suffix);
                        assert_eq!(
                            string_of(&input),
                            Ok((&body[..], false)),
                            "{c} {before} {after}"
                        );
                    }
                }
            }
        }
    }

    /// Sequences that are not UTF-8: stray continuation bytes, overlong forms, surrogates,
    /// code points above U+10FFFF, bytes that never occur, and truncated characters.
    const NOT_UTF8: &[&[u8]] = &[
        b"\x80",
        b"\xbf",
        b"\xc0\x80",
        b"\xc1\xbf",
        b"\xc2",
        b"\xc2\x41",
        b"\xdf\xc0",
        b"\xe0\x80\x80",
        b"\xe0\x9f\xbf",
        b"\xe1\x80",
        b"\xed\xa0\x80",
        b"\xed\xbf\xbf",
        b"\xef\xbf",
        b"\xf0\x80\x80\x80",
        b"\xf0\x8f\xbf\xbf",
        b"\xf0\x9f\x98",
        b"\xf4\x90\x80\x80",
        b"\xf5\x80\x80\x80",
        b"\xf8\x88\x80\x80\x80",
        b"\xfe",
        b"\xff",
    ];

    #[test]
    fn invalid_utf8_at_every_position() {
        for bad in NOT_UTF8 {
            for len in 0..24 {
                for at in 0..=len {
                    let mut body = std::vec![b'q'; len];
                    body.splice(at..at, bad.iter().copied());
                    let mut input = std::vec![b'"'];
                    input.extend_from_slice(&body);
                    input.push(b'"');
                    assert!(core::str::from_utf8(&body).is_err());
                    assert_eq!(
                        string_of(&input),
                        Err(DecodeError::NotUtf8),
                        "{bad:02x?} at {at} of {len}"
                    );
                    // The same at the very end of the input, with no closing quote.
                    input.pop();
                    if at == len {
                        assert_eq!(string_of(&input), Err(DecodeError::NotUtf8));
                    }
                }
            }
        }
    }

    /// Every one- and two-byte sequence, and three- and four-byte ones over every lead byte
    /// with the interesting values of the others, agree with the standard library's check.
    #[test]
    fn utf8_check_agrees_with_core() {
        let others = [0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff];
        let mut sequences: std::vec::Vec<std::vec::Vec<u8>> = std::vec::Vec::new();
        for b0 in 0..=255u8 {
            sequences.push(std::vec![b0]);
            for b1 in 0..=255u8 {
                sequences.push(std::vec![b0, b1]);
            }
        }
        for b0 in 0xc0..=0xffu8 {
            for b1 in 0x80..=0xbfu8 {
                for b2 in others {
                    sequences.push(std::vec![b0, b1, b2]);
                    for b3 in others {
                        sequences.push(std::vec![b0, b1, b2, b3]);
                    }
                }
            }
        }
        for seq in sequences {
            if seq.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\') {
                continue;
            }
            let mut input = std::vec![b'"'];
            input.extend_from_slice(&seq);
            input.push(b'"');
            let expected = match core::str::from_utf8(&seq) {
                Ok(_) => Ok((&seq[..], false)),
                Err(_) => Err(DecodeError::NotUtf8),
            };
            assert_eq!(string_of(&input), expected, "{seq:02x?}");
        }
    }

    #[test]
    fn non_ascii_outside_strings_is_a_syntax_error() {
        for input in ["é", "[é]", "{\"a\":1é}", "1é", "trueé"] {
            assert!(
                matches!(
                    check(input),
                    Err(DecodeError::Syntax { .. } | DecodeError::TrailingData)
                ),
                "{input}"
            );
        }
    }
}
