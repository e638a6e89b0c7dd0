//! `troupe run --input`: the run's input, inline JSON (`--input '{"topic": "x"}'`) or a JSON
//! file (`--input @input.json`), journaled with the run's submission.

use std::path::PathBuf;

use serde_json::Value;

/// Why `--input` could not be read.
#[derive(Debug)]
pub enum InputError {
    /// The inline text is not JSON.
    Json {
        /// Where in the text.
        line: usize,
        /// Where on the line.
        column: usize,
        /// What the JSON parser said.
        source: serde_json::Error,
    },
    /// The `@file` could not be read.
    Read {
        /// The file named after `@`.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The `@file` is not JSON.
    FileJson {
        /// The file named after `@`.
        path: PathBuf,
        /// Where in the file.
        line: usize,
        /// Where on the line.
        column: usize,
        /// What the JSON parser said.
        source: serde_json::Error,
    },
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Json {
                line,
                column,
                source,
            } => write!(
                f,
                "--input: not valid JSON at line {line}, column {column}: {source}"
            ),
            Self::Read { path, source } => {
                write!(
                    f,
                    "--input @{}: cannot read the file: {source}",
                    path.display()
                )
            }
            Self::FileJson {
                path,
                line,
                column,
                source,
            } => write!(
                f,
                "--input @{}: not valid JSON at line {line}, column {column}: {source}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for InputError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Json { source, .. } | Self::FileJson { source, .. } => Some(source),
            Self::Read { source, .. } => Some(source),
        }
    }
}

/// Parses `--input`: `@PATH` reads a JSON file, anything else is inline JSON.
pub fn parse_input(text: &str) -> Result<Value, InputError> {
    match text.strip_prefix('@') {
        Some(path) => {
            let path = PathBuf::from(path);
            let body = std::fs::read_to_string(&path).map_err(|source| InputError::Read {
                path: path.clone(),
                source,
            })?;
            serde_json::from_str(&body).map_err(|source| InputError::FileJson {
                path,
                line: source.line(),
                column: source.column(),
                source,
            })
        }
        None => serde_json::from_str(text).map_err(|source| InputError::Json {
            line: source.line(),
            column: source.column(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_and_file_inputs_parse() {
        assert_eq!(
            parse_input(r#"{"a": 1}"#).unwrap(),
            serde_json::json!({"a": 1})
        );
        let path = std::env::temp_dir().join(format!("troupe-input-{}.json", std::process::id()));
        std::fs::write(&path, "[1, 2]").unwrap();
        let arg = format!("@{}", path.display());
        let parsed = parse_input(&arg);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(parsed.unwrap(), serde_json::json!([1, 2]));
    }

    #[test]
    fn bad_inputs_are_typed_errors_naming_the_flag() {
        let err = parse_input("{not json").unwrap_err();
        assert!(matches!(err, InputError::Json { line: 1, .. }), "{err:?}");
        assert!(err.to_string().starts_with("--input:"), "{err}");
        let err = parse_input("@/nonexistent/in.json").unwrap_err();
        assert!(matches!(err, InputError::Read { .. }), "{err:?}");
        assert!(
            err.to_string().contains("--input @/nonexistent/in.json"),
            "{err}"
        );
    }
}
