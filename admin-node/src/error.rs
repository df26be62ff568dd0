//! The one error enum of admin-node, mapped once to the JSON envelope.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use llm_proxy_core::ErrorCode;
use llm_proxy_platform::ApiError;
use llm_proxy_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A 400 that names the offending field.
    #[error("{field}: {message}")]
    InvalidField { field: String, message: String },
    #[error("missing or invalid management token")]
    Unauthorized,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
}

impl AdminError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::InvalidField {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// The envelope this error is shown as. 5xx causes are logged here, once.
    pub fn to_api(&self) -> ApiError {
        match self {
            AdminError::Store(e) => store_error(e),
            AdminError::InvalidField { field, message } => {
                ApiError::invalid_field(field, message.clone())
            }
            AdminError::Unauthorized => ApiError::from(ErrorCode::Unauthorized),
            AdminError::NotFound(entity) => {
                ApiError::new(ErrorCode::NotFound, format!("{entity} not found"))
            }
            AdminError::Bind { .. } => ApiError::internal(self),
        }
    }

    /// A message safe to show in the admin UI.
    pub fn user_message(&self) -> String {
        self.to_api().message
    }
}

/// `StoreError` → envelope, in one place.
fn store_error(e: &StoreError) -> ApiError {
    match e {
        StoreError::NotFound { entity } => {
            ApiError::new(ErrorCode::NotFound, format!("{entity} not found"))
        }
        StoreError::Conflict(message) => ApiError::new(ErrorCode::Conflict, message.clone()),
        StoreError::ProjectInactive => ApiError::new(
            ErrorCode::ProjectInactive,
            "The project is inactive: no tokens can be created for it.",
        )
        .with_param("project_id"),
        StoreError::Invalid(message) => {
            let api = ApiError::new(ErrorCode::InvalidRequest, message.clone());
            match field_of_store_message(message) {
                Some(field) => api.with_param(field),
                None => api,
            }
        }
        StoreError::Crypto(_)
        | StoreError::Unavailable(_)
        | StoreError::Migration(_)
        | StoreError::Internal(_) => ApiError::internal(e),
    }
}

/// The store's validation messages start with the field they are about.
fn field_of_store_message(message: &str) -> Option<&'static str> {
    if message.starts_with("project name") {
        Some("name")
    } else if message.starts_with("provider name") || message.contains(" key ") {
        Some("provider_keys")
    } else {
        None
    }
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        self.to_api().status_code()
    }

    fn error_response(&self) -> HttpResponse {
        self.to_api().error_response()
    }
}

pub type AdminResult<T> = Result<T, AdminError>;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn store_errors_map_to_their_codes() {
        let cases = [
            (StoreError::not_found("project"), 404, "not_found"),
            (StoreError::Conflict("dup".into()), 409, "conflict"),
            (StoreError::ProjectInactive, 403, "project_inactive"),
            (StoreError::Invalid("x".into()), 400, "invalid_request"),
            (StoreError::Internal("boom".into()), 500, "internal_error"),
        ];
        for (e, status, code) in cases {
            let api = AdminError::from(e).to_api();
            assert_eq!(api.code.status(), status);
            assert_eq!(api.code.as_str(), code);
        }
        let api = AdminError::Store(StoreError::Internal("secret cause".into())).to_api();
        assert_eq!(api.message, "internal error");
        let api = AdminError::Store(StoreError::Invalid("project name must not be empty".into()))
            .to_api();
        assert_eq!(api.param.as_deref(), Some("name"));
    }
}
