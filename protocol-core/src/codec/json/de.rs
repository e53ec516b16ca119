//! Typed values from JSON text: a serde `Deserializer` over the envelope's [`Scanner`].
//!
//! One JSON grammar for the whole frame: `data` is read with the same strict RFC 8259 rules,
//! UTF-8 checks, escape rules and depth limit as the envelope around it, and firmware links
//! one JSON reader, not two (a second parser cost about 3.5 KiB of flash).
//!
//! What it accepts, as `serde_json` does unless said otherwise:
//! - strings without escapes are lent from the input (`&str` fields work); a string with
//!   escapes is unescaped into the caller's scratch buffer, so it suits owned strings
//!   (`heapless::String`, `char`), not `&str` — and fails with
//!   [`ValueError::ScratchTooSmall`] when longer than the buffer;
//! - integers are integers (no fraction or exponent) that fit the type, read within 64 bits
//!   (`i128`/`u128` fields take only values that fit in `i64`/`u64`); floats take any number;
//! - structs (and struct variants) are read from objects only: serde_json also takes an array
//!   of the fields in order, which the published schemas (an object with named members) do
//!   not allow; enums from a string (unit variants) or an object of one member
//!   (`{"Variant": …}`); bytes from a string or an array of numbers;
//! - map keys are strings; integer and `bool` keys are read from the string's text (`{"7":…}`),
//!   as serde_json writes and reads them;
//! - unknown members are skipped (validated, not interpreted).

use core::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Visitor};

use super::scan::Scanner;
use crate::codec::ValueError;
use crate::limits::MAX_DEPTH;
use crate::text::Str;

/// Reads one `T` from `input`, which must hold exactly one JSON value (whitespace around
/// it allowed).
pub(super) fn from_slice<'de, T: Deserialize<'de>>(
    input: &'de [u8],
    scratch: &mut [u8],
) -> core::result::Result<T, ValueError> {
    let mut de = Deserializer {
        s: Scanner::new(input),
        scratch,
        depth: 0,
    };
    let value = T::deserialize(&mut de).map_err(|Error(error)| error)?;
    de.s.skip_ws();
    if de.s.at_end() {
        Ok(value)
    } else {
        Err(ValueError::TrailingData)
    }
}

/// serde's error type, carrying a [`ValueError`]. serde's messages are dropped unformatted:
/// no `core::fmt` on the path.
#[derive(Debug)]
struct Error(ValueError);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl core::error::Error for Error {}

impl de::Error for Error {
    fn custom<M: fmt::Display>(_message: M) -> Self {
        Self(ValueError::Invalid)
    }
}

type Result<T> = core::result::Result<T, Error>;

const INVALID: Error = Error(ValueError::Invalid);

struct Deserializer<'de, 's> {
    s: Scanner<'de>,
    scratch: &'s mut [u8],
    /// Arrays and objects open around the cursor.
    depth: usize,
}

/// A string as read: lent from the input, or unescaped into the scratch buffer.
enum Text<'de, 'a> {
    Borrowed(&'de str),
    Unescaped(&'a str),
}

/// An integer as read: the sign decides which visitor method gets it.
enum Integer {
    NonNegative(u64),
    Negative(i64),
}

impl<'de> Deserializer<'de, '_> {
    /// The next byte after whitespace.
    fn peek(&mut self) -> Option<u8> {
        self.s.skip_ws();
        self.s.peek()
    }

    /// Steps into an array or object whose opening byte is next.
    fn enter(&mut self, open: u8) -> Result<()> {
        if self.depth >= MAX_DEPTH || self.peek() != Some(open) {
            return Err(INVALID);
        }
        self.s.expect(open).map_err(|_| INVALID)?;
        self.depth += 1;
        Ok(())
    }

    /// Steps out of the array or object: `close` must be next (the visitor read every
    /// element).
    fn leave(&mut self, close: u8) -> Result<()> {
        if self.peek() != Some(close) {
            return Err(INVALID);
        }
        self.s.expect(close).map_err(|_| INVALID)?;
        self.depth -= 1;
        Ok(())
    }

    fn literal(&mut self, word: &[u8]) -> Result<()> {
        self.s.skip_ws();
        self.s.literal(word).map_err(|_| INVALID)
    }

    fn text(&mut self) -> Result<Text<'de, '_>> {
        if self.peek() != Some(b'"') {
            return Err(INVALID);
        }
        let (body, escaped) = self.s.string().map_err(|_| INVALID)?;
        // The scanner checked the UTF-8.
        let raw = core::str::from_utf8(body).map_err(|_| INVALID)?;
        if !escaped {
            return Ok(Text::Borrowed(raw));
        }
        match Str::from_json(raw, true).unescape_into(self.scratch) {
            Some(text) => Ok(Text::Unescaped(text)),
            None => Err(Error(ValueError::ScratchTooSmall)),
        }
    }

    /// The text of the number at the cursor, validated.
    fn number(&mut self) -> Result<&'de [u8]> {
        if !matches!(self.peek(), Some(b'-' | b'0'..=b'9')) {
            return Err(INVALID);
        }
        let start = self.s.mark();
        self.s.number().map_err(|_| INVALID)?;
        Ok(self.s.since(start))
    }

