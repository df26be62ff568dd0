//! A Dockerfile reader: instructions with their line, continuation lines joined, comments and
//! parser directives dropped; `COPY`/`ADD` split into flags, sources and destination.

use crate::CheckError;

#[derive(Debug, Clone, PartialEq)]
pub struct Instruction {
    /// Upper-cased, e.g. `COPY`.
    pub keyword: String,
    pub args: String,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Copy {
    /// `--from=…`, when copying from another stage or image.
    pub from: Option<String>,
    pub flags: Vec<String>,
    pub sources: Vec<String>,
    pub dest: String,
    pub line: usize,
}

const KEYWORDS: &[&str] = &[
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
];

pub fn parse(text: &str) -> Result<Vec<Instruction>, CheckError> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let trimmed = raw.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && pending.is_none()) {
            continue;
        }
        let (start, mut acc) = pending.take().unwrap_or((line_no, String::new()));
        if let Some(body) = trimmed.strip_suffix('\\') {
            acc.push_str(body);
            acc.push(' ');
            pending = Some((start, acc));
            continue;
        }
        acc.push_str(trimmed);
        if acc.trim().is_empty() {
            continue;
        }
        let (keyword, args) = acc
            .trim()
            .split_once(char::is_whitespace)
            .map_or((acc.trim(), ""), |(k, a)| (k, a.trim()));
        let keyword = keyword.to_ascii_uppercase();
        if !KEYWORDS.contains(&keyword.as_str()) {
            return Err(CheckError::parse(
                "deploy/Dockerfile",
                format!("line {start}: unknown instruction {keyword}"),
            ));
        }
        if args.contains("<<") && matches!(keyword.as_str(), "RUN" | "COPY") {
            return Err(CheckError::parse(
                "deploy/Dockerfile",
                format!("line {start}: heredocs are not checked; avoid them"),
            ));
        }
        out.push(Instruction {
            keyword,
            args: args.to_owned(),
            line: start,
        });
    }
    if let Some((start, _)) = pending {
        return Err(CheckError::parse(
            "deploy/Dockerfile",
            format!("line {start}: continuation runs past the end"),
        ));
    }
    Ok(out)
}

/// Splits the arguments of `COPY`/`ADD` (shell or JSON form).
pub fn copy(ins: &Instruction) -> Result<Copy, CheckError> {
    let err = |m: &str| CheckError::parse("deploy/Dockerfile", format!("line {}: {m}", ins.line));
    let mut flags = Vec::new();
    let mut rest = ins.args.trim();
    while let Some(after) = rest.strip_prefix("--") {
        let (flag, tail) = after
            .split_once(char::is_whitespace)
            .ok_or_else(|| err("flag without operands"))?;
        flags.push(flag.to_owned());
        rest = tail.trim_start();
    }
    let mut words: Vec<String> = if rest.starts_with('[') {
        serde_json::from_str(rest).map_err(|e| err(&format!("bad JSON form: {e}")))?
    } else {
        rest.split_whitespace().map(str::to_owned).collect()
    };
    if words.len() < 2 {
        return Err(err("needs at least one source and a destination"));
    }
    let dest = words.pop().unwrap_or_default();
    let from = flags
        .iter()
        .find_map(|f| f.strip_prefix("from="))
        .map(str::to_owned);
    Ok(Copy {
        from,
        flags,
        sources: words,
        dest,
        line: ins.line,
    })
}

/// `FROM image [AS name]`: the image and the stage name.
pub fn from(ins: &Instruction) -> (String, Option<String>) {
    let words: Vec<&str> = ins
        .args
        .split_whitespace()
        .filter(|w| !w.starts_with("--"))
        .collect();
    let image = words.first().copied().unwrap_or_default().to_owned();
    let name = match words.as_slice() {
        [_, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => Some((*name).to_owned()),
        _ => None,
    };
    (image, name)
}
