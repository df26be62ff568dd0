//! Micro-benchmarks of the pieces every proxied call goes through, so a regression shows in
//! review: `cargo bench -p llm-proxy-bench --bench hot_path`.
//! Only public APIs are used; what is not reachable is listed in bench/RESULTS.md.

#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use llm_proxy_core::event::RequestEvent;
use llm_proxy_core::token_secret::TokenSecret;
use proxy_node::{redact, session, sse, usage};

const REQUEST: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Say hello to the benchmark, politely and briefly."}],"temperature":0.2}"#;
const RESPONSE: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the benchmark upstream."},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":8,"total_tokens":20}}"#;

fn token(c: &mut Criterion) {
    let secret = TokenSecret::generate();
    let raw = secret.expose().to_owned();
    c.bench_function("token/parse", |b| {
        b.iter(|| TokenSecret::parse(black_box(&raw)).unwrap())
    });
    c.bench_function("token/parse+hash", |b| {
        b.iter(|| TokenSecret::parse(black_box(&raw)).unwrap().hash())
    });
}

/// The stream the bench upstream sends: 64 content chunks, a usage chunk, `[DONE]`.
fn sse_stream(chunks: usize) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = (0..chunks)
        .map(|i| format!("data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"tok{i} \"}},\"finish_reason\":null}}]}}\n\n").into_bytes())
        .collect();
    out.push(b"data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":64,\"total_tokens\":76}}\n\n".to_vec());
    out.push(b"data: [DONE]\n\n".to_vec());
    out
}

fn sse_parser(c: &mut Criterion) {
    let chunks = sse_stream(64);
    let bytes: usize = chunks.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group("sse");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("parse 64-chunk stream", |b| {
        b.iter(|| {
            let mut parser = sse::SseParser::new(64 * 1024);
            for chunk in &chunks {
                parser.feed(black_box(chunk));
            }
            parser.finish()
        })
    });
    group.finish();
}

fn headers() -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in [
        ("content-type", "application/json"),
        (
            "authorization",
            "Bearer wt_AAAABBBBCCCCDDDDEEEEFFFFGGGGHHHH",
        ),
        ("user-agent", "openai-python/1.50.0"),
        ("accept", "application/json"),
        ("x-stainless-lang", "python"),
    ] {
        map.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    map
}

fn request_records(c: &mut Criterion) {
    let map = headers();
    let body = REQUEST.as_bytes();
    c.bench_function("record/request body (parse + redact)", |b| {
        b.iter(|| redact::body(black_box(body), body.len(), 64 * 1024, Some("wt_AAAA")))
    });
    c.bench_function("record/request headers", |b| {
        b.iter(|| redact::headers(black_box(&map), Some("wt_AAAA")))
    });
    let json: serde_json::Value = serde_json::from_str(REQUEST).unwrap();
    c.bench_function("session/extract", |b| {
        b.iter(|| session::extract(black_box(&map), Some(&json), "req-1"))
    });
    let response: serde_json::Value = serde_json::from_str(RESPONSE).unwrap();
    c.bench_function("usage/facts_from_json", |b| {
        b.iter(|| usage::facts_from_json(black_box(&response)))
    });
}

fn sample_event() -> RequestEvent {
    let map = headers();
    let request = redact::record(&map, REQUEST.as_bytes(), REQUEST.len(), 64 * 1024, None);
    let response = redact::record(&map, RESPONSE.as_bytes(), RESPONSE.len(), 64 * 1024, None);
    let value = serde_json::json!({
        "id": "01936f6e-7c1a-7cc3-9d2e-6f1f0b0a0b0c",
        "schema_version": 1,
        "occurred_at": "2026-11-20T10:00:00.123456Z",
        "request_id": "req-01936f6e7c1a",
        "node": "bench-node",
        "project_id": "01936f6e-7c1a-7cc3-9d2e-6f1f0b0a0b0d",
        "token_id": "01936f6e-7c1a-7cc3-9d2e-6f1f0b0a0b0e",
        "provider": "openai",
        "upstream": "127.0.0.1",
        "method": "POST",
        "path": "/v1/chat/completions",
        "model": "gpt-4o-mini",
        "status": 200,
        "stream": false,
        "duration_ms": 0.42,
        "ttfb_ms": 0.31,
        "upstream_ms": 0.25,
        "usage": {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20, "cached_tokens": null, "estimated": false},
        "finish_reason": "stop",
        "termination": "eof",
        "error_code": null,
        "cache": "bypass",
        "attempts": 1,
        "session": {"id": "req-01936f6e7c1a", "source": "generated", "seq": 1, "lineage": null, "parent_seq": null},
        "client": {"ip": "127.0.0.1", "user_agent": "openai-python/1.50.0"},
        "request": request,
        "response": response,
    });
    serde_json::from_value(value).unwrap()
}

fn event(c: &mut Criterion) {
    let event = sample_event();
    let bytes = serde_json::to_vec(&event).unwrap();
    let mut group = c.benchmark_group("event");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("serialize", |b| {
        b.iter(|| serde_json::to_vec(black_box(&event)).unwrap())
    });
    group.bench_function("deserialize (dispatcher side)", |b| {
        b.iter(|| serde_json::from_slice::<RequestEvent>(black_box(&bytes)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, token, sse_parser, request_records, event);
criterion_main!(benches);
