//! `deploy/kubernetes/`: every manifest validates against the Kubernetes API's
//! schemas (kubernetes-validate, a PyPI package `.ci/run` installs), a broken
//! one does not, and the Indexed Job's segment count agrees with itself.

use std::path::{Path, PathBuf};
use std::process::Command;

fn manifests() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("deploy/kubernetes")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

fn validate(files: &[PathBuf]) -> std::process::Output {
    Command::new("python3")
        .args(["-m", "kubernetes_validate", "--strict"])
        .args(files)
        .output()
        .expect("python3 runs (kubernetes-validate: .ci/run installs it with pip)")
}

#[test]
fn the_kubernetes_manifests_validate() {
    let files = manifests();
    let names: Vec<String> = files
        .iter()
        .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    for want in ["twin.yaml", "segments.yaml", "collect.yaml", "results.yaml"] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    let out = validate(&files);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(said.contains("job/gauntlet-segments"), "{said}");

    // The validator is not a rubber stamp: a misspelt field fails.
    let segments = std::fs::read_to_string(
        files
            .iter()
            .find(|f| f.ends_with("segments.yaml"))
            .expect("segments.yaml"),
    )
    .expect("read");
    let bad = std::env::temp_dir().join(format!("gauntlet-bad-{}.yaml", std::process::id()));
    std::fs::write(&bad, segments.replace("volumeMounts:", "volumeMount:")).expect("write");
    let out = validate(&[bad]);
    assert!(!out.status.success(), "a broken manifest must not validate");
    assert!(String::from_utf8_lossy(&out.stdout).contains("volumeMount"));

    // One segment count throughout: completions, parallelism and the i/n argument.
    let n = |key: &str| {
        segments
            .lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("{key} in segments.yaml"))
    };
    let count = n("completions:");
    assert_eq!(n("parallelism:"), count);
    assert!(
        segments.contains(&format!("$(JOB_COMPLETION_INDEX)/{count}")),
        "the segment argument divides by {count}"
    );
}
