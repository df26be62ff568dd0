//! Budgets end to end on `llm-proxy up` (embedded: memory admission, SQLite ledger fed by the
//! in-process `usage` sink): 200 concurrent calls against a budget that fits 50, the ledger's
//! total within the budget once every call is settled, and the budget still spent after a
//! restart (the counters start from the ledger).

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{ok_json, Node, MANAGEMENT_TOKEN};
use llm_proxy_testkit::fake_upstream::FakeUpstream;
use serde_json::{json, Value};

/// 13 tokens reserved and 13 used: a prompt estimated at 9 (and reported as 9 by the fake), 4
/// completion tokens asked for and answered.
fn exact_call() -> Value {
    json!({"model": "gpt-4o-mini", "max_tokens": 4,
           "messages": [{"role": "user", "content": "hello!"}]})
}

async fn call(client: &awc::Client, base: &str, token: &str) -> (u16, Value) {
    let mut res = client
        .post(format!("{base}/v1/chat/completions"))
        .insert_header(("Authorization", format!("Bearer {token}")))
        .insert_header(("x-fake-chunks", "4"))
        .send_json(&exact_call())
        .await
        .unwrap();
    let body = res.body().await.unwrap();
    (
        res.status().as_u16(),
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

async fn usage_totals(client: &awc::Client, base: &str, project: &str, requests: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut res = client
            .get(format!("{base}/manage/usage?project_id={project}"))
            .insert_header(("Authorization", format!("Bearer {MANAGEMENT_TOKEN}")))
            .send()
            .await
            .unwrap();
        let answer: Value = res.json().await.unwrap();
        if answer["totals"]["requests"] == requests {
            return answer["totals"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "usage never reached {requests}: {answer}"
        );
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn a_budget_holds_under_concurrency_in_the_ledger_and_across_a_restart() {
    let upstream = FakeUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let env = [("LLM_PROXY_PROVIDERS__OPENAI__BASE_URL", upstream.base_url())];
    let node = Node::start("up", dir.path(), &env);
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();

    let mut res = client
        .post(format!("{}/manage/projects", node.base))
        .insert_header(("Authorization", format!("Bearer {MANAGEMENT_TOKEN}")))
        .send_json(
            &json!({"name": "capped", "api_key": "sk-proj-up-budget-key-00001234",
                           "budget": {"period": "month", "max_tokens": 650}}),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let project: Value = res.json().await.unwrap();
    let pid = project["id"].as_str().unwrap().to_owned();
    let token = ok_json(&node.cli(&["token", "create", "--project", &pid, "--json"]));
    let secret = token["token"].as_str().unwrap().to_owned();

    let calls: Vec<_> = (0..200)
        .map(|_| {
            let (client, base, secret) = (client.clone(), node.base.clone(), secret.clone());
            actix_rt::spawn(async move { call(&client, &base, &secret).await })
        })
        .collect();
    let mut answers = Vec::new();
    for handle in calls {
        answers.push(handle.await.unwrap());
    }
    let admitted = answers.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(admitted, 50);
    for (status, body) in answers.iter().filter(|(s, _)| *s != 200) {
        assert_eq!(*status, 429, "{body}");
        assert_eq!(body["error"]["code"], "budget_exceeded", "{body}");
    }

    // Every call settled and delivered: the ledger holds exactly what the budget allowed.
    let totals = usage_totals(&client, &node.base, &pid, 200).await;
    assert_eq!(totals["total_tokens"], 650, "{totals}");
    assert_eq!(totals["errors"], 150, "{totals}");

    // A restart forgets the in-memory counters; the ledger's spend is their floor.
    assert!(node.terminate().success());
    let node = Node::start("up", dir.path(), &env);
    let (status, body) = call(&client, &node.base, &secret).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "budget_exceeded");

    // Raising the budget (a control event reloads the token) lets calls through again.
    let mut res = client
        .patch(format!("{}/manage/projects/{pid}", node.base))
        .insert_header(("Authorization", format!("Bearer {MANAGEMENT_TOKEN}")))
        .send_json(&json!({"budget": {"period": "month", "max_tokens": 663}}))
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{:?}", res.body().await);
    let (status, body) = call(&client, &node.base, &secret).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = call(&client, &node.base, &secret).await;
    assert_eq!(status, 429);
    upstream.stop().await;
}