    /// A number without fraction or exponent, within 64 bits.
    fn integer(&mut self) -> Result<Integer> {
        let text = self.number()?;
        integer(text).ok_or(INVALID)
    }

    fn float(&mut self) -> Result<f64> {
        let text = self.number()?;
        let text = core::str::from_utf8(text).map_err(|_| INVALID)?;
        text.parse().map_err(|_| INVALID)
    }

    fn visit_integer<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value> {
        match self.integer()? {
            Integer::NonNegative(n) => visitor.visit_u64(n),
            Integer::Negative(n) => visitor.visit_i64(n),
        }
    }
}

/// Parses `-?[0-9]+` (already validated as a JSON number) into 64 bits; `None` for a
/// fraction, an exponent, `-0` or an overflow.
fn integer(text: &[u8]) -> Option<Integer> {
    let (negative, digits) = match text {
        [b'-', digits @ ..] => (true, digits),
        digits => (false, digits),
    };
    let mut magnitude: u64 = 0;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))?;
    }
    if !negative {
        return Some(Integer::NonNegative(magnitude));
    }
    // `-0` is the float -0.0, as in serde_json. -9223372036854775808 is the one magnitude
    // above i64::MAX that fits.
    if magnitude == 0 {
        return None;
    }
    let value = 0i64.checked_sub_unsigned(magnitude)?;
    Some(Integer::Negative(value))
}

macro_rules! integer_methods {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
            self.visit_integer(visitor)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for &mut Deserializer<'de, '_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.peek() {
            Some(b'n') => self.deserialize_unit(visitor),
            Some(b't' | b'f') => self.deserialize_bool(visitor),
            Some(b'"') => self.deserialize_str(visitor),
            Some(b'[') => self.deserialize_seq(visitor),
            Some(b'{') => self.deserialize_map(visitor),
            Some(b'-' | b'0'..=b'9') => {
                let text = self.number()?;
                match integer(text) {
                    Some(Integer::NonNegative(n)) => visitor.visit_u64(n),
                    Some(Integer::Negative(n)) => visitor.visit_i64(n),
                    None => {
                        let text = core::str::from_utf8(text).map_err(|_| INVALID)?;
                        visitor.visit_f64(text.parse().map_err(|_| INVALID)?)
                    }
                }
            }
            _ => Err(INVALID),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.peek() {
            Some(b't') => {
                self.literal(b"true")?;
                visitor.visit_bool(true)
            }
            Some(b'f') => {
                self.literal(b"false")?;
                visitor.visit_bool(false)
            }
            _ => Err(INVALID),
        }
    }

    integer_methods! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_f64(self.float()?)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_f64(self.float()?)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.text()? {
            Text::Borrowed(text) => visitor.visit_borrowed_str(text),
            Text::Unescaped(text) => visitor.visit_str(text),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if self.peek() == Some(b'[') {
            return self.deserialize_seq(visitor);
        }
        match self.text()? {
            Text::Borrowed(text) => visitor.visit_borrowed_bytes(text.as_bytes()),
            Text::Unescaped(text) => visitor.visit_bytes(text.as_bytes()),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if self.peek() == Some(b'n') {
            self.literal(b"null")?;
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.literal(b"null")?;
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.enter(b'[')?;
        let value = visitor.visit_seq(Elements {
            de: &mut *self,
            first: true,
        })?;
        self.leave(b']')?;
        Ok(value)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.enter(b'{')?;
        let value = visitor.visit_map(Elements {
            de: &mut *self,
            first: true,
        })?;
        self.leave(b'}')?;
        Ok(value)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        if self.peek() == Some(b'"') {
            return visitor.visit_enum(Variant {
                de: self,
                in_object: false,
            });
        }
        self.enter(b'{')?;
        let value = visitor.visit_enum(Variant {
            de: &mut *self,
            in_object: true,
        })?;
        self.leave(b'}')?;
        Ok(value)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.s.value(self.depth).map_err(|_| INVALID)?;
        visitor.visit_unit()
    }
}

/// The elements of an array or the members of an object.
struct Elements<'a, 'de, 's> {
    de: &'a mut Deserializer<'de, 's>,
    first: bool,
}

impl Elements<'_, '_, '_> {
    /// Moves to the next element: `false` at `close`.
    fn next(&mut self, close: u8) -> Result<bool> {
        match self.de.peek() {
            Some(b) if b == close => return Ok(false),
            Some(b',') if !self.first => self.de.s.expect(b',').map_err(|_| INVALID)?,
            _ if self.first => {}
            _ => return Err(INVALID),
        }
        self.first = false;
        Ok(true)
    }
}

