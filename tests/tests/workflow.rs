//! The GitHub Actions workflows pass actionlint (syntax, expressions, action inputs, cron
//! schedules), and the publishing workflow does what it is for.
//!
//! actionlint comes from the test virtualenv (`scripts/requirements-test.txt`); without it the
//! test fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{venv_program, workspace_root};

fn workflows() -> Vec<PathBuf> {
    let dir = workspace_root().join(".github/workflows");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    files.sort();
    files
}

fn actionlint(files: &[PathBuf]) -> std::process::Output {
    let program = venv_program("actionlint");
    Command::new(&program)
        .args(["-no-color"])
        .args(files)
        .current_dir(workspace_root())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()))
}

#[test]
fn workflows_pass_actionlint() {
    let files = workflows();
    assert!(!files.is_empty(), "no workflow in .github/workflows");
    let out = actionlint(&files);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim().is_empty(),
        "actionlint {files:?} ({}):\n{stdout}\n{stderr}",
        out.status
    );
}

#[test]
fn actionlint_catches_a_broken_workflow() {
    // The linter is live: the same command fails on a workflow with a bad cron and an unknown
    // expression context, naming both.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yml");
    std::fs::write(
        &broken,
        "on:\n  schedule:\n    - cron: \"61 * * * *\"\njobs:\n  a:\n    runs-on: ubuntu-latest\n    \
         steps:\n      - run: echo ${{ nosuch.value }}\n",
    )
    .unwrap();
    let out = actionlint(&[broken]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("cron"), "{stdout}");
    assert!(stdout.contains("nosuch"), "{stdout}");
}

#[test]
fn publishing_workflow_builds_both_products_in_one_job_and_deploys() {
    let path = workspace_root().join(".github/workflows/manifests.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    for needle in [
        "schedule:",
        "gik build --quiet --product gefs --latest",
        "gik build --quiet --product ecmwf --latest",
        "s3://$GIK_BUCKET/$GIK_PREFIX",
        "secrets.AWS_ACCESS_KEY_ID",
        "secrets.AWS_SECRET_ACCESS_KEY",
        "scripts/build-app.sh",
        "actions/deploy-pages",
        "group: manifests",
        "--subset east-africa",
    ] {
        assert!(text.contains(needle), "manifests.yml lacks {needle:?}");
    }
    // Every product publishes the East Africa subset with its run.
    assert_eq!(
        text.matches("\\\n            --subset east-africa").count(),
        2
    );
    // Catalog updates are read-modify-write: the two builds must not run in parallel jobs.
    assert!(
        !text.contains("matrix:"),
        "one job per product would race on catalog.json"
    );
}
