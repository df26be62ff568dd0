//! The parsed form of a template.

#[derive(Debug, Clone)]
pub enum Node {
    Text(String),
    /// `{{ pipeline }}`: printed unless it declares or assigns a variable.
    Action(Pipeline),
    /// `if`/`else if`/`else`; `with` uses the same shape and rebinds the dot.
    If {
        branches: Vec<(Pipeline, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
    With {
        branches: Vec<(Pipeline, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
    Range {
        pipe: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Template {
        name: String,
        pipe: Option<Pipeline>,
        line: usize,
    },
}

#[derive(Debug, Clone)]
pub struct Pipeline {
    /// Variables declared (`:=`) or assigned (`=`) by this pipeline.
    pub vars: Vec<String>,
    pub assign: bool,
    pub commands: Vec<Command>,
    pub line: usize,
}

#[derive(Debug, Clone)]
pub struct Command {
    pub args: Vec<Arg>,
}

#[derive(Debug, Clone)]
pub enum Arg {
    Dot,
    Field(Vec<String>),
    Var(String, Vec<String>),
    Func(String),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    /// `( pipeline )` with an optional field chain after it.
    Sub(Box<Pipeline>, Vec<String>),
}
