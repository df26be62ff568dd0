//! `GET /manage/tokens/prunable` and `POST /manage/tokens/prune`: count, then delete only what
//! was confirmed, audited.

use actix_web::http::Method;
use chrono::{DateTime, TimeDelta, Utc};
use llm_proxy_core::audit::{action, AuditContext, AuditOutcome};
use llm_proxy_core::token::NewToken;
use llm_proxy_core::token_secret::TokenSecret;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{id_of, spawn_app, TestApp};

async fn token_expired_at(app: &TestApp, project_id: Uuid, at: DateTime<Utc>) -> Uuid {
    let secret = TokenSecret::generate();
    app.store
        .create_token(
            NewToken {
                project_id,
                token_hash: secret.hash(),
                obfuscated: secret.obfuscated(),
                expires_at: Some(at),
                max_requests: None,
                rate_limit_rpm: None,
            },
            &AuditContext::system("test"),
        )
        .await
        .unwrap()
        .id
}

#[actix_web::test]
async fn prune_deletes_the_confirmed_count_and_audits() {
    let app = spawn_app().await;
    let pid: Uuid = id_of(&app.create_project("prune").await).parse().unwrap();
    let long_dead = token_expired_at(&app, pid, Utc::now() - TimeDelta::days(40)).await;
    let recent = token_expired_at(&app, pid, Utc::now() - TimeDelta::hours(1)).await;
    let live = id_of(&app.create_token(&pid.to_string()).await);
    let cutoff = (Utc::now() - TimeDelta::days(30))
        .format("%Y-%m-%d")
        .to_string();

    let res = app
        .get(&format!("/manage/tokens/prunable?expired_before={cutoff}"))
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(res.body["count"], 1);
    assert!(res.body["expired_before"]
        .as_str()
        .unwrap()
        .starts_with(&cutoff));

    // A count that no longer holds deletes nothing: 409, audited as a failure.
    let res = app
        .post(
            "/manage/tokens/prune",
            json!({"expired_before": cutoff, "expected_count": 2}),
        )
        .await;
    res.assert_error(409, "conflict");
    assert_eq!(res.param(), "expected_count");
    assert!(res.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("1 tokens are prunable now"));
    assert!(app.store.get_token(long_dead).await.is_ok());
    let failed = app.audit(action::TOKEN_PRUNE).await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].outcome, AuditOutcome::Failure);

    let res = app
        .post(
            "/manage/tokens/prune",
            json!({"expired_before": cutoff, "expected_count": 1}),
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(res.body["deleted"], 1);
    assert_eq!(
        app.get(&format!("/manage/tokens/{long_dead}")).await.status,
        404
    );
    assert!(app.store.get_token(recent).await.is_ok());
    assert!(app.store.get_token(live.parse().unwrap()).await.is_ok());
    let audit = app.audit(action::TOKEN_PRUNE).await;
    let done = audit
        .iter()
        .find(|a| a.outcome == AuditOutcome::Success)
        .unwrap();
    assert_eq!(done.project_id, Some(pid));
    assert_eq!(done.actor, "management_api");
    assert_eq!(done.metadata["tokens_deleted"], 1);

    // Nothing left to prune before the cut-off.
    let res = app
        .get(&format!("/manage/tokens/prunable?expired_before={cutoff}"))
        .await;
    assert_eq!(res.body["count"], 0);
    app.stop().await;
}

#[actix_web::test]
async fn prune_input_errors_name_their_field() {
    let app = spawn_app().await;
    app.get("/manage/tokens/prunable")
        .await
        .assert_invalid("expired_before");
    app.get("/manage/tokens/prunable?expired_before=last-week")
        .await
        .assert_invalid("expired_before");
    let tomorrow = (Utc::now() + TimeDelta::days(1)).to_rfc3339();
    app.get(&format!(
        "/manage/tokens/prunable?expired_before={}",
        tomorrow.replace('+', "%2B")
    ))
    .await
    .assert_invalid("expired_before");
    app.post(
        "/manage/tokens/prune",
        json!({"expired_before": "2020-01-01"}),
    )
    .await
    .assert_invalid("expected_count");
    app.post(
        "/manage/tokens/prune",
        json!({"expired_before": "2020-01-01", "expected_count": -1}),
    )
    .await
    .assert_invalid("expected_count");
    app.post(
        "/manage/tokens/prune",
        json!({"expired_before": "2020-01-01", "expected_count": 0, "force": true}),
    )
    .await
    .assert_invalid("force");
    let res = app
        .call_with(
            Method::POST,
            "/manage/tokens/prune",
            Some(json!({"expired_before": "2020-01-01", "expected_count": 0})),
            None,
            &[],
        )
        .await;
    res.assert_error(401, "unauthorized");
    app.stop().await;
}
