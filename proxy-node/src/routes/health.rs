//! Liveness, readiness and metrics.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::metrics::{mode_name, CONTENT_TYPE};
use crate::state::ProxyState;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Ready when the store answers and the node is not draining. The admission mode is shown, never judged: under `degraded`
/// a node without Redis still serves, and under `fail_closed` taking every node out of the
/// load balancer would not bring Redis back.
pub async fn readyz(state: web::Data<ProxyState>) -> HttpResponse {
    let store = state.store.backend();
    let admission = mode_name(state.admission.health().mode);
    if state.is_draining() {
        return HttpResponse::ServiceUnavailable()
            .json(json!({"status": "draining", "store": store, "admission": admission}));
    }
    match state.store.ping().await {
        Ok(()) => HttpResponse::Ok()
            .json(json!({"status": "ready", "store": store, "admission": admission})),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable()
                .json(json!({"status": "unavailable", "store": store, "admission": admission}))
        }
    }
}

pub async fn metrics(state: web::Data<ProxyState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(state.metrics.encode())
}
