//! `POST /manage/projects/{id}/tokens/revoke`: revokes every active token → 200
//! `{project_id, revoked_count}`.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::auth::ManagementAuth;
use crate::error::AdminResult;
use crate::ops;
use crate::state::AdminState;
use crate::validate;

pub async fn handle(
    auth: ManagementAuth,
    state: web::Data<AdminState>,
    id: web::Path<String>,
) -> AdminResult<HttpResponse> {
    let id = validate::uuid("id", &id)?;
    let revoked = ops::projects::revoke_all_tokens(&state, &auth.audit, id).await?;
    Ok(HttpResponse::Ok().json(json!({ "project_id": id, "revoked_count": revoked })))
}
