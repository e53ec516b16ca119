//! Routing messages that are not quartet frames, by a discriminator member of the user's
//! choosing. This is how the same handlers serve the wire formats of the other seed libraries:
//!
//! | wire format | discriminator | data |
//! |---|---|---|
//! | seed 001: models told apart by a field, `{"action":"message","message":"hi"}` | `action` | the whole object |
//! | seed 002: `{"type":"add","a":2,"b":3}` (the handler's parameters beside `type`) | `type` | the whole object |
//! | seed 003: `{"Type":"CalculateRequest","Data":{"numbers":[2,2]}}` | `Type` | the `Data` member |
//!
//! The message must be one JSON object (same strict rules as the envelope, `docs/spec.md`
//! §3.2). The key comes back as a [`Str`] and the data as raw JSON text borrowed from the
//! message, ready for a typed deserializer. A [`Dispatcher`] decides what runs; the default,
//! [`FieldDispatcher`], routes by [`Routes`] on the key. Anything
//! that cannot be routed goes to the fallback with the raw message and the [`RouteError`].

use core::fmt;

use crate::codec::DecodeError;
use crate::codec::json::{Field, discriminate};
use crate::connection::{RouteId, Routes};
use crate::frame::Data;
use crate::text::Str;

/// Where the route key and the data of a message are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Discriminator<'a> {
    /// The member whose string value selects the handler (`action`, `type`, `Type`).
    pub field: &'a str,
    /// The member holding the handler's data (`Data`), or `None` for the whole object.
    pub data: Option<&'a str>,
}

impl<'a> Discriminator<'a> {
    /// Key in `field`, data = the whole object (seeds 001 and 002).
    pub const fn whole(field: &'a str) -> Self {
        Self { field, data: None }
    }

    /// Key in `field`, data in member `data` (seed 003).
    pub const fn member(field: &'a str, data: &'a str) -> Self {
        Self {
            field,
            data: Some(data),
        }
    }
}

/// A message split into its route key and its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Discriminated<'m> {
    /// The discriminator's value.
    pub key: Str<'m>,
    /// The handler's data, raw JSON.
    pub data: Data<'m>,
}

/// Why a message could not be routed. The fallback receives it with the raw message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RouteError {
    /// Not one JSON object (the decoder's reason: syntax, not an object, trailing data…).
    Invalid(DecodeError),
    /// The discriminator member is absent.
    MissingKey,
    /// The discriminator member is not a string.
    KeyNotString,
    /// The data member is absent.
    MissingData,
    /// No handler for this key.
    UnknownKey,
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(e) => write!(f, "invalid message: {e}"),
            Self::MissingKey => f.write_str("discriminator missing"),
            Self::KeyNotString => f.write_str("discriminator is not a string"),
            Self::MissingData => f.write_str("data member missing"),
            Self::UnknownKey => f.write_str("no handler for this discriminator"),
        }
    }
}

impl core::error::Error for RouteError {}

/// Splits `message` by `discriminator`.
///
/// # Errors
/// [`RouteError`] (never [`RouteError::UnknownKey`]: that is the dispatcher's to say).
pub fn discriminated<'m>(
    message: &'m [u8],
    discriminator: &Discriminator<'_>,
) -> Result<Discriminated<'m>, RouteError> {
    let (key, data) = discriminate(message, discriminator.field, discriminator.data)
        .map_err(RouteError::Invalid)?;
    let key = match key {
        Field::Str(key) => key,
        Field::Missing => return Err(RouteError::MissingKey),
        Field::NotString => return Err(RouteError::KeyNotString),
    };
    let data = data.ok_or(RouteError::MissingData)?;
    Ok(Discriminated {
        key,
        data: Data::new(data.as_bytes()),
    })
}

/// Picks the handler for a message (seed 001's `dispatcher`). Implement it for custom
/// selection logic, e.g. by a prefix of a plain-text message.
pub trait Dispatcher {
    /// The route for `message` and the data to hand to it.
    ///
    /// # Errors
    /// The [`RouteError`] the fallback will receive.
    fn dispatch<'m>(&self, message: &'m [u8]) -> Result<(RouteId, Data<'m>), RouteError>;
}

/// The default dispatcher: a [`Discriminator`] and a route table of keys.
#[derive(Clone, Copy, Debug)]
pub struct FieldDispatcher<'a, R: ?Sized> {
    /// Where the key and data are.
    pub discriminator: Discriminator<'a>,
    /// Key → route.
    pub routes: &'a R,
}

impl<R: Routes + ?Sized> Dispatcher for FieldDispatcher<'_, R> {
    fn dispatch<'m>(&self, message: &'m [u8]) -> Result<(RouteId, Data<'m>), RouteError> {
        let Discriminated { key, data } = discriminated(message, &self.discriminator)?;
        let route = self.routes.route(&key).ok_or(RouteError::UnknownKey)?;
        Ok((route, data))
    }
}

#[cfg(feature = "defmt")]
impl<R: ?Sized> defmt::Format for FieldDispatcher<'_, R> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "FieldDispatcher {{ discriminator: {} }}",
            self.discriminator
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed001_action_routes_the_whole_object() {
        let d = Discriminator::whole("action");
        let got = discriminated(br#"{"action":"message","message":"hi"}"#, &d).unwrap();
        assert_eq!(got.key, "message");
        assert_eq!(
            got.data.as_str(),
            Some(r#"{"action":"message","message":"hi"}"#)
        );
    }

    #[test]
    fn seed003_type_and_data_member() {
        let d = Discriminator::member("Type", "Data");
        let got = discriminated(
            br#" {"Type":"CalculateRequest","Data":{"numbers":[2,2]}} "#,
            &d,
        )
        .unwrap();
        assert_eq!(got.key, "CalculateRequest");
        assert_eq!(got.data.as_str(), Some(r#"{"numbers":[2,2]}"#));
        let lowercase = discriminated(br#"{"type":"Echo","data":{}}"#, &d);
        assert_eq!(lowercase, Err(RouteError::MissingKey));
        let no_data = discriminated(br#"{"Type":"Echo"}"#, &d);
        assert_eq!(no_data, Err(RouteError::MissingData));
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let d = Discriminator::whole("type");
        assert!(matches!(
            discriminated(b"{bad", &d),
            Err(RouteError::Invalid(DecodeError::Syntax { .. }))
        ));
        assert_eq!(
            discriminated(b"[1,2]", &d),
            Err(RouteError::Invalid(DecodeError::NotAnObject))
        );
        assert_eq!(
            discriminated(br#"{"type":1}"#, &d),
            Err(RouteError::KeyNotString)
        );
        assert_eq!(
            discriminated(br#"{"type":"a"} x"#, &d),
            Err(RouteError::Invalid(DecodeError::TrailingData))
        );
        let routes = ["add", "message"];
        let dispatcher = FieldDispatcher {
            discriminator: d,
            routes: &routes[..],
        };
        assert_eq!(
            dispatcher.dispatch(br#"{"type":"nope"}"#),
            Err(RouteError::UnknownKey)
        );
        let (route, _) = dispatcher
            .dispatch(br#"{"type":"message","message":"x"}"#)
            .unwrap();
        assert_eq!(route, RouteId(1));
    }
}
