//! Debug files from debuginfod servers (`DEBUGINFOD_URLS`): `GET
//! URL/buildid/HEX/debuginfo`, kept in a cache directory (the user's cache
//! directory, `holter/debuginfod/HEX.debug`) so a build-id is fetched once.
//!
//! The response is untrusted input: at most [`Limits::max_file`] bytes are
//! read, within [`Limits::per_request`] and [`Limits::total`] of network
//! time for the whole run, written under a temporary name and kept only when
//! it is an ELF file carrying the build-id asked for. The cache is trimmed to
//! [`Limits::max_cache`] bytes, oldest files first, after each download.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::debuginfo::{elf_build_id, hex};

/// Bounds on what debuginfod may cost.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest debug file accepted (`DEBUGINFOD_MAXSIZE`, bytes; default 1 GiB).
    pub max_file: u64,
    /// Time for one request (`DEBUGINFOD_TIMEOUT`, seconds; default 30 s).
    pub per_request: Duration,
    /// Network time for all requests of one run (default 120 s).
    pub total: Duration,
    /// Size the cache directory is trimmed to (default 4 GiB).
    pub max_cache: u64,
}

impl Limits {
    pub fn from_env() -> Limits {
        let num = |k: &str| std::env::var(k).ok()?.trim().parse::<u64>().ok();
        Limits {
            max_file: num("DEBUGINFOD_MAXSIZE")
                .filter(|&n| n > 0)
                .unwrap_or(1 << 30),
            per_request: Duration::from_secs(
                num("DEBUGINFOD_TIMEOUT").filter(|&n| n > 0).unwrap_or(30),
            ),
            total: Duration::from_secs(120),
            max_cache: 4 << 30,
        }
    }
}

#[derive(Debug)]
pub struct Debuginfod {
    urls: Vec<String>,
    cache: Option<PathBuf>,
    limits: Limits,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Build-ids no server had, this run.
    missed: std::collections::HashSet<Vec<u8>>,
    /// Network time spent so far.
    spent: Duration,
    /// What went wrong, once per kind (shown as warnings).
    errors: Vec<String>,
}

/// The user's cache directory for debuginfod files.
pub fn default_cache() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("HOLTER_DEBUGINFOD_CACHE") {
        return Some(PathBuf::from(d));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("holter").join("debuginfod"))
}

impl Debuginfod {
    pub fn new(urls: Vec<String>, cache: Option<PathBuf>) -> Debuginfod {
        Debuginfod::with_limits(urls, cache, Limits::from_env())
    }

    pub fn with_limits(urls: Vec<String>, cache: Option<PathBuf>, limits: Limits) -> Debuginfod {
        Debuginfod {
            urls: urls
                .into_iter()
                .map(|u| u.trim_end_matches('/').to_string())
                .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
                .collect(),
            cache: cache.or_else(default_cache),
            limits,
            state: Mutex::new(State::default()),
        }
    }

    /// What went wrong while fetching (one line per problem).
    pub fn errors(&self) -> Vec<String> {
        self.state
            .lock()
            .map(|s| s.errors.clone())
            .unwrap_or_default()
    }

    /// The cached or fetched debug file for a build-id.
    pub fn find(&self, build_id: &[u8]) -> Option<PathBuf> {
        if build_id.is_empty() || build_id.len() > 64 {
            return None;
        }
        let h = hex(build_id);
        let cache = self.cache.as_ref()?;
        let path = cache.join(format!("{h}.debug"));
        if path.is_file() && elf_build_id(&path).as_deref() == Some(build_id) {
            return Some(path);
        }
        if self.state.lock().ok()?.missed.contains(build_id) {
            return None;
        }
        for url in &self.urls {
            match self.fetch(&format!("{url}/buildid/{h}/debuginfo"), cache, &h) {
                Ok(tmp) => {
                    if elf_build_id(&tmp).as_deref() == Some(build_id)
                        && std::fs::rename(&tmp, &path).is_ok()
                    {
                        trim_cache(cache, self.limits.max_cache, &path);
                        return Some(path);
                    }
                    let _ = std::fs::remove_file(&tmp);
                    self.note(format!(
                        "debuginfod {url}: the file sent for build-id {h} is not an ELF file with that build-id; ignored"
                    ));
                }
                Err(Fetch::NotFound) => {}
                Err(Fetch::Failed(e)) => self.note(format!("debuginfod {url}: {e}")),
            }
        }
        if let Ok(mut s) = self.state.lock() {
            s.missed.insert(build_id.to_vec());
        }
        None
    }

