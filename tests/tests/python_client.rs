//! An independent client: Python's `websockets` replays every seed-000 recording against the
//! game server (seed000 profile) and compares the answers byte for byte (the data
//! normalisation cases against `seed-differences.tsv`).
//!
//! The client lives in a virtualenv at `${TMPDIR:-/tmp}/quartet-venv` (created when missing,
//! reused otherwise). Without Python or network access to install `websockets`, the test
//! prints one `SKIP:` line and passes.

mod std_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use std_support::{TestServer, game};
use transport_std::Profile;

const WEBSOCKETS: &str = "websockets==17.4";
/// Hang guard for the whole replay (it takes a second or two).
const REPLAY_GUARD: Duration = Duration::from_secs(180);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn venv_dir() -> PathBuf {
    std::env::var_os("TMPDIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from("/tmp"), PathBuf::from)
        .join("quartet-venv")
}

fn quiet(command: &mut Command) -> bool {
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The venv's python with `websockets` installed, or why not.
fn python_with_websockets() -> Result<PathBuf, String> {
    let venv = venv_dir();
    let python = venv.join("bin/python");
    let has_it = |python: &Path| {
        quiet(Command::new(python).args([
            "-c",
            "import websockets, sys; sys.exit(websockets.__version__ != '17.4')",
        ]))
    };
    if python.exists() && has_it(&python) {
        return Ok(python);
    }
    if !python.exists() && !quiet(Command::new("python3").arg("-m").arg("venv").arg(&venv)) {
        return Err(format!("python3 -m venv {} failed", venv.display()));
    }
    let pip = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg(WEBSOCKETS)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("pip: {e}"))?;
    if !pip.status.success() || !has_it(&python) {
        let why = String::from_utf8_lossy(&pip.stderr);
        let last = why.lines().last().unwrap_or("").trim().to_string();
        return Err(format!("pip install {WEBSOCKETS} failed: {last}"));
    }
    Ok(python)
}

/// Runs `command` to its end, killing it if it outlives the hang guard.
fn run_guarded(mut command: Command) -> (bool, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn python");
    let started = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if started.elapsed() > REPLAY_GUARD {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_websockets_replays_the_seed000_recordings() {
    let python = match tokio::task::spawn_blocking(python_with_websockets)
        .await
        .unwrap()
    {
        Ok(python) => python,
        Err(why) => {
            println!("SKIP: python client: {why}");
            return;
        }
    };
    let server = TestServer::start(game::app(), game::config(Profile::Seed000)).await;
    let root = workspace();
    let mut command = Command::new(python);
    command
        .arg(root.join("tests/python/replay.py"))
        .arg(server.url("/ws"))
        .arg(root.join("protocol-core/testdata/seed000-exchanges.txt"))
        .arg(root.join("protocol-core/testdata/seed-differences.tsv"));
    let (ok, output) = tokio::task::spawn_blocking(move || run_guarded(command))
        .await
        .unwrap();
    println!("{output}");
    assert!(ok, "the Python client saw differences:\n{output}");
    assert!(
        output.contains("34 cases match (22 byte-compared"),
        "{output}"
    );
    let handle = server.stop().await;
    assert_eq!(handle.stats().connections, 34);
}
