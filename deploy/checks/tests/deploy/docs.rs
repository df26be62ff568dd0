//! The guides name only settings that exist.

use llm_proxy_deploy_checks::files;

use crate::support::assert_known_names;

#[test]
fn guides_name_real_settings() {
    for doc in ["docs/deployment.md", "deploy/ecs/README.md", "README.md"] {
        assert_known_names(doc, &files::read(doc).unwrap());
    }
    let chart_text: String = std::fs::read_dir(files::path("helm/llm-proxy/templates"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert_known_names("helm templates", &chart_text);
    assert_known_names(
        "values.yaml",
        &files::read("helm/llm-proxy/values.yaml").unwrap(),
    );
}
