//! `/healthz`, `/readyz`, `/metrics`.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use redis::aio::ConnectionManager;

use crate::metrics::{Metrics, CONTENT_TYPE};

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct DispatcherState {
    pub metrics: Arc<Metrics>,
    /// `None` in embedded mode (no Redis).
    pub redis: Option<ConnectionManager>,
}

impl std::fmt::Debug for DispatcherState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DispatcherState")
            .field("redis", &self.redis.is_some())
            .finish()
    }
}

/// Registers the three routes (the unified binary mounts them too).
pub fn configure(state: DispatcherState) -> impl Fn(&mut web::ServiceConfig) + Clone + Send {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(state.clone()))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics));
    }
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

async fn readyz(state: web::Data<DispatcherState>) -> HttpResponse {
    let Some(mut conn) = state.redis.clone() else {
        return HttpResponse::Ok().json(serde_json::json!({"status": "ready"}));
    };
    let pong: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut conn).await;
    match pong {
        Ok(_) => HttpResponse::Ok().json(serde_json::json!({"status": "ready", "redis": "ok"})),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: Redis unreachable");
            HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({"status": "not ready", "redis": "unreachable"}))
        }
    }
}

async fn metrics(state: web::Data<DispatcherState>) -> HttpResponse {
    match state.metrics.encode() {
        Ok(body) => HttpResponse::Ok().content_type(CONTENT_TYPE).body(body),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}
