//! Recursive-descent parser from lexer pieces to [`Node`]s; `define` blocks are collected apart.

use std::collections::BTreeMap;

use super::ast::{Arg, Command, Node, Pipeline};
use super::lexer::{split, tokens, Piece, Token};
use super::TemplateError;

/// A parsed file: its body and the templates it defines.
#[derive(Debug, Default)]
pub struct Parsed {
    pub body: Vec<Node>,
    pub defines: BTreeMap<String, Vec<Node>>,
}

pub fn parse(src: &str) -> Result<Parsed, TemplateError> {
    let mut parser = Parser {
        pieces: split(src)?,
        pos: 0,
        defines: BTreeMap::new(),
    };
    let (body, end) = parser.list()?;
    if let Some(end) = end {
        return Err(TemplateError::Parse {
            line: end.line,
            message: format!("unexpected {{{{{}}}}}", end.keyword),
        });
    }
    Ok(Parsed {
        body,
        defines: parser.defines,
    })
}

struct Parser {
    pieces: Vec<Piece>,
    pos: usize,
    defines: BTreeMap<String, Vec<Node>>,
}

/// The keyword action that ended a list (`end` or `else …`), with what followed the keyword.
struct Terminator {
    keyword: String,
    rest: Vec<Token>,
    line: usize,
}

fn perr(line: usize, message: impl Into<String>) -> TemplateError {
    TemplateError::Parse {
        line,
        message: message.into(),
    }
}

impl Parser {
    /// Parses nodes until `end`, `else` or the end of input.
    fn list(&mut self) -> Result<(Vec<Node>, Option<Terminator>), TemplateError> {
        let mut nodes = Vec::new();
        while self.pos < self.pieces.len() {
            let piece = self.pieces[self.pos].clone();
            self.pos += 1;
            let (body, line) = match piece {
                Piece::Text(t) => {
                    nodes.push(Node::Text(t));
                    continue;
                }
                Piece::Action { body, line } => (body, line),
            };
            let mut toks = tokens(&body, line)?;
            if toks.is_empty() {
                return Err(perr(line, "empty action"));
            }
            if toks[0] == Token::Comment {
                continue;
            }
            let keyword = match &toks[0] {
                Token::Ident(k) => k.clone(),
                _ => String::new(),
            };
            match keyword.as_str() {
                "end" | "else" => {
                    let rest = toks.split_off(1);
                    return Ok((
                        nodes,
                        Some(Terminator {
                            keyword,
                            rest,
                            line,
                        }),
                    ));
                }
                "if" | "with" => {
                    let node = self.conditional(&keyword, toks.split_off(1), line)?;
                    nodes.push(node);
                }
                "range" => {
                    let pipe = pipeline(&toks[1..], line)?;
                    let (body, term) = self.list()?;
                    let otherwise = match term {
                        Some(t) if t.keyword == "else" && t.rest.is_empty() => {
                            let (otherwise, term) = self.list()?;
                            expect_end(term, line)?;
                            otherwise
                        }
                        term => {
                            expect_end(term, line)?;
                            Vec::new()
                        }
                    };
                    nodes.push(Node::Range {
                        pipe,
                        body,
                        otherwise,
                    });
                }
                "define" => {
                    let name = match toks.get(1) {
                        Some(Token::Str(n)) if toks.len() == 2 => n.clone(),
                        _ => return Err(perr(line, "define needs one quoted name")),
                    };
                    let (body, term) = self.list()?;
                    expect_end(term, line)?;
                    self.defines.insert(name, body);
                }
                "template" => {
                    let name = match toks.get(1) {
                        Some(Token::Str(n)) => n.clone(),
                        _ => return Err(perr(line, "template needs a quoted name")),
                    };
                    let pipe = if toks.len() > 2 {
                        Some(pipeline(&toks[2..], line)?)
                    } else {
                        None
                    };
                    nodes.push(Node::Template { name, pipe, line });
                }
                "block" | "break" | "continue" => {
                    return Err(perr(line, format!("`{keyword}` is not supported")));
                }
                _ => nodes.push(Node::Action(pipeline(&toks, line)?)),
            }
        }
        Ok((nodes, None))
    }

