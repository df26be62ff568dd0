//! Tokens.

use chrono::{Duration, Utc};
use llm_proxy_core::audit::{action, AuditFilter};
use llm_proxy_core::token::{TokenFilter, TokenUpdate, TokenUsage};
use llm_proxy_store::StoreError;
use uuid::Uuid;

use super::harness::{ctx, new_token, Harness};

pub async fn tokens_create_get_and_find_by_hash(h: &Harness) {
    let p = h.project("tok").await;
    let expires = Utc::now() + Duration::hours(2);
    let mut new = new_token(p.id);
    new.expires_at = Some(expires);
    new.max_requests = Some(100);
    new.rate_limit_rpm = Some(30);
    let created = h.store.create_token(new.clone(), &ctx()).await.unwrap();
    assert_eq!(created.project_id, p.id);
    assert_eq!(created.token_hash, new.token_hash);
    assert_eq!(created.obfuscated, new.obfuscated);
    assert!(created.is_active);
    assert_eq!(created.request_count, 0);
    assert_eq!(created.max_requests, Some(100));
    assert_eq!(created.rate_limit_rpm, Some(30));
    assert_eq!(created.last_used_at, None);
    assert_eq!(
        created.expires_at.unwrap().timestamp_micros(),
        expires.timestamp_micros(),
        "microsecond precision on both backends"
    );

    assert_eq!(h.store.get_token(created.id).await.unwrap(), created);
    assert_eq!(
        h.store.find_token_by_hash(&new.token_hash).await.unwrap(),
        Some(created.clone())
    );
    assert_eq!(h.store.find_token_by_hash("nope").await.unwrap(), None);
    let err = h.store.get_token(Uuid::new_v4()).await.unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound { entity: "token" }),
        "{err:?}"
    );
}

pub async fn tokens_create_checks_the_project(h: &Harness) {
    let err = h
        .store
        .create_token(new_token(Uuid::new_v4()), &ctx())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound { entity: "project" }),
        "{err:?}"
    );

    let p = h.project("inactive").await;
    h.store
        .deactivate_project(p.id, false, &ctx())
        .await
        .unwrap();
    let err = h
        .store
        .create_token(new_token(p.id), &ctx())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ProjectInactive), "{err:?}");
}

pub async fn tokens_duplicate_hash_conflicts(h: &Harness) {
    let p = h.project("dup").await;
    let new = new_token(p.id);
    h.store.create_token(new.clone(), &ctx()).await.unwrap();
    let err = h.store.create_token(new, &ctx()).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
}

