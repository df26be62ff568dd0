//! Opaque server-side sessions: a random id in an HttpOnly, SameSite=Strict cookie scoped to
//! `/admin`, mapped in memory to the session (its CSRF token, expiry, one flash message). The
//! management token itself never leaves the login form.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use llm_proxy_core::token_secret::hash_secret;
use rand::RngCore;
use subtle::ConstantTimeEq;

pub const SESSION_COOKIE: &str = "llmp_admin_session";
pub const LOGIN_CSRF_COOKIE: &str = "llmp_admin_login";
pub const COOKIE_PATH: &str = "/admin";
/// Sessions kept at once; the oldest go first beyond it.
const MAX_SESSIONS: usize = 10_000;

/// 256 random bits, URL-safe.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Constant-time equality of two tokens.
pub fn tokens_equal(a: &str, b: &str) -> bool {
    let (a, b) = (hash_secret(a), hash_secret(b));
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlashKind {
    Success,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub kind: FlashKind,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct Session {
    /// The cookie value; secret.
    pub id: String,
    /// A public name for audit rows (`admin_ui:<label>`): a hash prefix of the id.
    pub label: String,
    pub csrf: String,
    created: Instant,
    expires: Instant,
    flash: Option<Flash>,
}

impl Session {
    pub fn actor(&self) -> String {
        format!("admin_ui:{}", self.label)
    }
}

#[derive(Clone)]
pub struct SessionStore {
    inner: Arc<Mutex<HashMap<String, Session>>>,
    ttl: Duration,
}

impl SessionStore {
    pub fn new(ttl: Duration) -> Self {
        Self {
            inner: Arc::new(Mutex::new(HashMap::new())),
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock leaves the map consistent: keep using it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn create(&self) -> Session {
        let id = random_token();
        let now = Instant::now();
        let session = Session {
            label: hash_secret(&id)[..12].to_owned(),
            id: id.clone(),
            csrf: random_token(),
            created: now,
            expires: now + self.ttl,
            flash: None,
        };
        let mut map = self.lock();
        map.retain(|_, s| s.expires > now);
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map.values().min_by_key(|s| s.created).map(|s| s.id.clone()) {
                map.remove(&oldest);
            }
        }
        map.insert(id, session.clone());
        session
    }

    /// The live session with this id; an expired one is removed.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut map = self.lock();
        match map.get(id) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    pub fn set_flash(&self, id: &str, kind: FlashKind, message: impl Into<String>) {
        if let Some(s) = self.lock().get_mut(id) {
            s.flash = Some(Flash {
                kind,
                message: message.into(),
            });
        }
    }

    pub fn take_flash(&self, id: &str) -> Option<Flash> {
        self.lock().get_mut(id).and_then(|s| s.flash.take())
    }

    pub fn len(&self) -> usize {
        let now = Instant::now();
        self.lock().values().filter(|s| s.expires > now).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStore")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn sessions_expire_and_are_removed() {
        let store = SessionStore::new(Duration::from_millis(30));
        let s = store.create();
        assert!(store.get(&s.id).is_some());
        assert_ne!(s.id, s.csrf);
        assert!(!s.actor().contains(&s.id));
        std::thread::sleep(Duration::from_millis(40));
        assert!(store.get(&s.id).is_none());
        let s = store.create();
        store.remove(&s.id);
        assert!(store.get(&s.id).is_none());
    }

    #[test]
    fn flash_is_shown_once() {
        let store = SessionStore::new(Duration::from_secs(60));
        let s = store.create();
        store.set_flash(&s.id, FlashKind::Success, "done");
        assert_eq!(store.take_flash(&s.id).unwrap().message, "done");
        assert!(store.take_flash(&s.id).is_none());
    }
}
