//! Compose's variable interpolation (`${VAR}`, `${VAR:-default}`, `${VAR-default}`, `$VAR`,
//! `$$`), enough to resolve the paths the compose file names.

use std::collections::BTreeMap;

/// Interpolates `text` with `env`; unset variables without a default become empty.
pub fn interpolate(text: &str, env: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let close = body
                .find('}')
                .ok_or_else(|| format!("unclosed ${{ in {text:?}"))?;
            out.push_str(&expand(&body[..close], env)?);
            rest = &body[close + 1..];
        } else {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if len == 0 {
                return Err(format!("lone $ in {text:?}"));
            }
            out.push_str(env.get(&after[..len]).map_or("", String::as_str));
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn expand(expr: &str, env: &BTreeMap<String, String>) -> Result<String, String> {
    let get = |name: &str| env.get(name).cloned();
    if let Some((name, default)) = expr.split_once(":-") {
        return Ok(get(name)
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_owned()));
    }
    if let Some((name, default)) = expr.split_once('-') {
        return Ok(get(name).unwrap_or_else(|| default.to_owned()));
    }
    if let Some((name, message)) = expr.split_once(":?") {
        return get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("{name}: {message}"));
    }
    if expr.is_empty() || !expr.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("unsupported interpolation ${{{expr}}}"));
    }
    Ok(get(expr).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::interpolate;

    #[test]
    fn defaults_and_escapes() {
        let env = BTreeMap::from([("A".to_owned(), "x".to_owned())]);
        assert_eq!(
            interpolate("${A:-y}/${B:-z}/$A/$$A", &env).unwrap(),
            "x/z/x/$A"
        );
        assert!(interpolate("${NOPE:?set it}", &env).is_err());
    }
}
