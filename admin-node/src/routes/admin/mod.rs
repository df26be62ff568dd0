//! The admin UI under `/admin`: server-rendered pages (maud), one handler per file. Pages need a
//! session (else a redirect to the login page); every POST is a [`crate::ui::UiForm`] and so is
//! CSRF-checked. Mutations go through [`crate::ops`], like the API's.

mod assets;
mod audit;
mod dashboard;
mod fallback;
mod login;
mod login_form;
mod logout;
mod projects;
mod sessions;
mod tokens;
mod usage;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("", web::get().to(dashboard::handle))
        .route("/", web::get().to(dashboard::handle))
        .route("/static/admin.css", web::get().to(assets::stylesheet))
        .route("/static/admin.js", web::get().to(assets::script))
        .route("/login", web::get().to(login_form::handle))
        .route("/login", web::post().to(login::handle))
        .route("/logout", web::post().to(logout::handle))
        .route("/projects", web::get().to(projects::list::handle))
        .route("/projects", web::post().to(projects::create::handle))
        .route("/projects/{id}", web::get().to(projects::show::handle))
        .route("/projects/{id}", web::post().to(projects::edit::handle))
        .route(
            "/projects/{id}/deactivate",
            web::post().to(projects::deactivate::handle),
        )
        .route(
            "/projects/{id}/activate",
            web::post().to(projects::activate::handle),
        )
        .route(
            "/projects/{id}/revoke-tokens",
            web::post().to(projects::revoke_tokens::handle),
        )
        .route("/tokens", web::get().to(tokens::list::handle))
        .route("/tokens", web::post().to(tokens::create::handle))
        .route(
            "/tokens/{id}/revoke",
            web::post().to(tokens::revoke::handle),
        )
        .route("/usage", web::get().to(usage::page::handle))
        .route("/usage.csv", web::get().to(usage::csv::handle))
        .route("/sessions", web::get().to(sessions::list::handle))
        .route("/sessions/{id}", web::get().to(sessions::show::handle))
        .route("/audit", web::get().to(audit::list::handle))
        .route("/audit/{id}", web::get().to(audit::show::handle))
        .default_service(web::to(fallback::handle));
}
