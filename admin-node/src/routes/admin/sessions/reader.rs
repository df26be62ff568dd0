//! Reads the file sink's per-session JSONL (`<dir>/<upstream>/<YYYY-MM-DD>/<session>.jsonl`,
//! lines `session_start`, `request`, `fork`, `response`) into session summaries and turns.
//! Plain blocking file I/O, bounded: handlers run it on the blocking pool.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use llm_proxy_core::event::{layout_component, SessionTurn, Usage};
use llm_proxy_platform::settings::FileLayout;
use llm_proxy_platform::Settings;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

/// Session files read per listing at most (newest days first).
const MAX_FILES: usize = 2_000;
/// Bytes read per file at most.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// Turns shown per session at most.
pub const MAX_TURNS: usize = 1_000;

/// Where the file sink writes, and whether it writes sessions there.
#[derive(Debug, Clone)]
pub struct SessionFiles {
    pub dir: PathBuf,
    pub per_session: bool,
}

impl SessionFiles {
    /// The file sink's directory: `sinks.file.dir` (relative to `data_dir`), else the events
    /// directory — the rule the dispatcher's file sink follows.
    pub fn from_settings(settings: &Settings) -> Self {
        let dir = match &settings.sinks.file.dir {
            Some(dir) if dir.is_absolute() => dir.clone(),
            Some(dir) => settings.data_dir.join(dir),
            None => settings.events_dir(),
        };
        Self {
            dir,
            per_session: settings.sinks.file.layout == FileLayout::Session,
        }
    }

    pub fn exists(&self) -> bool {
        self.dir.is_dir()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Meta {
    pub ts: DateTime<Utc>,
    pub session: String,
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default)]
    pub project_id: Option<Uuid>,
}

/// One line of a session file; fields absent on other line types are `None`.
#[derive(Debug, Clone, Deserialize)]
pub struct Line {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(rename = "_meta")]
    pub meta: Meta,
    #[serde(default)]
    pub seq: Option<u64>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub upstream: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub lineage: Option<String>,
    #[serde(default)]
    pub parent_seq: Option<u64>,
    #[serde(default)]
    pub turn: Option<SessionTurn>,
    #[serde(default)]
    pub usage: Option<Usage>,
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub body: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    pub project: Option<Uuid>,
    pub since: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
    /// Also list calls that were sessions of their own (no id from the client).
    pub single_calls: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub id: String,
    pub source: String,
    pub projects: BTreeSet<Uuid>,
    pub upstreams: BTreeSet<String>,
    pub models: BTreeSet<String>,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    pub calls: u64,
    pub forks: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl Summary {
    fn new(id: &str, at: DateTime<Utc>) -> Self {
        Self {
            id: id.to_owned(),
            source: String::new(),
            projects: BTreeSet::new(),
            upstreams: BTreeSet::new(),
            models: BTreeSet::new(),
            first: at,
            last: at,
            calls: 0,
            forks: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
        }
    }

    fn add(&mut self, line: &Line) {
        self.first = self.first.min(line.meta.ts);
        self.last = self.last.max(line.meta.ts);
        if let Some(project) = line.meta.project_id {
            self.projects.insert(project);
        }
        if let Some(upstream) = &line.upstream {
            self.upstreams.insert(upstream.clone());
        }
        match line.kind.as_str() {
            "session_start" => {
                if let Some(source) = &line.source {
                    self.source.clone_from(source);
                }
            }
            "request" => {
                self.calls += 1;
                if let Some(model) = &line.model {
                    self.models.insert(model.clone());
                }
            }
            "fork" => self.forks += 1,
            "response" => {
                if let Some(usage) = &line.usage {
                    self.prompt_tokens += usage.prompt_tokens.unwrap_or(0);
                    self.completion_tokens += usage.completion_tokens.unwrap_or(0);
                }
            }
            _ => {}
        }
    }
}

/// One call of a session: its request line, the fork line if it forked, its response line.
#[derive(Debug, Clone)]
pub struct Turn {
    pub request: Option<Line>,
    pub fork: Option<Line>,
    pub response: Option<Line>,
}

impl Turn {
    pub fn seq(&self) -> u64 {
        self.first_line().and_then(|l| l.seq).unwrap_or(0)
    }

    pub fn at(&self) -> Option<DateTime<Utc>> {
        self.first_line().map(|l| l.meta.ts)
    }

    fn first_line(&self) -> Option<&Line> {
        self.request.as_ref().or(self.response.as_ref())
    }
}

#[derive(Debug, Clone)]
pub struct Session {
    pub summary: Summary,
    pub turns: Vec<Turn>,
    /// More turns than [`MAX_TURNS`] were found.
    pub cut: bool,
}

