//! Audit rows: direct inserts, filters, pagination, and the rows every mutation writes.

use std::collections::BTreeMap;

use chrono::Duration;
use llm_proxy_core::audit::{action, AuditContext, AuditFilter, AuditOutcome, NewAuditEvent};
use llm_proxy_core::project::ProjectUpdate;
use llm_proxy_core::token::TokenUpdate;
use llm_proxy_core::SecretString;
use llm_proxy_store::StoreError;
use serde_json::json;
use uuid::Uuid;

use super::harness::{ctx, Harness};

fn event(action: &str, actor: &str, outcome: AuditOutcome) -> NewAuditEvent {
    NewAuditEvent {
        action: action.to_owned(),
        context: AuditContext {
            actor: actor.to_owned(),
            request_id: Some(format!("req-{action}-{actor}")),
            client_ip: Some("198.51.100.1".to_owned()),
        },
        project_id: None,
        token_id: None,
        outcome,
        reason: None,
        metadata: json!({}),
    }
}

pub async fn audit_insert_and_get(h: &Harness) {
    let project_id = Uuid::new_v4();
    let token_id = Uuid::new_v4();
    let mut new = event("admin.login", "alice", AuditOutcome::Failure);
    new.project_id = Some(project_id);
    new.token_id = Some(token_id);
    new.reason = Some("bad password".to_owned());
    new.metadata = json!({ "attempt": 3, "nested": { "ok": false } });
    let inserted = h.store.insert_audit(new).await.unwrap();
    assert_eq!(inserted.action, "admin.login");
    assert_eq!(inserted.actor, "alice");
    assert_eq!(inserted.outcome, AuditOutcome::Failure);
    assert_eq!(inserted.project_id, Some(project_id));
    assert_eq!(inserted.token_id, Some(token_id));
    assert_eq!(inserted.reason.as_deref(), Some("bad password"));
    assert_eq!(inserted.client_ip.as_deref(), Some("198.51.100.1"));
    assert_eq!(
        inserted.request_id.as_deref(),
        Some("req-admin.login-alice")
    );
    assert_eq!(inserted.metadata["nested"]["ok"], false);

    assert_eq!(h.store.get_audit(inserted.id).await.unwrap(), inserted);
    let err = h.store.get_audit(Uuid::new_v4()).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
}

pub async fn audit_filters(h: &Harness) {
    let p1 = Uuid::new_v4();
    let t1 = Uuid::new_v4();
    let mut a = event("x.one", "alice", AuditOutcome::Success);
    a.project_id = Some(p1);
    a.token_id = Some(t1);
    let a = h.store.insert_audit(a).await.unwrap();
    let b = h
        .store
        .insert_audit(event("x.two", "bob", AuditOutcome::Failure))
        .await
        .unwrap();
    let mut c = event("x.one", "bob", AuditOutcome::Success);
    c.project_id = Some(p1);
    let c = h.store.insert_audit(c).await.unwrap();

    let ids = |f: AuditFilter| async move {
        h.store
            .list_audit(&f)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(AuditFilter::default()).await,
        [c.id, b.id, a.id],
        "newest first"
    );
    assert_eq!(
        ids(AuditFilter {
            action: Some("x.one".into()),
            ..Default::default()
        })
        .await,
        [c.id, a.id]
    );
    assert_eq!(
        ids(AuditFilter {
            outcome: Some(AuditOutcome::Failure),
            ..Default::default()
        })
        .await,
        [b.id]
    );
    assert_eq!(
        ids(AuditFilter {
            project_id: Some(p1),
            ..Default::default()
        })
        .await,
        [c.id, a.id]
    );
    assert_eq!(
        ids(AuditFilter {
            token_id: Some(t1),
            ..Default::default()
        })
        .await,
        [a.id]
    );
    assert_eq!(
        ids(AuditFilter {
            actor: Some("bob".into()),
            ..Default::default()
        })
        .await,
        [c.id, b.id]
    );
    assert_eq!(
        ids(AuditFilter {
            request_id: Some("req-x.two-bob".into()),
            ..Default::default()
        })
        .await,
        [b.id]
    );
    // since is inclusive, until exclusive.
    assert_eq!(
        ids(AuditFilter {
            since: Some(b.timestamp),
            ..Default::default()
        })
        .await,
        [c.id, b.id]
    );
    assert_eq!(
        ids(AuditFilter {
            until: Some(b.timestamp),
            ..Default::default()
        })
        .await,
        [a.id]
    );
    assert_eq!(
        ids(AuditFilter {
            since: Some(a.timestamp - Duration::hours(1)),
            until: Some(a.timestamp - Duration::minutes(1)),
            ..Default::default()
        })
        .await,
        Vec::<Uuid>::new()
    );
    // Filters combine.
    assert_eq!(
        ids(AuditFilter {
            action: Some("x.one".into()),
            actor: Some("bob".into()),
            project_id: Some(p1),
            outcome: Some(AuditOutcome::Success),
            ..Default::default()
        })
        .await,
        [c.id]
    );
}

