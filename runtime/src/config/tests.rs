use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use super::*;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct Cfg {
    size: u32,
    members: Vec<Member>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Member {
    #[allow(dead_code)]
    kind: String,
}

#[test]
fn a_null_config_means_defaults() {
    let c: Cfg = decode_config("k", &Value::Null).unwrap();
    assert_eq!(c.size, 0);
    assert!(c.members.is_empty());
}

#[test]
fn errors_name_the_kind_and_a_json_pointer_to_the_field() {
    let err = decode_config::<Cfg>("k.one", &json!({"size": "big"})).unwrap_err();
    assert_eq!((err.kind.as_str(), err.path.as_str()), ("k.one", "/size"));
    assert!(err.reason.starts_with("invalid type: string"), "{err}");
    assert!(
        err.to_string()
            .starts_with("k.one config at /size: invalid type"),
        "{err}"
    );

    let config = json!({"members": [{"kind": "a"}, {"kind": "b"}, {"kind": 3}]});
    let err = decode_config::<Cfg>("k", &config).unwrap_err();
    assert_eq!(err.path, "/members/2/kind");

    let err = decode_config::<Cfg>("k", &json!(3)).unwrap_err();
    assert_eq!(err.path, "");
    assert!(
        err.to_string().starts_with("k config: invalid type"),
        "{err}"
    );
}

#[test]
fn a_nested_error_moves_under_its_parent() {
    let err = ConfigError::new("inner", "/url", "bad").under("/members/a/config");
    assert_eq!(err.path, "/members/a/config/url");
    assert_eq!(
        err.with_kind("outer").to_string(),
        "outer config at /members/a/config/url: bad"
    );
}

#[test]
fn describe_names_every_shape() {
    let shapes = [
        json!(null),
        json!(true),
        json!(1),
        json!("s"),
        json!([]),
        json!({}),
    ];
    let names: Vec<_> = shapes.iter().map(describe).collect();
    assert_eq!(
        names,
        [
            "null",
            "a boolean",
            "a number",
            "a string",
            "an array",
            "an object"
        ]
    );
}

#[derive(Debug, Deserialize)]
struct Timed {
    #[serde(with = "duration")]
    wait: Duration,
    #[serde(with = "seconds", default)]
    secs: f64,
    #[serde(with = "seconds::option", default)]
    maybe: Option<f64>,
}

#[test]
fn configs_take_duration_strings_and_numbers_of_seconds() {
    let t = |v: Value| decode_value::<Timed>("k", v);
    let a = t(json!({"wait": "1m30s", "secs": "500ms", "maybe": "2s"})).unwrap();
    assert_eq!(a.wait, Duration::from_secs(90));
    assert_eq!(a.secs, 0.5);
    assert_eq!(a.maybe, Some(2.0));
    let b = t(json!({"wait": 1.5, "secs": 3, "maybe": null})).unwrap();
    assert_eq!(b.wait, Duration::from_millis(1500));
    assert_eq!(b.secs, 3.0);
    assert_eq!(b.maybe, None);
    assert_eq!(t(json!({"wait": 1})).unwrap().maybe, None);

    let err = t(json!({"wait": "soon"})).unwrap_err();
    assert_eq!(err.path, "/wait");
    assert!(err.reason.starts_with("invalid duration \"soon\""), "{err}");
    let err = t(json!({"wait": 1, "maybe": [1]})).unwrap_err();
    assert_eq!(err.path, "/maybe");
    assert!(err.reason.contains("got an array"), "{err}");
    // Numbers of seconds pass through, for the config's own range checks to name.
    let c = t(json!({"wait": 1, "secs": -2, "maybe": -1})).unwrap();
    assert_eq!((c.secs, c.maybe), (-2.0, Some(-1.0)));
    let err = t(json!({"wait": -1})).unwrap_err();
    assert!(err.reason.starts_with("invalid duration \"-1\""), "{err}");
}