    /// `if`/`with` with any `else if`/`else with` chain and a final `else`.
    fn conditional(
        &mut self,
        keyword: &str,
        first: Vec<Token>,
        line: usize,
    ) -> Result<Node, TemplateError> {
        let mut branches = Vec::new();
        let mut cond = first;
        let otherwise = loop {
            let pipe = pipeline(&cond, line)?;
            let (body, term) = self.list()?;
            branches.push((pipe, body));
            let term = term.ok_or_else(|| perr(line, format!("{keyword} without end")))?;
            if term.keyword == "end" {
                break Vec::new();
            }
            match term.rest.first() {
                None => {
                    let (otherwise, term) = self.list()?;
                    expect_end(term, line)?;
                    break otherwise;
                }
                Some(Token::Ident(k)) if k == keyword => cond = term.rest[1..].to_vec(),
                Some(_) => return Err(perr(term.line, format!("bad else in {keyword}"))),
            }
        };
        Ok(if keyword == "if" {
            Node::If {
                branches,
                otherwise,
            }
        } else {
            Node::With {
                branches,
                otherwise,
            }
        })
    }
}

fn expect_end(term: Option<Terminator>, line: usize) -> Result<(), TemplateError> {
    match term {
        Some(t) if t.keyword == "end" && t.rest.is_empty() => Ok(()),
        Some(t) => Err(perr(t.line, format!("unexpected {}", t.keyword))),
        None => Err(perr(line, "missing end")),
    }
}

/// `[$a [, $b] (:=|=)] command [| command]…`
pub fn pipeline(toks: &[Token], line: usize) -> Result<Pipeline, TemplateError> {
    let mut vars = Vec::new();
    let mut assign = false;
    let mut rest = toks;
    let decl_at = toks
        .iter()
        .position(|t| matches!(t, Token::Declare | Token::Assign));
    if let Some(at) = decl_at {
        let names: Vec<&Token> = toks[..at].iter().filter(|t| **t != Token::Comma).collect();
        let all_vars = !names.is_empty()
            && names
                .iter()
                .all(|t| matches!(t, Token::Var(_, f) if f.is_empty()));
        if all_vars {
            for t in names {
                if let Token::Var(n, _) = t {
                    vars.push(n.clone());
                }
            }
            assign = toks[at] == Token::Assign;
            rest = &toks[at + 1..];
        }
    }
    let mut commands = Vec::new();
    let mut pos = 0;
    loop {
        let (command, next) = command(rest, pos, line)?;
        commands.push(command);
        pos = next;
        match rest.get(pos) {
            None => break,
            Some(Token::Pipe) => pos += 1,
            Some(t) => return Err(perr(line, format!("unexpected {t:?}"))),
        }
    }
    Ok(Pipeline {
        vars,
        assign,
        commands,
        line,
    })
}

/// One command: operands up to `|`, `)` or the end.
fn command(toks: &[Token], mut pos: usize, line: usize) -> Result<(Command, usize), TemplateError> {
    let mut args = Vec::new();
    while let Some(tok) = toks.get(pos) {
        let arg = match tok {
            Token::Pipe | Token::RParen => break,
            Token::Dot => Arg::Dot,
            Token::Field(f) => Arg::Field(f.clone()),
            Token::Var(n, f) => Arg::Var(n.clone(), f.clone()),
            Token::Str(s) => Arg::Str(s.clone()),
            Token::Int(n) => Arg::Int(*n),
            Token::Float(f) => Arg::Float(*f),
            Token::Ident(i) => match i.as_str() {
                "true" => Arg::Bool(true),
                "false" => Arg::Bool(false),
                "nil" => Arg::Nil,
                _ => Arg::Func(i.clone()),
            },
            Token::LParen => {
                let close = matching_paren(toks, pos)
                    .ok_or_else(|| perr(line, "unbalanced parenthesis"))?;
                let inner = pipeline(&toks[pos + 1..close], line)?;
                pos = close;
                let fields = match toks.get(pos + 1) {
                    Some(Token::Chain(f)) => {
                        pos += 1;
                        f.clone()
                    }
                    _ => Vec::new(),
                };
                Arg::Sub(Box::new(inner), fields)
            }
            other => return Err(perr(line, format!("unexpected {other:?}"))),
        };
        args.push(arg);
        pos += 1;
    }
    if args.is_empty() {
        return Err(perr(line, "missing command"));
    }
    Ok((Command { args }, pos))
}

fn matching_paren(toks: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0;
    for (i, t) in toks.iter().enumerate().skip(open) {
        match t {
            Token::LParen => depth += 1,
            Token::RParen => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}