impl<'de> de::SeqAccess<'de> for Elements<'_, 'de, '_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        if !self.next(b']')? {
            return Ok(None);
        }
        seed.deserialize(&mut *self.de).map(Some)
    }
}

impl<'de> de::MapAccess<'de> for Elements<'_, 'de, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        if !self.next(b'}')? {
            return Ok(None);
        }
        if self.de.peek() != Some(b'"') {
            return Err(INVALID);
        }
        seed.deserialize(MapKey(&mut *self.de)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        if self.de.peek() != Some(b':') {
            return Err(INVALID);
        }
        self.de.s.expect(b':').map_err(|_| INVALID)?;
        seed.deserialize(&mut *self.de)
    }
}

/// An enum: a string naming a unit variant, or the one member of an object.
struct Variant<'a, 'de, 's> {
    de: &'a mut Deserializer<'de, 's>,
    in_object: bool,
}

impl<'a, 'de, 's> de::EnumAccess<'de> for Variant<'a, 'de, 's> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<(T::Value, Self)> {
        if self.de.peek() != Some(b'"') {
            return Err(INVALID);
        }
        let variant = seed.deserialize(&mut *self.de)?;
        if self.in_object {
            if self.de.peek() != Some(b':') {
                return Err(INVALID);
            }
            self.de.s.expect(b':').map_err(|_| INVALID)?;
        }
        Ok((variant, self))
    }
}

impl<'de> de::VariantAccess<'de> for Variant<'_, 'de, '_> {
    type Error = Error;

    fn unit_variant(self) -> Result<()> {
        if self.in_object {
            de::Deserializer::deserialize_unit(self.de, de::IgnoredAny).map(|_| ())
        } else {
            Ok(())
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value> {
        if !self.in_object {
            return Err(INVALID);
        }
        seed.deserialize(self.de)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value> {
        if !self.in_object {
            return Err(INVALID);
        }
        de::Deserializer::deserialize_seq(self.de, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        if !self.in_object {
            return Err(INVALID);
        }
        de::Deserializer::deserialize_struct(self.de, "", fields, visitor)
    }
}

/// A map key: always a JSON string; integer and `bool` keys are read from its text.
struct MapKey<'a, 'de, 's>(&'a mut Deserializer<'de, 's>);

impl MapKey<'_, '_, '_> {
    /// The key's text, for a key of a non-string type. As in serde_json, such a key is
    /// written without escapes (`"7"`, not `"\u0037"`).
    fn with_text<T>(self, read: impl FnOnce(&str) -> Option<T>) -> Result<T> {
        match self.0.text()? {
            Text::Borrowed(text) => read(text).ok_or(INVALID),
            Text::Unescaped(_) => Err(INVALID),
        }
    }
}

macro_rules! integer_keys {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
            match self.with_text(|text| {
                // The key's text must be a JSON integer: `-?(0|[1-9][0-9]*)`.
                let mut number = Scanner::new(text.as_bytes());
                number.number().ok().filter(|()| number.at_end())?;
                integer(text.as_bytes())
            })? {
                Integer::NonNegative(n) => visitor.visit_u64(n),
                Integer::Negative(n) => visitor.visit_i64(n),
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for MapKey<'_, 'de, '_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        de::Deserializer::deserialize_str(self.0, visitor)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let value = self.with_text(|text| match text {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        })?;
        visitor.visit_bool(value)
    }

    integer_keys! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        de::Deserializer::deserialize_enum(self.0, name, variants, visitor)
    }

    serde::forward_to_deserialize_any! {
        f32 f64 char str string bytes byte_buf option unit unit_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}
