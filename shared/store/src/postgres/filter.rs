//! Builds `WHERE` clauses from the filters that are set, with numbered parameters.

use tokio_postgres::types::ToSql;

#[derive(Default)]
pub(super) struct Where<'a> {
    clauses: Vec<String>,
    pub(super) args: Vec<&'a (dyn ToSql + Sync)>,
}

impl<'a> Where<'a> {
    /// Adds `{condition} $n`, e.g. `push("project_id =", &id)`.
    pub(super) fn push(&mut self, condition: &str, arg: &'a (dyn ToSql + Sync)) {
        self.args.push(arg);
        self.clauses
            .push(format!("{condition} ${}", self.args.len()));
    }

    /// Adds a parameter with no clause (LIMIT, OFFSET); returns its placeholder.
    pub(super) fn param(&mut self, arg: &'a (dyn ToSql + Sync)) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }

    /// ` WHERE a AND b`, or nothing.
    pub(super) fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }
}
