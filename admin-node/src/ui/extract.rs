//! Extractors of the admin UI: [`UiSession`] (logged in, else a redirect to the login page) and
//! [`UiForm`] (a POSTed form whose `csrf_token` matches the session's, else 403). Every UI
//! mutation takes a `UiForm`, so none can skip the CSRF check.

use std::collections::HashMap;
use std::future::{ready, Future, Ready};
use std::pin::Pin;

use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use llm_proxy_core::audit::AuditContext;

use super::layout;
use super::session::{tokens_equal, FlashKind, Session, COOKIE_PATH, SESSION_COOKIE};
use crate::context::audit_context;
use crate::error::AdminError;
use crate::state::AdminState;

pub const CSRF_FIELD: &str = "csrf_token";

#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// Not logged in (or the session expired).
    #[error("login required")]
    LoginRequired,
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Admin(#[from] AdminError),
}

impl ResponseError for UiError {
    fn status_code(&self) -> StatusCode {
        match self {
            UiError::LoginRequired => StatusCode::SEE_OTHER,
            UiError::Forbidden(_) => StatusCode::FORBIDDEN,
            UiError::Admin(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            UiError::LoginRequired => HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/admin/login"))
                .finish(),
            UiError::Forbidden(message) => layout::error_page(StatusCode::FORBIDDEN, message),
            UiError::Admin(e) => layout::error_page(e.status_code(), &e.user_message()),
        }
    }
}

pub type UiResult = Result<HttpResponse, UiError>;

/// A logged-in admin UI request.
#[derive(Debug, Clone)]
pub struct UiSession {
    pub session: Session,
    pub state: web::Data<AdminState>,
    pub audit: AuditContext,
}

impl UiSession {
    pub fn flash(&self, kind: FlashKind, message: impl Into<String>) {
        self.state
            .sessions
            .set_flash(&self.session.id, kind, message);
    }

    /// Post/redirect/get: a 303 to `location` with a flash message for the next page.
    pub fn redirect_with(
        &self,
        location: &str,
        kind: FlashKind,
        message: impl Into<String>,
    ) -> HttpResponse {
        self.flash(kind, message);
        see_other(location)
    }
}

pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

fn session_of(req: &HttpRequest) -> Result<UiSession, UiError> {
    let state = req
        .app_data::<web::Data<AdminState>>()
        .cloned()
        .ok_or(UiError::LoginRequired)?;
    let cookie = req.cookie(SESSION_COOKIE).ok_or(UiError::LoginRequired)?;
    let session = state
        .sessions
        .get(cookie.value())
        .ok_or(UiError::LoginRequired)?;
    let audit = audit_context(req, session.actor());
    Ok(UiSession {
        session,
        state,
        audit,
    })
}

impl FromRequest for UiSession {
    type Error = UiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(session_of(req))
    }
}

/// A POSTed form of a logged-in session whose CSRF token checked out.
#[derive(Debug)]
pub struct UiForm {
    pub ui: UiSession,
    pub fields: HashMap<String, String>,
}

impl UiForm {
    /// The trimmed value of a field; empty counts as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    pub fn checked(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| v == "on" || v == "true" || v == "1")
    }
}

impl FromRequest for UiForm {
    type Error = UiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let session = session_of(req);
        let form = web::Form::<Vec<(String, String)>>::from_request(req, payload);
        Box::pin(async move {
            let ui = session?;
            let fields: HashMap<String, String> = form
                .await
                .map_err(|_| UiError::Forbidden("The form could not be read.".to_owned()))?
                .into_inner()
                .into_iter()
                .collect();
            let presented = fields.get(CSRF_FIELD).map(String::as_str).unwrap_or("");
            if presented.is_empty() || !tokens_equal(presented, &ui.session.csrf) {
                tracing::warn!("admin UI form refused: missing or wrong CSRF token");
                return Err(UiError::Forbidden(
                    "The form's security token is missing or out of date. Reload the page and try again."
                        .to_owned(),
                ));
            }
            Ok(UiForm { ui, fields })
        })
    }
}

/// An HttpOnly, SameSite=Strict cookie on `/admin` (Secure when the request came over HTTPS).
pub fn private_cookie(
    req: &HttpRequest,
    name: &'static str,
    value: String,
    max_age_secs: i64,
) -> Cookie<'static> {
    Cookie::build(name, value)
        .path(COOKIE_PATH)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(req.connection_info().scheme() == "https")
        .max_age(time::Duration::seconds(max_age_secs))
        .finish()
}

/// The same cookie, expired.
pub fn removal_cookie(name: &'static str) -> Cookie<'static> {
    let mut cookie = Cookie::build(name, "")
        .path(COOKIE_PATH)
        .http_only(true)
        .same_site(SameSite::Strict)
        .finish();
    cookie.make_removal();
    cookie
}
