//! `${VAR}` and `${VAR:-default}` interpolation in the plan's string values.
//!
//! Interpolation runs on each string value after parsing, never on the file's text, so a variable's
//! content can never change the YAML's structure and every error keeps the value's position.
//! `$$` writes a literal `$`. A variable that is set but empty counts as unset for `:-`, as in POSIX
//! shells.

/// Expands `text` using `lookup`; the error names the variable or the syntax problem.
pub fn interpolate(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut output = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        output.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            output.push('$');
            rest = stripped;
        } else if let Some(body_start) = after.strip_prefix('{') {
            let close =
                body_start.find('}').ok_or_else(|| format!("unterminated `${{` in {text:?}: add the closing `}}`"))?;
            let body = &body_start[..close];
            let (name, default) = match body.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (body, None),
            };
            if !is_variable_name(name) {
                return Err(format!(
                    "`${{{body}}}` is not a valid variable reference (names are letters, digits and `_`)"
                ));
            }
            match (lookup(name).filter(|value| !value.is_empty()), default) {
                (Some(value), _) => output.push_str(&value),
                (None, Some(default)) => output.push_str(default),
                (None, None) => {
                    return Err(format!(
                        "environment variable `{name}` is not set (write `${{{name}:-default}}` for a default)"
                    ));
                }
            }
            rest = &body_start[close + 1..];
        } else {
            output.push('$');
            rest = after;
        }
    }
    output.push_str(rest);
    Ok(output)
}

/// Whether `text` is exactly one `${VAR}` reference without a default: the only string form a
/// password may take, because the value then comes from the environment and not from the file.
pub fn is_single_reference_without_default(text: &str) -> bool {
    text.strip_prefix("${").and_then(|inner| inner.strip_suffix('}')).is_some_and(is_variable_name)
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("kafka.example".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_set_variables_and_defaults() {
        assert_eq!(interpolate("${HOST}:9092", &env).unwrap(), "kafka.example:9092");
        assert_eq!(interpolate("${MISSING:-127.0.0.1}:1", &env).unwrap(), "127.0.0.1:1");
        assert_eq!(interpolate("${EMPTY:-fallback}", &env).unwrap(), "fallback");
        assert_eq!(interpolate("${MISSING:-}", &env).unwrap(), "");
        assert_eq!(interpolate("cost $$5 $x", &env).unwrap(), "cost $5 $x");
    }

    #[test]
    fn names_the_unset_variable_and_bad_syntax() {
        assert!(interpolate("${MISSING}", &env).unwrap_err().contains("`MISSING` is not set"));
        assert!(interpolate("${HOST", &env).unwrap_err().contains("unterminated"));
        assert!(interpolate("${1BAD}", &env).unwrap_err().contains("not a valid variable"));
    }

    #[test]
    fn recognises_a_bare_reference() {
        assert!(is_single_reference_without_default("${PASSWORD}"));
        assert!(!is_single_reference_without_default("${PASSWORD:-secret}"));
        assert!(!is_single_reference_without_default("pre${PASSWORD}"));
        assert!(!is_single_reference_without_default("hunter2"));
    }
}
