//! `DELETE /manage/tokens/{id}`: revokes → 204; revoking a revoked token is 204 too.

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
    ops::tokens::revoke(&state, &auth.audit, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