/// Summaries of the sessions in the filter's days, most recently active first.
pub fn list(files: &SessionFiles, filter: &Filter) -> Vec<Summary> {
    let mut sessions: BTreeMap<String, Summary> = BTreeMap::new();
    for path in session_files(&files.dir, filter, None) {
        for line in read_lines(&path) {
            sessions
                .entry(line.meta.session.clone())
                .or_insert_with(|| Summary::new(&line.meta.session, line.meta.ts))
                .add(&line);
        }
    }
    let mut out: Vec<Summary> = sessions
        .into_values()
        .filter(|s| filter.single_calls || s.source != "generated")
        .filter(|s| filter.project.is_none_or(|p| s.projects.contains(&p)))
        .collect();
    out.sort_by(|a, b| b.last.cmp(&a.last).then_with(|| a.id.cmp(&b.id)));
    out
}

/// Every line of session `id` (on any day and upstream), as turns in sequence order.
pub fn session(files: &SessionFiles, id: &str) -> Option<Session> {
    let stem = layout_component(id, "no-session");
    let mut summary: Option<Summary> = None;
    let mut turns: BTreeMap<String, Turn> = BTreeMap::new();
    for path in session_files(&files.dir, &Filter::default(), Some(&stem)) {
        // File names are sanitised ids: two ids can share one; the lines say whose they are.
        for line in read_lines(&path).filter(|l| l.meta.session == id) {
            summary
                .get_or_insert_with(|| Summary::new(id, line.meta.ts))
                .add(&line);
            let Some(key) = line.meta.request_id.clone() else {
                continue;
            };
            let turn = turns.entry(key).or_insert(Turn {
                request: None,
                fork: None,
                response: None,
            });
            match line.kind.as_str() {
                "request" => turn.request = Some(line),
                "fork" => turn.fork = Some(line),
                "response" => turn.response = Some(line),
                _ => {}
            }
        }
    }
    let summary = summary?;
    let mut turns: Vec<Turn> = turns.into_values().collect();
    turns.sort_by(|a, b| a.seq().cmp(&b.seq()).then_with(|| a.at().cmp(&b.at())));
    let cut = turns.len() > MAX_TURNS;
    turns.truncate(MAX_TURNS);
    Some(Session {
        summary,
        turns,
        cut,
    })
}

/// Session files under `dir`, newest day first, within the filter's days; only files named
/// `stem` when given.
fn session_files(dir: &Path, filter: &Filter, stem: Option<&str>) -> Vec<PathBuf> {
    let mut days: Vec<(NaiveDate, PathBuf)> = Vec::new();
    for upstream in subdirs(dir) {
        for day_dir in subdirs(&upstream) {
            let Some(day) = day_dir
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| NaiveDate::parse_from_str(n, "%Y-%m-%d").ok())
            else {
                continue;
            };
            let in_range = filter.since.is_none_or(|since| day >= since)
                && filter.until.is_none_or(|until| day <= until);
            if in_range {
                days.push((day, day_dir));
            }
        }
    }
    days.sort_by_key(|d| std::cmp::Reverse(d.0));
    let mut out = Vec::new();
    for (_, day_dir) in days {
        if let Some(stem) = stem {
            let path = day_dir.join(format!("{stem}.jsonl"));
            if path.is_file() {
                out.push(path);
            }
            continue;
        }
        let Ok(entries) = fs::read_dir(&day_dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .collect();
        files.sort();
        out.extend(files);
        if out.len() >= MAX_FILES {
            out.truncate(MAX_FILES);
            break;
        }
    }
    out
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect()
}