    fn note(&self, e: String) {
        if let Ok(mut s) = self.state.lock() {
            if !s.errors.contains(&e) && s.errors.len() < 20 {
                s.errors.push(e);
            }
        }
    }

    /// Downloads `url` into a temporary file of `cache`, within the limits.
    fn fetch(&self, url: &str, cache: &Path, hex: &str) -> Result<PathBuf, Fetch> {
        let left = {
            let s = self.state.lock().map_err(|_| Fetch::NotFound)?;
            self.limits.total.saturating_sub(s.spent)
        };
        if left.is_zero() {
            return Err(Fetch::Failed(format!(
                "no more queries: the {} s allowed for debuginfod in one run are spent",
                self.limits.total.as_secs()
            )));
        }
        let started = Instant::now();
        let result = self.download(url, cache, hex, left.min(self.limits.per_request));
        if let Ok(mut s) = self.state.lock() {
            s.spent += started.elapsed();
        }
        result
    }

    fn download(
        &self,
        url: &str,
        cache: &Path,
        hex: &str,
        time: Duration,
    ) -> Result<PathBuf, Fetch> {
        let agent = ureq::AgentBuilder::new()
            .timeout(time)
            .redirects(4)
            .user_agent(concat!("holter/", env!("CARGO_PKG_VERSION")))
            .build();
        let resp = match agent.get(url).call() {
            Ok(r) => r,
            Err(ureq::Error::Status(404, _)) => return Err(Fetch::NotFound),
            Err(ureq::Error::Status(code, _)) => {
                return Err(Fetch::Failed(format!("HTTP status {code} for {url}")))
            }
            Err(e) => return Err(Fetch::Failed(e.to_string())),
        };
        let max = self.limits.max_file;
        if let Some(len) = resp
            .header("Content-Length")
            .and_then(|l| l.trim().parse::<u64>().ok())
        {
            if len > max {
                return Err(Fetch::Failed(format!(
                    "{url}: {len} bytes, more than the {max} allowed (DEBUGINFOD_MAXSIZE)"
                )));
            }
        }
        std::fs::create_dir_all(cache)
            .map_err(|e| Fetch::Failed(format!("{}: {e}", cache.display())))?;
        let tmp = cache.join(format!(".{hex}.{}.part", std::process::id()));
        let result = (|| -> Result<(), String> {
            let mut out = std::fs::File::create(&tmp).map_err(|e| e.to_string())?;
            let mut body = resp.into_reader().take(max + 1);
            let n = std::io::copy(&mut body, &mut out).map_err(|e| e.to_string())?;
            if n > max {
                return Err(format!(
                    "{url}: more than the {max} bytes allowed (DEBUGINFOD_MAXSIZE)"
                ));
            }
            out.flush().map_err(|e| e.to_string())
        })();
        match result {
            Ok(()) => Ok(tmp),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(Fetch::Failed(e))
            }
        }
    }
}

enum Fetch {
    NotFound,
    Failed(String),
}

