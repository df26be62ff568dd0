//! Property tests (bounded: 256 cases each, so CI stays fast) for the parsers that read
//! untrusted input: the token parser, the route parser, the SSE parser, the usage-chunk filter
//! and session-id extraction. Beyond "never panics", each checks what must always hold.

#![allow(clippy::unwrap_used)]

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use llm_proxy_core::token_secret::TokenSecret;
use llm_proxy_platform::Settings;
use proptest::prelude::*;
use proxy_node::provider::Providers;
use proxy_node::sse::SseParser;
use proxy_node::usage::strip::UsageChunkFilter;
use proxy_node::{credentials, routing, session};
use serde_json::json;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn headers(pairs: &[(&str, Vec<u8>)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value),
        ) {
            map.append(name, value);
        }
    }
    map
}

fn providers() -> Providers {
    let mut settings = Settings::default();
    if let Some(openai) = settings.providers.get_mut("openai") {
        openai.allowed_upstreams = vec!["eu.api.openai.com".into(), "127.0.0.1:9000".into()];
    }
    Providers::from_settings(&settings)
}

/// Path segments an attacker would try.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("v1".to_owned()),
        Just("openai".to_owned()),
        Just("anthropic".to_owned()),
        Just("..".to_owned()),
        Just(".".to_owned()),
        Just("%2e%2e".to_owned()),
        Just("%2F".to_owned()),
        Just("eu.api.openai.com".to_owned()),
        Just("127.0.0.1:9000".to_owned()),
        Just("127.0.0.1:9001".to_owned()),
        Just("localhost".to_owned()),
        Just("user@evil.com".to_owned()),
        Just("169.254.169.254".to_owned()),
        Just("chat".to_owned()),
        Just("completions".to_owned()),
        "[a-zA-Z0-9._~%@:;=\\[\\]-]{0,12}",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn token_parser_accepts_only_well_formed_tokens(value in proptest::collection::vec(any::<u8>(), 0..200), scheme in prop_oneof![Just("Bearer "), Just("bearer "), Just("")]) {
        let mut raw = scheme.as_bytes().to_vec();
        raw.extend_from_slice(&value);
        for name in ["authorization", "x-api-key", "api-key"] {
            let map = headers(&[(name, raw.clone())]);
            if let Ok(token) = credentials::token_from_headers(&map) {
                // Whatever was accepted parses again to itself and is what the client sent.
                prop_assert_eq!(TokenSecret::parse(token.expose()).ok(), Some(token.clone()));
                prop_assert!(String::from_utf8_lossy(&raw).contains(token.expose()));
            }
        }
    }

    #[test]
    fn real_tokens_are_always_accepted(scheme in prop_oneof![Just("Bearer "), Just("bearer "), Just("BEARER  ")]) {
        let token = TokenSecret::generate();
        let map = headers(&[("authorization", format!("{scheme}{}", token.expose()).into_bytes())]);
        prop_assert_eq!(credentials::token_from_headers(&map).ok(), Some(token));
    }

    #[test]
    fn routes_never_leave_the_allowed_upstreams(segments in proptest::collection::vec(segment(), 0..6)) {
        let providers = providers();
        let path = format!("/{}", segments.join("/"));
        if let Ok(route) = routing::resolve(&providers, &path) {
            let allowed = route.upstream_host == route.provider.host
                || route.provider.upstreams.contains(&route.upstream_host);
            prop_assert!(allowed, "{} → {}", path, route.upstream_host);
            prop_assert!(route.path.starts_with('/'));
            prop_assert!(!route.path.split('/').any(|s| s == ".." || s == "."), "{}", route.path);
            let lower = route.path.to_ascii_lowercase();
            prop_assert!(!lower.contains("%2e") && !lower.contains("%2f"), "{}", route.path);
            prop_assert!(route.url("").starts_with(&route.upstream_base));
        }
    }

    #[test]
    fn the_sse_parser_reads_any_split_the_same(text in sse_text(), cuts in proptest::collection::vec(1usize..64, 0..20)) {
        let whole = {
            let mut p = SseParser::new(4096);
            p.feed(text.as_bytes());
            p.finish()
        };
        let mut p = SseParser::new(4096);
        let mut rest = text.as_bytes();
        for cut in cuts {
            let (a, b) = rest.split_at(cut.min(rest.len()));
            p.feed(a);
            rest = b;
        }
        p.feed(rest);
        prop_assert_eq!(p.finish(), whole);
    }

    #[test]
    fn the_sse_parser_survives_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut p = SseParser::new(64);
        p.feed(&bytes);
        let summary = p.finish();
        prop_assert!(summary.text.len() <= 64);
    }

    #[test]
    fn the_usage_filter_drops_exactly_the_usage_chunk(events in proptest::collection::vec(chunk_event(), 0..8), cuts in proptest::collection::vec(1usize..40, 0..30), crlf in any::<bool>()) {
        let sep = if crlf { "\r\n\r\n" } else { "\n\n" };
        let usage = format!("data: {}{sep}", json!({"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}));
        let events: Vec<String> = events.into_iter().map(|e| format!("data: {e}{sep}")).collect();
        let done = format!("data: [DONE]{sep}");
        let stream = format!("{}{usage}{done}", events.concat());
        let expected = format!("{}{done}", events.concat());
        let mut filter = UsageChunkFilter::new();
        let mut out = Vec::new();
        let mut rest = stream.as_bytes();
        for cut in cuts {
            let (a, b) = rest.split_at(cut.min(rest.len()));
            out.extend_from_slice(&filter.push(a));
            rest = b;
        }
        out.extend_from_slice(&filter.push(rest));
        out.extend_from_slice(&filter.finish());
        prop_assert_eq!(String::from_utf8(out).unwrap(), expected);
        prop_assert!(filter.dropped);
    }

    #[test]
    fn the_usage_filter_passes_other_bytes_unchanged(bytes in proptest::collection::vec(any::<u8>(), 0..1000), cut in 0usize..1000) {
        prop_assume!(!bytes.windows(7).any(|w| w == b"\"usage\""));
        let mut filter = UsageChunkFilter::new();
        let (a, b) = bytes.split_at(cut.min(bytes.len()));
        let mut out = filter.push(a).to_vec();
        out.extend_from_slice(&filter.push(b));
        out.extend_from_slice(&filter.finish());
        prop_assert_eq!(out, bytes);
    }

    #[test]
    fn session_ids_come_only_from_what_the_client_sent(
        header in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
        user_id in proptest::option::of(any::<String>()),
        request_id in "[a-z0-9-]{1,40}",
    ) {
        let mut pairs = Vec::new();
        if let Some(value) = &header {
            pairs.push(("x-claude-code-session-id", value.clone()));
        }
        let map = headers(&pairs);
        let body = user_id.as_ref().map(|u| json!({"metadata": {"user_id": u}}));
        let info = session::extract(&map, body.as_ref(), &request_id);
        prop_assert!(!info.id.is_empty());
        prop_assert!(!info.source.is_empty());
        if info.source != session::GENERATED {
            let from_header = header.as_ref().map(|h| String::from_utf8_lossy(h).into_owned()).unwrap_or_default();
            let from_body = user_id.clone().unwrap_or_default();
            prop_assert!(from_header.contains(&info.id) || from_body.contains(&info.id), "{:?}", info);
        }
    }
}

fn chunk_event() -> impl Strategy<Value = String> {
    ("[a-zA-Z0-9 ]{0,20}", proptest::option::of("stop|length")).prop_map(|(text, finish)| {
        json!({"id": "c", "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}], "usage": null})
            .to_string()
    })
}

fn sse_text() -> impl Strategy<Value = String> {
    let event = prop_oneof![
        "[a-z ]{0,10}".prop_map(|t| format!("data: {}\n\n", json!({"model": "m", "choices": [{"index": 0, "delta": {"content": t}}]}))),
        Just("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"c\",\"usage\":{\"input_tokens\":3}}}\n\n".to_owned()),
        "[a-z ]{0,10}".prop_map(|t| format!("event: content_block_delta\r\ndata: {}\r\n\r\n", json!({"type": "content_block_delta", "delta": {"type": "text_delta", "text": t}}))),
        Just(": keep-alive\n\n".to_owned()),
        Just("data: [DONE]\n\n".to_owned()),
        "[ -~]{0,30}",
    ];
    proptest::collection::vec(event, 0..10).prop_map(|v| v.concat())
}
