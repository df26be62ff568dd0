//! `GET /manage/openapi.json`: the hand-written OpenAPI 3.1 document of this API. A test checks
//! it against [`super::MANAGEMENT_ROUTES`] both ways.

use actix_web::HttpResponse;

pub const DOCUMENT: &str = include_str!("openapi.json");

pub async fn get() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(DOCUMENT)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeSet;

    use super::*;

    /// Every registered route is documented and every documented operation is registered.
    #[test]
    fn document_matches_the_registered_routes() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap();
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if ["get", "post", "put", "patch", "delete", "head", "options"]
                    .contains(&method.as_str())
                {
                    documented.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        let registered: BTreeSet<(String, String)> = super::super::MANAGEMENT_ROUTES
            .iter()
            .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
            .collect();
        let undocumented: Vec<_> = registered.difference(&documented).collect();
        let unregistered: Vec<_> = documented.difference(&registered).collect();
        assert!(
            undocumented.is_empty(),
            "routes missing from openapi.json: {undocumented:?}"
        );
        assert!(
            unregistered.is_empty(),
            "openapi.json documents unknown routes: {unregistered:?}"
        );
    }
}
