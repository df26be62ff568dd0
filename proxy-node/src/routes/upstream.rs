//! The upstream half of a proxied call: the response cache (a hit is replayed), the provider's
//! concurrency slot, the usage request, the breaker and retries, then the streamed answer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::header::RETRY_AFTER;
use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse};
use llm_proxy_core::event::Termination;
use llm_proxy_core::ErrorCode;
use llm_proxy_platform::ApiError;

use super::cache_hit;
use super::proxy::{gateway_headers, reject, reject_with, Call, Headers, InFlight};
use crate::cache::{CachePlan, Found, KeyParts};
use crate::forward::attempt::{Refusal, Resilient};
use crate::forward::client::UpstreamClients;
use crate::forward::headers;
use crate::forward::response::{self, Back, CacheWrite, CallNotes};
use crate::forward::send::{Failure, Outgoing};
use crate::state::ProxyState;
use crate::usage::{estimate, inject};

fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

pub(super) async fn forward(
    req: &HttpRequest,
    call: Call,
    in_flight: &mut InFlight<'_>,
    cors: Headers,
    state: &ProxyState,
    clients: &UpstreamClients,
) -> HttpResponse {
    let provider = Arc::clone(&call.route.provider);
    let Some(client) = clients.get(&provider.name) else {
        let error = ApiError::internal(format!("no upstream client for `{}`", provider.name));
        let exchange = in_flight.take();
        return reject(req, state, exchange, cors, error, Termination::Rejected);
    };
    let settings = &provider.settings;
    let Call {
        route,
        grant,
        body,
        json,
        limit_headers,
    } = call;

    let plan = match in_flight.exchange.project_id {
        Some(project) => state.cache.plan(
            req.method(),
            req.headers(),
            &KeyParts {
                project,
                method: req.method().as_str(),
                provider: &provider.name,
                upstream: &route.upstream_host,
                path: &route.path,
                query: req.query_string(),
                body: &body,
                headers: req.headers(),
            },
        ),
        None => CachePlan::Off,
    };
    let mut vary_miss = false;
    if let CachePlan::Use(lookup) = &plan {
        if lookup.lookup {
            match state.cache.find(lookup).await {
                Found::Hit(hit) => {
                    let mut extra = cors;
                    extra.extend(limit_headers);
                    return cache_hit::serve(req, hit, in_flight.take(), extra, state, &provider);
                }
                Found::Miss { vary_miss: v } => vary_miss = v,
            }
        }
    }
    let cache = match plan {
        CachePlan::Off => CacheWrite::Off,
        CachePlan::Bypass(reason) => {
            state.metrics.cache_result("bypass");
            CacheWrite::Bypass(reason)
        }
        CachePlan::Use(lookup) => CacheWrite::Miss {
            cache: state.cache.clone(),
            lookup,
            vary_miss,
        },
    };

    let first_byte_timeout = Duration::from_millis(settings.first_byte_timeout_ms);
    let Some(permit) = state
        .concurrency
        .acquire(&provider.name, first_byte_timeout)
        .await
    else {
        state.metrics.concurrency_refused(&provider.name);
        let error = ApiError::new(
            ErrorCode::UpstreamUnavailable,
            "Too many requests to this provider are in flight; retry shortly.",
        )
        .with_header(RETRY_AFTER, 1);
        let exchange = in_flight.take();
        return reject(req, state, exchange, cors, error, Termination::Rejected);
    };

    let strip_usage = inject::needs_usage(provider.flavor, &route.path, json.as_ref());
    let upstream_body = match (&json, strip_usage) {
        (Some(json), true) => inject::with_usage(&body, json).unwrap_or_else(|| body.clone()),
        _ => body.clone(),
    };
    let estimate_from = estimate::is_generation(&route.path).then(|| body.clone());
    let out = Outgoing {
        client,
        method: req.method().clone(),
        url: route.url(req.query_string()),
        headers: headers::upstream_request(req.headers(), settings.auth, &grant.provider_key),
        body: upstream_body,
        first_byte_timeout,
    };
    let upstream_name = format!("{}/{}", provider.name, route.upstream_host);
    let upstream = state.upstreams.get(&upstream_name);
    let resilient = Resilient {
        upstream: &upstream,
        settings: &state.settings.resilience,
        metrics: &state.metrics,
        provider: &provider.name,
        upstream_name: &upstream_name,
    };
    in_flight.exchange.upstream_sent = Some(Instant::now());
    let sent = resilient.send(&out, &mut in_flight.attempts).await;
    let notes = CallNotes {
        cache: None,
        attempts: in_flight.attempts,
        estimate_from,
    };
    let mut exchange = in_flight.take();
    let upstream = match sent {
        Ok(upstream) => upstream,
        Err(Refusal::Open(wait)) => {
            let error = ApiError::new(
                ErrorCode::UpstreamUnavailable,
                "The upstream keeps failing; the gateway is not calling it for a while.",
            )
            .with_header(RETRY_AFTER, retry_after_secs(wait).max(1));
            return reject_with(
                req,
                state,
                exchange,
                cors,
                error,
                Termination::Rejected,
                notes,
            );
        }
        Err(Refusal::Failed(failure)) => {
            let termination = match &failure {
                Failure::Timeout => Termination::Timeout,
                Failure::Unreachable(cause)
                | Failure::Dropped(cause)
                | Failure::Stale(cause)
                | Failure::Blocked(cause) => {
                    tracing::warn!(request_id = %exchange.request_id, provider = %provider.name, error = %cause, "upstream unreachable");
                    Termination::UpstreamError
                }
            };
            let error = failure.to_api_error();
            return reject_with(req, state, exchange, cors, error, termination, notes);
        }
    };
    let now = Instant::now();
    exchange.upstream_head = Some(now);
    let mut extra = gateway_headers(&exchange, now);
    extra.extend(cors);
    extra.extend(limit_headers);
    state
        .metrics
        .overhead(&provider.name, exchange.overhead(now).as_secs_f64());
    let finisher = state.finisher(
        provider.flavor,
        Duration::from_millis(settings.idle_timeout_ms),
    );
    let back = Back {
        extra_headers: extra,
        head_request: req.method() == Method::HEAD,
        strip_usage,
        cache,
        notes,
        permit,
    };
    response::stream_back(upstream, exchange, back, finisher)
}
