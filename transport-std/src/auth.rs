//! Authentication at the handshake: a pluggable async verifier sees the upgrade request
//! (query, headers, cookies) before the `101`; on success its identity reaches handlers as
//! the [`Verified`] extractor, on failure the handshake is refused with HTTP 401 and a body,
//! or accepted and closed with 4401 (which a browser can read).
//!
//! [`InitData`] verifies signed WebApp init data (seed 003's scheme) with
//! `webapp_auth::Verifier`, from the whole query string or one parameter, with an
//! injectable clock.
//!
//! ```ignore
//! let app = App::<()>::new("/ws")
//!     .on("Echo", echo)
//!     .authenticate(InitData::new(Verifier::new(TOKEN)), Refusal::Http);
//! async fn echo(Verified(user): Verified<webapp_auth::InitData>, e: Echo) -> ... { ... }
//! ```

use std::any::Any;
use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;

/// The init data verifier crate, re-exported.
pub use webapp_auth;

use crate::app::{App, Decision};
use crate::extract::{ExtractError, FromScope, RequestInfo, Scope};
use crate::handler::BoxFuture;

/// How a failed authentication is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// HTTP 401 with the failure as a plain-text body (seed 003's answer).
    Http,
    /// Accept, then close at once with 4401 and the failure as the reason, for browsers
    /// (they cannot read a refused handshake's status or body).
    Close4401,
}

/// Why a verifier refused a handshake: the body (or close reason) sent to the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthError(pub Cow<'static, str>);

impl AuthError {
    /// An error with this message.
    pub fn new(message: impl Into<Cow<'static, str>>) -> Self {
        Self(message.into())
    }
}

/// Checks an upgrade request; its identity, or why not.
pub trait Verify: Send + Sync + 'static {
    /// What a successful check knows about the client.
    type Identity: Send + Sync + 'static;

    /// Checks the request.
    fn verify(&self, request: Arc<RequestInfo>) -> BoxFuture<Result<Self::Identity, AuthError>>;
}

/// Any async function of the request is a verifier.
impl<F, Fut, T> Verify for F
where
    F: Fn(Arc<RequestInfo>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, AuthError>> + Send + 'static,
    T: Send + Sync + 'static,
{
    type Identity = T;

    fn verify(&self, request: Arc<RequestInfo>) -> BoxFuture<Result<T, AuthError>> {
        Box::pin(self(request))
    }
}

/// The verified identity of the connection, `T` being the verifier's identity type.
#[derive(Debug)]
pub struct Verified<T>(pub Arc<T>);

impl<T> Clone for Verified<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> std::ops::Deref for Verified<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<C, T: Send + Sync + 'static> FromScope<C> for Verified<T> {
    fn from_scope(scope: &Scope<C>) -> Result<Self, ExtractError> {
        scope
            .request
            .identity
            .get()
            .and_then(|identity| identity.clone().downcast::<T>().ok())
            .map(Self)
            .ok_or_else(|| ExtractError::new("verified", "no verified identity of this type"))
    }
}

/// Signed WebApp init data (seed 003), verified with [`webapp_auth::Verifier`] against a
/// clock that tests can pin.
#[derive(Debug)]
pub struct InitData {
    verifier: webapp_auth::Verifier,
    clock: fn() -> u64,
}

/// Seconds since the Unix epoch, from the system clock.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl InitData {
    /// Verifies with `verifier` (its source: the whole query or one parameter) against the
    /// system clock.
    pub fn new(verifier: webapp_auth::Verifier) -> Self {
        Self {
            verifier,
            clock: unix_now,
        }
    }

    /// The clock, in Unix seconds.
    #[must_use]
    pub fn clock(mut self, clock: fn() -> u64) -> Self {
        self.clock = clock;
        self
    }
}

impl Verify for InitData {
    type Identity = webapp_auth::InitData;

    fn verify(&self, request: Arc<RequestInfo>) -> BoxFuture<Result<Self::Identity, AuthError>> {
        let result = self
            .verifier
            .verify_query(request.query().unwrap_or(""), (self.clock)())
            .map_err(|error| {
                tracing::debug!(%error, "init data refused");
                AuthError::new("Invalid init data\n")
            });
        Box::pin(async move { result })
    }
}

impl<C: Default + Send + Sync + 'static> App<C> {
    /// Authenticates every handshake with `verifier` before the upgrade, after the decision
    /// set with [`handshake`](Self::handshake) (in either order of the calls) has accepted.
    /// The identity is read with the [`Verified`] extractor; a failure is answered as
    /// `refusal` says.
    #[must_use]
    pub fn authenticate<V: Verify>(mut self, verifier: V, refusal: Refusal) -> Self {
        let verifier = Arc::new(verifier);
        self.authentication = Some(Arc::new(move |request: Arc<RequestInfo>| {
            let verifier = verifier.clone();
            Box::pin(async move {
                match verifier.verify(request.clone()).await {
                    Ok(identity) => {
                        let identity: Arc<dyn Any + Send + Sync> = Arc::new(identity);
                        let _ = request.identity.set(identity);
                        Decision::Accept
                    }
                    Err(AuthError(message)) => match refusal {
                        Refusal::Http => Decision::reject(http::StatusCode::UNAUTHORIZED, message),
                        Refusal::Close4401 => Decision::close_after_accept(4401, message),
                    },
                }
            })
        }));
        self.compose_decision();
        self
    }
}