pub async fn tokens_list_filters(h: &Harness) {
    let a = h.project("a").await;
    let b = h.project("b").await;
    let a1 = h.token(a.id).await;
    let a2 = h.token(a.id).await;
    let a3 = h.token(a.id).await;
    let b1 = h.token(b.id).await;
    h.store.revoke_token(a2.id, &ctx()).await.unwrap();

    let ids =
        |ts: Vec<llm_proxy_core::token::Token>| ts.into_iter().map(|t| t.id).collect::<Vec<_>>();
    let all = h.store.list_tokens(&TokenFilter::default()).await.unwrap();
    assert_eq!(ids(all), [b1.id, a3.id, a2.id, a1.id], "newest first");

    let of_a = h
        .store
        .list_tokens(&TokenFilter {
            project_id: Some(a.id),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(of_a), [a3.id, a2.id, a1.id]);

    let active_a = h
        .store
        .list_tokens(&TokenFilter {
            project_id: Some(a.id),
            active: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(active_a), [a3.id, a1.id]);

    let inactive = h
        .store
        .list_tokens(&TokenFilter {
            active: Some(false),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(inactive), [a2.id]);

    let page = h
        .store
        .list_tokens(&TokenFilter {
            limit: Some(2),
            offset: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(page), [a3.id, a2.id]);
}

pub async fn tokens_update_fields(h: &Harness) {
    let p = h.project("upd").await;
    let t = h.token(p.id).await;
    let expires = Utc::now() + Duration::days(1);
    let updated = h
        .store
        .update_token(
            t.id,
            TokenUpdate {
                is_active: None,
                expires_at: Some(Some(expires)),
                max_requests: Some(Some(5)),
                rate_limit_rpm: Some(Some(10)),
                ..Default::default()
            },
            &ctx(),
        )
        .await
        .unwrap();
    assert_eq!(
        updated.expires_at.map(|e| e.timestamp_micros()),
        Some(expires.timestamp_micros())
    );
    assert_eq!(updated.max_requests, Some(5));
    assert_eq!(updated.rate_limit_rpm, Some(10));
    assert_eq!(h.store.get_token(t.id).await.unwrap(), updated);

    let cleared = h
        .store
        .update_token(
            t.id,
            TokenUpdate {
                is_active: Some(false),
                expires_at: Some(None),
                max_requests: Some(None),
                rate_limit_rpm: None,
                ..Default::default()
            },
            &ctx(),
        )
        .await
        .unwrap();
    assert!(!cleared.is_active);
    assert!(cleared.deactivated_at.is_some());
    assert_eq!(cleared.expires_at, None);
    assert_eq!(cleared.max_requests, None);
    assert_eq!(cleared.rate_limit_rpm, Some(10));
    assert_eq!(h.store.get_token(t.id).await.unwrap(), cleared);

    let err = h
        .store
        .update_token(Uuid::new_v4(), TokenUpdate::default(), &ctx())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
}

pub async fn tokens_revoke_is_idempotent(h: &Harness) {
    let p = h.project("rev").await;
    let t = h.token(p.id).await;
    let first = h.store.revoke_token(t.id, &ctx()).await.unwrap();
    assert!(!first.is_active);
    let at = first.deactivated_at.expect("revocation time");
    let second = h.store.revoke_token(t.id, &ctx()).await.unwrap();
    assert_eq!(second, first, "revoking again changes nothing");
    assert_eq!(second.deactivated_at, Some(at));
    assert_eq!(h.store.get_token(t.id).await.unwrap(), first);

    let audit = h
        .store
        .list_audit(&AuditFilter {
            action: Some(action::TOKEN_REVOKE.to_owned()),
            token_id: Some(t.id),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 2, "both attempts are audited");
    assert_eq!(audit[0].metadata["already_revoked"], true);
    assert_eq!(audit[1].metadata["already_revoked"], false);

    let err = h
        .store
        .revoke_token(Uuid::new_v4(), &ctx())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
}

pub async fn tokens_bulk_revoke(h: &Harness) {
    let p = h.project("bulk").await;
    let other = h.project("other").await;
    let t1 = h.token(p.id).await;
    let t2 = h.token(p.id).await;
    let keep = h.token(other.id).await;
    assert_eq!(
        h.store.revoke_project_tokens(p.id, &ctx()).await.unwrap(),
        2
    );
    assert!(!h.store.get_token(t1.id).await.unwrap().is_active);
    assert!(!h.store.get_token(t2.id).await.unwrap().is_active);
    assert!(h.store.get_token(keep.id).await.unwrap().is_active);
    assert_eq!(
        h.store.revoke_project_tokens(p.id, &ctx()).await.unwrap(),
        0
    );
    // The project itself stays active.
    assert!(h.store.get_project(p.id).await.unwrap().is_active);

    let audit = h
        .store
        .list_audit(&AuditFilter {
            action: Some(action::TOKEN_REVOKE_BULK.to_owned()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[1].project_id, Some(p.id));
    assert_eq!(audit[1].metadata["tokens_revoked"], 2);

    let err = h
        .store
        .revoke_project_tokens(Uuid::new_v4(), &ctx())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
}

pub async fn tokens_record_usage_batches(h: &Harness) {
    let p = h.project("use").await;
    let t1 = h.token(p.id).await;
    let t2 = h.token(p.id).await;
    let now = Utc::now();
    let earlier = now - Duration::minutes(5);
    h.store
        .record_token_usage(&[
            TokenUsage {
                token_id: t1.id,
                requests: 3,
                last_used_at: earlier,
            },
            TokenUsage {
                token_id: t2.id,
                requests: 1,
                last_used_at: now,
            },
            // The same token twice in one batch adds up; the later time wins.
            TokenUsage {
                token_id: t1.id,
                requests: 2,
                last_used_at: now,
            },
            // Unknown tokens (pruned meanwhile) are skipped.
            TokenUsage {
                token_id: Uuid::new_v4(),
                requests: 9,
                last_used_at: now,
            },
        ])
        .await
        .unwrap();
    let t1_after = h.store.get_token(t1.id).await.unwrap();
    assert_eq!(t1_after.request_count, 5);
    assert_eq!(
        t1_after.last_used_at.map(|t| t.timestamp_micros()),
        Some(now.timestamp_micros())
    );
    assert_eq!(h.store.get_token(t2.id).await.unwrap().request_count, 1);

    // last_used_at never moves back.
    h.store
        .record_token_usage(&[TokenUsage {
            token_id: t1.id,
            requests: 1,
            last_used_at: earlier,
        }])
        .await
        .unwrap();
    let t1_after = h.store.get_token(t1.id).await.unwrap();
    assert_eq!(t1_after.request_count, 6);
    assert_eq!(
        t1_after.last_used_at.map(|t| t.timestamp_micros()),
        Some(now.timestamp_micros())
    );
    h.store.record_token_usage(&[]).await.unwrap();
}

pub async fn tokens_expire(h: &Harness) {
    let p = h.project("exp").await;
    let now = Utc::now();
    let mut past = new_token(p.id);
    past.expires_at = Some(now - Duration::minutes(1));
    let past = h.store.create_token(past, &ctx()).await.unwrap();
    let mut future = new_token(p.id);
    future.expires_at = Some(now + Duration::hours(1));
    let future = h.store.create_token(future, &ctx()).await.unwrap();
    let forever = h.token(p.id).await;
    let mut revoked = new_token(p.id);
    revoked.expires_at = Some(now - Duration::minutes(1));
    let revoked = h.store.create_token(revoked, &ctx()).await.unwrap();
    h.store.revoke_token(revoked.id, &ctx()).await.unwrap();

    let expired = h.store.expire_tokens(now, &ctx()).await.unwrap();
    assert_eq!(expired, [past.id], "only active tokens past their expiry");
    let past_after = h.store.get_token(past.id).await.unwrap();
    assert!(!past_after.is_active);
    assert!(past_after.deactivated_at.is_some());
    assert!(h.store.get_token(future.id).await.unwrap().is_active);
    assert!(h.store.get_token(forever.id).await.unwrap().is_active);
    assert!(h.store.expire_tokens(now, &ctx()).await.unwrap().is_empty());

    let audit = h
        .store
        .list_audit(&AuditFilter {
            action: Some(action::TOKEN_EXPIRE.to_owned()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].token_id, Some(past.id));
    assert_eq!(audit[0].project_id, Some(p.id));
}

pub async fn tokens_prune(h: &Harness) {
    let p = h.project("prune").await;
    let q = h.project("prune-too").await;
    let now = Utc::now();
    let mut old = new_token(p.id);
    old.expires_at = Some(now - Duration::days(10));
    let old = h.store.create_token(old, &ctx()).await.unwrap();
    let mut old_q = new_token(q.id);
    old_q.expires_at = Some(now - Duration::days(9));
    let old_q = h.store.create_token(old_q, &ctx()).await.unwrap();
    let mut recent = new_token(p.id);
    recent.expires_at = Some(now - Duration::hours(1));
    let recent = h.store.create_token(recent, &ctx()).await.unwrap();
    let revoked = h.token(p.id).await;
    h.store.revoke_token(revoked.id, &ctx()).await.unwrap();
    let live = h.token(p.id).await;

    let cutoff = now - Duration::days(1);
    assert_eq!(h.store.count_prunable_tokens(cutoff).await.unwrap(), 2);
    assert_eq!(h.store.prune_tokens(cutoff, &ctx()).await.unwrap(), 2);
    for id in [old.id, old_q.id] {
        let err = h.store.get_token(id).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    }
    for id in [recent.id, revoked.id, live.id] {
        h.store.get_token(id).await.unwrap();
    }
    assert_eq!(h.store.count_prunable_tokens(cutoff).await.unwrap(), 0);

    // Later, the revoked and the recently expired token go too; the live one stays.
    let later = now + Duration::minutes(1);
    assert_eq!(h.store.count_prunable_tokens(later).await.unwrap(), 2);
    assert_eq!(h.store.prune_tokens(later, &ctx()).await.unwrap(), 2);
    h.store.get_token(live.id).await.unwrap();

    let audit = h
        .store
        .list_audit(&AuditFilter {
            action: Some(action::TOKEN_PRUNE.to_owned()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 3, "one row per project per prune");
    let of_q: Vec<_> = audit
        .iter()
        .filter(|a| a.project_id == Some(q.id))
        .collect();
    assert_eq!(of_q.len(), 1);
    assert_eq!(of_q[0].metadata["token_ids"][0], old_q.id.to_string());
}

/// Batches from several proxies touching the same tokens in different orders all land.
pub async fn tokens_concurrent_usage_batches_add_up(h: &Harness) {
    let p = h.project("busy").await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(h.token(p.id).await.id);
    }
    let runs: Vec<_> = (0..6)
        .map(|worker| {
            let store = h.store.clone();
            let mut order = ids.clone();
            if worker % 2 == 1 {
                order.reverse();
            }
            tokio::spawn(async move {
                for _ in 0..10 {
                    let batch: Vec<TokenUsage> = order
                        .iter()
                        .map(|id| TokenUsage {
                            token_id: *id,
                            requests: 1,
                            last_used_at: Utc::now(),
                        })
                        .collect();
                    store.record_token_usage(&batch).await?;
                }
                Ok::<_, StoreError>(())
            })
        })
        .collect();
    for run in runs {
        run.await.unwrap().unwrap();
    }
    for id in ids {
        assert_eq!(h.store.get_token(id).await.unwrap().request_count, 60);
    }
}
