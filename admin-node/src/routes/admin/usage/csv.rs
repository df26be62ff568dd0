//! `GET /admin/usage.csv`: the usage page's window as the management API's CSV export.

use actix_web::web;
use chrono::Utc;

use super::query::PageQuery;
use crate::routes::manage::usage::export;
use crate::ui::extract::UiResult;
use crate::ui::UiSession;

pub async fn handle(ui: UiSession, query: web::Query<PageQuery>) -> UiResult {
    let parsed = query.parse(Utc::now())?;
    Ok(export::csv_response(&ui.state, &parsed.query).await?)
}
