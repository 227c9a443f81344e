//! Mapped files read away from the sampler's thread.
//!
//! Opening and reading a mapped file is blocking I/O on a file system the
//! container may control (FUSE, NFS): an `open` or a page of a `read` can
//! take seconds or never return. The sampler only *asks* here, through a
//! bounded queue that it never waits on, and takes the answers that are
//! ready at each round. Reader threads do the opening, reading and parsing
//! ([`files::read_any`]). A request unanswered after [`SLOW`] is reported
//! once ([`Loader::slow`]), and while every reader is held by such a file
//! another one is started, up to [`MAX_READERS`], so one hung file does not
//! hold the symbols of all the others. A reader held forever is left behind.

use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::files::{self, FileKey, Locator, Read};

/// Requests waiting for a reader: beyond this, the sampler asks again later.
pub const QUEUE: usize = 64;
/// A read unanswered this long is reported, and another reader may start.
pub const SLOW: Duration = Duration::from_secs(2);
/// The most reader threads (the ones held by a hung file included).
pub const MAX_READERS: usize = 4;

/// How a file is read: [`files::read_any`], or a stand-in in tests.
pub type ReadFn = Arc<dyn Fn(&FileKey, &[Locator], bool) -> Read + Send + Sync>;

struct Request {
    key: FileKey,
    at: Vec<Locator>,
    want_unwind: bool,
}

/// One file asked for and not answered yet.
struct InFlight {
    path: String,
    /// When a reader took it (not the time it waited in the queue).
    since: Option<Instant>,
    reported: bool,
}

/// What a reader tells: it took a request, or its answer.
enum Msg {
    Started(FileKey, Instant),
    Done(FileKey, Box<Read>),
}

pub struct Loader {
    ask: SyncSender<Request>,
    requests: Arc<Mutex<Receiver<Request>>>,
    answer: Sender<Msg>,
    answers: Receiver<Msg>,
    read: ReadFn,
    readers: usize,
    in_flight: HashMap<FileKey, InFlight>,
    /// Answers received and not taken yet.
    ready: Vec<(FileKey, Read)>,
}

impl Default for Loader {
    fn default() -> Self {
        Loader::new(Arc::new(files::read_any))
    }
}

impl Loader {
    /// A loader whose readers call `read` (threads start when first asked).
    pub fn new(read: ReadFn) -> Loader {
        let (ask, requests) = mpsc::sync_channel(QUEUE);
        let (answer, answers) = mpsc::channel();
        Loader {
            ask,
            requests: Arc::new(Mutex::new(requests)),
            answer,
            answers,
            read,
            readers: 0,
            in_flight: HashMap::new(),
            ready: Vec::new(),
        }
    }

    /// Asks for `key` to be read from `at`; never waits. False when the
    /// queue is full or no reader can run (ask again later); true when
    /// asked now or already asked and not answered.
    pub fn ask(&mut self, key: &FileKey, at: Vec<Locator>, want_unwind: bool) -> bool {
        if self.in_flight.contains_key(key) {
            return true;
        }
        if self.readers == 0 && !self.start_reader() {
            return false;
        }
        let path = at.first().map_or_else(String::new, |l| l.path.clone());
        match self.ask.try_send(Request {
            key: key.clone(),
            at,
            want_unwind,
        }) {
            Ok(()) => {
                self.in_flight.insert(
                    key.clone(),
                    InFlight {
                        path,
                        since: None,
                        reported: false,
                    },
                );
                true
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        }
    }

    /// Whether `key` was asked for and not answered yet.
    pub fn in_flight(&self, key: &FileKey) -> bool {
        self.in_flight.contains_key(key)
    }

    /// Number of files asked for and not answered yet.
    pub fn pending(&self) -> usize {
        self.in_flight.len()
    }

    fn note(&mut self, msg: Msg) {
        match msg {
            Msg::Started(key, at) => {
                if let Some(f) = self.in_flight.get_mut(&key) {
                    f.since = Some(at);
                }
            }
            Msg::Done(key, read) => {
                self.in_flight.remove(&key);
                self.ready.push((key, *read));
            }
        }
    }

    /// The answers ready now.
    pub fn take(&mut self) -> Vec<(FileKey, Read)> {
        while let Ok(m) = self.answers.try_recv() {
            self.note(m);
        }
        std::mem::take(&mut self.ready)
    }

    /// Waits for the answers until none is missing or `deadline` passes.
    pub fn wait(&mut self, deadline: Instant) -> Vec<(FileKey, Read)> {
        while !self.in_flight.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.answers.recv_timeout(left) {
                Ok(m) => self.note(m),
                Err(_) => break,
            }
        }
        self.take()
    }

