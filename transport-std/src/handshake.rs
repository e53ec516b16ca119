//! The HTTP side of the WebSocket handshake: request checks, origin policy, the `101`
//! answer. The codec is negotiated by the core (`protocol_core::negotiate`).

use http::StatusCode;
use http::header::{self, HeaderMap, HeaderValue};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::app::{HttpResponse, http_response};
use crate::config::OriginPolicy;

/// Whether a header holds `token` in its comma-separated list (case-insensitive).
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Whether the request asks for a WebSocket (`Connection: upgrade`, `Upgrade: websocket`).
pub(crate) fn wants_websocket(headers: &HeaderMap) -> bool {
    has_token(headers, header::CONNECTION, "upgrade")
        && has_token(headers, header::UPGRADE, "websocket")
}

/// Checks an upgrade request (RFC 6455 §4.2.1); the `Sec-WebSocket-Accept` value, or the
/// HTTP answer to send instead.
pub(crate) fn check_upgrade(
    method: &http::Method,
    headers: &HeaderMap,
) -> Result<String, Box<HttpResponse>> {
    if method != http::Method::GET {
        return Err(Box::new(text(
            StatusCode::METHOD_NOT_ALLOWED,
            "WebSocket upgrades use GET\n",
        )));
    }
    if !wants_websocket(headers) {
        let mut response = text(
            StatusCode::UPGRADE_REQUIRED,
            "this path speaks WebSocket: send an upgrade request\n",
        );
        response
            .headers_mut()
            .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        return Err(Box::new(response));
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        let mut response = text(
            StatusCode::UPGRADE_REQUIRED,
            "unsupported WebSocket version: this server speaks version 13\n",
        );
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return Err(Box::new(response));
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .map(HeaderValue::as_bytes)
        .filter(|k| is_websocket_key(k))
        .ok_or_else(|| {
            Box::new(text(
                StatusCode::BAD_REQUEST,
                "missing or malformed Sec-WebSocket-Key\n",
            ))
        })?;
    Ok(derive_accept_key(key))
}

/// A key is the base64 encoding of 16 bytes: 22 characters and `==`.
fn is_websocket_key(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

/// Every offered subprotocol, joined (several headers count as one list).
pub(crate) fn offered_subprotocols(headers: &HeaderMap) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// Whether the request's `Origin` is allowed. No `Origin` (a non-browser client) is allowed.
pub(crate) fn origin_allowed(policy: &OriginPolicy, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    match policy {
        OriginPolicy::Any => true,
        OriginPolicy::List(allowed) => allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)),
        OriginPolicy::SameHost => {
            let authority = origin
                .split_once("://")
                .map_or(origin, |(_, rest)| rest)
                .trim_end_matches('/');
            headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .is_some_and(|host| host.eq_ignore_ascii_case(authority))
        }
    }
}

/// The `101 Switching Protocols` answer.
pub(crate) fn switching_protocols(accept: &str, subprotocol: Option<&'static str>) -> HttpResponse {
    let mut response = HttpResponse::new(Default::default());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(value) = HeaderValue::from_str(accept) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, value);
    }
    if let Some(protocol) = subprotocol {
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(protocol),
        );
    }
    response
}

/// A plain-text answer.
pub(crate) fn text(status: StatusCode, body: impl Into<bytes::Bytes>) -> HttpResponse {
    http_response(status, "text/plain; charset=utf-8", body)
}

/// A URI for logs: the path, with the query replaced (it may carry tokens).
pub(crate) fn redacted(uri: &http::Uri) -> String {
    match uri.query() {
        Some(_) => format!("{}?<redacted>", uri.path()),
        None => uri.path().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (n, v) in pairs {
            map.append(*n, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn upgrade_checks() {
        let good = headers(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ]);
        // RFC 6455's example.
        assert_eq!(
            check_upgrade(&http::Method::GET, &good).unwrap(),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        let status = |h: &HeaderMap| check_upgrade(&http::Method::GET, h).unwrap_err().status();
        assert_eq!(status(&headers(&[])), StatusCode::UPGRADE_REQUIRED);
        let mut old = good.clone();
        old.insert("sec-websocket-version", HeaderValue::from_static("8"));
        assert_eq!(status(&old), StatusCode::UPGRADE_REQUIRED);
        let mut bad_key = good.clone();
        bad_key.insert("sec-websocket-key", HeaderValue::from_static("short"));
        assert_eq!(status(&bad_key), StatusCode::BAD_REQUEST);
        assert_eq!(
            check_upgrade(&http::Method::POST, &good)
                .unwrap_err()
                .status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }

    #[test]
    fn origins() {
        let same = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
        ]);
        let other = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://evil.example"),
        ]);
        let none = headers(&[("host", "127.0.0.1:8080")]);
        assert!(origin_allowed(&OriginPolicy::SameHost, &same));
        assert!(!origin_allowed(&OriginPolicy::SameHost, &other));
        assert!(origin_allowed(&OriginPolicy::SameHost, &none));
        assert!(origin_allowed(&OriginPolicy::Any, &other));
        let list = OriginPolicy::List(vec!["http://evil.example".into()]);
        assert!(origin_allowed(&list, &other));
        assert!(!origin_allowed(&list, &same));
    }

    #[test]
    fn redaction() {
        let uri: http::Uri = "/ws?token=secret".parse().unwrap();
        assert_eq!(redacted(&uri), "/ws?<redacted>");
        let uri: http::Uri = "/ws".parse().unwrap();
        assert_eq!(redacted(&uri), "/ws");
    }
}
