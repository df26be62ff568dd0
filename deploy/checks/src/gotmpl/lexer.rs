//! Splits a template into text and actions (`{{ … }}`, with `{{-`/`-}}` trimming) and an
//! action into tokens.

use super::TemplateError;

#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Text(String),
    /// The action's inside, without delimiters and trim markers; `line` is 1-based.
    Action {
        body: String,
        line: usize,
    },
}

/// Cuts `src` into text and actions and applies the trim markers to the neighbouring text.
pub fn split(src: &str) -> Result<Vec<Piece>, TemplateError> {
    let mut pieces = Vec::new();
    let mut rest = src;
    let mut line = 1;
    let mut trim_next_text = false;
    while let Some(open) = rest.find("{{") {
        let mut text = rest[..open].to_owned();
        if trim_next_text {
            text = text.trim_start().to_owned();
        }
        line += rest[..open].matches('\n').count();
        let after = &rest[open + 2..];
        let trim_left =
            after.starts_with("- ") || after.starts_with("-\n") || after.starts_with("-\t");
        if trim_left {
            text = text.trim_end().to_owned();
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        let inner_start = if trim_left { 1 } else { 0 };
        let close = find_close(after, line)?;
        let raw = &after[inner_start..close];
        let (body, trim_right) = match raw.strip_suffix('-') {
            Some(b) if b.ends_with(char::is_whitespace) => (b, true),
            _ => (raw, false),
        };
        pieces.push(Piece::Action {
            body: body.trim().to_owned(),
            line,
        });
        line += raw.matches('\n').count();
        trim_next_text = trim_right;
        rest = &after[close + 2..];
    }
    let mut text = rest.to_owned();
    if trim_next_text {
        text = text.trim_start().to_owned();
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// Offset of the `}}` that closes an action, skipping quoted strings and comments.
fn find_close(s: &str, line: usize) -> Result<usize, TemplateError> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'`' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => match s[i..].find("*/") {
                Some(end) => i += end + 1,
                None => break,
            },
            b'}' if bytes.get(i + 1) == Some(&b'}') => return Ok(i),
            _ => {}
        }
        i += 1;
    }
    Err(TemplateError::Parse {
        line,
        message: "unclosed action".to_owned(),
    })
}

#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    /// `.` alone.
    Dot,
    /// `.a.b` on the dot.
    Field(Vec<String>),
    /// `.a.b` written right after `)`: a field of the parenthesised value.
    Chain(Vec<String>),
    /// `$` or `$name`, with an optional field chain.
    Var(String, Vec<String>),
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    LParen,
    RParen,
    Pipe,
    Comma,
    Declare,
    Assign,
    Comment,
}

fn ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Reads `.a.b.c` starting at a `.`; returns the names and the offset after them.
fn field_chain(chars: &[char], mut i: usize) -> (Vec<String>, usize) {
    let mut names = Vec::new();
    while i < chars.len() && chars[i] == '.' {
        let start = i + 1;
        let mut end = start;
        while end < chars.len() && ident_char(chars[end]) {
            end += 1;
        }
        if end == start {
            break;
        }
        names.push(chars[start..end].iter().collect());
        i = end;
    }
    (names, i)
}

pub fn tokens(body: &str, line: usize) -> Result<Vec<Token>, TemplateError> {
    let err = |message: String| TemplateError::Parse { line, message };
    if body.starts_with("/*") {
        return if body.ends_with("*/") {
            Ok(vec![Token::Comment])
        } else {
            Err(err("unterminated comment".to_owned()))
        };
    }
    let chars: Vec<char> = body.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Token::LParen);
                i += 1;
            }
            ')' => {
                out.push(Token::RParen);
                i += 1;
            }
            '|' => {
                out.push(Token::Pipe);
                i += 1;
            }
            ',' => {
                out.push(Token::Comma);
                i += 1;
            }
            ':' if chars.get(i + 1) == Some(&'=') => {
                out.push(Token::Declare);
                i += 2;
            }
            '=' => {
                out.push(Token::Assign);
                i += 1;
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(err("unterminated string".to_owned())),
                        Some('"') => break,
                        Some('\\') => {
                            let escaped = match chars.get(i + 1) {
                                Some('n') => '\n',
                                Some('t') => '\t',
                                Some('\\') => '\\',
                                Some('"') => '"',
                                other => return Err(err(format!("unsupported escape {other:?}"))),
                            };
                            s.push(escaped);
                            i += 2;
                        }
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                out.push(Token::Str(s));
                i += 1;
            }
            '`' => {
                let start = i + 1;
                let len = chars[start..]
                    .iter()
                    .position(|&ch| ch == '`')
                    .ok_or_else(|| err("unterminated raw string".to_owned()))?;
                out.push(Token::Str(chars[start..start + len].iter().collect()));
                i = start + len + 1;
            }
            '.' => {
                let (names, next) = field_chain(&chars, i);
                if names.is_empty() {
                    out.push(Token::Dot);
                    i += 1;
                } else if i > 0 && chars[i - 1] == ')' {
                    out.push(Token::Chain(names));
                    i = next;
                } else {
                    out.push(Token::Field(names));
                    i = next;
                }
            }
            '$' => {
                let mut end = i + 1;
                while end < chars.len() && ident_char(chars[end]) {
                    end += 1;
                }
                let name: String = chars[i..end].iter().collect();
                let (fields, next) = field_chain(&chars, end);
                out.push(Token::Var(name, fields));
                i = next;
            }
            c if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                if let Ok(n) = text.parse::<i64>() {
                    out.push(Token::Int(n));
                } else {
                    let f = text
                        .parse::<f64>()
                        .map_err(|_| err(format!("bad number {text}")))?;
                    out.push(Token::Float(f));
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && ident_char(chars[i]) {
                    i += 1;
                }
                out.push(Token::Ident(chars[start..i].iter().collect()));
            }
            other => return Err(err(format!("unexpected character {other:?}"))),
        }
    }
    Ok(out)
}
