//! What each sink must hold for one call of the end-to-end test: the call's project, token,
//! model, usage, status, timings and request id, in each vendor's shape.

use std::collections::BTreeMap;

use llm_proxy_e2e::calls::{ChatCall, Mode};
use llm_proxy_e2e::deliveries::Received;
use llm_proxy_e2e::file_sink;
use llm_proxy_e2e::Pipeline;
use serde_json::{json, Value};

pub struct Expected {
    pub project: String,
    pub token: String,
    pub calls: BTreeMap<String, ChatCall>,
}

impl Expected {
    fn call(&self, request_id: &str) -> &ChatCall {
        &self.calls[request_id]
    }

    /// `usage` as the fake upstream counts it: 9 prompt tokens, one completion token per chunk.
    fn usage(&self, request_id: &str) -> (u64, u64) {
        (9, u64::from(self.call(request_id).tokens))
    }

    pub fn file(&self, received: &Received, pipeline: &Pipeline, session: &str) {
        let files = file_sink::session_files(&pipeline.file_dir());
        assert_eq!(files.len(), 1, "one session, one file: {files:?}");
        let file = &files[0];
        let parts: Vec<String> = file
            .relative
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            parts.len(),
            3,
            "<upstream>/<date>/<session>.jsonl: {parts:?}"
        );
        assert!(
            parts[0].starts_with("127.0.0.1"),
            "upstream directory {}",
            parts[0]
        );
        assert!(is_date(&parts[1]), "date directory {}", parts[1]);
        assert_eq!(parts[2], format!("{session}.jsonl"));
        let kinds: Vec<&str> = file
            .lines
            .iter()
            .map(|l| l["type"].as_str().unwrap_or("?"))
            .collect();
        assert_eq!(kinds[0], "session_start", "{kinds:?}");
        assert_eq!(kinds.iter().filter(|k| **k == "session_start").count(), 1);
        assert_eq!(file.lines.len(), 1 + 2 * received.file.len(), "{kinds:?}");

