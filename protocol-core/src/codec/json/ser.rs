//! Typed values to JSON text: a serde `Serializer` writing compact JSON with the envelope's
//! escaper, so `data` is escaped exactly like the frame around it (the seed's
//! `json.dumps(…, ensure_ascii=False)` output).
//!
//! What it writes, as `serde_json` does: integers in decimal (64-bit ones without 64-bit
//! division, which 32-bit targets would link a ~1 KiB routine for), floats through `ryu`
//! (`null` when not finite), bytes as an array of numbers, `None` and unit as `null`, unit
//! variants as their name, other variants as a one-member object, map keys as strings
//! (integer, `bool` and `char` keys quoted). It never panics; a value that does not fit
//! reports the exact size it needed.

use core::fmt;

use serde::Serialize;
use serde::ser;

use super::escape::write_escaped;
use crate::codec::{EncodeError, Out};

/// Writes `value` at the start of `out`; returns the length.
pub(super) fn to_slice<T: Serialize + ?Sized>(
    value: &T,
    out: &mut [u8],
) -> core::result::Result<usize, EncodeError> {
    let mut serializer = Serializer { out: Out::new(out) };
    value
        .serialize(&mut serializer)
        .map_err(|Error(error)| error)?;
    serializer.out.finish()
}

/// serde's error type, carrying an [`EncodeError`]; serde's messages are dropped unformatted.
#[derive(Debug)]
pub(super) struct Error(EncodeError);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl core::error::Error for Error {}

impl ser::Error for Error {
    fn custom<M: fmt::Display>(_message: M) -> Self {
        Self(EncodeError::Value)
    }
}

type Result<T = ()> = core::result::Result<T, Error>;

const UNSUPPORTED: Error = Error(EncodeError::Value);

pub(super) struct Serializer<'a> {
    out: Out<'a>,
}

impl Serializer<'_> {
    fn string(&mut self, text: &str) {
        self.out.put_byte(b'"');
        write_escaped(&mut self.out, text.as_bytes());
        self.out.put_byte(b'"');
    }

    fn unsigned(&mut self, value: u64) {
        self.out.put(Digits::new(value).as_bytes());
    }

    fn signed(&mut self, value: i64) {
        if value < 0 {
            self.out.put_byte(b'-');
        }
        self.unsigned(value.unsigned_abs());
    }

    /// `{"variant":` — the start of a variant that carries data.
    fn open_variant(&mut self, variant: &str) {
        self.out.put_byte(b'{');
        self.string(variant);
        self.out.put_byte(b':');
    }
}

/// The decimal digits of a `u64`, written from the end of a buffer.
struct Digits {
    buf: [u8; 20],
    start: usize,
}

impl Digits {
    fn new(mut value: u64) -> Self {
        let mut digits = Self {
            buf: [0; 20],
            start: 20,
        };
        loop {
            let (quotient, digit) = div_rem_10(value);
            digits.push(digit);
            value = quotient;
            if value == 0 {
                break;
            }
        }
        digits
    }

    fn push(&mut self, digit: u8) {
        self.start = self.start.saturating_sub(1);
        if let Some(slot) = self.buf.get_mut(self.start) {
            *slot = b'0' + digit;
        }
    }

    fn as_bytes(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or_default()
    }
}

/// `value / 10` and `value % 10`.
fn div_rem_10(value: u64) -> (u64, u8) {
    if cfg!(target_pointer_width = "64") {
        (value / 10, (value % 10) as u8)
    } else {
        div_rem_10_by_halfwords(value)
    }
}

/// `value / 10` and `value % 10` with 32-bit division only: the high word, then the low word
/// in two 16-bit halves (each partial dividend stays below 10 × 2^16). 32-bit targets then
/// link no 64-bit division routine (~1 KiB of flash).
fn div_rem_10_by_halfwords(value: u64) -> (u64, u8) {
    let high = (value >> 32) as u32;
    let low = value as u32;
    let mid = (high % 10) << 16 | low >> 16;
    let bottom = (mid % 10) << 16 | (low & 0xffff);
    let quotient = u64::from(high / 10) << 32 | u64::from(((mid / 10) << 16) | (bottom / 10));
    (quotient, (bottom % 10) as u8)
}

