//! `DELETE /manage/projects/{id}`: soft delete (inactive, every token revoked) → 204.

use actix_web::{web, HttpResponse};

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
    ops::projects::deactivate(&state, &auth.audit, id, true).await?;
    Ok(HttpResponse::NoContent().finish())
}
