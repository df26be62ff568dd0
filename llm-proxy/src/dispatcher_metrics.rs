//! `GET /metrics/dispatcher` on `llm-proxy up`: the in-process dispatcher's per-sink counters
//! (`/metrics` is the proxy's), what `llm-proxy dispatcher status --metrics-url` reads.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use dispatcher_node::metrics::CONTENT_TYPE;
use dispatcher_node::Metrics;

pub const PATH: &str = "/metrics/dispatcher";

pub fn configure(metrics: Arc<Metrics>) -> impl Fn(&mut web::ServiceConfig) + Clone + Send {
    move |cfg: &mut web::ServiceConfig| {
        cfg.service(
            web::resource(PATH)
                .app_data(web::Data::from(Arc::clone(&metrics)))
                .route(web::get().to(encode)),
        );
    }
}

async fn encode(metrics: web::Data<Metrics>) -> HttpResponse {
    match metrics.encode() {
        Ok(body) => HttpResponse::Ok().content_type(CONTENT_TYPE).body(body),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}
