//! `X-Proxy-Cache` and `Cache-Status` (RFC 9211), and the headers a stored answer keeps.

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::forward::headers::downstream_response;

pub type Headers = Vec<(HeaderName, HeaderValue)>;

pub const X_PROXY_CACHE: &str = "x-proxy-cache";
pub const CACHE_STATUS: &str = "cache-status";
const CACHE_NAME: &str = "llm-proxy";

/// Per-call or per-key headers a replay must not repeat to another client.
const NOT_STORED: &[&str] = &[
    "set-cookie",
    "date",
    "age",
    "x-request-id",
    "request-id",
    "x-upstream-request-id",
    "cf-ray",
    "openai-processing-ms",
    "server-timing",
    "x-proxy-cache",
    "cache-status",
];

pub fn stored_headers(upstream: &HeaderMap) -> Vec<(String, String)> {
    downstream_response(upstream)
        .into_iter()
        .filter(|(name, _)| {
            let name = name.as_str();
            !NOT_STORED.contains(&name) && !name.starts_with("x-ratelimit-")
        })
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect()
}

/// An sf-string `key="…"` parameter, or nothing for a key that cannot be one.
fn key_param(key: &str) -> String {
    if !key.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return String::new();
    }
    let escaped = key.replace('\\', "\\\\").replace('"', "\\\"");
    format!("; key=\"{escaped}\"")
}

fn pair(name: &'static str, value: String) -> Option<(HeaderName, HeaderValue)> {
    Some((
        HeaderName::from_static(name),
        HeaderValue::from_str(&value).ok()?,
    ))
}

fn headers(x_proxy_cache: &'static str, cache_status: String) -> Headers {
    [
        pair(X_PROXY_CACHE, x_proxy_cache.to_owned()),
        pair(CACHE_STATUS, cache_status),
    ]
    .into_iter()
    .flatten()
    .collect()
}

pub fn hit(key: &str, ttl_left: u64) -> Headers {
    headers(
        "hit",
        format!("{CACHE_NAME}; hit; ttl={ttl_left}{}", key_param(key)),
    )
}

/// A lookup that found nothing (`vary_miss`: the key has answers, none for this variant);
/// `stored` when the answer is being kept.
pub fn miss(key: &str, status: u16, vary_miss: bool, stored: bool) -> Headers {
    let fwd = if vary_miss { "vary-miss" } else { "uri-miss" };
    let stored_param = if stored { "; stored" } else { "" };
    headers(
        if stored { "stored" } else { "miss" },
        format!(
            "{CACHE_NAME}; fwd={fwd}; fwd-status={status}{stored_param}{}",
            key_param(key)
        ),
    )
}

/// The client asked for a fresh answer (`no-cache`): not looked up, maybe stored.
pub fn refreshed(key: &str, status: u16, stored: bool) -> Headers {
    let stored_param = if stored { "; stored" } else { "" };
    headers(
        if stored { "stored" } else { "miss" },
        format!(
            "{CACHE_NAME}; fwd=request; fwd-status={status}{stored_param}{}",
            key_param(key)
        ),
    )
}

/// Not cacheable (`reason`: `method` for a POST without opt-in, `request` for `no-store`).
pub fn bypass(reason: &'static str) -> Headers {
    let fwd = match reason {
        "method" => "method",
        "request" => "request",
        _ => "bypass",
    };
    headers("bypass", format!("{CACHE_NAME}; fwd={fwd}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value<'a>(headers: &'a Headers, name: &str) -> &'a str {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.to_str().ok())
            .unwrap_or_default()
    }

    #[test]
    fn statuses_read_like_rfc_9211() {
        let h = hit("p:GET:x", 30);
        assert_eq!(value(&h, X_PROXY_CACHE), "hit");
        assert_eq!(
            value(&h, CACHE_STATUS),
            "llm-proxy; hit; ttl=30; key=\"p:GET:x\""
        );
        let m = miss("k\"q", 200, false, true);
        assert_eq!(value(&m, X_PROXY_CACHE), "stored");
        assert_eq!(
            value(&m, CACHE_STATUS),
            "llm-proxy; fwd=uri-miss; fwd-status=200; stored; key=\"k\\\"q\""
        );
        assert_eq!(
            value(&bypass("method"), CACHE_STATUS),
            "llm-proxy; fwd=method"
        );
        assert_eq!(value(&miss("k", 500, true, false), X_PROXY_CACHE), "miss");
    }
}