    /// The paths of the files a reader has been on for more than [`SLOW`]
    /// (not counting the wait in the queue), each reported once, with how
    /// long they have taken so far. While as many files are that slow as
    /// there are readers, another reader starts (at most [`MAX_READERS`]).
    /// Answers that came meanwhile are kept for [`Loader::take`].
    pub fn slow(&mut self, now: Instant) -> Vec<(String, Duration)> {
        while let Ok(m) = self.answers.try_recv() {
            self.note(m);
        }
        let mut out = Vec::new();
        let mut stuck = 0;
        for f in self.in_flight.values_mut() {
            let Some(since) = f.since else {
                continue;
            };
            let took = now.saturating_duration_since(since);
            if took >= SLOW {
                stuck += 1;
                if !f.reported {
                    f.reported = true;
                    out.push((f.path.clone(), took));
                }
            }
        }
        if stuck >= self.readers && self.readers < MAX_READERS {
            self.start_reader();
        }
        out.sort();
        out
    }

    /// The paths of the files still unanswered.
    pub fn unanswered(&self) -> Vec<String> {
        let mut v: Vec<String> = self.in_flight.values().map(|f| f.path.clone()).collect();
        v.sort();
        v
    }

    fn start_reader(&mut self) -> bool {
        let requests = self.requests.clone();
        let answer = self.answer.clone();
        let read = self.read.clone();
        let spawned = std::thread::Builder::new()
            .name("holter-files".into())
            .spawn(move || loop {
                let next = match requests.lock() {
                    Ok(r) => r.recv(),
                    Err(_) => return,
                };
                let Ok(req) = next else {
                    return;
                };
                if answer
                    .send(Msg::Started(req.key.clone(), Instant::now()))
                    .is_err()
                {
                    return;
                }
                let read = read(&req.key, &req.at, req.want_unwind);
                if answer.send(Msg::Done(req.key, Box::new(read))).is_err() {
                    return;
                }
            });
        if spawned.is_ok() {
            self.readers += 1;
        }
        spawned.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::symbols::files::Failure;
    use holter_format::BinarySymbols;

    fn locator(path: &str) -> Vec<Locator> {
        vec![Locator {
            pid: 1,
            root: None,
            path: path.into(),
            start: 0,
            end: 0,
            map_files: false,
        }]
    }

    /// A reader that hangs on `/slow/*` until released, and answers the rest at once.
    fn hanging(release: Arc<(Mutex<bool>, std::sync::Condvar)>) -> ReadFn {
        Arc::new(move |_key, at, _| {
            if at[0].path.starts_with("/slow/") {
                let (lock, cv) = &*release;
                let mut go = lock.lock().unwrap();
                while !*go {
                    go = cv.wait(go).unwrap();
                }
                return Err(Failure::Unreachable("released".into()));
            }
            Ok((
                BinarySymbols {
                    build_id: Vec::new(),
                    path: at[0].path.clone(),
                    segments: Vec::new(),
                    symbols: Vec::new(),
                    unnamed: Vec::new(),
                },
                None,
            ))
        })
    }

    /// Asking never waits for a hung read; a hung file is reported once
    /// after SLOW, and another reader answers the files behind it.
    #[test]
    fn a_hung_file_holds_neither_the_caller_nor_the_other_files() {
        let release = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let mut l = Loader::new(hanging(release.clone()));
        let slow = FileKey::Path(1, "/slow/lib.so".into());
        let t = Instant::now();
        assert!(l.ask(&slow, locator("/slow/lib.so"), false));
        // The queue is bounded: asking more than it holds is refused, not waited on.
        let mut refused = 0;
        for i in 0..QUEUE + 8 {
            let key = FileKey::Path(1, format!("/fast/{i}"));
            if !l.ask(&key, locator(&format!("/fast/{i}")), false) {
                refused += 1;
            }
        }
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "{:?}",
            t.elapsed()
        );
        assert!(l.in_flight(&slow));
        std::thread::sleep(Duration::from_millis(100)); // the reader takes it
                                                        // Not slow yet: nothing reported, no second reader.
        assert!(l.slow(Instant::now()).is_empty());
        let later = Instant::now() + SLOW;
        assert_eq!(
            l.slow(later)
                .into_iter()
                .map(|(p, _)| p)
                .collect::<Vec<_>>(),
            ["/slow/lib.so"]
        );
        assert!(l.slow(later).is_empty(), "reported once");
        // The second reader answers the fast files while the first is held.
        let mut answered = Vec::new();
        let t = Instant::now();
        while answered.len() + refused < QUEUE + 8 && t.elapsed() < Duration::from_secs(10) {
            answered.extend(l.take());
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(answered.iter().all(|(k, r)| k != &slow && r.is_ok()));
        assert_eq!(
            answered.len() + refused,
            QUEUE + 8,
            "every fast file asked was answered"
        );
        assert_eq!(l.unanswered(), ["/slow/lib.so"]);
        *release.0.lock().unwrap() = true;
        release.1.notify_all();
        let last = l.wait(Instant::now() + Duration::from_secs(10));
        assert_eq!(last.len(), 1);
        assert_eq!(l.pending(), 0);
    }
}
