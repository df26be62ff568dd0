//! The data plane handler: route → policy → token → body → admission (and the session's
//! sequence number and lineage, concurrently) → forward → stream back. Every call, proxied or
//! refused, ends as exactly one event.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use actix_web::http::ConnectionType;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use bytes::Bytes;
use llm_proxy_core::event::{BodyRecord, ClientInfo, RecordedBody, Termination};
use llm_proxy_platform::ApiError;
use serde_json::{Map, Value};

use crate::admission::Grant;
use crate::events::{Exchange, Outcome};
use crate::forward::body;
use crate::forward::client::UpstreamClients;
use crate::forward::response::CallNotes;
use crate::routing::{self, Route};
use crate::state::ProxyState;
use crate::usage::ResponseFacts;
use crate::{budget, credentials, limits, policy, redact, request_id, session};

use super::upstream;

pub(super) type Headers = Vec<(HeaderName, HeaderValue)>;

enum Step {
    Preflight(HttpResponse),
    Forward(Box<Call>),
}

pub(super) struct Call {
    pub route: Route,
    pub grant: Grant,
    pub body: Bytes,
    /// The body, parsed, when it is JSON.
    pub json: Option<Value>,
    /// The admission decision's headers, for the upstream's answer.
    pub limit_headers: Headers,
}

/// Owns the exchange while the handler runs. If actix drops the handler (the client went away
/// before the answer started), the call is still recorded, as `client_cancel` with status 499.
pub(super) struct InFlight<'a> {
    pub exchange: Exchange,
    /// Requests sent upstream so far.
    pub attempts: u32,
    armed: bool,
    state: &'a ProxyState,
}

/// nginx's "client closed request".
const CLIENT_CLOSED: u16 = 499;

impl<'a> InFlight<'a> {
    fn new(exchange: Exchange, state: &'a ProxyState) -> Self {
        Self {
            exchange,
            attempts: 0,
            armed: true,
            state,
        }
    }

    /// Hands the exchange on to whoever records it.
    pub fn take(&mut self) -> Exchange {
        self.armed = false;
        let placeholder = Exchange::new(String::new(), Arc::clone(&self.exchange.node), "", "");
        std::mem::replace(&mut self.exchange, placeholder)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let exchange = self.take();
        let flavor = routing::flavor_for_path(&self.state.providers, &exchange.path);
        let outcome = Outcome {
            status: CLIENT_CLOSED,
            termination: Termination::ClientCancel,
            error_code: None,
            response: BodyRecord::default(),
            facts: ResponseFacts::default(),
        };
        let notes = CallNotes {
            attempts: self.attempts,
            ..CallNotes::default()
        };
        self.state
            .finisher(flavor, Duration::ZERO)
            .record_call(exchange, outcome, notes);
    }
}

