//! Deserializes name/value string pairs (query, path parameters, headers, cookies) into a
//! typed value. Values are parsed as the target type asks (integers, floats, booleans,
//! strings, `Option`, unit enum variants); every error names the field.

use std::fmt::Display;
use std::str::FromStr;

use serde::de::value::{Error, MapDeserializer};
use serde::de::{self, DeserializeOwned, Error as _, IntoDeserializer, Visitor};

/// Deserializes `pairs` into `T`; the error message names the field that failed.
pub(crate) fn from_pairs<'a, T: DeserializeOwned>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<T, String> {
    let values = pairs
        .into_iter()
        .map(|(name, value)| (name, Value { name, value }));
    T::deserialize(MapDeserializer::<_, Error>::new(values)).map_err(|e| e.to_string())
}

/// One value, with its name for errors.
#[derive(Clone, Copy)]
struct Value<'a> {
    name: &'a str,
    value: &'a str,
}

impl Value<'_> {
    fn parse<T: FromStr>(self, what: &str) -> Result<T, Error>
    where
        T::Err: Display,
    {
        self.value.parse().map_err(|e| {
            Error::custom(format_args!(
                "`{}`: expected {what}, got {:?} ({e})",
                self.name, self.value
            ))
        })
    }
}

impl<'de> IntoDeserializer<'de, Error> for Value<'de> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

macro_rules! parse_as {
    ($($method:ident $visit:ident $ty:ty, $what:literal;)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
                visitor.$visit(self.parse::<$ty>($what)?)
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for Value<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_borrowed_str(self.value)
    }

    parse_as! {
        deserialize_bool visit_bool bool, "true or false";
        deserialize_i8 visit_i8 i8, "an integer";
        deserialize_i16 visit_i16 i16, "an integer";
        deserialize_i32 visit_i32 i32, "an integer";
        deserialize_i64 visit_i64 i64, "an integer";
        deserialize_i128 visit_i128 i128, "an integer";
        deserialize_u8 visit_u8 u8, "a non-negative integer";
        deserialize_u16 visit_u16 u16, "a non-negative integer";
        deserialize_u32 visit_u32 u32, "a non-negative integer";
        deserialize_u64 visit_u64 u64, "a non-negative integer";
        deserialize_u128 visit_u128 u128, "a non-negative integer";
        deserialize_f32 visit_f32 f32, "a number";
        deserialize_f64 visit_f64 f64, "a number";
        deserialize_char visit_char char, "one character";
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let variant: de::value::StrDeserializer<'de, Error> = self.value.into_deserializer();
        visitor
            .visit_enum(variant)
            .map_err(|e| Error::custom(format_args!("`{}`: {e}", self.name)))
    }

    serde::forward_to_deserialize_any! {
        str string bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Color {
        Red,
        Blue,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Query {
        game_id: i64,
        name: Option<String>,
        ratio: Option<f64>,
        color: Option<Color>,
        #[serde(default)]
        flag: bool,
    }

    #[test]
    fn typed_values() {
        let q: Query = from_pairs([
            ("game_id", "7"),
            ("name", "ann"),
            ("ratio", "0.5"),
            ("color", "blue"),
            ("flag", "true"),
            ("ignored", "x"),
        ])
        .unwrap();
        assert_eq!(
            q,
            Query {
                game_id: 7,
                name: Some("ann".into()),
                ratio: Some(0.5),
                color: Some(Color::Blue),
                flag: true
            }
        );
        let _ = Color::Red;
    }

    #[test]
    fn errors_name_the_field() {
        let missing = from_pairs::<Query>([]).unwrap_err();
        assert_eq!(missing, "missing field `game_id`");
        let malformed = from_pairs::<Query>([("game_id", "abc")]).unwrap_err();
        assert!(
            malformed.starts_with("`game_id`: expected an integer, got \"abc\""),
            "{malformed}"
        );
        let color = from_pairs::<Query>([("game_id", "1"), ("color", "green")]).unwrap_err();
        assert!(
            color.starts_with("`color`: unknown variant `green`"),
            "{color}"
        );
        let twice = from_pairs::<Query>([("game_id", "1"), ("game_id", "2")]).unwrap_err();
        assert_eq!(twice, "duplicate field `game_id`");
    }
}
