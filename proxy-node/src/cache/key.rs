//! Cache keys. A key names the project first, so purging a project is purging a prefix, and a
//! cached answer is never served across projects:
//!
//! `{project}:{METHOD}:{provider}:{host}{path}[?{sorted query}]:{digest}`
//!
//! `digest` covers the body and the request headers that change what the upstream answers
//! (`accept`, `anthropic-version`, `anthropic-beta`, `openai-organization`, `openai-project`,
//! `openai-beta`). An answer with `Vary` is stored under `{primary}#{hash of those values}`.

use actix_web::http::header::HeaderMap;
use sha2::{Digest, Sha256};
use uuid::Uuid;

const SEMANTIC_HEADERS: &[&str] = &[
    "accept",
    "anthropic-version",
    "anthropic-beta",
    "openai-organization",
    "openai-project",
    "openai-beta",
];

/// Queries longer than this are keyed by their hash.
const MAX_QUERY: usize = 512;

pub struct KeyParts<'a> {
    pub project: Uuid,
    pub method: &'a str,
    pub provider: &'a str,
    pub upstream: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub body: &'a [u8],
    pub headers: &'a HeaderMap,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 128 bits of SHA-256, hex.
fn short_hash(hasher: Sha256) -> String {
    hex(&hasher.finalize()[..16])
}

fn header_values(headers: &HeaderMap, name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, value) in headers.get_all(name).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(value.as_bytes());
    }
    out
}

pub fn sorted_query(query: &str) -> String {
    let mut pairs: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    pairs.sort_unstable();
    let joined = pairs.join("&");
    if joined.len() <= MAX_QUERY {
        return joined;
    }
    let mut hasher = Sha256::new();
    hasher.update(joined.as_bytes());
    format!("#{}", short_hash(hasher))
}

pub fn primary(parts: &KeyParts<'_>) -> String {
    let mut hasher = Sha256::new();
    hasher.update((parts.body.len() as u64).to_be_bytes());
    hasher.update(parts.body);
    for name in SEMANTIC_HEADERS {
        hasher.update([0]);
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(header_values(parts.headers, name));
    }
    let query = sorted_query(parts.query);
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    format!(
        "{}:{}:{}:{}{}{}:{}",
        parts.project,
        parts.method,
        parts.provider,
        parts.upstream,
        parts.path,
        query,
        short_hash(hasher)
    )
}

/// The key of the variant of `primary` this request selects, given the answer's `Vary` names.
pub fn variant(primary: &str, vary: &[String], headers: &HeaderMap) -> String {
    let mut hasher = Sha256::new();
    for name in vary {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(header_values(headers, name));
        hasher.update([0]);
    }
    format!("{primary}#{}", short_hash(hasher))
}

/// The prefix every key of a project starts with.
pub fn project_prefix(project: Uuid) -> String {
    format!("{project}:")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use actix_web::test::TestRequest;

    fn parts<'a>(project: Uuid, body: &'a [u8], headers: &'a HeaderMap) -> KeyParts<'a> {
        KeyParts {
            project,
            method: "POST",
            provider: "openai",
            upstream: "api.openai.com",
            path: "/v1/chat/completions",
            query: "b=2&a=1",
            body,
            headers,
        }
    }

    #[test]
    fn keys_start_with_the_project_and_sort_the_query() {
        let headers = HeaderMap::new();
        let p = Uuid::new_v4();
        let key = primary(&parts(p, b"{}", &headers));
        assert!(key.starts_with(&project_prefix(p)));
        assert!(key.contains(":POST:openai:api.openai.com/v1/chat/completions?a=1&b=2:"));
        assert_ne!(key, primary(&parts(Uuid::new_v4(), b"{}", &headers)));
        assert_ne!(key, primary(&parts(p, b"{ }", &headers)));
        assert_eq!(key, primary(&parts(p, b"{}", &headers)));
    }

    #[test]
    fn semantic_headers_and_vary_values_change_the_key() {
        let p = Uuid::new_v4();
        let plain = HeaderMap::new();
        let req = TestRequest::default()
            .insert_header(("anthropic-version", "2023-06-01"))
            .insert_header(("accept-language", "de"))
            .to_http_request();
        let versioned = req.headers();
        assert_ne!(
            primary(&parts(p, b"{}", &plain)),
            primary(&parts(p, b"{}", versioned))
        );
        let names = vec!["accept-language".to_owned()];
        assert_ne!(
            variant("k", &names, &plain),
            variant("k", &names, versioned)
        );
        assert!(variant("k", &names, &plain).starts_with("k#"));
    }

    #[test]
    fn long_queries_are_hashed() {
        let long = "x=".to_owned() + &"y".repeat(2000);
        let sorted = sorted_query(&long);
        assert!(sorted.starts_with('#') && sorted.len() < 64);
    }
}
