//! `GET /manage/projects/{id}`: also answers for a deactivated project (`is_active: false`).

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
    let project = state.store.get_project(id).await?;
    Ok(HttpResponse::Ok().json(project))
}
