//! Liveness, readiness and metrics.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::metrics::CONTENT_TYPE;
use crate::state::ProxyState;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Ready when the store answers.
pub async fn readyz(state: web::Data<ProxyState>) -> HttpResponse {
    match state.store.ping().await {
        Ok(()) => {
            HttpResponse::Ok().json(json!({"status": "ready", "store": state.store.backend()}))
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable()
                .json(json!({"status": "unavailable", "store": state.store.backend()}))
        }
    }
}

pub async fn metrics(state: web::Data<ProxyState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(state.metrics.encode())
}
