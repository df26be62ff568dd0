//! Checks a request head the way actix-http's decoder will, so that every head it would
//! refuse with a bare status is refused here first, and says how the body is framed.

/// actix-http's limits: its read buffer (a head must complete within it) and header count.
pub const MAX_HEAD_BYTES: usize = 128 * 1024;
const MAX_HEADERS: usize = 96;

/// Why a request head is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    HeadTooLarge,
    TooManyHeaders,
    Malformed,
    Timeout,
}

impl Rejection {
    pub const ALL: [Rejection; 4] = [
        Rejection::HeadTooLarge,
        Rejection::TooManyHeaders,
        Rejection::Malformed,
        Rejection::Timeout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::HeadTooLarge => "head_too_large",
            Rejection::TooManyHeaders => "too_many_headers",
            Rejection::Malformed => "malformed",
            Rejection::Timeout => "timeout",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

/// How the body after a head ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    None,
    Length(u64),
    Chunked,
    /// The connection is handed over (CONNECT, WebSocket upgrade): nothing more to frame.
    Opaque,
}

/// `Ok(None)`: the head is not complete yet.
pub fn inspect(bytes: &[u8]) -> Result<Option<(usize, Body)>, Rejection> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let len = match request.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if bytes.len() >= MAX_HEAD_BYTES => {
            return Err(Rejection::HeadTooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(Rejection::TooManyHeaders),
        Err(_) => return Err(Rejection::Malformed),
    };
    if len >= MAX_HEAD_BYTES {
        return Err(Rejection::HeadTooLarge);
    }
    let method = request.method.unwrap_or_default();
    if actix_web::http::Method::from_bytes(method.as_bytes()).is_err()
        || request
            .path
            .is_none_or(|p| p.parse::<actix_web::http::Uri>().is_err())
    {
        return Err(Rejection::Malformed);
    }
    let http11 = request.version == Some(1);
    framing(request.headers, method, http11).map(|body| Some((len, body)))
}

/// actix-http's rules (decoder.rs `set_headers` and `Request::decode`).
fn framing(
    headers: &[httparse::Header<'_>],
    method: &str,
    http11: bool,
) -> Result<Body, Rejection> {
    let mut length = None;
    let mut chunked = false;
    let mut transfer_encoding = false;
    let mut host = false;
    let mut websocket = false;
    for header in headers {
        let value = std::str::from_utf8(header.value).map(str::trim);
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            let Ok(value) = value else {
                return Err(Rejection::Malformed);
            };
            if length.is_some() || value.starts_with('+') {
                return Err(Rejection::Malformed);
            }
            length = Some(value.parse::<u64>().map_err(|_| Rejection::Malformed)?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            if transfer_encoding || !http11 {
                return Err(Rejection::Malformed);
            }
            transfer_encoding = true;
            match value {
                Ok(v) if v.eq_ignore_ascii_case("chunked") => chunked = true,
                _ => return Err(Rejection::Malformed),
            }
        } else if name.eq_ignore_ascii_case("host") {
            if host {
                return Err(Rejection::Malformed);
            }
            host = true;
        } else if name.eq_ignore_ascii_case("upgrade") {
            websocket |= value.is_ok_and(|v| v.eq_ignore_ascii_case("websocket"));
        }
    }
    if (http11 && !host)
        || (chunked && length.is_some())
        || (!http11 && method == "POST" && length.is_none())
    {
        return Err(Rejection::Malformed);
    }
    Ok(if method == "CONNECT" || (websocket && !chunked) {
        Body::Opaque
    } else if chunked {
        Body::Chunked
    } else {
        match length {
            Some(0) | None => Body::None,
            Some(n) => Body::Length(n),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(head: &str) -> Result<Option<(usize, Body)>, Rejection> {
        inspect(head.as_bytes())
    }

    #[test]
    fn complete_heads_and_their_bodies() {
        let get = "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(check(get), Ok(Some((get.len(), Body::None))));
        let post = "POST /v1/chat HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n{\"a\"";
        assert_eq!(check(post), Ok(Some((post.len() - 4, Body::Length(12)))));
        let chunked = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(check(chunked), Ok(Some((chunked.len(), Body::Chunked))));
        let ws = "GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n";
        assert_eq!(check(ws), Ok(Some((ws.len(), Body::Opaque))));
        assert_eq!(check("GET / HTTP/1.1\r\nHost: x\r\n"), Ok(None));
    }

    #[test]
    fn what_actix_would_refuse_is_refused() {
        for head in [
            "GET / HTTP/1.1\r\nHost: x\r\nX-Bad: a\rb\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            "POST / HTTP/1.0\r\n\r\n",
            "GET / HTTP/9.9\r\nHost: x\r\n\r\n",
        ] {
            assert_eq!(check(head), Err(Rejection::Malformed), "{head:?}");
        }
        let many: String = (0..100).map(|i| format!("X-{i}: 1\r\n")).collect();
        assert_eq!(
            check(&format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n")),
            Err(Rejection::TooManyHeaders)
        );
        let huge = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: {}",
            "p".repeat(MAX_HEAD_BYTES)
        );
        assert_eq!(check(&huge), Err(Rejection::HeadTooLarge));
    }
}
