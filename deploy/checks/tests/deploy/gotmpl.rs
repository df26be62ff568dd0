//! The renderer follows Go's text/template and Helm where the chart relies on them.

use llm_proxy_deploy_checks::gotmpl::{render, value::helm_numbers};
use serde_json::{json, Value};

fn r(src: &str, data: Value) -> String {
    render(src, &data).unwrap_or_else(|e| panic!("{src}: {e}"))
}

#[test]
fn trim_markers_eat_whitespace_on_their_side_only() {
    assert_eq!(r("a  {{- 1 }}  b", json!({})), "a1  b");
    assert_eq!(r("a  {{ 1 -}} \n b", json!({})), "a  1b");
    assert_eq!(r("x\n{{- /* note */}}\ny", json!({})), "x\ny");
}

#[test]
fn conditionals_ranges_and_with_follow_go() {
    let data =
        json!({"on": true, "off": false, "list": ["a", "b"], "map": {"z": 1, "a": 2}, "empty": []});
    assert_eq!(
        r(
            "{{ if .off }}1{{ else if .on }}2{{ else }}3{{ end }}",
            data.clone()
        ),
        "2"
    );
    assert_eq!(
        r(
            "{{ range $i, $v := .list }}{{ $i }}={{ $v }};{{ end }}",
            data.clone()
        ),
        "0=a;1=b;"
    );
    assert_eq!(
        r("{{ range $k, $v := .map }}{{ $k }};{{ end }}", data.clone()),
        "a;z;"
    );
    assert_eq!(
        r("{{ range .empty }}x{{ else }}none{{ end }}", data.clone()),
        "none"
    );
    assert_eq!(
        r("{{ with .list }}{{ index . 1 }}{{ end }}", data.clone()),
        "b"
    );
    assert_eq!(
        r("{{ with .missing }}x{{ else }}y{{ end }}", data.clone()),
        "y"
    );
    assert_eq!(
        r(
            "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}",
            data
        ),
        "2"
    );
}

#[test]
fn values_numbers_print_like_helm() {
    let values = helm_numbers(json!({"n": 3, "big": 5000000, "half": 0.5}));
    assert_eq!(
        r("{{ .n }} {{ .big }} {{ .half }}", values.clone()),
        "3 5e+06 0.5"
    );
    assert_eq!(r("{{ .big | int }}", values.clone()), "5000000");
    assert_eq!(r("{{ add .n 2 }}", values.clone()), "5");
    assert!(
        render("{{ eq .n 3 }}", &values).is_err(),
        "Go refuses float == int"
    );
}

#[test]
fn missing_keys_are_empty_but_fields_of_nil_fail() {
    assert_eq!(r("[{{ .a }}]", json!({})), "[]");
    let err = render("{{ .a.b }}", &json!({})).unwrap_err().to_string();
    assert!(err.contains("nil pointer"), "{err}");
}

#[test]
fn helm_functions() {
    let data = json!({"m": {"b": [1, 2], "a": "x"}, "s": "gw-llm-proxy-"});
    assert_eq!(
        r("{{ toYaml .m | nindent 2 }}", data.clone()),
        "\n  a: x\n  b:\n  - 1\n  - 2"
    );
    assert_eq!(
        r(r#"{{ .s | trunc 63 | trimSuffix "-" }}"#, data.clone()),
        "gw-llm-proxy"
    );
    assert_eq!(
        r(
            r#"{{ default "d" .none }}|{{ default "d" .s }}"#,
            data.clone()
        ),
        "d|gw-llm-proxy-"
    );
    assert_eq!(
        r(r#"{{ printf "%s-%d" "a" 3 | quote }}"#, data.clone()),
        r#""a-3""#
    );
    assert_eq!(
        r(
            r#"{{ (dict "k" "v").k }}{{ len (list 1 2) }}"#,
            data.clone()
        ),
        "v2"
    );
    assert_eq!(
        r(r#"{{ default (print "a" "b") .s }}"#, data.clone()),
        "gw-llm-proxy-"
    );
    assert_eq!(
        r(r#"{{ or .none "y" }}{{ and 1 .none }}"#, data.clone()),
        "y"
    );
    assert_eq!(
        r(
            r#"{{ define "t" }}<{{ . }}>{{ end }}{{ include "t" "x" | upper }}"#,
            data.clone()
        ),
        "<X>"
    );
    assert_eq!(
        r(r#"{{ "hi" | sha256sum | trunc 8 }}"#, data.clone()),
        "8f434346"
    );
    let err = render(r#"{{ required "need x" .none }}"#, &data)
        .unwrap_err()
        .to_string();
    assert!(err.contains("need x"), "{err}");
}

#[test]
fn unsupported_syntax_is_an_error() {
    assert!(render("{{ nosuchfunc 1 }}", &json!({})).is_err());
    assert!(render("{{ if 1 }}", &json!({})).is_err());
    assert!(render("{{ block \"x\" . }}{{ end }}", &json!({})).is_err());
}
