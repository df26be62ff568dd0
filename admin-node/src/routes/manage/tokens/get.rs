//! `GET /manage/tokens/{id}`: the secret obfuscated, with `request_count` and `last_used_at`.

use actix_web::{web, HttpResponse};

use super::super::views;
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
    let token = state.store.get_token(id).await?;
    Ok(HttpResponse::Ok().json(views::token(&token)))
}
