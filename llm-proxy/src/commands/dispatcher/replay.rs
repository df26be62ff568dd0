//! `llm-proxy dispatcher replay --sink S (--from ID | --since TIME | --dlq)`.

use chrono::{DateTime, NaiveDate, Utc};
use dispatcher_node::ReplayFrom;
use serde_json::json;

use crate::bootstrap;
use crate::cli::dispatcher::ReplayArgs;
use crate::cli::manage::output::print;

pub fn run(args: ReplayArgs) -> Result<(), String> {
    let from = start(&args)?;
    let settings = bootstrap::load(args.settings.load_options())?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    actix_rt::System::new().block_on(async move {
        let report = dispatcher_node::replay(&settings, &args.sink, from)
            .await
            .map_err(|e| e.to_string())?;
        let value = json!({
            "sink": report.sink,
            "read": report.read,
            "delivered": report.delivered,
            "failed": report.failed,
            "undecodable": report.undecodable,
        });
        print(args.json, &value, |_| format!("{report}\n"));
        if report.failed > 0 {
            return Err(format!(
                "{} of {} entries were not delivered to {}",
                report.failed, report.read, report.sink
            ));
        }
        Ok(())
    })
}

fn start(args: &ReplayArgs) -> Result<ReplayFrom, String> {
    if args.dlq {
        return Ok(ReplayFrom::Dlq);
    }
    if let Some(id) = &args.from {
        return match id.parse::<ReplayFrom>() {
            Ok(from @ ReplayFrom::StreamId(_)) => Ok(from),
            _ => Err(format!(
                "--from wants a stream id like 1731400000000-0, got `{id}` (use --since for a time)"
            )),
        };
    }
    match &args.since {
        Some(time) => since(time).map(ReplayFrom::Since),
        None => Err("give --from ID, --since TIME or --dlq".to_owned()),
    }
}

/// RFC 3339, or a date meaning its midnight UTC.
fn since(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        })
        .ok_or_else(|| format!("--since wants an RFC 3339 time or a YYYY-MM-DD date, got `{text}`"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    use crate::cli::dispatcher::DispatcherCommand;
    use crate::cli::{Cli, Command};

    fn replay_args(argv: &[&str]) -> Result<ReplayArgs, String> {
        let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        match cli.command {
            Command::Dispatcher(d) => match d.command {
                Some(DispatcherCommand::Replay(args)) => Ok(args),
                other => Err(format!("not a replay: {other:?}")),
            },
            _ => Err("not the dispatcher".into()),
        }
    }

    #[test]
    fn replay_starts() {
        let args = replay_args(&[
            "llm-proxy",
            "dispatcher",
            "replay",
            "--sink",
            "file",
            "--dlq",
        ]);
        assert_eq!(start(&args.unwrap()), Ok(ReplayFrom::Dlq));
        let args = replay_args(&[
            "llm-proxy",
            "dispatcher",
            "replay",
            "--sink",
            "loki",
            "--from",
            "1731400000000-2",
        ]);
        assert_eq!(
            start(&args.unwrap()),
            Ok(ReplayFrom::StreamId("1731400000000-2".into()))
        );
        let args = replay_args(&[
            "llm-proxy",
            "dispatcher",
            "replay",
            "--sink",
            "loki",
            "--since",
            "2026-11-02",
        ]);
        assert!(
            matches!(start(&args.unwrap()), Ok(ReplayFrom::Since(t)) if t.to_rfc3339().starts_with("2026-11-02T00:00:00"))
        );
        let args = replay_args(&[
            "llm-proxy",
            "dispatcher",
            "replay",
            "--sink",
            "loki",
            "--since",
            "yesterday",
        ]);
        assert!(start(&args.unwrap()).is_err());
        let args = replay_args(&[
            "llm-proxy",
            "dispatcher",
            "replay",
            "--sink",
            "loki",
            "--from",
            "2026-11-02T00:00:00Z",
        ]);
        assert!(start(&args.unwrap()).is_err());
        // One start, and exactly one.
        assert!(replay_args(&["llm-proxy", "dispatcher", "replay", "--sink", "file"]).is_err());
        assert!(replay_args(&[
            "llm-proxy",
            "dispatcher",
            "replay",
            "--sink",
            "file",
            "--dlq",
            "--since",
            "2026-11-02"
        ])
        .is_err());
    }
}
