//! `GET /manage/audit/{id}`.

use actix_web::{web, HttpResponse};

use crate::auth::ManagementAuth;
use crate::error::AdminResult;
use crate::state::AdminState;
use crate::validate;

pub async fn handle(
    _auth: ManagementAuth,
    state: web::Data<AdminState>,
    id: web::Path<String>,
) -> AdminResult<HttpResponse> {
    let id = validate::uuid("id", &id)?;
    let event = state.store.get_audit(id).await?;
    Ok(HttpResponse::Ok().json(event))
}