pub async fn proxy(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<ProxyState>,
    clients: web::Data<UpstreamClients>,
) -> HttpResponse {
    let mut exchange = Exchange::new(
        request_id::request_id(&req),
        Arc::clone(&state.node),
        req.method().as_str(),
        req.path(),
    );
    exchange.client = ClientInfo {
        ip: req.peer_addr().map(|a| a.ip().to_string()),
        user_agent: req
            .headers()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    if state.settings.events.enabled {
        exchange.request.headers =
            redact::headers(req.headers(), credentials::raw_credential(req.headers()));
    }
    let mut cors = Headers::new();
    let mut in_flight = InFlight::new(exchange, &state);
    let mut response =
        match prepare(&req, payload, &state, &mut in_flight.exchange, &mut cors).await {
            Ok(Step::Preflight(mut response)) => {
                // Not a proxied call: no event.
                let exchange = in_flight.take();
                for (name, value) in gateway_headers(&exchange, Instant::now()) {
                    response.headers_mut().insert(name, value);
                }
                response
            }
            Ok(Step::Forward(call)) => {
                upstream::forward(&req, *call, &mut in_flight, cors, &state, &clients).await
            }
            Err(error) => {
                let exchange = in_flight.take();
                reject(&req, &state, exchange, cors, error, Termination::Rejected)
            }
        };
    if state.is_draining() {
        // Keep-alive clients reconnect, and so reach a node that is not going away.
        response
            .head_mut()
            .set_connection_type(ConnectionType::Close);
    }
    response
}

async fn prepare(
    req: &HttpRequest,
    payload: web::Payload,
    state: &ProxyState,
    exchange: &mut Exchange,
    cors: &mut Headers,
) -> Result<Step, ApiError> {
    policy::check_head_size(req, state.settings.server.max_header_bytes)?;
    let route = routing::resolve(&state.providers, req.path())?;
    let provider = Arc::clone(&route.provider);
    exchange.provider = provider.name.clone();
    exchange.upstream = route.upstream_host.clone();
    if policy::is_preflight(req) {
        return policy::preflight(&provider, req).map(Step::Preflight);
    }
    let origin = policy::origin(req.headers());
    policy::check_request(&provider, req.method(), &route.path, origin)?;
    *cors = policy::cors_headers(origin);

    let token = credentials::token_from_headers(req.headers())?;
    let grant = state.tokens.authorize(token.hash(), &provider.name).await?;
    exchange.token_id = Some(grant.token_id);
    exchange.project_id = Some(grant.project_id);

    let server = &state.settings.server;
    let body = body::read(
        req.headers(),
        payload,
        server.max_body_bytes,
        Duration::from_millis(server.client_body_timeout_ms),
    )
    .await?;
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let facts = policy::inspect_body(&provider, content_type, &body);
    if state.settings.events.enabled {
        // Recorded before the policy's verdict: a refused body is part of the refusal's event.
        let parsed = facts.as_ref().ok().and_then(|f| f.json.as_ref());
        let cap = state.settings.events.body_cap_bytes;
        (exchange.request.body, exchange.request.truncated) =
            record_body(&body, parsed, cap, token.expose());
    }
    let facts = facts?;
    let turn = session::Turn::read(
        req.headers(),
        facts.json.as_ref(),
        &route.path,
        &exchange.request_id,
    );
    exchange.model = facts.model;
    exchange.stream = facts.stream;
    exchange.on_disconnect = grant.budgets.on_disconnect;
    let budget_call = budget::ask::Call {
        provider: &provider.name,
        path: &route.path,
        json: facts.json.as_ref(),
        model: exchange.model.as_deref(),
        stream: facts.stream,
    };
    let settings = &state.settings;
    let (ask, price) = budget::ask::ask(
        &grant.budgets,
        &budget_call,
        &settings.pricing,
        &settings.budgets,
        chrono::Utc::now(),
    )?
    .unzip();

    let (admitted, placed) = futures_util::future::join(
        limits::admit(state.admission.as_ref(), &state.metrics, &grant, ask),
        session::assign(
            state.sessions.as_ref(),
            &state.metrics,
            turn,
            Some(token.expose()),
        ),
    )
    .await;
    exchange.session = placed;
    let admitted = admitted?;
    exchange.budget = admitted.reservation.map(|reservation| {
        budget::BudgetCall::new(
            Arc::clone(&state.admission),
            reservation,
            price.flatten(),
            settings.budgets.stream_step_tokens,
            grant.budgets.on_disconnect,
        )
    });
    Ok(Step::Forward(Box::new(Call {
        route,
        grant,
        body,
        json: facts.json,
        limit_headers: admitted.headers,
    })))
}

/// The request body as its event records it; a body the policy parsed is not parsed again.
fn record_body(
    body: &[u8],
    parsed: Option<&Value>,
    cap: usize,
    secret: &str,
) -> (RecordedBody, bool) {
    match parsed {
        Some(json) if body.len() <= cap => (redact::parsed_body(body, json, Some(secret)), false),
        _ => redact::body(body, body.len(), cap, Some(secret)),
    }
}

/// A refusal (or an upstream failure) in the provider's error envelope, recorded as an event.
pub(super) fn reject(
    req: &HttpRequest,
    state: &ProxyState,
    exchange: Exchange,
    cors: Headers,
    error: ApiError,
    termination: Termination,
) -> HttpResponse {
    reject_with(
        req,
        state,
        exchange,
        cors,
        error,
        termination,
        CallNotes::default(),
    )
}

/// [`reject`] after upstream attempts (an open breaker, an upstream that never answered).
pub(super) fn reject_with(
    req: &HttpRequest,
    state: &ProxyState,
    exchange: Exchange,
    cors: Headers,
    error: ApiError,
    termination: Termination,
    notes: CallNotes,
) -> HttpResponse {
    let error = error.with_flavor(routing::flavor_for_path(&state.providers, req.path()));
    let now = Instant::now();
    let mut response = error.error_response();
    for (name, value) in gateway_headers(&exchange, now).into_iter().chain(cors) {
        response.headers_mut().insert(name, value);
    }
    if !exchange.provider.is_empty() {
        state
            .metrics
            .overhead(&exchange.provider, exchange.overhead(now).as_secs_f64());
    }
    let mut recorded = Map::new();
    recorded.insert("content-type".into(), Value::from("application/json"));
    for (name, value) in &error.headers {
        if let Ok(value) = value.to_str() {
            recorded.insert(name.as_str().to_owned(), Value::from(value));
        }
    }
    let outcome = Outcome {
        status: error.code.status(),
        termination,
        error_code: Some(error.code.as_str().to_owned()),
        response: BodyRecord {
            headers: recorded,
            body: RecordedBody::from_value(&error.body()),
            truncated: false,
        },
        facts: ResponseFacts::default(),
    };
    state
        .finisher(error.flavor, Duration::ZERO)
        .record_call(exchange, outcome, notes);
    response
}

/// Milliseconds with three decimals (`0.142`), from whole microseconds: integer formatting is
/// a fraction of what a float's costs, and this runs on every call.
fn millis(d: Duration) -> String {
    let micros = d.as_micros();
    format!("{}.{:03}", micros / 1000, micros % 1000)
}

/// `X-Request-ID` and the gateway's own time so far (`x-llm-proxy-overhead-ms`, `Server-Timing`).
pub(super) fn gateway_headers(exchange: &Exchange, now: Instant) -> Headers {
    let overhead_ms = millis(exchange.overhead(now));
    let mut timing = format!("gateway;dur={overhead_ms}");
    if let Some(upstream) = exchange.upstream_ttfb() {
        timing.push_str(", upstream;dur=");
        timing.push_str(&millis(upstream));
    }
    let mut out = Headers::new();
    if let Ok(id) = HeaderValue::from_str(&exchange.request_id) {
        out.push((HeaderName::from_static(request_id::HEADER), id));
    }
    if let Ok(value) = HeaderValue::from_str(&overhead_ms) {
        out.push((HeaderName::from_static("x-llm-proxy-overhead-ms"), value));
    }
    if let Ok(value) = HeaderValue::from_str(&timing) {
        out.push((HeaderName::from_static("server-timing"), value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_have_three_decimals() {
        assert_eq!(millis(Duration::ZERO), "0.000");
        assert_eq!(millis(Duration::from_nanos(142_600)), "0.142");
        assert_eq!(millis(Duration::from_micros(1_005)), "1.005");
        assert_eq!(millis(Duration::from_secs(12)), "12000.000");
    }
}