        for record in &received.file {
            let (request, response) = (&record.payload["request"], &record.payload["response"]);
            let call = self.call(&record.request_id);
            let (prompt, completion) = self.usage(&record.request_id);
            for line in [request, response] {
                let meta = &line["_meta"];
                assert_eq!(meta["request_id"], record.request_id.as_str());
                assert_eq!(meta["project_id"], self.project.as_str());
                assert_eq!(meta["token_id"], self.token.as_str());
                assert_eq!(meta["session"], session);
                assert!(meta["ts"].is_string() && meta["machine"] == "proxy-0");
            }
            assert_eq!(request["model"], "gpt-4o-mini");
            assert_eq!(request["body"]["messages"][0]["role"], "user");
            assert!(
                text(&request["body"]).contains("[redacted]"),
                "the pasted keys are masked: {}",
                request["body"]
            );
            assert_eq!(response["status"], 200);
            assert_eq!(response["stream"], call.mode != Mode::Plain);
            assert_usage(&response["usage"], prompt, completion, &record.request_id);
            assert_eq!(response["termination"], "eof");
            assert_timing(
                &response["timing"]["total_ms"],
                &response["timing"]["ttfb_ms"],
            );
        }
    }

    pub fn loki(&self, received: &Received, pipeline: &Pipeline) {
        for accepted in pipeline.sinks().loki.accepted() {
            assert_eq!(accepted.header("content-encoding"), Some("gzip"));
        }
        for record in &received.loki {
            let labels = record.payload["labels"].as_object().unwrap();
            let mut names: Vec<&str> = labels.keys().map(String::as_str).collect();
            names.sort_unstable();
            assert_eq!(
                names,
                [
                    "app",
                    "environment",
                    "log_type",
                    "model",
                    "provider",
                    "status_bucket"
                ],
                "low-cardinality labels only"
            );
            assert_eq!(labels["model"], "gpt-4o-mini");
            assert_eq!(labels["provider"], "openai");
            assert_eq!(labels["status_bucket"], "2xx");
            let line = &record.payload["line"];
            let call = self.call(&record.request_id);
            let (prompt, completion) = self.usage(&record.request_id);
            assert_eq!(line["request_id"], record.request_id.as_str());
            assert_eq!(line["project_id"], self.project.as_str());
            assert_eq!(line["token_id"], self.token.as_str());
            assert_eq!(line["model"], "gpt-4o-mini");
            assert_eq!(line["status"], 200);
            assert_eq!(line["stream"], call.mode != Mode::Plain);
            assert_usage(&line["usage"], prompt, completion, &record.request_id);
            assert_timing(&line["duration_ms"], &line["ttfb_ms"]);
        }
    }

    pub fn lunary(&self, received: &Received) {
        for record in &received.lunary {
            let (start, end) = (&record.payload["start"], &record.payload["end"]);
            let (prompt, completion) = self.usage(&record.request_id);
            assert_eq!(start["type"], "llm");
            assert_eq!(start["name"], "gpt-4o-mini");
            assert_eq!(start["metadata"]["project_id"], self.project.as_str());
            assert_eq!(start["metadata"]["token_id"], self.token.as_str());
            assert_eq!(start["metadata"]["status"], 200);
            assert_eq!(start["input"][0]["role"], "user");
            assert_eq!(end["event"], "end", "{end}");
            assert_eq!(end["runId"], start["runId"]);
            assert_eq!(
                end["tokensUsage"],
                json!({"prompt": prompt, "completion": completion, "promptCached": 0}),
                "{}",
                record.request_id
            );
            let (started, ended) = (text(&start["timestamp"]), text(&end["timestamp"]));
            assert!(started < ended, "start {started} before end {ended}");
        }
    }

    pub fn helicone(&self, received: &Received) {
        for record in &received.helicone {
            let log = &record.payload;
            let meta = &log["providerRequest"]["meta"];
            let (prompt, completion) = self.usage(&record.request_id);
            assert_eq!(meta["Helicone-Property-Project"], self.project.as_str());
            assert_eq!(meta["Helicone-User-Id"], self.token.as_str());
            assert_eq!(log["providerRequest"]["json"]["model"], "gpt-4o-mini");
            assert_eq!(log["providerResponse"]["status"], 200);
            let usage = &log["providerResponse"]["json"]["usage"];
            assert_eq!(
                (&usage["prompt_tokens"], &usage["completion_tokens"]),
                (&json!(prompt), &json!(completion)),
                "{}: {usage}",
                record.request_id
            );
            let ms = |t: &Value| {
                t["seconds"].as_u64().unwrap() * 1000 + t["milliseconds"].as_u64().unwrap()
            };
            let (start, end) = (
                ms(&log["timing"]["startTime"]),
                ms(&log["timing"]["endTime"]),
            );
            assert!(start > 0 && end >= start, "timing {}", log["timing"]);
        }
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn is_date(s: &str) -> bool {
    s.len() == 10
        && s.char_indices().all(|(i, c)| match i {
            4 | 7 => c == '-',
            _ => c.is_ascii_digit(),
        })
}

fn assert_usage(usage: &Value, prompt: u64, completion: u64, request_id: &str) {
    assert_eq!(
        (
            &usage["prompt_tokens"],
            &usage["completion_tokens"],
            &usage["total_tokens"]
        ),
        (
            &json!(prompt),
            &json!(completion),
            &json!(prompt + completion)
        ),
        "{request_id}: {usage}"
    );
    assert_eq!(usage["estimated"], false, "{request_id}: {usage}");
}

fn assert_timing(total_ms: &Value, ttfb_ms: &Value) {
    let total = total_ms.as_f64().unwrap_or(-1.0);
    let ttfb = ttfb_ms.as_f64().unwrap_or(-1.0);
    assert!(total > 0.0, "duration {total_ms}");
    assert!(
        ttfb > 0.0 && ttfb <= total,
        "ttfb {ttfb_ms} within {total_ms}"
    );
}