impl<'s, 'a> ser::Serializer for &'s mut Serializer<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'s, 'a>;
    type SerializeTuple = Compound<'s, 'a>;
    type SerializeTupleStruct = Compound<'s, 'a>;
    type SerializeTupleVariant = Compound<'s, 'a>;
    type SerializeMap = Compound<'s, 'a>;
    type SerializeStruct = Compound<'s, 'a>;
    type SerializeStructVariant = Compound<'s, 'a>;

    fn serialize_bool(self, v: bool) -> Result {
        self.out.put(if v { b"true" } else { b"false" });
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result {
        self.serialize_i64(v.into())
    }

    fn serialize_i16(self, v: i16) -> Result {
        self.serialize_i64(v.into())
    }

    fn serialize_i32(self, v: i32) -> Result {
        self.serialize_i64(v.into())
    }

    fn serialize_i64(self, v: i64) -> Result {
        self.signed(v);
        Ok(())
    }

    fn serialize_u8(self, v: u8) -> Result {
        self.serialize_u64(v.into())
    }

    fn serialize_u16(self, v: u16) -> Result {
        self.serialize_u64(v.into())
    }

    fn serialize_u32(self, v: u32) -> Result {
        self.serialize_u64(v.into())
    }

    fn serialize_u64(self, v: u64) -> Result {
        self.unsigned(v);
        Ok(())
    }

    fn serialize_f32(self, v: f32) -> Result {
        if v.is_finite() {
            self.out.put(ryu::Buffer::new().format_finite(v).as_bytes());
        } else {
            self.out.put(b"null");
        }
        Ok(())
    }

    fn serialize_f64(self, v: f64) -> Result {
        if v.is_finite() {
            self.out.put(ryu::Buffer::new().format_finite(v).as_bytes());
        } else {
            self.out.put(b"null");
        }
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result {
        self.string(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result {
        self.string(v);
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result {
        let mut seq = ser::Serializer::serialize_seq(self, Some(v.len()))?;
        for byte in v {
            ser::SerializeSeq::serialize_element(&mut seq, byte)?;
        }
        ser::SerializeSeq::end(seq)
    }

    fn serialize_none(self) -> Result {
        self.out.put(b"null");
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result {
        self.serialize_none()
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result {
        self.serialize_none()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _variant_index: u32,
        variant: &'static str,
    ) -> Result {
        self.string(variant);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _variant_index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result {
        self.open_variant(variant);
        value.serialize(&mut *self)?;
        self.out.put_byte(b'}');
        Ok(())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'s, 'a>> {
        Ok(Compound::open(self, b'[', b"]"))
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'s, 'a>> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Compound<'s, 'a>> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _variant_index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'s, 'a>> {
        self.open_variant(variant);
        Ok(Compound::open(self, b'[', b"]}"))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'s, 'a>> {
        Ok(Compound::open(self, b'{', b"}"))
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Compound<'s, 'a>> {
        self.serialize_map(None)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _variant_index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'s, 'a>> {
        self.open_variant(variant);
        Ok(Compound::open(self, b'{', b"}}"))
    }

    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result {
        struct Escaping<'o, 'a>(&'o mut Out<'a>);
        impl fmt::Write for Escaping<'_, '_> {
            fn write_str(&mut self, text: &str) -> fmt::Result {
                write_escaped(self.0, text.as_bytes());
                Ok(())
            }
        }
        self.out.put_byte(b'"');
        fmt::write(&mut Escaping(&mut self.out), format_args!("{value}"))
            .map_err(|_| UNSUPPORTED)?;
        self.out.put_byte(b'"');
        Ok(())
    }
}

/// An array, object or variant being written: separators between elements, and the bytes
/// that close it.
pub(super) struct Compound<'s, 'a> {
    ser: &'s mut Serializer<'a>,
    first: bool,
    close: &'static [u8],
}

impl<'s, 'a> Compound<'s, 'a> {
    fn open(ser: &'s mut Serializer<'a>, open: u8, close: &'static [u8]) -> Self {
        ser.out.put_byte(open);
        Self {
            ser,
            first: true,
            close,
        }
    }

    fn separate(&mut self) {
        if !core::mem::take(&mut self.first) {
            self.ser.out.put_byte(b',');
        }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        self.separate();
        value.serialize(&mut *self.ser)
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result {
        self.separate();
        self.ser.string(key);
        self.ser.out.put_byte(b':');
        value.serialize(&mut *self.ser)
    }

    fn close(self) -> Result {
        self.ser.out.put(self.close);
        Ok(())
    }
}

/// The compound traits that only differ by name: elements (`$method(value)`) or named
/// fields (`$method(key, value)`), then `end`.
macro_rules! compound {
    ($($trait:ident :: $method:ident (value)),* $(,)?) => {$(
        impl ser::$trait for Compound<'_, '_> {
            type Ok = ();
            type Error = Error;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
                self.element(value)
            }

            fn end(self) -> Result {
                self.close()
            }
        }
    )*};
    ($($trait:ident :: $method:ident (key, value)),* $(,)?) => {$(
        impl ser::$trait for Compound<'_, '_> {
            type Ok = ();
            type Error = Error;

            fn $method<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result {
                self.field(key, value)
            }

            fn end(self) -> Result {
                self.close()
            }
        }
    )*};
}

compound! {
    SerializeSeq::serialize_element(value),
    SerializeTuple::serialize_element(value),
    SerializeTupleStruct::serialize_field(value),
    SerializeTupleVariant::serialize_field(value),
}

compound! {
    SerializeStruct::serialize_field(key, value),
    SerializeStructVariant::serialize_field(key, value),
}

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result {
        self.separate();
        key.serialize(MapKey(&mut *self.ser))?;
        self.ser.out.put_byte(b':');
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        value.serialize(&mut *self.ser)
    }

    fn end(self) -> Result {
        self.close()
    }
}

/// A map key: a string, or a scalar written as a string.
struct MapKey<'s, 'a>(&'s mut Serializer<'a>);

impl MapKey<'_, '_> {
    fn quoted(self, write: impl FnOnce(&mut Serializer<'_>)) -> Result {
        self.0.out.put_byte(b'"');
        write(self.0);
        self.0.out.put_byte(b'"');
        Ok(())
    }
}

impl ser::Serializer for MapKey<'_, '_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = ser::Impossible<(), Error>;
    type SerializeTuple = ser::Impossible<(), Error>;
    type SerializeTupleStruct = ser::Impossible<(), Error>;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = ser::Impossible<(), Error>;
    type SerializeStruct = ser::Impossible<(), Error>;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    fn serialize_bool(self, v: bool) -> Result {
        self.quoted(|s| s.out.put(if v { b"true" } else { b"false" }))
    }

    fn serialize_i8(self, v: i8) -> Result {
        self.serialize_i64(v.into())
    }

    fn serialize_i16(self, v: i16) -> Result {
        self.serialize_i64(v.into())
    }

    fn serialize_i32(self, v: i32) -> Result {
        self.serialize_i64(v.into())
    }

    fn serialize_i64(self, v: i64) -> Result {
        self.quoted(|s| s.signed(v))
    }

    fn serialize_u8(self, v: u8) -> Result {
        self.serialize_u64(v.into())
    }

    fn serialize_u16(self, v: u16) -> Result {
        self.serialize_u64(v.into())
    }

    fn serialize_u32(self, v: u32) -> Result {
        self.serialize_u64(v.into())
    }

    fn serialize_u64(self, v: u64) -> Result {
        self.quoted(|s| s.unsigned(v))
    }

    fn serialize_f32(self, _v: f32) -> Result {
        Err(UNSUPPORTED)
    }

    fn serialize_f64(self, _v: f64) -> Result {
        Err(UNSUPPORTED)
    }

    fn serialize_char(self, v: char) -> Result {
        self.0.string(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result {
        self.0.string(v);
        Ok(())
    }

    fn serialize_bytes(self, _v: &[u8]) -> Result {
        Err(UNSUPPORTED)
    }

    fn serialize_none(self) -> Result {
        Err(UNSUPPORTED)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result {
        Err(UNSUPPORTED)
    }

    fn serialize_unit(self) -> Result {
        Err(UNSUPPORTED)
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result {
        Err(UNSUPPORTED)
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _variant_index: u32,
        variant: &'static str,
    ) -> Result {
        self.0.string(variant);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _variant_index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result {
        Err(UNSUPPORTED)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq> {
        Err(UNSUPPORTED)
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple> {
        Err(UNSUPPORTED)
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct> {
        Err(UNSUPPORTED)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _variant_index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(UNSUPPORTED)
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap> {
        Err(UNSUPPORTED)
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct> {
        Err(UNSUPPORTED)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _variant_index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(UNSUPPORTED)
    }

    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result {
        ser::Serializer::collect_str(self.0, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halfword_division_is_division() {
        let mut values = std::vec![0, 1, 9, 10, 11, 65_535, 65_536, u64::MAX, u64::MAX - 9];
        for shift in 0..64 {
            let p = 1u64 << shift;
            values.extend([p - 1, p, p + 1, p / 10 * 10, p.wrapping_mul(7) / 3]);
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push(x);
        }
        for value in values {
            assert_eq!(
                div_rem_10_by_halfwords(value),
                (value / 10, (value % 10) as u8),
                "{value}"
            );
        }
    }
}
