//! The management API. Every route is declared once in the table below: the same declaration
//! registers it and lists it in [`MANAGEMENT_ROUTES`], which a test compares with the OpenAPI
//! document served at `/manage/openapi.json`.

pub mod audit;
mod cache_purge;
mod fallback;
mod openapi;
mod projects;
mod tokens;
pub mod usage;
pub mod views;

use actix_web::http::Method;
use actix_web::web;

macro_rules! management_routes {
    ($($method:ident $path:literal => $handler:path,)*) => {
        /// Every management route as `(METHOD, /manage/path)`, path parameters in braces.
        pub const MANAGEMENT_ROUTES: &[(&str, &str)] = &[
            $((stringify!($method), concat!("/manage", $path)),)*
        ];

        fn register(cfg: &mut web::ServiceConfig) {
            $(cfg.route($path, web::method(Method::$method).to($handler));)*
        }
    };
}

management_routes! {
    GET "/openapi.json" => openapi::get,
    GET "/projects" => projects::list::handle,
    POST "/projects" => projects::create::handle,
    GET "/projects/{id}" => projects::get::handle,
    PATCH "/projects/{id}" => projects::update::handle,
    DELETE "/projects/{id}" => projects::delete::handle,
    POST "/projects/{id}/tokens/revoke" => projects::revoke_tokens::handle,
    GET "/tokens" => tokens::list::handle,
    POST "/tokens" => tokens::create::handle,
    GET "/tokens/prunable" => tokens::prunable::handle,
    POST "/tokens/prune" => tokens::prune::handle,
    GET "/tokens/{id}" => tokens::get::handle,
    PATCH "/tokens/{id}" => tokens::update::handle,
    DELETE "/tokens/{id}" => tokens::delete::handle,
    GET "/audit" => audit::list::handle,
    GET "/audit/{id}" => audit::get::handle,
    GET "/usage" => usage::get::handle,
    GET "/usage/export" => usage::export::handle,
    POST "/cache/purge" => cache_purge::handle,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    register(cfg);
    cfg.default_service(web::to(fallback::handle));
}
