//! Errors at the CLI edge are one line. Some causes span several (TOML parse errors draw the
//! offending line with a caret under it): keep the lines that say something, drop the drawing.

/// `message` as one line: meaningful lines trimmed and joined with ": ".
pub fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !is_diagram(line))
        .collect::<Vec<_>>()
        .join(": ")
}

/// ` |`, `1 | [server`, `  |        ^`: the gutter and caret lines of a source excerpt.
fn is_diagram(line: &str) -> bool {
    let rest = line
        .trim_start_matches(|c: char| c.is_ascii_digit())
        .trim_start();
    rest.starts_with('|')
        || line
            .chars()
            .all(|c| c.is_whitespace() || matches!(c, '^' | '~' | '-' | '|'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_parse_errors_collapse_to_their_meaning() {
        let message = "configuration file /tmp/bad.toml: TOML parse error at line 1, column 8\n  |\n1 | [server\n  |        ^\nunclosed table, expected `]`\n";
        assert_eq!(
            one_line(message),
            "configuration file /tmp/bad.toml: TOML parse error at line 1, column 8: unclosed table, expected `]`"
        );
    }

    #[test]
    fn one_line_messages_stay_as_they_are() {
        assert_eq!(
            one_line("cannot listen on x: in use"),
            "cannot listen on x: in use"
        );
        assert_eq!(one_line("a - b | c"), "a - b | c");
    }
}
