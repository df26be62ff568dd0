//! A call answered from the response cache: the token was checked and the request admitted
//! as for any call; the stored answer is replayed (an event stream as an event stream) and
//! recorded as an event with `cache: hit` and no usage (nothing was spent upstream).

use std::time::Instant;

use actix_web::http::header::{HeaderName, HeaderValue, AGE};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use llm_proxy_core::event::{BodyRecord, CacheStatus, Termination};
use serde_json::{Map, Value};

use super::proxy::{gateway_headers, Headers};
use crate::cache::{self, Hit};
use crate::events::{Exchange, Outcome};
use crate::forward::response::{CallNotes, Capture};
use crate::provider::Provider;
use crate::state::ProxyState;

pub(super) fn serve(
    req: &HttpRequest,
    hit: Hit,
    mut exchange: Exchange,
    extra: Headers,
    state: &ProxyState,
    provider: &Provider,
) -> HttpResponse {
    let now_ms = cache::now_ms();
    let status = StatusCode::from_u16(hit.meta.status).unwrap_or(StatusCode::OK);
    let mut response = HttpResponse::build(status);
    let mut recorded = Map::new();
    for (name, value) in &hit.meta.headers {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            continue;
        };
        recorded.insert(
            name.as_str().to_owned(),
            Value::from(value.to_str().unwrap_or("")),
        );
        response.append_header((name, value));
    }
    response.insert_header((AGE, hit.meta.age_secs(now_ms)));
    let now = Instant::now();
    let ours = gateway_headers(&exchange, now)
        .into_iter()
        .chain(extra)
        .chain(cache::status::hit(
            &hit.key,
            hit.meta.remaining_secs(now_ms),
        ));
    for (name, value) in ours {
        response.insert_header((name, value));
    }
    state
        .metrics
        .overhead(&provider.name, exchange.overhead(now).as_secs_f64());
    state.metrics.cache_result("hit");

    let body_cap = state.settings.events.body_cap_bytes;
    let mut capture = Capture::new(hit.meta.stream, body_cap);
    capture.observe(&hit.body);
    let (mut facts, body, truncated) = capture.finish(body_cap);
    facts.usage = None;
    exchange.stream |= hit.meta.stream;
    let outcome = Outcome {
        status: status.as_u16(),
        termination: Termination::Eof,
        error_code: None,
        response: BodyRecord {
            headers: recorded,
            body,
            truncated,
        },
        facts,
    };
    let notes = CallNotes {
        cache: Some(CacheStatus::Hit),
        attempts: 0,
        estimate_from: None,
    };
    state
        .finisher(provider.flavor, std::time::Duration::ZERO)
        .record_call(exchange, outcome, notes);
    if req.method() == Method::HEAD {
        response.finish()
    } else {
        response.body(hit.body)
    }
}