/// The lines of one file that parse (a line cut by a crash or a foreign line is skipped).
fn read_lines(path: &Path) -> impl Iterator<Item = Line> {
    let reader = fs::File::open(path)
        .ok()
        .map(|f| BufReader::new(f.take(MAX_FILE_BYTES)));
    reader
        .into_iter()
        .flat_map(|r| r.lines())
        .map_while(Result::ok)
        .filter_map(|text| serde_json::from_str::<Line>(&text).ok())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;
    use std::io::Write;

    fn write(dir: &Path, upstream: &str, day: &str, session: &str, lines: &[Value]) {
        let path = dir.join(upstream).join(day);
        fs::create_dir_all(&path).unwrap();
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path.join(format!("{}.jsonl", layout_component(session, "x"))))
            .unwrap();
        for line in lines {
            writeln!(f, "{line}").unwrap();
        }
    }

    fn meta(session: &str, ts: &str, request: &str, project: Uuid) -> Value {
        json!({"ts": ts, "session": session, "request_id": request, "project_id": project, "machine": "n", "host": "h"})
    }

    fn call(
        session: &str,
        ts: &str,
        request: &str,
        seq: u64,
        project: Uuid,
        fork: bool,
    ) -> Vec<Value> {
        let m = meta(session, ts, request, project);
        let mut lines = vec![
            json!({"type": "request", "seq": seq, "model": "claude-sonnet-4-5",
            "upstream": "api.anthropic.com", "lineage": if fork { "fork" } else { "continuation" },
            "parent_seq": seq.checked_sub(1),
            "turn": {"messages": 1, "added": [{"role": "user", "parts": [{"kind": "text", "text": "hi"}]}]},
            "_meta": m}),
        ];
        if fork {
            lines.push(json!({"type": "fork", "seq": seq, "parent_seq": seq - 1, "_meta": m}));
        }
        lines.push(json!({"type": "response", "seq": seq, "status": 200,
            "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
            "body": {"content": "ok"}, "_meta": m}));
        lines
    }

    #[test]
    fn sessions_are_listed_and_read_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let (p1, p2) = (Uuid::new_v4(), Uuid::new_v4());
        let start = |s: &str, source: &str| json!({"type": "session_start", "source": source, "_meta": {"ts": "2026-11-20T09:00:00Z", "session": s}});
        write(
            dir,
            "api.anthropic.com",
            "2026-11-20",
            "s/1",
            &[start("s/1", "x-claude-code-session-id")],
        );
        // Written in completion order, not sequence order.
        write(
            dir,
            "api.anthropic.com",
            "2026-11-20",
            "s/1",
            &call("s/1", "2026-11-20T09:00:05Z", "r2", 2, p1, true),
        );
        write(
            dir,
            "api.anthropic.com",
            "2026-11-20",
            "s/1",
            &call("s/1", "2026-11-20T09:00:01Z", "r1", 1, p1, false),
        );
        write(
            dir,
            "api.anthropic.com",
            "2026-11-21",
            "s/1",
            &call("s/1", "2026-11-21T08:00:00Z", "r3", 3, p1, false),
        );
        // Another id that sanitises to the same file name.
        write(
            dir,
            "api.anthropic.com",
            "2026-11-21",
            "s_1",
            &call("s_1", "2026-11-21T08:00:01Z", "x1", 1, p1, false),
        );
        write(
            dir,
            "api.openai.com",
            "2026-11-21",
            "other",
            &[start("other", "session-id")],
        );
        write(
            dir,
            "api.openai.com",
            "2026-11-21",
            "other",
            &call("other", "2026-11-21T10:00:00Z", "o1", 1, p2, false),
        );
        write(
            dir,
            "api.openai.com",
            "2026-11-21",
            "req-9",
            &[start("req-9", "generated")],
        );
        write(
            dir,
            "api.openai.com",
            "2026-11-21",
            "req-9",
            &call("req-9", "2026-11-21T11:00:00Z", "req-9", 1, p2, false),
        );
        fs::write(dir.join("events-2026-11-21.jsonl"), "{}\n").unwrap();
        let files = SessionFiles {
            dir: dir.to_path_buf(),
            per_session: true,
        };

        let all = list(&files, &Filter::default());
        let ids: Vec<&str> = all.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["other", "s_1", "s/1"]);
        let s1 = &all[2];
        assert_eq!(
            (s1.calls, s1.forks, s1.prompt_tokens, s1.completion_tokens),
            (3, 1, 300, 30)
        );
        assert_eq!(s1.source, "x-claude-code-session-id");

        let only_p2 = list(
            &files,
            &Filter {
                project: Some(p2),
                single_calls: true,
                ..Filter::default()
            },
        );
        let ids: Vec<&str> = only_p2.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["req-9", "other"]);
        let day = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let one_day = list(
            &files,
            &Filter {
                since: Some(day),
                until: Some(day),
                ..Filter::default()
            },
        );
        assert_eq!(one_day.len(), 1);
        assert_eq!(one_day[0].calls, 2);

        let s = session(&files, "s/1").unwrap();
        let seqs: Vec<u64> = s.turns.iter().map(Turn::seq).collect();
        assert_eq!(seqs, [1, 2, 3]);
        assert!(s.turns[1].fork.is_some());
        assert_eq!(
            s.turns[0]
                .request
                .as_ref()
                .unwrap()
                .turn
                .as_ref()
                .unwrap()
                .added
                .len(),
            1
        );
        assert_eq!(s.summary.calls, 3);
        assert!(session(&files, "nope").is_none());
    }
}
