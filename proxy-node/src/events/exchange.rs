//! One proxied call as it is being answered; becomes exactly one `RequestEvent`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use llm_proxy_core::budget::DisconnectPolicy;
use llm_proxy_core::event::{
    BodyRecord, CacheStatus, ClientInfo, RequestEvent, SessionInfo, Termination, SCHEMA_VERSION,
};
use uuid::Uuid;

use crate::budget::BudgetCall;
use crate::usage::ResponseFacts;

#[derive(Debug, Clone)]
pub struct Exchange {
    pub started: Instant,
    pub started_at: DateTime<Utc>,
    pub request_id: String,
    pub node: Arc<str>,
    pub method: String,
    pub path: String,
    pub provider: String,
    pub upstream: String,
    pub project_id: Option<Uuid>,
    pub token_id: Option<Uuid>,
    pub model: Option<String>,
    pub stream: bool,
    pub client: ClientInfo,
    pub session: SessionInfo,
    pub request: BodyRecord,
    /// When the upstream request was sent and when its response head arrived.
    pub upstream_sent: Option<Instant>,
    pub upstream_head: Option<Instant>,
    /// What the call holds of its budgets; settled when the call is recorded.
    pub budget: Option<BudgetCall>,
    /// The project's policy for a stream whose client goes away.
    pub on_disconnect: DisconnectPolicy,
    /// Set when the client went away mid-stream: the policy that was applied.
    pub disconnect: Option<DisconnectPolicy>,
}

/// How the call ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: u16,
    pub termination: Termination,
    pub error_code: Option<String>,
    pub response: BodyRecord,
    pub facts: ResponseFacts,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl Exchange {
    pub fn new(request_id: String, node: Arc<str>, method: &str, path: &str) -> Self {
        Self {
            started: Instant::now(),
            started_at: Utc::now(),
            request_id,
            node,
            method: method.to_owned(),
            path: path.to_owned(),
            provider: String::new(),
            upstream: String::new(),
            project_id: None,
            token_id: None,
            model: None,
            stream: false,
            client: ClientInfo::default(),
            session: SessionInfo::default(),
            request: BodyRecord::default(),
            upstream_sent: None,
            upstream_head: None,
            budget: None,
            on_disconnect: DisconnectPolicy::default(),
            disconnect: None,
        }
    }

    /// Time the gateway added up to `now`: everything except waiting for the upstream's head.
    pub fn overhead(&self, now: Instant) -> Duration {
        let total = now.saturating_duration_since(self.started);
        match (self.upstream_sent, self.upstream_head) {
            (Some(sent), Some(head)) => total.saturating_sub(head.saturating_duration_since(sent)),
            (Some(sent), None) => sent.saturating_duration_since(self.started),
            _ => total,
        }
    }

    /// Upstream time to first byte (send → response head).
    pub fn upstream_ttfb(&self) -> Option<Duration> {
        Some(
            self.upstream_head?
                .saturating_duration_since(self.upstream_sent?),
        )
    }

    pub fn into_event(self, outcome: Outcome, now: Instant) -> RequestEvent {
        let facts = outcome.facts;
        RequestEvent {
            id: Uuid::now_v7(),
            schema_version: SCHEMA_VERSION,
            occurred_at: self.started_at,
            request_id: self.request_id,
            node: self.node.to_string(),
            project_id: self.project_id,
            token_id: self.token_id,
            provider: self.provider,
            upstream: self.upstream,
            method: self.method,
            path: self.path,
            model: facts.model.or(self.model),
            status: outcome.status,
            stream: self.stream,
            duration_ms: ms(now.saturating_duration_since(self.started)),
            ttfb_ms: self
                .upstream_head
                .map(|head| ms(head.saturating_duration_since(self.started))),
            upstream_ms: self
                .upstream_sent
                .map(|sent| ms(now.saturating_duration_since(sent))),
            usage: facts.usage,
            finish_reason: facts.finish_reason,
            termination: outcome.termination,
            disconnect: self.disconnect,
            error_code: outcome.error_code,
            cache: CacheStatus::Bypass,
            attempts: 0,
            session: self.session,
            client: self.client,
            request: self.request,
            response: outcome.response,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn overhead_excludes_upstream_wait() {
        let mut ex = Exchange::new("r".into(), Arc::from("n"), "POST", "/v1/x");
        let start = ex.started;
        ex.upstream_sent = Some(start + Duration::from_millis(2));
        ex.upstream_head = Some(start + Duration::from_millis(102));
        let now = start + Duration::from_millis(105);
        assert_eq!(ex.overhead(now), Duration::from_millis(5));
        assert_eq!(ex.upstream_ttfb(), Some(Duration::from_millis(100)));
        let event = ex.into_event(
            Outcome {
                status: 200,
                termination: Termination::Eof,
                error_code: None,
                response: BodyRecord::default(),
                facts: ResponseFacts::default(),
            },
            now,
        );
        assert!((event.duration_ms - 105.0).abs() < 0.01);
        assert!((event.ttfb_ms.unwrap_or_default() - 102.0).abs() < 0.01);
        assert_eq!(event.termination, Termination::Eof);
    }
}
