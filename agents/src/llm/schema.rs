//! Checks structured output against its JSON schema: the subset models are asked to follow
//! (`type`, `properties`, `required`, `additionalProperties: false`, `items`, `enum`,
//! `minItems`, `maxItems`). An error names the JSON path of what does not fit.

use serde_json::Value;

use crate::shape::describe;

/// Checks `value` against `schema`; the error names the path (`/sub_questions/2`) and why.
pub(crate) fn check(schema: &Value, value: &Value) -> Result<(), String> {
    walk(schema, value, "")
}

fn walk(schema: &Value, value: &Value, path: &str) -> Result<(), String> {
    let at = |p: &str| {
        if p.is_empty() {
            "/".to_string()
        } else {
            p.to_string()
        }
    };
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !types.is_empty() && !types.iter().any(|t| fits(t, value)) {
            return Err(format!(
                "{}: expected {}, got {}",
                at(path),
                types.join(" or "),
                describe(value)
            ));
        }
    }
    if let Some(Value::Array(options)) = schema.get("enum") {
        if !options.contains(value) {
            return Err(format!(
                "{}: {value} is not one of {}",
                at(path),
                Value::from(options.clone())
            ));
        }
    }
    if let Value::Object(fields) = value {
        let props = schema.get("properties").and_then(Value::as_object);
        if let Some(Value::Array(required)) = schema.get("required") {
            for r in required.iter().filter_map(Value::as_str) {
                if !fields.contains_key(r) {
                    return Err(format!("{}: missing required field `{r}`", at(path)));
                }
            }
        }
        for (k, v) in fields {
            match props.and_then(|p| p.get(k)) {
                Some(s) => walk(s, v, &format!("{path}/{k}"))?,
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    return Err(format!("{}: unexpected field `{k}`", at(path)));
                }
                None => {}
            }
        }
    }
    if let Value::Array(items) = value {
        let n = items.len() as u64;
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
            if n < min {
                return Err(format!(
                    "{}: {n} items, fewer than minItems {min}",
                    at(path)
                ));
            }
        }
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
            if n > max {
                return Err(format!("{}: {n} items, more than maxItems {max}", at(path)));
            }
        }
        if let Some(s) = schema.get("items") {
            for (i, v) in items.iter().enumerate() {
                walk(s, v, &format!("{path}/{i}"))?;
            }
        }
    }
    Ok(())
}

fn fits(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_name_the_path_and_the_reason() {
        let schema = json!({"type": "object", "required": ["qs"], "additionalProperties": false,
            "properties": {"qs": {"type": "array", "items": {"type": "string"}, "minItems": 1}}});
        assert_eq!(check(&schema, &json!({"qs": ["a"]})), Ok(()));
        assert_eq!(
            check(&schema, &json!({})).unwrap_err(),
            "/: missing required field `qs`"
        );
        assert_eq!(
            check(&schema, &json!({"qs": ["a", 2]})).unwrap_err(),
            "/qs/1: expected string, got a number"
        );
        assert!(check(&schema, &json!({"qs": [], "x": 1})).is_err());
    }
}
