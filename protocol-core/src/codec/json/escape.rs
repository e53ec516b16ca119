//! The string escaper: exactly the seed library's output (`json.dumps(…, ensure_ascii=False)`,
//! which is also serde_json's): `\"`, `\\`, the short escapes `\b \t \n \f \r`, `\u00xx` with
//! lowercase hex for the other control characters U+0000–U+001F, and everything else as raw
//! UTF-8 (`/`, DEL, U+2028 and emoji included).

use crate::codec::Out;
use crate::text::Str;

/// What to write for `b`: 0 = itself, `u` = `\u00xx`, else the short escape letter.
#[inline]
const fn escape_of(b: u8) -> u8 {
    match b {
        0x08 => b'b',
        0x09 => b't',
        0x0a => b'n',
        0x0c => b'f',
        0x0d => b'r',
        0..0x20 => b'u',
        b'"' => b'"',
        b'\\' => b'\\',
        _ => 0,
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Writes a [`Str`] as a quoted JSON string. Runs between escapes in an escaped `Str` are
/// already valid output (the scanner refused raw control characters and quotes) and are
/// copied as they are; each escape is decoded and written again in the canonical form.
pub(super) fn write_json_str(out: &mut Out<'_>, text: &Str<'_>) {
    out.put_byte(b'"');
    for segment in text.segments() {
        write_escaped(out, segment.as_bytes(&mut [0; 4]));
    }
    out.put_byte(b'"');
}

pub(super) fn write_escaped(out: &mut Out<'_>, bytes: &[u8]) {
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        // Most bytes are written as they are: one comparison for them.
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        let escape = escape_of(b);
        out.put(bytes.get(start..i).unwrap_or_default());
        // `\x`, or `\u00xx` for the characters without a short escape.
        let written = [
            b'\\',
            escape,
            b'0',
            b'0',
            HEX[usize::from(b >> 4)],
            HEX[usize::from(b & 0xf)],
        ];
        let len = if escape == b'u' { 6 } else { 2 };
        out.put(written.get(..len).unwrap_or_default());
        start = i + 1;
    }
    out.put(bytes.get(start..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(text: &str) -> std::vec::Vec<u8> {
        let mut buf = [0u8; 128];
        let mut out = Out::new(&mut buf);
        write_json_str(&mut out, &Str::new(text));
        let n = out.finish().unwrap();
        buf[..n].to_vec()
    }

    /// The exact bytes recorded from the seed library (seed000-transcripts.md, A.1b).
    #[test]
    fn seed_escaping() {
        let input = "a\u{0}b\u{1f}c\td\ne\"f\\g/h\u{7f}i\u{2028}j😀ké";
        let expected =
            b"\"a\\u0000b\\u001fc\\td\\ne\\\"f\\\\g/h\x7fi\xe2\x80\xa8j\xf0\x9f\x98\x80k\xc3\xa9\"";
        assert_eq!(escaped(input), expected);
    }

    #[test]
    fn short_escapes() {
        assert_eq!(escaped("\u{8}\u{c}\r"), b"\"\\b\\f\\r\"");
    }
}
