//! `.dockerignore` semantics: patterns in order, `!` re-includes, `**` spans directories, and a
//! pattern that matches a directory excludes everything under it.

#[derive(Debug, Clone)]
pub struct DockerIgnore {
    rules: Vec<(bool, Vec<String>)>,
}

fn segment_match(pattern: &[char], name: &[char]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some('*'), _) => {
            segment_match(&pattern[1..], name)
                || (!name.is_empty() && segment_match(pattern, &name[1..]))
        }
        (Some('?'), Some(_)) => segment_match(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => segment_match(&pattern[1..], &name[1..]),
        _ => false,
    }
}

fn path_match(pattern: &[String], path: &[&str]) -> bool {
    match pattern.first() {
        None => path.is_empty(),
        Some(p) if p == "**" => {
            (0..=path.len()).any(|skip| path_match(&pattern[1..], &path[skip..]))
        }
        Some(p) => {
            !path.is_empty()
                && segment_match(
                    &p.chars().collect::<Vec<_>>(),
                    &path[0].chars().collect::<Vec<_>>(),
                )
                && path_match(&pattern[1..], &path[1..])
        }
    }
}

impl DockerIgnore {
    pub fn parse(text: &str) -> Self {
        let rules = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let (negated, pattern) = l.strip_prefix('!').map_or((false, l), |p| (true, p));
                let segments = pattern
                    .trim_start_matches("./")
                    .trim_matches('/')
                    .split('/')
                    .filter(|s| !s.is_empty() && *s != ".")
                    .map(str::to_owned)
                    .collect();
                (negated, segments)
            })
            .collect();
        Self { rules }
    }

    /// Whether `path` (relative to the build context, `/`-separated) is left out of the context.
    pub fn excludes(&self, path: &str) -> bool {
        let parts: Vec<&str> = path
            .trim_start_matches("./")
            .split('/')
            .filter(|s| !s.is_empty() && *s != ".")
            .collect();
        let mut excluded = false;
        for (negated, pattern) in &self.rules {
            let hit = (1..=parts.len()).any(|n| path_match(pattern, &parts[..n]));
            if hit {
                excluded = !negated;
            }
        }
        excluded
    }
}

#[cfg(test)]
mod tests {
    use super::DockerIgnore;

    #[test]
    fn patterns_exclude_directories_and_exceptions_reinclude() {
        let ignore = DockerIgnore::parse("target\n**/*.sqlite\n.git\ndocs\n!docs/keep.md\n");
        assert!(ignore.excludes("target"));
        assert!(ignore.excludes("target/release/llm-proxy"));
        assert!(!ignore.excludes("deploy/target-group.json"));
        assert!(ignore.excludes("data/x.sqlite"));
        assert!(ignore.excludes("docs/a.md"));
        assert!(!ignore.excludes("docs/keep.md"));
        assert!(!ignore.excludes("Cargo.lock"));
    }
}
