//! `gauntlet mock` as a user runs it: the binary, its output, its errors.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::Duration;

fn gauntlet() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gauntlet"));
    // Nothing from the caller's environment (DUAL_API_KEY, GAUNTLET_TARGET, ...) leaks in.
    c.env_clear();
    c
}

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("gauntlet-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

#[test]
fn a_bad_config_names_file_line_and_key_and_exits_2() {
    let path = temp_file(
        "bad.toml",
        "seed = 1\n\n[[faults]]\nkind = \"status\"\nstatus = 503\nprobability = 7.0\n",
    );
    let out = gauntlet()
        .args(["mock", "--listen", "127.0.0.1:0", "--config"])
        .arg(&path)
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{}:3: key `faults[0].probability`",
            path.display()
        )),
        "{err}"
    );
}

#[test]
fn a_missing_secret_variable_is_named() {
    let path = temp_file(
        "keys.toml",
        "[[auth.keys]]\nenv = \"GAUNTLET_TEST_UNSET_KEY\"\norg = \"org_x\"\n",
    );
    let out = gauntlet()
        .args(["mock", "--listen", "127.0.0.1:0", "--config"])
        .arg(&path)
        .env_remove("GAUNTLET_TEST_UNSET_KEY")
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("GAUNTLET_TEST_UNSET_KEY is not set"), "{err}");
}

#[test]
fn a_non_loopback_listen_address_is_refused() {
    let out = gauntlet()
        .args(["mock", "--listen", "0.0.0.0:0"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a loopback address"));
}

#[test]
fn mock_prints_how_to_reach_it_serves_and_drains_on_sigterm() {
    let mut child = gauntlet()
        .args(["mock", "--listen", "127.0.0.1:0", "--seed", "7"])
        .env("GAUNTLET_CONTROL_TOKEN", "ctl_from_env_secret_1234")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // A watchdog: the test never waits on the child for ever.
    let pid = child.id();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(60));
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    });
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut lines = Vec::new();
    for _ in 0..4 {
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read");
        lines.push(line);
    }
    let addr = lines[0]
        .trim()
        .strip_prefix("listening on http://")
        .expect("address line")
        .to_string();
    let key = lines[1]
        .trim()
        .strip_prefix("api key:")
        .expect("key line")
        .trim()
        .to_string();
    assert!(
        key.starts_with("sk_sandbox_"),
        "a generated key is shown: {lines:?}"
    );
    assert!(
        lines[2].contains("…1234 (from the environment)") && !lines[2].contains("ctl_from_env"),
        "env secrets are redacted: {lines:?}"
    );

    // One real request through the binary.
    let body = r#"{"actions":[{"action_type":"Emit","payload":{"n":1}}]}"#;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let status = rt.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(&addr).await.expect("connect");
        let req = format!(
            "POST /ebus/actions/batch HTTP/1.1\r\nhost: x\r\nx-api-key: {key}\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.expect("write");
        let mut got = String::new();
        tokio::time::timeout(Duration::from_secs(30), s.read_to_string(&mut got)).await.expect("bounded").expect("read");
        got
    });
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");

    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(term.success());
    let code = child.wait().expect("wait");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("rest");
    assert!(code.success(), "clean exit after SIGTERM: {code:?}");
    assert!(
        rest.contains("oracle") && rest.contains("exactly once 1"),
        "{rest}"
    );
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("stderr");
    assert!(
        !err.contains("ctl_from_env_secret") && !rest.contains("ctl_from_env_secret"),
        "no secret in output"
    );
}

#[test]
fn the_example_twin_config_is_valid() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/twin.toml");
    let base = gauntlet_mock::TwinConfig::sandbox("sk_test_0000000000", "ctl_test_0000000000");
    let c =
        gauntlet_mock::TwinConfig::load(&path, base, |_| None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((c.seed, c.faults.len()), (7, 5));
}

#[test]
fn every_committed_plan_is_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    for name in ["nightly", "soak"] {
        let path = dir.join(format!("{name}.toml"));
        let plan = gauntlet::plan::Plan::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            plan.text.starts_with('#'),
            "{name}.toml opens with a comment saying what it is for"
        );
    }
    let smoke = dir.join("smoke.toml");
    let plan = gauntlet::smoke::config::SmokePlan::load(&smoke).unwrap_or_else(|e| panic!("{e}"));
    for env in ["sandbox", "production"] {
        assert!(
            plan.environments
                .get(env)
                .and_then(|e| e.boson.as_ref())
                .is_some(),
            "smoke.toml names the {env} contracts"
        );
    }
}

#[test]
fn run_exits_2_on_a_missing_plan_and_1_on_a_failed_verdict() {
    let out = gauntlet()
        .args(["run", "/nonexistent/plan.toml"])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan = temp_file(
        "flawed.toml",
        "[run]\nduration = \"2s\"\nrate = 200\nbatch = { min = 5, max = 10 }\nwarmup = \"0s\"\nusers = 4\n\
         [client]\nflaw = \"no_backoff\"\nmax_elapsed = \"20s\"\n\
         [[faults]]\nkind = \"status\"\nstatus = 429\nretry_after = 1\nprobability = 0.3\n",
    );
    let dir = plan.with_extension("out");
    let out = gauntlet()
        .arg("run")
        .arg(&plan)
        .arg("--out")
        .arg(&dir)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("early_retries") && stdout.contains("FAIL"),
        "{stdout}"
    );
    assert!(dir.join("summary.json").exists());
    // Not a terminal: plain progress lines, no cursor movement.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with('[') && l.contains("s/2s") && l.contains("actions/s")),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "no escape codes in a log: {stderr}"
    );
}

/// On a terminal (a pseudo-terminal from `script`, util-linux), the progress line
/// is a bar redrawn in place. (`harness_lag` has its own test; a busy test
/// machine must not fail this one on timing.)
#[test]
fn run_draws_a_progress_bar_on_a_terminal() {
    let plan = temp_file(
        "tty.toml",
        "[run]\nduration = \"2s\"\nrate = 100\nbatch = { min = 5, max = 10 }\nwarmup = \"0s\"\nusers = 4\nsnapshot = \"500ms\"\n\
         [webhooks]\nhandler = \"off\"\n\
         [thresholds]\nmax_harness_lag = \"10s\"\n",
    );
    let command = format!(
        "{} run {} --out {}",
        env!("CARGO_BIN_EXE_gauntlet"),
        plan.display(),
        plan.with_extension("out").display()
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TERM", "xterm")
        .output()
        .expect("script (util-linux) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("\u{1b}[2K")
            && text.contains("s/2s, ")
            && text.contains(" left] [")
            && text.contains("actions/s"),
        "a bar redrawn in place: {text}"
    );
}
