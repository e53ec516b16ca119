//! Verifies signed WebApp init data, the scheme seed 003 authenticates its WebSocket clients
//! with (a Telegram Mini App passes it to the page; the page passes it in the URL).
//!
//! The check, as the platform specifies it and aiogram implements it:
//! 1. decode the init data as `application/x-www-form-urlencoded` (`+` is a space);
//! 2. take every field but `hash`, sort them by key, and join `key=value` lines with `\n`
//!    (the *data-check string*);
//! 3. the secret key is HMAC-SHA256 keyed with `"WebAppData"` over the bot token;
//! 4. `hash` must be the hex HMAC-SHA256 of the data-check string under that key, compared in
//!    constant time ([`Mac::verify_slice`]).
//!
//! On top, `auth_date` (Unix seconds) older than the configured maximum age is refused, and so
//! is one from the future beyond a small clock-skew allowance: a leaked URL stops working.
//!
//! Time is passed in (`now_unix`), as everywhere in this project.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Where the init data is in the upgrade request's query string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The whole query string is the init data (as seed 003 takes it).
    WholeQuery,
    /// One query parameter carries the init data (URL-encoded inside it).
    Parameter(String),
}

/// Why init data was refused. The client's fault in every case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InitDataError {
    /// No init data (empty, or the parameter is absent).
    Missing,
    /// Not a query string (a field without `=`, an empty field, bad percent-encoding).
    Malformed,
    /// No `hash` field.
    MissingHash,
    /// The hash does not match: tampered with, or signed for another bot.
    BadSignature,
    /// No `auth_date`, or not a number.
    MissingAuthDate,
    /// Signed too long ago.
    Expired {
        /// Age in seconds.
        age: u64,
    },
    /// Signed in the future, beyond the clock-skew allowance.
    FromTheFuture {
        /// Seconds ahead of `now`.
        ahead: u64,
    },
    /// The `user` field is not the expected JSON object.
    InvalidUser,
}

impl fmt::Display for InitDataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("no init data"),
            Self::Malformed => f.write_str("init data is not a query string"),
            Self::MissingHash => f.write_str("init data has no hash"),
            Self::BadSignature => f.write_str("init data signature does not match"),
            Self::MissingAuthDate => f.write_str("init data has no valid auth_date"),
            Self::Expired { age } => write!(f, "init data expired ({age} s old)"),
            Self::FromTheFuture { ahead } => write!(f, "init data signed {ahead} s in the future"),
            Self::InvalidUser => f.write_str("init data user is invalid"),
        }
    }
}

impl std::error::Error for InitDataError {}

/// The user the init data speaks for (the fields the platform sends; unknown ones ignored).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct WebAppUser {
    /// The platform's user id.
    pub id: i64,
    /// First name.
    pub first_name: String,
    /// Last name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// Username.
    #[serde(default)]
    pub username: Option<String>,
    /// IETF language tag.
    #[serde(default)]
    pub language_code: Option<String>,
}

/// Verified init data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitData {
    /// When it was signed (Unix seconds).
    pub auth_date: u64,
    /// The user, when the data names one.
    pub user: Option<WebAppUser>,
    /// Every field but `hash`, decoded.
    pub fields: BTreeMap<String, String>,
}

/// Checks init data for one bot token.
#[derive(Clone)]
pub struct Verifier {
    secret: [u8; 32],
    max_age: u64,
    clock_skew: u64,
    source: Source,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secret stays out of logs.
        f.debug_struct("Verifier")
            .field("max_age", &self.max_age)
            .field("clock_skew", &self.clock_skew)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Default maximum age of init data, in seconds: one day.
    pub const DEFAULT_MAX_AGE: u64 = 86_400;
    /// Default allowance for a client clock ahead of ours, in seconds.
    pub const DEFAULT_CLOCK_SKEW: u64 = 30;

    /// A verifier for `bot_token`, reading the whole query string.
    pub fn new(bot_token: &str) -> Self {
        let mut mac = HmacSha256::new_from_slice(b"WebAppData").expect("HMAC takes any key length");
        mac.update(bot_token.as_bytes());
        Self {
            secret: mac.finalize().into_bytes().into(),
            max_age: Self::DEFAULT_MAX_AGE,
            clock_skew: Self::DEFAULT_CLOCK_SKEW,
            source: Source::WholeQuery,
        }
    }

    /// Refuse init data older than `seconds`.
    #[must_use]
    pub fn max_age(mut self, seconds: u64) -> Self {
        self.max_age = seconds;
        self
    }

    /// Accept init data signed up to `seconds` in our future.
    #[must_use]
    pub fn clock_skew(mut self, seconds: u64) -> Self {
        self.clock_skew = seconds;
        self
    }

    /// Where the init data is in the query string.
    #[must_use]
    pub fn source(mut self, source: Source) -> Self {
        self.source = source;
        self
    }

    /// Verifies the init data in an upgrade request's query string (without the `?`).
    ///
    /// # Errors
    /// [`InitDataError`].
    pub fn verify_query(&self, query: &str, now_unix: u64) -> Result<InitData, InitDataError> {
        match &self.source {
            Source::WholeQuery => self.verify(query, now_unix),
            Source::Parameter(name) => {
                let value = form_urlencoded::parse(query.as_bytes())
                    .filter(|(key, _)| key == name)
                    .last()
                    .map(|(_, value)| value.into_owned())
                    .ok_or(InitDataError::Missing)?;
                self.verify(&value, now_unix)
            }
        }
    }

    /// Verifies raw init data.
    ///
    /// # Errors
    /// [`InitDataError`].
    pub fn verify(&self, init_data: &str, now_unix: u64) -> Result<InitData, InitDataError> {
        if init_data.is_empty() {
            return Err(InitDataError::Missing);
        }
        let mut fields = BTreeMap::new();
        for piece in init_data.split('&') {
            // As Python's `parse_qsl(strict_parsing=True)`: every field is `key=value`.
            if piece.is_empty() || !piece.contains('=') {
                return Err(InitDataError::Malformed);
            }
            let (key, value) = form_urlencoded::parse(piece.as_bytes())
                .next()
                .ok_or(InitDataError::Malformed)?;
            // The last duplicate wins, as in the platform's own check.
            fields.insert(key.into_owned(), value.into_owned());
        }
        let hash = fields.remove("hash").ok_or(InitDataError::MissingHash)?;
        let expected = hex::decode(&hash).map_err(|_| InitDataError::BadSignature)?;
        let check_string = fields
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(check_string.as_bytes());
        mac.verify_slice(&expected)
            .map_err(|_| InitDataError::BadSignature)?;

        let auth_date: u64 = fields
            .get("auth_date")
            .and_then(|d| d.parse().ok())
            .ok_or(InitDataError::MissingAuthDate)?;
        if auth_date > now_unix.saturating_add(self.clock_skew) {
            return Err(InitDataError::FromTheFuture {
                ahead: auth_date - now_unix,
            });
        }
        let age = now_unix.saturating_sub(auth_date);
        if age > self.max_age {
            return Err(InitDataError::Expired { age });
        }
        let user = match fields.get("user") {
            Some(json) => Some(serde_json::from_str(json).map_err(|_| InitDataError::InvalidUser)?),
            None => None,
        };
        Ok(InitData {
            auth_date,
            user,
            fields,
        })
    }
}
