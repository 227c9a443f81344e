//! `holter export --format speedscope` loaded by speedscope itself: its
//! 1.25.0 release build (fixtures/speedscope/release, from the npm package)
//! opened in headless Chromium the way speedscope's own command line opens a
//! local file (`index.html#localProfilePath=FILE.js`, FILE.js calling
//! `speedscope.loadFileFromBase64`). A broken file is the control: speedscope
//! logs that it failed and shows no profile.

use std::path::{Path, PathBuf};
use std::process::Command;

use holter_e2e::*;

fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|c| which(c));
    if found.is_none() {
        let why =
            "chromium is not installed (Debian: apt-get install chromium; scripts/deps.sh does it)";
        skip("export_browser", why);
    }
    found
}

fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len() / 3 * 4 + 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Opens speedscope on `json`: returns the page (DOM after load) and the
/// console lines.
fn speedscope(chromium: &Path, dir: &Path, json: &[u8]) -> (String, Vec<String>) {
    let release = repo_root().join("fixtures/speedscope/release");
    let page = dir.join("speedscope");
    std::fs::create_dir_all(&page).unwrap();
    for f in std::fs::read_dir(&release).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), page.join(f.file_name())).unwrap();
    }
    let js = dir.join(format!("load-{}.js", random_id()));
    std::fs::write(
        &js,
        format!(
            "speedscope.loadFileFromBase64(\"profile.speedscope.json\", \"{}\")",
            base64(json)
        ),
    )
    .unwrap();
    let profile = tempfile::tempdir_in(dir).unwrap();
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--allow-file-access-from-files",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=8000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!(
            "file://{}#localProfilePath={}",
            page.join("index.html").display(),
            js.display()
        ))
        .output()
        .expect("run chromium");
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "chromium failed ({}):\n{log}",
        out.status
    );
    let console = log
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    (String::from_utf8_lossy(&out.stdout).into_owned(), console)
}

#[test]
fn speedscope_loads_the_export() {
    let Some(chromium) = chromium() else { return };
    let dir = scratch("export-browser");
    let json = dir.path().join("calltree321.speedscope.json");
    let cap = repo_root().join("fixtures/exports/calltree321.holter");
    ok_stdout(
        "holter export",
        &holter(&[
            "export",
            cap.to_str().unwrap(),
            "--format",
            "speedscope",
            "-o",
            json.to_str().unwrap(),
        ]),
    );
    let bytes = std::fs::read(&json).unwrap();
    let (dom, console) = speedscope(&chromium, dir.path(), &bytes);
    let all = console.join("\n");
    assert!(
        all.contains("Importing as speedscope json file"),
        "speedscope's importer did not run:\n{all}"
    );
    assert!(!all.contains("Failed to load"), "{all}");
    // The page took the file's name, and shows its thread's profile.
    assert!(
        dom.contains(
            "<title>calltree321.holter (command /tmp/ex/calltree321 4) - speedscope</title>"
        ),
        "{dom}"
    );
    assert!(dom.contains("calltree321 (pid "), "{dom}");

    // The control: a file without weights is refused by the same code.
    let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    for p in v["profiles"].as_array_mut().unwrap() {
        p.as_object_mut().unwrap().remove("weights");
    }
    let (dom, console) = speedscope(&chromium, dir.path(), v.to_string().as_bytes());
    let all = console.join("\n");
    assert!(all.contains("Failed to load"), "{all}");
    assert!(!dom.contains("calltree321 (pid "), "{dom}");
}
