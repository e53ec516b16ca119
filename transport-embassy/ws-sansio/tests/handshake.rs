//! Opening handshake rules (RFC 6455 §4), both roles.

mod common;

use common::*;
use ws_sansio::{
    AcceptKey, ClientHandshake, Connection, EncodeError, HeaderBuffer, RequestError, ResponseError,
    Status, UpgradeRequest, write_response,
};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

fn request_with(headers: &[&str]) -> String {
    let mut request = String::from("GET /chat?room=1&x=y HTTP/1.1\r\n");
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    request
}

fn standard_headers() -> Vec<&'static str> {
    vec![
        "Host: example.com:8080",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        "Origin: http://example.com",
        "Cookie: session=abc",
    ]
}

fn replace(headers: &[&'static str], name: &str, line: Option<&'static str>) -> Vec<&'static str> {
    let mut out: Vec<_> = headers
        .iter()
        .copied()
        .filter(|h| !h.starts_with(&format!("{name}:")))
        .collect();
    out.extend(line);
    out
}

/// Parses `request` with a header buffer of `capacity` bytes and hands the
/// outcome to `check`.
fn with_request<T>(
    request: &[u8],
    capacity: usize,
    check: impl FnOnce(Result<Status<UpgradeRequest<'_>>, RequestError>) -> T,
) -> T {
    let mut storage = vec![0; capacity];
    let mut buffer = HeaderBuffer::new(&mut storage);
    buffer.feed(request);
    check(buffer.parse_request())
}

fn request_error(request: &str) -> RequestError {
    with_request(request.as_bytes(), 4096, |outcome| match outcome {
        Err(error) => error,
        Ok(other) => panic!("accepted: {other:?}"),
    })
}

fn response_text(error: RequestError) -> String {
    let mut out = [0; 512];
    let len = error.write_response(&mut out).unwrap();
    String::from_utf8(out[..len].to_vec()).unwrap()
}

// ---- server: accepting ----

#[test]
fn accepts_valid_upgrade_request() {
    let request = request_with(&standard_headers());
    with_request(request.as_bytes(), 1024, |outcome| {
        let Ok(Status::Complete(request_parsed)) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(request_parsed.path(), "/chat");
        assert_eq!(request_parsed.query(), Some("room=1&x=y"));
        assert_eq!(request_parsed.target(), "/chat?room=1&x=y");
        assert_eq!(request_parsed.key(), KEY);
        assert_eq!(
            request_parsed.header("origin"),
            Some(&b"http://example.com"[..])
        );
        assert_eq!(request_parsed.header("COOKIE"), Some(&b"session=abc"[..]));
        assert_eq!(
            request_parsed.headers().get_str("Host"),
            Some("example.com:8080")
        );
        assert_eq!(request_parsed.headers().len(), 7);
        assert_eq!(request_parsed.header_len(), request.len());
    });
}

#[test]
fn path_without_query_has_no_query() {
    let request = request_with(&standard_headers()).replacen("/chat?room=1&x=y", "/", 1);
    with_request(request.as_bytes(), 1024, |outcome| {
        let Ok(Status::Complete(request)) = outcome else {
            panic!()
        };
        assert_eq!((request.path(), request.query()), ("/", None));
    });
}

#[test]
fn accept_key_matches_rfc_example() {
    assert_eq!(AcceptKey::new(KEY).as_str(), ACCEPT);
}

#[test]
fn switching_protocols_response_has_accept_key() {
    let request = request_with(&standard_headers());
    with_request(request.as_bytes(), 1024, |outcome| {
        let Ok(Status::Complete(request)) = outcome else {
            panic!()
        };
        let mut out = [0; 256];
        let len = request
            .write_accept(None, &[("Set-Cookie", "a=b")], &mut out)
            .unwrap();
        assert_eq!(
            std::str::from_utf8(&out[..len]).unwrap(),
            "HTTP/1.1 101 Switching Protocols\r\n\
             Upgrade: websocket\r\n\
             Connection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
             Set-Cookie: a=b\r\n\r\n"
        );
    });
}

#[test]
fn connection_header_token_list_accepted() {
    for connection in [
        "Connection: keep-alive, Upgrade",
        "Connection: upgrade",
        "Connection: UPGRADE,close",
    ] {
        let headers = replace(&standard_headers(), "Connection", Some(connection));
        with_request(request_with(&headers).as_bytes(), 1024, |outcome| {
            assert!(
                matches!(outcome, Ok(Status::Complete(_))),
                "{connection}: {outcome:?}"
            );
        });
    }
}

#[test]
fn connection_header_without_upgrade_token_is_400() {
    for connection in [
        Some("Connection: keep-alive"),
        Some("Connection: upgraded"),
        None,
    ] {
        let headers = replace(&standard_headers(), "Connection", connection);
        let error = request_error(&request_with(&headers));
        assert_eq!(error, RequestError::MissingConnectionUpgrade);
        assert_eq!(error.status(), 400);
    }
}

#[test]
fn upgrade_header_is_case_insensitive() {
    let headers = replace(&standard_headers(), "Upgrade", Some("Upgrade: WebSocket"));
    with_request(request_with(&headers).as_bytes(), 1024, |outcome| {
        assert!(matches!(outcome, Ok(Status::Complete(_))));
    });
}

#[test]
fn missing_upgrade_websocket_is_400() {
    for upgrade in [Some("Upgrade: h2c"), None] {
        let headers = replace(&standard_headers(), "Upgrade", upgrade);
        assert_eq!(
            request_error(&request_with(&headers)),
            RequestError::MissingUpgrade
        );
    }
    assert!(
        response_text(RequestError::MissingUpgrade).starts_with("HTTP/1.1 400 Bad Request\r\n")
    );
}

#[test]
fn non_get_is_405() {
    let request = request_with(&standard_headers()).replacen("GET", "POST", 1);
    let error = request_error(&request);
    assert_eq!((error, error.status()), (RequestError::NotGet, 405));
    assert!(response_text(error).contains("\r\nAllow: GET\r\n"));
}

#[test]
fn http_1_0_is_400() {
    let request = request_with(&standard_headers()).replacen("HTTP/1.1", "HTTP/1.0", 1);
    assert_eq!(
        request_error(&request),
        RequestError::UnsupportedHttpVersion
    );
}

#[test]
fn missing_host_is_400() {
    let headers = replace(&standard_headers(), "Host", None);
    assert_eq!(
        request_error(&request_with(&headers)),
        RequestError::MissingHost
    );
}

#[test]
fn version_not_13_gets_426() {
    for version in [
        Some("Sec-WebSocket-Version: 8"),
        Some("Sec-WebSocket-Version: 14"),
        None,
    ] {
        let headers = replace(&standard_headers(), "Sec-WebSocket-Version", version);
        let error = request_error(&request_with(&headers));
        assert_eq!(
            (error, error.status()),
            (RequestError::UnsupportedVersion, 426)
        );
        let response = response_text(error);
        assert!(
            response.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
            "{response}"
        );
        assert!(
            response.contains("\r\nSec-WebSocket-Version: 13\r\n"),
            "{response}"
        );
    }
}

#[test]
fn invalid_key_is_400() {
    for key in [
        Some("Sec-WebSocket-Key: not base64 at all!!!!!!"),
        Some("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j"), // 15 bytes
        Some("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZTE="), // 17 bytes
        Some("Sec-WebSocket-Key: "),
        None,
    ] {
        let headers = replace(&standard_headers(), "Sec-WebSocket-Key", key);
        let error = request_error(&request_with(&headers));
        assert_eq!(
            (error, error.status()),
            (RequestError::InvalidKey, 400),
            "{key:?}"
        );
    }
}

#[test]
fn repeated_key_is_400() {
    let mut headers = standard_headers();
    headers.push("Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==");
    assert_eq!(
        request_error(&request_with(&headers)),
        RequestError::InvalidKey
    );
}

#[test]
fn malformed_request_is_400() {
    let error = request_error("GET /chat HTTP/1.1\r\nBad Header Line\r\n\r\n");
    assert_eq!((error, error.status()), (RequestError::Malformed, 400));
}

#[test]
fn incomplete_request_needs_more_bytes() {
    let request = request_with(&standard_headers());
    for len in 0..request.len() {
        with_request(&request.as_bytes()[..len], 1024, |outcome| {
            assert!(matches!(outcome, Ok(Status::Incomplete)), "prefix {len}");
        });
    }
}

#[test]
fn request_parsed_byte_by_byte_gives_same_result() {
    let request = request_with(&standard_headers());
    let mut storage = [0; 1024];
    let mut buffer = HeaderBuffer::new(&mut storage);
    for (i, byte) in request.bytes().enumerate() {
        // Reading straight into the free space works like feed.
        buffer.unfilled()[0] = byte;
        buffer.advance(1);
        let done = matches!(buffer.parse_request(), Ok(Status::Complete(_)));
        assert_eq!(done, i == request.len() - 1, "byte {i}");
    }
}

#[test]
fn header_overflow_is_431() {
    let request = request_with(&standard_headers());
    // One byte short of the whole header section.
    let error = with_request(request.as_bytes(), request.len() - 1, |outcome| {
        outcome.unwrap_err()
    });
    assert_eq!((error, error.status()), (RequestError::TooLarge, 431));
    assert!(response_text(error).starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    // Exactly fitting is fine.
    with_request(request.as_bytes(), request.len(), |outcome| {
        assert!(matches!(outcome, Ok(Status::Complete(_))));
    });
}

#[test]
fn too_many_header_lines_is_431() {
    let extra: Vec<String> = (0..ws_sansio::MAX_HEADERS)
        .map(|i| format!("X-{i}: y"))
        .collect();
    let mut headers: Vec<&str> = standard_headers();
    headers.extend(extra.iter().map(String::as_str));
    assert_eq!(
        request_error(&request_with(&headers)),
        RequestError::TooLarge
    );
}

// ---- server: subprotocols and extensions ----

fn with_protocols<T>(lines: &[&'static str], check: impl FnOnce(&UpgradeRequest<'_>) -> T) -> T {
    let mut headers = standard_headers();
    headers.extend(lines);
    with_request(request_with(&headers).as_bytes(), 1024, |outcome| {
        let Ok(Status::Complete(request)) = outcome else {
            panic!("{outcome:?}")
        };
        check(&request)
    })
}

#[test]
fn subprotocol_selected_in_server_preference_order() {
    with_protocols(&["Sec-WebSocket-Protocol: chat, superchat"], |request| {
        assert_eq!(
            request.select_protocol(&["superchat", "chat"]),
            Some("superchat")
        );
        assert_eq!(
            request.select_protocol(&["chat", "superchat"]),
            Some("chat")
        );
    });
}

#[test]
fn unknown_subprotocols_leave_the_choice_to_the_caller() {
    with_protocols(&["Sec-WebSocket-Protocol: v2.foo , v3.foo"], |request| {
        assert_eq!(request.select_protocol(&["chat"]), None);
        let offered: Vec<_> = request.offered_protocols().collect();
        assert_eq!(offered, ["v2.foo", "v3.foo"]);
        // The caller may still pick one it saw.
        let mut out = [0; 256];
        let len = request
            .write_accept(Some(offered[1]), &[], &mut out)
            .unwrap();
        let text = std::str::from_utf8(&out[..len]).unwrap();
        assert!(text.contains("\r\nSec-WebSocket-Protocol: v3.foo\r\n"));
    });
}

#[test]
fn subprotocol_offers_across_repeated_headers() {
    with_protocols(
        &["Sec-WebSocket-Protocol: a", "sec-websocket-protocol: b, c"],
        |request| {
            assert_eq!(
                request.offered_protocols().collect::<Vec<_>>(),
                ["a", "b", "c"]
            );
            assert_eq!(request.select_protocol(&["c"]), Some("c"));
        },
    );
}

#[test]
fn protocol_header_only_sent_when_selected() {
    with_protocols(&["Sec-WebSocket-Protocol: chat"], |request| {
        let mut out = [0; 256];
        let len = request.write_accept(None, &[], &mut out).unwrap();
        let text = std::str::from_utf8(&out[..len]).unwrap();
        assert!(
            !text.to_ascii_lowercase().contains("sec-websocket-protocol"),
            "{text}"
        );
    });
}

#[test]
fn extension_offers_are_ignored() {
    with_protocols(
        &["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"],
        |request| {
            let mut out = [0; 256];
            let len = request.write_accept(None, &[], &mut out).unwrap();
            let text = std::str::from_utf8(&out[..len]).unwrap();
            assert!(!text.to_ascii_lowercase().contains("extensions"), "{text}");
        },
    );
}

#[test]
fn write_accept_reports_needed_length() {
    with_protocols(&[], |request| {
        let mut big = [0; 256];
        let len = request.write_accept(None, &[], &mut big).unwrap();
        let mut small = vec![0; len - 1];
        assert_eq!(
            request.write_accept(None, &[], &mut small),
            Err(EncodeError::BufferTooSmall { needed: len })
        );
    });
}

#[test]
fn header_injection_is_refused() {
    with_protocols(&[], |request| {
        let mut out = [0; 256];
        assert_eq!(
            request.write_accept(None, &[("X", "a\r\nInjected: yes")], &mut out),
            Err(EncodeError::InvalidHttpField)
        );
        assert_eq!(
            request.write_accept(Some("bad protocol"), &[], &mut out),
            Err(EncodeError::InvalidHttpField)
        );
    });
}

#[test]
fn error_response_with_any_status_and_short_body() {
    let mut out = [0; 256];
    let len = write_response(&mut out, 403, &[("X-Reason", "origin")], "forbidden origin").unwrap();
    assert_eq!(
        std::str::from_utf8(&out[..len]).unwrap(),
        "HTTP/1.1 403 Forbidden\r\nX-Reason: origin\r\nConnection: close\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Length: 16\r\n\r\nforbidden origin"
    );
    assert_eq!(
        write_response(&mut out, 42, &[], ""),
        Err(EncodeError::InvalidStatus)
    );
    let full = write_response(&mut out, 500, &[], "").unwrap();
    assert_eq!(
        write_response(&mut vec![0; full - 1], 500, &[], ""),
        Err(EncodeError::BufferTooSmall { needed: full })
    );
}

// ---- bytes after the headers ----

#[test]
fn bytes_after_headers_belong_to_frames() {
    let request = request_with(&standard_headers());
    let frame = client_frame(0x81, b"early");
    let mut input = request.clone().into_bytes();
    input.extend_from_slice(&frame);

    let mut storage = [0; 1024];
    let mut buffer = HeaderBuffer::new(&mut storage);
    assert_eq!(buffer.feed(&input), input.len());
    let Ok(Status::Complete(parsed)) = buffer.parse_request() else {
        panic!()
    };
    assert_eq!(parsed.header_len(), request.len());
    let leftover = buffer.after_headers(parsed.header_len());
    assert_eq!(leftover, &frame[..]);

    let mut message = [0; 64];
    let mut connection = Connection::server(&mut message);
    assert_eq!(
        drive(&mut connection, leftover, usize::MAX),
        [Seen::Text("early".into())]
    );
}

#[test]
fn client_gets_frames_sent_right_after_101() {
    let mut random = counting_random();
    let handshake = ClientHandshake::new(&mut random, &[]);
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        AcceptKey::new(handshake.key()).as_str()
    );
    let mut input = response.clone().into_bytes();
    input.extend_from_slice(&server_frame(0x82, &[1, 2, 3]));
    let mut storage = [0; 512];
    let mut buffer = HeaderBuffer::new(&mut storage);
    buffer.feed(&input);
    let Ok(Status::Complete(parsed)) = buffer.parse_response(&handshake) else {
        panic!()
    };
    assert_eq!(parsed.header_len(), response.len());
    let mut message = [0; 64];
    let mut connection = Connection::client(&mut message, random);
    let seen = drive(
        &mut connection,
        buffer.after_headers(parsed.header_len()),
        1,
    );
    assert_eq!(seen, [Seen::Binary(vec![1, 2, 3])]);
}

// ---- client ----

fn client_request(handshake: &ClientHandshake<'_>) -> String {
    let mut out = [0; 512];
    let len = handshake
        .write_request(
            "example.com:8080",
            "/chat?room=1",
            &[("Origin", "http://example.com")],
            &mut out,
        )
        .unwrap();
    String::from_utf8(out[..len].to_vec()).unwrap()
}

#[test]
fn client_key_comes_from_random_source() {
    let mut random = |dest: &mut [u8]| dest.copy_from_slice(b"the sample nonce");
    let handshake = ClientHandshake::new(&mut random, &[]);
    assert_eq!(handshake.key(), KEY);
}

#[test]
fn client_request_is_accepted_by_our_server() {
    let mut random = counting_random();
    let handshake = ClientHandshake::new(&mut random, &["chat", "superchat"]);
    let request = client_request(&handshake);
    assert!(request.starts_with("GET /chat?room=1 HTTP/1.1\r\nHost: example.com:8080\r\n"));
    assert!(request.contains("\r\nSec-WebSocket-Protocol: chat, superchat\r\n"));
    assert!(request.ends_with("\r\nOrigin: http://example.com\r\n\r\n"));
    with_request(request.as_bytes(), 1024, |outcome| {
        let Ok(Status::Complete(parsed)) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(parsed.key(), handshake.key());
        assert_eq!(parsed.query(), Some("room=1"));
        assert_eq!(parsed.select_protocol(&["superchat"]), Some("superchat"));
    });
}

#[test]
fn client_request_refuses_bad_fields() {
    let handshake = ClientHandshake::new(&mut counting_random(), &["bad name"]);
    let mut out = [0; 512];
    assert_eq!(
        handshake.write_request("h", "/", &[], &mut out),
        Err(EncodeError::InvalidHttpField)
    );
    let handshake = ClientHandshake::new(&mut counting_random(), &[]);
    for (host, target) in [("h", "no-slash"), ("h", "/a b"), ("", "/"), ("h\r\n", "/")] {
        assert_eq!(
            handshake.write_request(host, target, &[], &mut out),
            Err(EncodeError::InvalidHttpField)
        );
    }
    assert!(matches!(
        handshake.write_request("h", "/", &[], &mut [0; 10]),
        Err(EncodeError::BufferTooSmall { .. })
    ));
}

fn response_with(handshake: &ClientHandshake<'_>, status: &str, headers: &[&str]) -> String {
    let accept = AcceptKey::new(handshake.key());
    let mut response = format!("HTTP/1.1 {status}\r\n");
    for header in headers {
        response.push_str(&header.replace("{accept}", accept.as_str()));
        response.push_str("\r\n");
    }
    response.push_str("\r\n");
    response
}

const GOOD_101: &[&str] = &[
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Accept: {accept}",
];

fn parse_response_outcome(
    handshake: &ClientHandshake<'_>,
    response: &str,
) -> Result<Option<String>, ResponseError> {
    let mut storage = [0; 1024];
    let mut buffer = HeaderBuffer::new(&mut storage);
    buffer.feed(response.as_bytes());
    match buffer.parse_response(handshake)? {
        Status::Complete(parsed) => Ok(parsed.protocol().map(str::to_owned)),
        Status::Incomplete => panic!("incomplete"),
    }
}

#[test]
fn client_accepts_valid_101() {
    let handshake = ClientHandshake::new(&mut counting_random(), &[]);
    let response = response_with(&handshake, "101 Switching Protocols", GOOD_101);
    assert_eq!(parse_response_outcome(&handshake, &response), Ok(None));
}

#[test]
fn client_checks_accept_key() {
    let handshake = ClientHandshake::new(&mut counting_random(), &[]);
    let wrong = replace(
        GOOD_101,
        "Sec-WebSocket-Accept",
        Some("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
    );
    for headers in [wrong, replace(GOOD_101, "Sec-WebSocket-Accept", None)] {
        let response = response_with(&handshake, "101 Switching Protocols", &headers);
        assert_eq!(
            parse_response_outcome(&handshake, &response),
            Err(ResponseError::AcceptMismatch)
        );
    }
}

#[test]
fn client_reports_non_101_status() {
    let handshake = ClientHandshake::new(&mut counting_random(), &[]);
    for (status, code) in [
        ("403 Forbidden", 403),
        ("200 OK", 200),
        ("426 Upgrade Required", 426),
    ] {
        let response = response_with(&handshake, status, &["Content-Length: 0"]);
        assert_eq!(
            parse_response_outcome(&handshake, &response),
            Err(ResponseError::Rejected { status: code })
        );
    }
}

#[test]
fn client_requires_upgrade_and_connection_headers() {
    let handshake = ClientHandshake::new(&mut counting_random(), &[]);
    let response = response_with(&handshake, "101 X", &replace(GOOD_101, "Upgrade", None));
    assert_eq!(
        parse_response_outcome(&handshake, &response),
        Err(ResponseError::MissingUpgrade)
    );
    let headers = replace(GOOD_101, "Connection", Some("Connection: keep-alive"));
    let response = response_with(&handshake, "101 X", &headers);
    assert_eq!(
        parse_response_outcome(&handshake, &response),
        Err(ResponseError::MissingConnectionUpgrade)
    );
}

#[test]
fn client_accepts_selected_protocol_that_was_offered() {
    let handshake = ClientHandshake::new(&mut counting_random(), &["chat", "superchat"]);
    let mut headers = GOOD_101.to_vec();
    headers.push("Sec-WebSocket-Protocol: superchat");
    let response = response_with(&handshake, "101 Switching Protocols", &headers);
    assert_eq!(
        parse_response_outcome(&handshake, &response),
        Ok(Some("superchat".into()))
    );
}

#[test]
fn client_rejects_protocol_not_offered() {
    for offered in [&["chat"][..], &[]] {
        let handshake = ClientHandshake::new(&mut counting_random(), offered);
        for selected in [
            "Sec-WebSocket-Protocol: other",
            "Sec-WebSocket-Protocol: chat, chat",
        ] {
            let mut headers = GOOD_101.to_vec();
            headers.push(selected);
            let response = response_with(&handshake, "101 Switching Protocols", &headers);
            assert_eq!(
                parse_response_outcome(&handshake, &response),
                Err(ResponseError::UnexpectedProtocol),
                "{offered:?} {selected}"
            );
        }
    }
}

#[test]
fn client_rejects_extension_it_did_not_offer() {
    let handshake = ClientHandshake::new(&mut counting_random(), &[]);
    let mut headers = GOOD_101.to_vec();
    headers.push("Sec-WebSocket-Extensions: permessage-deflate");
    let response = response_with(&handshake, "101 Switching Protocols", &headers);
    assert_eq!(
        parse_response_outcome(&handshake, &response),
        Err(ResponseError::UnexpectedExtension)
    );
}

#[test]
fn incomplete_response_needs_more_bytes_and_overflow_is_too_large() {
    let handshake = ClientHandshake::new(&mut counting_random(), &[]);
    let response = response_with(&handshake, "101 Switching Protocols", GOOD_101);
    for len in 0..response.len() {
        let mut storage = [0; 1024];
        let mut buffer = HeaderBuffer::new(&mut storage);
        buffer.feed(&response.as_bytes()[..len]);
        assert!(
            matches!(buffer.parse_response(&handshake), Ok(Status::Incomplete)),
            "{len}"
        );
    }
    let mut storage = vec![0; response.len() - 1];
    let mut buffer = HeaderBuffer::new(&mut storage);
    assert_eq!(buffer.feed(response.as_bytes()), response.len() - 1);
    assert!(buffer.is_full());
    assert_eq!(
        buffer.parse_response(&handshake).map(|_| ()),
        Err(ResponseError::TooLarge)
    );
}

#[test]
fn malformed_response_is_reported() {
    let handshake = ClientHandshake::new(&mut counting_random(), &[]);
    assert_eq!(
        parse_response_outcome(&handshake, "HTTP/1.1 abc Nope\r\n\r\n"),
        Err(ResponseError::Malformed)
    );
}
