//! `POST /manage/cache/purge` with exactly one of `{"key": …}` (as shown in a response's
//! `Cache-Status: …; key="…"`), `{"prefix": …}` (keys start with the project id),
//! `{"project_id": …}` or `{"all": true}`. The purge travels as a control event, like a
//! revocation: every proxy node drops the entries from its memory cache, and from the shared
//! Redis in distributed mode (in `llm-proxy up` the bus is in-process). Answers 202 with the
//! scope; audited.

use actix_web::{web, HttpResponse};
use llm_proxy_core::audit::{AuditOutcome, NewAuditEvent};
use llm_proxy_core::control::{CachePurgeScope, ControlEvent};
use serde_json::{json, Value};

use crate::auth::ManagementAuth;
use crate::error::{AdminError, AdminResult};
use crate::state::AdminState;
use crate::validate::{self, JsonObject};

pub const ACTION: &str = "cache.purge";

const FIELDS: &[&str] = &["key", "prefix", "project_id", "all"];

fn scope(body: &JsonObject) -> AdminResult<CachePurgeScope> {
    let given: Vec<&str> = FIELDS.iter().copied().filter(|f| body.has(f)).collect();
    let [field] = given.as_slice() else {
        return Err(AdminError::invalid(
            "body",
            "give exactly one of `key`, `prefix`, `project_id` or `all: true`",
        ));
    };
    let text = |field: &str| -> AdminResult<String> {
        body.string(field)?
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                AdminError::invalid(field, format!("`{field}` must be a non-empty string"))
            })
    };
    Ok(match *field {
        "key" => CachePurgeScope::Key { key: text("key")? },
        "prefix" => CachePurgeScope::Prefix {
            prefix: text("prefix")?,
        },
        "project_id" => CachePurgeScope::Project {
            project_id: validate::uuid("project_id", &text("project_id")?)?,
        },
        _ => match body.bool("all")? {
            Some(true) => CachePurgeScope::All,
            _ => return Err(AdminError::invalid("all", "`all` must be true")),
        },
    })
}

pub async fn handle(
    auth: ManagementAuth,
    state: web::Data<AdminState>,
    body: Option<web::Json<Value>>,
) -> AdminResult<HttpResponse> {
    let body = body.map_or_else(|| json!({}), web::Json::into_inner);
    let scope = scope(&JsonObject::parse(body, FIELDS)?)?;
    let project_id = match &scope {
        CachePurgeScope::Project { project_id } => Some(*project_id),
        _ => None,
    };
    state
        .store
        .insert_audit(NewAuditEvent {
            action: ACTION.to_owned(),
            context: auth.audit.clone(),
            project_id,
            token_id: None,
            outcome: AuditOutcome::Success,
            reason: None,
            metadata: json!({ "scope": scope }),
        })
        .await?;
    state.publish(ControlEvent::CachePurge {
        scope: scope.clone(),
    });
    Ok(HttpResponse::Accepted().json(json!({
        "status": "accepted",
        "scope": scope,
        "message": "every proxy node drops the matching response-cache entries within moments",
    })))
}
