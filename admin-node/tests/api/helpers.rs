//! `spawn_app` and the `TestApp` every test drives.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::http::Method;
use admin_node::Application;
use llm_proxy_core::audit::{AuditEvent, AuditFilter};
use llm_proxy_core::control::ControlEvent;
use llm_proxy_core::SecretString;
use llm_proxy_platform::{Cipher, ControlBus, EncryptionKey, Settings};
use llm_proxy_store::DynStore;
use llm_proxy_testkit::db::{TestDatabase, TestSqlite};
use serde_json::{json, Value};
use tokio::sync::broadcast;

pub const MANAGEMENT_TOKEN: &str = "test-management-token-0123456789";
pub const OPENAI_KEY: &str = "sk-proj-test-openai-key-abcd1234";

enum Db {
    Sqlite(TestSqlite),
    Postgres(TestDatabase),
}

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub store: DynStore,
    pub control: ControlBus,
    pub settings: Arc<Settings>,
    pub client: awc::Client,
    events: Mutex<broadcast::Receiver<ControlEvent>>,
    handle: ServerHandle,
    db: Option<Db>,
}

/// A JSON answer: status, content type and body.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub content_type: String,
    pub body: Value,
    pub headers: awc::http::header::HeaderMap,
}

impl Resp {
    /// The envelope's `error.code`.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn param(&self) -> &str {
        self.body["error"]["param"].as_str().unwrap_or("")
    }

    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.code(), code, "{self:?}");
        assert!(
            self.content_type.starts_with("application/json"),
            "{self:?}"
        );
    }

    #[track_caller]
    pub fn assert_invalid(&self, param: &str) {
        self.assert_error(400, "invalid_request");
        assert_eq!(self.param(), param, "{self:?}");
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_with(false, |_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_with(false, adjust).await
}

pub async fn spawn_postgres_app() -> TestApp {
    spawn_with(true, |_| {}).await
}

async fn spawn_with(postgres: bool, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    // awc's TLS connector needs a process-wide provider; tests talk plain HTTP anyway.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cipher = Cipher::new(&EncryptionKey::generate());
    let (mut settings, store, db): (Settings, DynStore, Db) = if postgres {
        let db = TestDatabase::create().await;
        let store: DynStore = Arc::new(db.store(cipher).await);
        (db.settings(), store, Db::Postgres(db))
    } else {
        let db = TestSqlite::create().await;
        let store: DynStore = Arc::new(db.store(cipher).await);
        (db.settings(), store, Db::Sqlite(db))
    };
    settings.server.port = 0;
    settings.server.workers = Some(2);
    settings.management_token = Some(SecretString::new(MANAGEMENT_TOKEN));
    adjust(&mut settings);
    let settings = Arc::new(settings);
    let control = ControlBus::in_process();
    let events = control.subscribe();
    let app = Application::build(Arc::clone(&settings), store.clone(), control.clone())
        .unwrap_or_else(|e| panic!("cannot build the app: {e}"));
    let port = app.port();
    let handle = app.handle();
    actix_rt::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        store,
        control,
        settings,
        client: awc::Client::builder()
            .timeout(Duration::from_secs(30))
            .disable_redirects()
            .finish(),
        events: Mutex::new(events),
        handle,
        db: Some(db),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A management call with the right token.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        self.call_with(method, path, body, Some(MANAGEMENT_TOKEN), &[])
            .await
    }

    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = token {
            req = req.insert_header(("Authorization", format!("Bearer {token}")));
        }
        for (name, value) in headers {
            req = req.insert_header((*name, *value));
        }
        let mut res = match body {
            Some(body) => req.send_json(&body).await,
            None => req.send().await,
        }
        .unwrap_or_else(|e| panic!("request to {path} failed: {e}"));
        let bytes = res.body().limit(10 * 1024 * 1024).await.unwrap_or_default();
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        Resp {
            status: res.status().as_u16(),
            content_type,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            headers: res.headers().clone(),
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.call(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.call(Method::DELETE, path, None).await
    }

    /// Creates a project with an OpenAI key; returns its JSON.
    pub async fn create_project(&self, name: &str) -> Value {
        let res = self
            .post(
                "/manage/projects",
                json!({"name": name, "api_key": OPENAI_KEY}),
            )
            .await;
        assert_eq!(res.status, 201, "{res:?}");
        res.body
    }

    /// Creates a token; returns the 201 body (with the secret).
    pub async fn create_token(&self, project_id: &str) -> Value {
        let res = self
            .post(
                "/manage/tokens",
                json!({"project_id": project_id, "duration_minutes": 60}),
            )
            .await;
        assert_eq!(res.status, 201, "{res:?}");
        res.body
    }

    /// Control events published so far (drained).
    pub fn control_events(&self) -> Vec<ControlEvent> {
        let mut rx = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        while let Ok(e) = rx.try_recv() {
            out.push(e);
        }
        out
    }

    /// Audit rows with this action (newest first).
    pub async fn audit(&self, action: &str) -> Vec<AuditEvent> {
        self.store
            .list_audit(&AuditFilter {
                action: Some(action.to_owned()),
                ..AuditFilter::default()
            })
            .await
            .unwrap_or_else(|e| panic!("list_audit: {e}"))
    }

    /// Stops the server and drops the database (explicit async teardown).
    pub async fn stop(mut self) {
        self.handle.stop(false).await;
        match self.db.take() {
            Some(Db::Postgres(db)) => db.drop_db().await,
            Some(Db::Sqlite(db)) => db.remove(),
            None => {}
        }
    }
}

pub fn id_of(value: &Value) -> String {
    value["id"].as_str().unwrap_or_default().to_owned()
}
