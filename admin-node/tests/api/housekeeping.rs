//! The expiry sweep: expired tokens become inactive with a `token.expire` audit row and a
//! control event.

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use llm_proxy_core::audit::{action, AuditContext};
use llm_proxy_core::control::ControlEvent;
use llm_proxy_core::token::NewToken;
use llm_proxy_core::token_secret::TokenSecret;
use uuid::Uuid;

use crate::helpers::{id_of, spawn_app_with};

#[actix_web::test]
async fn the_periodic_sweep_expires_tokens_audits_and_publishes() {
    let app = spawn_app_with(|s| s.admin.expiry_sweep_secs = 1).await;
    let pid: Uuid = id_of(&app.create_project("sweep").await).parse().unwrap();
    let secret = TokenSecret::generate();
    let token = app
        .store
        .create_token(
            NewToken {
                project_id: pid,
                token_hash: secret.hash(),
                obfuscated: secret.obfuscated(),
                expires_at: Some(Utc::now() - TimeDelta::seconds(5)),
                max_requests: None,
                rate_limit_rpm: None,
            },
            &AuditContext::system("test"),
        )
        .await
        .unwrap();
    let live = id_of(&app.create_token(&pid.to_string()).await);

    let deadline = Instant::now() + Duration::from_secs(10);
    let mut events = Vec::new();
    loop {
        events.extend(app.control_events());
        if events.contains(&ControlEvent::TokenChanged { token_id: token.id }) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the sweep did not run: {events:?}"
        );
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    let stored = app.store.get_token(token.id).await.unwrap();
    assert!(!stored.is_active);
    assert!(stored.deactivated_at.is_some());
    let audit = app.audit(action::TOKEN_EXPIRE).await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].token_id, Some(token.id));
    assert_eq!(audit[0].project_id, Some(pid));
    assert_eq!(audit[0].actor, "system:expiry_sweep");
    let live = app.store.get_token(live.parse().unwrap()).await.unwrap();
    assert!(live.is_active);
    app.stop().await;
}