pub async fn audit_pagination(h: &Harness) {
    let mut inserted = Vec::new();
    for i in 0..7 {
        let e = h
            .store
            .insert_audit(event(&format!("page.{i}"), "pager", AuditOutcome::Success))
            .await
            .unwrap();
        inserted.push(e.id);
    }
    inserted.reverse();
    let mut seen = Vec::new();
    for page in 0..4 {
        let rows = h
            .store
            .list_audit(&AuditFilter {
                actor: Some("pager".into()),
                limit: Some(2),
                offset: Some(page * 2),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(rows.len() <= 2);
        seen.extend(rows.into_iter().map(|e| e.id));
    }
    assert_eq!(seen, inserted, "pages cover every row once, newest first");
    let capped = h
        .store
        .list_audit(&AuditFilter {
            limit: Some(1_000_000),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(capped.len(), 7);
}

/// Every mutation writes its audit row, carrying the context and the ids it concerns.
pub async fn audit_rows_for_every_mutation(h: &Harness) {
    let context = ctx();
    let mut keys = BTreeMap::new();
    keys.insert(
        "openai".to_owned(),
        SecretString::new("sk-audit-0123456789-abcd"),
    );
    let p = h
        .store
        .create_project(
            llm_proxy_core::project::NewProject {
                name: "audited".into(),
                provider_keys: keys,
                rate_limit_rpm: None,
            },
            &context,
        )
        .await
        .unwrap();
    h.store
        .update_project(
            p.id,
            ProjectUpdate {
                name: Some("audited-2".into()),
                ..Default::default()
            },
            &context,
        )
        .await
        .unwrap();
    let t = h
        .store
        .create_token(super::harness::new_token(p.id), &context)
        .await
        .unwrap();
    h.store
        .update_token(
            t.id,
            TokenUpdate {
                max_requests: Some(Some(3)),
                ..Default::default()
            },
            &context,
        )
        .await
        .unwrap();
    h.store.revoke_token(t.id, &context).await.unwrap();
    let t2 = h
        .store
        .create_token(super::harness::new_token(p.id), &context)
        .await
        .unwrap();
    h.store.revoke_project_tokens(p.id, &context).await.unwrap();
    let mut expiring = super::harness::new_token(p.id);
    expiring.expires_at = Some(chrono::Utc::now() - Duration::days(3));
    let t3 = h.store.create_token(expiring, &context).await.unwrap();
    h.store
        .expire_tokens(chrono::Utc::now(), &context)
        .await
        .unwrap();
    h.store
        .prune_tokens(chrono::Utc::now() - Duration::days(1), &context)
        .await
        .unwrap();
    h.store
        .deactivate_project(p.id, true, &context)
        .await
        .unwrap();

    let rows = h
        .store
        .list_audit(&AuditFilter {
            project_id: Some(p.id),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut actions: Vec<&str> = rows.iter().map(|r| r.action.as_str()).collect();
    actions.reverse();
    assert_eq!(
        actions,
        [
            action::PROJECT_CREATE,
            action::PROJECT_UPDATE,
            action::TOKEN_CREATE,
            action::TOKEN_UPDATE,
            action::TOKEN_REVOKE,
            action::TOKEN_CREATE,
            action::TOKEN_REVOKE_BULK,
            action::TOKEN_CREATE,
            action::TOKEN_EXPIRE,
            action::TOKEN_PRUNE,
            action::PROJECT_DEACTIVATE,
        ]
    );
    for row in &rows {
        assert_eq!(row.project_id, Some(p.id), "{}", row.action);
        assert_eq!(row.actor, context.actor, "{}", row.action);
        assert_eq!(row.request_id, context.request_id, "{}", row.action);
        assert_eq!(row.client_ip, context.client_ip, "{}", row.action);
        assert_eq!(row.outcome, AuditOutcome::Success, "{}", row.action);
    }
    let token_of = |act: &str| {
        rows.iter()
            .filter(|r| r.action == act)
            .map(|r| r.token_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        token_of(action::TOKEN_CREATE),
        [Some(t3.id), Some(t2.id), Some(t.id)]
    );
    assert_eq!(token_of(action::TOKEN_UPDATE), [Some(t.id)]);
    assert_eq!(token_of(action::TOKEN_REVOKE), [Some(t.id)]);
    assert_eq!(token_of(action::TOKEN_EXPIRE), [Some(t3.id)]);
    let create = rows
        .iter()
        .find(|r| r.action == action::PROJECT_CREATE)
        .unwrap();
    assert_eq!(create.metadata["providers"], json!(["openai"]));
    assert!(
        !create.metadata.to_string().contains("sk-audit"),
        "keys never reach the audit trail"
    );
}
