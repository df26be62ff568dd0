//! Projects and their provider keys.

use std::collections::BTreeMap;

use llm_proxy_core::audit::{action, AuditFilter};
use llm_proxy_core::project::ProjectUpdate;
use llm_proxy_core::token::TokenFilter;
use llm_proxy_core::SecretString;
use llm_proxy_store::{ProjectFilter, StoreError};
use uuid::Uuid;

use super::harness::{ctx, new_cipher, new_project, new_project_with_key, Harness};

const KEY: &str = "sk-proj-Zq7LbW3xKv9TnR2mYp4HsE8dUc6AfG1j";

pub async fn projects_create_and_get(h: &Harness) {
    let created = h
        .store
        .create_project(new_project_with_key("  Acme  ", "openai", KEY), &ctx())
        .await
        .unwrap();
    assert_eq!(created.name, "Acme", "names are trimmed");
    assert!(created.is_active);
    assert_eq!(created.deactivated_at, None);
    assert_eq!(created.rate_limit_rpm, Some(60));
    assert_eq!(created.created_at, created.updated_at);
    assert_eq!(created.providers["openai"].key_hint, "sk-...fG1j");

    let fetched = h.store.get_project(created.id).await.unwrap();
    assert_eq!(fetched, created);
}

pub async fn projects_get_unknown_is_not_found(h: &Harness) {
    let err = h.store.get_project(Uuid::new_v4()).await.unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound { entity: "project" }),
        "{err:?}"
    );
    let err = h
        .store
        .update_project(Uuid::new_v4(), ProjectUpdate::default(), &ctx())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    let err = h
        .store
        .deactivate_project(Uuid::new_v4(), true, &ctx())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
}

pub async fn projects_create_rejects_empty_name(h: &Harness) {
    let err = h
        .store
        .create_project(new_project("   "), &ctx())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
}

