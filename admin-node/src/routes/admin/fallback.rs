//! Unknown `/admin` paths.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;

use crate::ui::layout;

pub async fn handle() -> HttpResponse {
    layout::error_page(StatusCode::NOT_FOUND, "There is no such page.")
}