/// Removes the oldest `*.debug` files of `dir` until it holds at most
/// `max` bytes (never `keep`, the file just fetched).
fn trim_cache(dir: &Path, max: u64, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, u64, PathBuf)> = entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "debug"))
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            if !m.is_file() {
                return None;
            }
            Some((m.modified().ok()?, m.len(), e.path()))
        })
        .collect();
    let mut total: u64 = files.iter().map(|f| f.1).sum();
    files.sort();
    for (_, len, path) in files {
        if total <= max {
            break;
        }
        if path != keep && std::fs::remove_file(&path).is_ok() {
            total -= len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead as _;
    use std::net::TcpListener;

    /// A one-shot HTTP server answering every request with `body` (status 200)
    /// or 404, counting requests.
    fn serve(answers: Vec<Option<Vec<u8>>>) -> (String, std::thread::JoinHandle<Vec<String>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let h = std::thread::spawn(move || {
            let mut asked = Vec::new();
            for answer in answers {
                let (mut s, _) = l.accept().unwrap();
                let mut r = std::io::BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                asked.push(line.split(' ').nth(1).unwrap_or("").to_string());
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap() <= 2 {
                        break;
                    }
                }
                let resp = match answer {
                    Some(b) => {
                        let mut v = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            b.len()
                        )
                        .into_bytes();
                        v.extend(b);
                        v
                    }
                    None => {
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_vec()
                    }
                };
                let _ = s.write_all(&resp);
            }
            asked
        });
        (url, h)
    }

    fn this_exe() -> (Vec<u8>, Vec<u8>) {
        let data = std::fs::read("/proc/self/exe").unwrap();
        let id = elf_build_id(Path::new("/proc/self/exe")).expect("a build-id");
        (data, id)
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn fetches_once_then_reads_the_cache() {
        let (data, id) = this_exe();
        let (url, server) = serve(vec![Some(data)]);
        let cache = tempfile::tempdir().unwrap();
        let d = Debuginfod::new(vec![url], Some(cache.path().to_path_buf()));
        let got = d.find(&id).expect("fetched");
        assert_eq!(got, cache.path().join(format!("{}.debug", hex(&id))));
        assert_eq!(d.find(&id), Some(got), "from the cache: no second request");
        let asked = server.join().unwrap();
        assert_eq!(asked, [format!("/buildid/{}/debuginfo", hex(&id))]);
        assert!(d.errors().is_empty(), "{:?}", d.errors());
    }

    /// A wrong file (another build-id, not ELF, too large) is never kept;
    /// a 404 is remembered for the run.
    #[test]
    #[cfg(target_os = "linux")]
    fn untrusted_answers_are_refused() {
        let (data, id) = this_exe();
        let other = vec![0xabu8; 20];
        let (url, server) = serve(vec![Some(data.clone()), Some(b"<html>".to_vec()), None]);
        let cache = tempfile::tempdir().unwrap();
        let d = Debuginfod::new(vec![url], Some(cache.path().to_path_buf()));
        assert_eq!(d.find(&other), None, "this exe has another build-id");
        assert_eq!(d.find(&[0xcd; 20]), None, "not ELF");
        assert_eq!(d.find(&[0xef; 20]), None, "404");
        assert_eq!(d.find(&[0xef; 20]), None, "404 remembered: no 4th request");
        server.join().unwrap();
        let left: Vec<_> = std::fs::read_dir(cache.path()).unwrap().flatten().collect();
        assert!(left.is_empty(), "nothing kept: {left:?}");
        assert_eq!(d.errors().len(), 2, "{:?}", d.errors());
        // Larger than allowed: refused, nothing kept.
        let (url, server) = serve(vec![Some(data)]);
        let d = Debuginfod::with_limits(
            vec![url],
            Some(cache.path().to_path_buf()),
            Limits {
                max_file: 1000,
                ..Limits::from_env()
            },
        );
        assert_eq!(d.find(&id), None);
        server.join().unwrap();
        assert!(d.errors()[0].contains("allowed"), "{:?}", d.errors());
        assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 0);
    }

    #[test]
    fn the_cache_is_trimmed_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        for (i, name) in ["a.debug", "b.debug", "c.debug"].iter().enumerate() {
            let p = dir.path().join(name);
            std::fs::write(&p, vec![0u8; 100]).unwrap();
            let t = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1000 + i as u64);
            std::fs::File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(t)
                .unwrap();
        }
        trim_cache(dir.path(), 200, &dir.path().join("a.debug"));
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["a.debug", "c.debug"]);
    }
}