pub async fn projects_list_filters_and_pages(h: &Harness) {
    let c = h.project("charlie").await;
    let a = h.project("alpha").await;
    let b = h.project("bravo").await;
    h.store
        .deactivate_project(b.id, false, &ctx())
        .await
        .unwrap();

    let names = |ps: Vec<llm_proxy_core::project::Project>| {
        ps.into_iter().map(|p| p.name).collect::<Vec<_>>()
    };
    let all = h
        .store
        .list_projects(&ProjectFilter::default())
        .await
        .unwrap();
    assert_eq!(names(all), ["alpha", "bravo", "charlie"], "ordered by name");

    let active = h
        .store
        .list_projects(&ProjectFilter {
            active: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(names(active), ["alpha", "charlie"]);

    let inactive = h
        .store
        .list_projects(&ProjectFilter {
            active: Some(false),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(inactive.len(), 1);
    assert_eq!(inactive[0].id, b.id);
    assert!(!inactive[0].is_active);

    let page = h
        .store
        .list_projects(&ProjectFilter {
            active: None,
            limit: Some(2),
            offset: Some(1),
        })
        .await
        .unwrap();
    assert_eq!(names(page), ["bravo", "charlie"]);
    let _ = (a, c);
}

pub async fn projects_list_carries_key_hints(h: &Harness) {
    h.store
        .create_project(new_project_with_key("with-key", "openai", KEY), &ctx())
        .await
        .unwrap();
    h.project("without-key").await;
    let all = h
        .store
        .list_projects(&ProjectFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].name, "with-key");
    assert_eq!(all[0].providers["openai"].key_hint, "sk-...fG1j");
    assert!(all[1].providers.is_empty());
}

pub async fn projects_update_fields_and_keys(h: &Harness) {
    let p = h
        .store
        .create_project(new_project_with_key("old", "openai", KEY), &ctx())
        .await
        .unwrap();
    let mut keys = BTreeMap::new();
    keys.insert(
        "anthropic".to_owned(),
        SecretString::new("sk-ant-api03-abcdefghijklmnop-WXYZ"),
    );
    let updated = h
        .store
        .update_project(
            p.id,
            ProjectUpdate {
                name: Some("new".to_owned()),
                is_active: None,
                provider_keys: keys,
                rate_limit_rpm: Some(None),
                ..Default::default()
            },
            &ctx(),
        )
        .await
        .unwrap();
    assert_eq!(updated.name, "new");
    assert_eq!(updated.rate_limit_rpm, None);
    assert!(updated.updated_at >= p.updated_at);
    assert_eq!(updated.created_at, p.created_at);
    assert_eq!(
        updated.providers.keys().collect::<Vec<_>>(),
        ["anthropic", "openai"],
        "providers not named keep their key"
    );
    assert_eq!(updated.providers["anthropic"].key_hint, "sk-...WXYZ");
    assert_eq!(h.store.get_project(p.id).await.unwrap(), updated);
    assert_eq!(
        h.store
            .provider_key(p.id, "openai")
            .await
            .unwrap()
            .unwrap()
            .expose(),
        KEY
    );

    // Replacing a key.
    let mut keys = BTreeMap::new();
    keys.insert(
        "openai".to_owned(),
        SecretString::new("sk-replacement-key-0000-9999"),
    );
    h.store
        .update_project(
            p.id,
            ProjectUpdate {
                provider_keys: keys,
                ..Default::default()
            },
            &ctx(),
        )
        .await
        .unwrap();
    assert_eq!(
        h.store
            .provider_key(p.id, "openai")
            .await
            .unwrap()
            .unwrap()
            .expose(),
        "sk-replacement-key-0000-9999"
    );

    // Deactivating through an update audits as a deactivation; reactivating clears the date.
    let off = h
        .store
        .update_project(
            p.id,
            ProjectUpdate {
                is_active: Some(false),
                ..Default::default()
            },
            &ctx(),
        )
        .await
        .unwrap();
    assert!(!off.is_active);
    assert!(off.deactivated_at.is_some());
    let audit = h
        .store
        .list_audit(&AuditFilter {
            project_id: Some(p.id),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit[0].action, action::PROJECT_DEACTIVATE);
    let on = h
        .store
        .update_project(
            p.id,
            ProjectUpdate {
                is_active: Some(true),
                ..Default::default()
            },
            &ctx(),
        )
        .await
        .unwrap();
    assert!(on.is_active);
    assert_eq!(on.deactivated_at, None);
}

pub async fn projects_unique_names_conflict(h: &Harness) {
    h.project("taken").await;
    let other = h.project("other").await;
    let err = h
        .store
        .create_project(new_project("taken"), &ctx())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains("taken")),
        "{err:?}"
    );

    let err = h
        .store
        .update_project(
            other.id,
            ProjectUpdate {
                name: Some("taken".to_owned()),
                ..Default::default()
            },
            &ctx(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    // The failed rename changed nothing and wrote no audit row.
    assert_eq!(h.store.get_project(other.id).await.unwrap().name, "other");
    let audit = h
        .store
        .list_audit(&AuditFilter {
            project_id: Some(other.id),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, action::PROJECT_CREATE);
}

pub async fn provider_keys_round_trip(h: &Harness) {
    let p = h
        .store
        .create_project(new_project_with_key("keys", "openai", KEY), &ctx())
        .await
        .unwrap();
    let key = h.store.provider_key(p.id, "openai").await.unwrap().unwrap();
    assert_eq!(key.expose(), KEY);
    assert!(h
        .store
        .provider_key(p.id, "anthropic")
        .await
        .unwrap()
        .is_none());
    assert!(h
        .store
        .provider_key(Uuid::new_v4(), "openai")
        .await
        .unwrap()
        .is_none());
    h.store.verify_encryption_key().await.unwrap();
}

pub async fn provider_keys_not_stored_in_clear(h: &Harness) {
    h.store
        .create_project(new_project_with_key("clear", "openai", KEY), &ctx())
        .await
        .unwrap();
    let rows = h.raw_provider_key_rows().await;
    assert_eq!(rows.len(), 1);
    let needle = KEY.as_bytes();
    let secret_part = &KEY.as_bytes()[8..30];
    for row in &rows {
        assert!(!contains(row, needle), "the key is stored in clear");
        assert!(
            !contains(row, secret_part),
            "part of the key is stored in clear"
        );
    }
    let everything = h.raw_everything().await;
    assert!(!everything.is_empty());
    assert!(
        !contains(&everything, secret_part),
        "the key appears somewhere in the database"
    );
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

pub async fn wrong_encryption_key_fails_verification(h: &Harness) {
    // Without stored keys there is nothing to check.
    let other = h.reopen(new_cipher()).await;
    other.verify_encryption_key().await.unwrap();

    let p = h
        .store
        .create_project(new_project_with_key("crypt", "openai", KEY), &ctx())
        .await
        .unwrap();
    let err = other.verify_encryption_key().await.unwrap_err();
    assert!(matches!(err, StoreError::Crypto(_)), "{err:?}");
    assert!(
        err.to_string().contains("LLM_PROXY_ENCRYPTION_KEY"),
        "{err}"
    );
    let err = other.provider_key(p.id, "openai").await.unwrap_err();
    assert!(matches!(err, StoreError::Crypto(_)), "{err:?}");
    h.store.verify_encryption_key().await.unwrap();
}

pub async fn projects_deactivate_without_revoking_tokens(h: &Harness) {
    let p = h.project("soft").await;
    let t = h.token(p.id).await;
    let (project, revoked) = h
        .store
        .deactivate_project(p.id, false, &ctx())
        .await
        .unwrap();
    assert_eq!(revoked, 0);
    assert!(!project.is_active);
    assert!(project.deactivated_at.is_some());
    assert!(h.store.get_token(t.id).await.unwrap().is_active);
    // Still readable after the soft delete.
    let fetched = h.store.get_project(p.id).await.unwrap();
    assert!(!fetched.is_active);
    assert_eq!(fetched.deactivated_at, project.deactivated_at);
    // No tokens for an inactive project.
    let err = h
        .store
        .create_token(super::harness::new_token(p.id), &ctx())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ProjectInactive), "{err:?}");
    // Deactivating again is harmless and keeps the first date.
    let (again, _) = h
        .store
        .deactivate_project(p.id, false, &ctx())
        .await
        .unwrap();
    assert_eq!(again.deactivated_at, project.deactivated_at);
}

pub async fn projects_deactivate_revoking_tokens(h: &Harness) {
    let p = h.project("hard").await;
    let other = h.project("bystander").await;
    let t1 = h.token(p.id).await;
    let t2 = h.token(p.id).await;
    let revoked_before = h.token(p.id).await;
    h.store
        .revoke_token(revoked_before.id, &ctx())
        .await
        .unwrap();
    let keep = h.token(other.id).await;

    let (project, revoked) = h
        .store
        .deactivate_project(p.id, true, &ctx())
        .await
        .unwrap();
    assert!(!project.is_active);
    assert_eq!(revoked, 2);
    for id in [t1.id, t2.id] {
        let t = h.store.get_token(id).await.unwrap();
        assert!(!t.is_active);
        assert!(t.deactivated_at.is_some());
    }
    assert!(h.store.get_token(keep.id).await.unwrap().is_active);
    let active = h
        .store
        .list_tokens(&TokenFilter {
            project_id: Some(p.id),
            active: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(active.is_empty());

    let audit = h
        .store
        .list_audit(&AuditFilter {
            action: Some(action::PROJECT_DEACTIVATE.to_owned()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].project_id, Some(p.id));
    assert_eq!(audit[0].metadata["tokens_revoked"], 2);
}

/// Two admins creating the same name at once: one wins, the other gets `Conflict`.
pub async fn projects_concurrent_creates_one_wins(h: &Harness) {
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let store = h.store.clone();
            tokio::spawn(async move { store.create_project(new_project("race"), &ctx()).await })
        })
        .collect();
    let mut won = 0;
    for run in runs {
        match run.await.unwrap() {
            Ok(_) => won += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(
        h.store
            .list_projects(&ProjectFilter::default())
            .await
            .unwrap()
            .len(),
        1
    );
}
