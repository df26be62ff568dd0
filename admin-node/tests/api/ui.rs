//! The admin UI over HTTP: login, session cookie flags, CSRF, and mutations with audit rows and
//! control events.

use std::collections::HashMap;

use llm_proxy_core::audit::action;
use llm_proxy_core::control::ControlEvent;
use uuid::Uuid;

use crate::helpers::{id_of, spawn_app, TestApp, MANAGEMENT_TOKEN};

/// A browser-like session: cookies kept by hand, redirects not followed.
struct Browser<'a> {
    app: &'a TestApp,
    cookies: HashMap<String, String>,
}

struct Page {
    status: u16,
    location: Option<String>,
    set_cookies: Vec<String>,
    body: String,
}

impl<'a> Browser<'a> {
    fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            cookies: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(
        &mut self,
        mut res: awc::ClientResponse<
            impl futures_util::Stream<Item = Result<actix_web::web::Bytes, awc::error::PayloadError>>
                + Unpin,
        >,
    ) -> Page {
        let set_cookies: Vec<String> = res
            .headers()
            .get_all("set-cookie")
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        for c in &set_cookies {
            let pair = c.split(';').next().unwrap_or("");
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() || c.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        let location = res
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = String::from_utf8_lossy(&res.body().limit(4 << 20).await.unwrap()).into_owned();
        Page {
            status: res.status().as_u16(),
            location,
            set_cookies,
            body,
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let res = self
            .app
            .client
            .get(self.app.url(path))
            .insert_header(("Cookie", self.cookie_header()))
            .send()
            .await
            .unwrap();
        self.finish(res).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let res = self
            .app
            .client
            .post(self.app.url(path))
            .insert_header(("Cookie", self.cookie_header()))
            .send_form(&form)
            .await
            .unwrap();
        self.finish(res).await
    }

    /// Logs in through the form; returns the session's CSRF token (read off a page).
    async fn login(&mut self) -> String {
        let form = self.get("/admin/login").await;
        let csrf = hidden_csrf(&form.body);
        let res = self
            .post(
                "/admin/login",
                &[("csrf_token", &csrf), ("token", MANAGEMENT_TOKEN)],
            )
            .await;
        assert_eq!(res.status, 303, "{}", res.body);
        assert_eq!(res.location.as_deref(), Some("/admin"));
        let dashboard = self.get("/admin").await;
        assert_eq!(dashboard.status, 200);
        hidden_csrf(&dashboard.body)
    }
}

fn hidden_csrf(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no csrf field in {html}"))
        + marker.len();
    let len = html[start..].find('"').unwrap();
    html[start..start + len].to_owned()
}

#[actix_web::test]
async fn pages_need_a_login_and_the_session_cookie_is_private() {
    let app = spawn_app().await;
    let mut b = Browser::new(&app);
    for path in ["/admin", "/admin/projects", "/admin/tokens", "/admin/audit"] {
        let res = b.get(path).await;
        assert_eq!(res.status, 303, "{path}");
        assert_eq!(res.location.as_deref(), Some("/admin/login"));
    }
    let form = b.get("/admin/login").await;
    assert_eq!(form.status, 200);
    let csrf = hidden_csrf(&form.body);

    // A wrong token: 401, no session.
    let res = b
        .post(
            "/admin/login",
            &[("csrf_token", &csrf), ("token", "wrong-token-wrong-token")],
        )
        .await;
    assert_eq!(res.status, 401);
    assert!(!b.cookies.contains_key("llmp_admin_session"));
    assert_eq!(
        app.audit("admin_ui.login").await[0].outcome.as_str(),
        "failure"
    );

    // Login without the login-form CSRF token is refused even with the right management token.
    let mut fresh = Browser::new(&app);
    let res = fresh
        .post("/admin/login", &[("token", MANAGEMENT_TOKEN)])
        .await;
    assert_eq!(res.status, 403);

    let csrf = b.login().await;
    assert!(!csrf.is_empty());
    let session = b.cookies.get("llmp_admin_session").cloned().unwrap();
    assert!(!session.contains(MANAGEMENT_TOKEN));
    assert!(session.len() >= 40);

    // The Set-Cookie flags.
    let mut c = Browser::new(&app);
    let form = c.get("/admin/login").await;
    let login_csrf = hidden_csrf(&form.body);
    let res = c
        .post(
            "/admin/login",
            &[("csrf_token", &login_csrf), ("token", MANAGEMENT_TOKEN)],
        )
        .await;
    let cookie = res
        .set_cookies
        .iter()
        .find(|c| c.starts_with("llmp_admin_session="))
        .unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("Path=/admin"), "{cookie}");
    assert!(!cookie.contains(MANAGEMENT_TOKEN));

    for path in ["/admin", "/admin/projects", "/admin/tokens", "/admin/audit"] {
        let page = b.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(page.body.contains("llm-proxy"), "{path}");
    }
    let css = b.get("/admin/static/admin.css").await;
    assert_eq!(css.status, 200);
    assert_eq!(b.get("/admin/nope").await.status, 404);

    // Logout ends the session server-side.
    let res = b.post("/admin/logout", &[("csrf_token", &csrf)]).await;
    assert_eq!(res.status, 303);
    let mut stale = Browser::new(&app);
    stale.cookies.insert("llmp_admin_session".into(), session);
    assert_eq!(stale.get("/admin").await.status, 303);
    app.stop().await;
}

#[actix_web::test]
async fn forms_without_the_csrf_token_are_refused() {
    let app = spawn_app().await;
    let mut b = Browser::new(&app);
    let csrf = b.login().await;
    let res = b.post("/admin/projects", &[("name", "sneaky")]).await;
    assert_eq!(res.status, 403);
    let res = b
        .post(
            "/admin/projects",
            &[("name", "sneaky"), ("csrf_token", "forged")],
        )
        .await;
    assert_eq!(res.status, 403);
    assert!(app
        .get("/manage/projects")
        .await
        .body
        .as_array()
        .unwrap()
        .is_empty());
    // Another session's token is not this session's.
    let mut other = Browser::new(&app);
    let other_csrf = other.login().await;
    assert_ne!(other_csrf, csrf);
    let res = b
        .post(
            "/admin/projects",
            &[("name", "sneaky"), ("csrf_token", &other_csrf)],
        )
        .await;
    assert_eq!(res.status, 403);
    app.stop().await;
}

#[actix_web::test]
async fn ui_mutations_audit_as_the_session_and_publish() {
    let app = spawn_app().await;
    let mut b = Browser::new(&app);
    let csrf = b.login().await;

    let res = b
        .post(
            "/admin/projects",
            &[
                ("csrf_token", &csrf),
                ("name", "ui-project"),
                ("key_openai", "sk-proj-from-the-ui-00004321"),
            ],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    let location = res.location.unwrap();
    let pid = location.trim_start_matches("/admin/projects/").to_owned();
    let page = b.get(&location).await;
    assert!(page.body.contains("Project created."), "{}", page.body);
    assert!(page.body.contains("sk-...4321"));
    assert!(!page.body.contains("sk-proj-from-the-ui-00004321"));
    let audit = app.audit(action::PROJECT_CREATE).await;
    assert!(
        audit[0].actor.starts_with("admin_ui:"),
        "{}",
        audit[0].actor
    );
    assert!(!audit[0]
        .actor
        .contains(b.cookies["llmp_admin_session"].as_str()));

    // Duplicate name: a flash error, nothing created.
    let res = b
        .post(
            "/admin/projects",
            &[("csrf_token", &csrf), ("name", "ui-project")],
        )
        .await;
    assert_eq!(res.status, 303);
    let page = b.get("/admin/projects").await;
    assert!(page.body.contains("already exists"), "{}", page.body);

    // Create a token: the secret appears once, on this response.
    let res = b
        .post(
            "/admin/tokens",
            &[
                ("csrf_token", &csrf),
                ("project_id", &pid),
                ("duration_minutes", "30"),
                ("max_requests", "10"),
            ],
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.body);
    let marker = "id=\"token-secret\">";
    let start = res.body.find(marker).unwrap() + marker.len();
    let secret = &res.body[start..start + res.body[start..].find('<').unwrap()];
    assert!(secret.starts_with("wt_"), "{secret}");
    let list = b.get("/admin/tokens").await;
    assert!(!list.body.contains(secret));
    let tokens = app.get(&format!("/manage/tokens?project_id={pid}")).await;
    let tid = id_of(&tokens.body[0]);
    app.control_events();

    let res = b
        .post(
            &format!("/admin/tokens/{tid}/revoke"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(res.status, 303);
    assert_eq!(
        app.control_events(),
        vec![ControlEvent::TokenChanged {
            token_id: tid.parse::<Uuid>().unwrap()
        }]
    );
    let revoke_audit = app.audit(action::TOKEN_REVOKE).await;
    assert!(revoke_audit[0].actor.starts_with("admin_ui:"));
    assert!(revoke_audit[0].request_id.is_some());

    // Edit, revoke all, deactivate.
    let res = b
        .post(
            &format!("/admin/projects/{pid}"),
            &[
                ("csrf_token", &csrf),
                ("name", "ui-renamed"),
                ("rate_limit_rpm", "30"),
            ],
        )
        .await;
    assert_eq!(res.status, 303);
    let project = app.get(&format!("/manage/projects/{pid}")).await;
    assert_eq!(project.body["name"], "ui-renamed");
    assert_eq!(project.body["rate_limit_rpm"], 30);
    let res = b
        .post(
            &format!("/admin/projects/{pid}/revoke-tokens"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(res.status, 303);
    let res = b
        .post(
            &format!("/admin/projects/{pid}/deactivate"),
            &[("csrf_token", &csrf), ("revoke_tokens", "on")],
        )
        .await;
    assert_eq!(res.status, 303);
    let project = app.get(&format!("/manage/projects/{pid}")).await;
    assert_eq!(project.body["is_active"], false);
    assert!(app
        .control_events()
        .contains(&ControlEvent::ProjectChanged {
            project_id: pid.parse().unwrap()
        }));

    // The audit pages show it.
    let audit_page = b.get("/admin/audit?action=project.deactivate").await;
    assert!(audit_page.body.contains("project.deactivate"));
    let event = app.audit(action::PROJECT_DEACTIVATE).await;
    let detail = b.get(&format!("/admin/audit/{}", event[0].id)).await;
    assert_eq!(detail.status, 200);
    assert!(detail.body.contains(&pid));
    let dashboard = b.get("/admin").await;
    assert!(dashboard.body.contains("Active tokens"));
    app.stop().await;
}

#[actix_web::test]
async fn html_escapes_user_content() {
    let app = spawn_app().await;
    app.create_project("<script>alert(1)</script>").await;
    let mut b = Browser::new(&app);
    b.login().await;
    let page = b.get("/admin/projects").await;
    assert!(!page.body.contains("<script>alert(1)</script>"));
    assert!(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    app.stop().await;
}
