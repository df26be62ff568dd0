//! HTTP routes: the management API (`/manage`), the admin UI (`/admin`) and health.

pub mod admin;
mod health;
pub mod manage;

use actix_web::web;
use llm_proxy_platform::http_error::extractor_configs;

use crate::state::AdminState;

pub use manage::MANAGEMENT_ROUTES;

/// Largest JSON body the management API accepts.
const MAX_JSON_BYTES: usize = 256 * 1024;

/// `/manage/**` and `/admin/**` (not health). Register before any catch-all route.
pub fn configure_admin(state: AdminState) -> impl Fn(&mut web::ServiceConfig) + Clone {
    move |cfg: &mut web::ServiceConfig| {
        let data = web::Data::new(state.clone());
        let (json, path, query) = extractor_configs(MAX_JSON_BYTES);
        cfg.service(
            web::scope("/manage")
                .app_data(data.clone())
                .app_data(json)
                .app_data(path)
                .app_data(query)
                .configure(manage::configure),
        );
        if state.settings.admin.ui_enabled {
            cfg.service(
                web::scope("/admin")
                    .app_data(data)
                    .configure(admin::configure),
            );
        }
    }
}

/// `/healthz`, `/readyz` (store ping) and `/metrics`, for the standalone admin node.
pub fn configure_health(state: AdminState) -> impl Fn(&mut web::ServiceConfig) + Clone {
    move |cfg: &mut web::ServiceConfig| {
        let data = web::Data::new(state.clone());
        cfg.service(
            web::resource("/healthz")
                .app_data(data.clone())
                .route(web::get().to(health::healthz)),
        )
        .service(
            web::resource("/readyz")
                .app_data(data.clone())
                .route(web::get().to(health::readyz)),
        )
        .service(
            web::resource("/metrics")
                .app_data(data)
                .route(web::get().to(health::metrics)),
        );
    }
}
