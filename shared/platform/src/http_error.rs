//! The one JSON error envelope: `{"error":{"message","type","code","param"}}` (DESIGN §4, §13).
//! Every error the gateway itself produces, including actix's extractor errors, goes through here.

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use llm_proxy_core::ErrorCode;
use serde_json::json;

/// Which SDK will read the error: on Anthropic routes the envelope also carries `"type":"error"`
/// and Anthropic's type names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorFlavor {
    #[default]
    OpenAi,
    Anthropic,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub param: Option<String>,
    pub flavor: ErrorFlavor,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            param: None,
            flavor: ErrorFlavor::OpenAi,
            headers: Vec::new(),
        }
    }

    /// A 400 that names the offending field.
    pub fn invalid_field(param: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message).with_param(param)
    }

    /// A 500 whose cause is logged here, once, and never shown to the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(ErrorCode::InternalError, "internal error")
    }

    pub fn with_param(mut self, param: &str) -> Self {
        self.param = Some(param.to_owned());
        self
    }

    pub fn with_flavor(mut self, flavor: ErrorFlavor) -> Self {
        self.flavor = flavor;
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: impl ToString) -> Self {
        if let Ok(value) = HeaderValue::from_str(&value.to_string()) {
            self.headers.push((name, value));
        }
        self
    }

    pub fn body(&self) -> serde_json::Value {
        let kind = self.code.kind();
        match self.flavor {
            ErrorFlavor::OpenAi => json!({
                "error": {
                    "message": self.message,
                    "type": kind.openai_type(),
                    "code": self.code.as_str(),
                    "param": self.param,
                }
            }),
            ErrorFlavor::Anthropic => json!({
                "type": "error",
                "error": {
                    "message": self.message,
                    "type": kind.anthropic_type(),
                    "code": self.code.as_str(),
                    "param": self.param,
                }
            }),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl From<ErrorCode> for ApiError {
    fn from(code: ErrorCode) -> Self {
        let message = match code {
            ErrorCode::InvalidToken => "The token is malformed.",
            ErrorCode::TokenNotFound => "The token does not exist.",
            ErrorCode::TokenInactive => "The token has been revoked.",
            ErrorCode::TokenExpired => "The token has expired.",
            ErrorCode::ProjectInactive => "The token's project is inactive.",
            ErrorCode::RateLimitExceeded => "Rate limit exceeded.",
            ErrorCode::QuotaExceeded => "The token has used all of its requests.",
            ErrorCode::BudgetExceeded => "The budget cannot fit this request.",
            ErrorCode::MethodNotAllowed => "This method is not allowed for this provider.",
            ErrorCode::EndpointNotFound => "This endpoint is not allowed for this provider.",
            ErrorCode::ParamNotAllowed => "A request parameter is not allowed.",
            ErrorCode::OriginNotAllowed => "This origin is not allowed.",
            ErrorCode::UpstreamNotAllowed => "This upstream host is not allowed.",
            ErrorCode::UpstreamUnreachable => "The upstream could not be reached.",
            ErrorCode::UpstreamTimeout => "The upstream did not answer in time.",
            ErrorCode::UpstreamUnavailable => {
                "The upstream is unavailable right now; retry after the time in Retry-After."
            }
            ErrorCode::PayloadTooLarge => "The request body is too large.",
            ErrorCode::HeadersTooLarge => "The request headers are too large.",
            ErrorCode::UnsupportedMediaType => "This content type is not accepted here.",
            ErrorCode::RequestTimeout => "The request body did not arrive in time.",
            ErrorCode::InvalidRequest => "The request is invalid.",
            ErrorCode::Unauthorized => "Missing or invalid management token.",
            ErrorCode::NotFound => "Not found.",
            ErrorCode::Conflict => "Conflict.",
            ErrorCode::LimitsUnavailable => "Limits cannot be checked right now.",
            ErrorCode::InternalError => "internal error",
        };
        Self::new(code, message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, "application/json"));
        for (name, value) in &self.headers {
            response.insert_header((name.clone(), value.clone()));
        }
        response.body(self.body().to_string())
    }
}

/// Routes actix's JSON extractor errors through the envelope.
pub fn json_error_handler(
    err: actix_web::error::JsonPayloadError,
    _: &HttpRequest,
) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    let api = match &err {
        E::OverflowKnownLength { .. } | E::Overflow { .. } => {
            ApiError::new(ErrorCode::PayloadTooLarge, "The request body is too large.")
        }
        E::ContentType => ApiError::new(
            ErrorCode::InvalidRequest,
            "Content-Type must be application/json.",
        ),
        E::Deserialize(e) => {
            ApiError::new(ErrorCode::InvalidRequest, format!("Invalid JSON body: {e}")).with_param(
                &field_from_serde_message(&e.to_string()).unwrap_or_else(|| "body".to_owned()),
            )
        }
        other => ApiError::new(
            ErrorCode::InvalidRequest,
            format!("Invalid JSON body: {other}"),
        ),
    };
    api.into()
}

pub fn path_error_handler(err: actix_web::error::PathError, _: &HttpRequest) -> actix_web::Error {
    ApiError::new(
        ErrorCode::InvalidRequest,
        format!("Invalid path parameter: {err}"),
    )
    .with_param("path")
    .into()
}

pub fn query_error_handler(
    err: actix_web::error::QueryPayloadError,
    _: &HttpRequest,
) -> actix_web::Error {
    let message = err.to_string();
    let param = field_from_serde_message(&message).unwrap_or_else(|| "query".to_owned());
    ApiError::new(
        ErrorCode::InvalidRequest,
        format!("Invalid query string: {message}"),
    )
    .with_param(&param)
    .into()
}

/// The extractor configs every node registers so its own errors share the envelope.
pub fn extractor_configs(
    max_json_bytes: usize,
) -> (
    actix_web::web::JsonConfig,
    actix_web::web::PathConfig,
    actix_web::web::QueryConfig,
) {
    (
        actix_web::web::JsonConfig::default()
            .limit(max_json_bytes)
            .error_handler(json_error_handler),
        actix_web::web::PathConfig::default().error_handler(path_error_handler),
        actix_web::web::QueryConfig::default().error_handler(query_error_handler),
    )
}

/// serde names the field in messages like "unknown field `foo`" or "missing field `bar`".
fn field_from_serde_message(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_and_anthropic_envelopes() {
        let err = ApiError::from(ErrorCode::TokenExpired);
        let body = err.body();
        assert_eq!(body["error"]["code"], "token_expired");
        assert_eq!(body["error"]["type"], "authentication_error");
        assert!(body["error"]["param"].is_null());
        assert!(body.get("type").is_none());

        let body = ApiError::from(ErrorCode::LimitsUnavailable)
            .with_flavor(ErrorFlavor::Anthropic)
            .body();
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], "overloaded_error");
        assert_eq!(body["error"]["code"], "limits_unavailable");
    }

    #[test]
    fn serde_field_names_are_extracted() {
        assert_eq!(
            field_from_serde_message("missing field `name` at line 1 column 2").as_deref(),
            Some("name")
        );
        assert_eq!(field_from_serde_message("nothing here"), None);
    }
}
