//! The cost of reading mapped files through a reader process
//! (`host::reader`) against reading them on the calling thread (as the
//! agent did before), the same files in the same run, interleaved.
//!
//!     cargo run -p holter-agent --example reader_bench -- ROUNDS FILE...
//!
//! Prints, per way, the median time of one round (every file read whole
//! once) and the ratio. The reader process is started once, before the
//! rounds (as in the agent: one per reading thread, kept); its start is
//! timed apart.

#[cfg(target_os = "linux")]
fn main() {
    use std::sync::Arc;
    use std::time::Instant;

    use holter_agent::host::open::Root;
    use holter_agent::host::reader;
    use holter_agent::symbols::files::{self, Locator};

    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(20);
    let paths: Vec<String> = args.collect();
    let root = Arc::new(Root::at(std::path::Path::new("/")).expect("/"));
    let at: Vec<Locator> = paths
        .iter()
        .map(|p| Locator {
            pid: std::process::id(),
            root: Some(root.clone()),
            path: p.clone(),
            start: 0,
            end: 0,
            map_files: false,
        })
        .collect();
    let max = 2 << 30;
    let bytes: usize = at
        .iter()
        .map(|l| {
            files::fetch_here(l, None, max)
                .expect("readable")
                .bytes
                .len()
        })
        .sum();
    // The agent binary next to this example (target/<profile>/holter-agent).
    let exe = std::env::current_exe().unwrap();
    let agent = exe.parent().unwrap().parent().unwrap().join("holter-agent");
    reader::use_processes(agent);
    let t = Instant::now();
    reader::fetch_mapped(&at[0], None, max).expect("a reader process");
    let start = t.elapsed();
    let (mut here, mut proc) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        for l in &at {
            std::hint::black_box(files::fetch_here(l, None, max).unwrap());
        }
        here.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        for l in &at {
            std::hint::black_box(reader::fetch_mapped(l, None, max).unwrap());
        }
        proc.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (h, p) = (median(&mut here), median(&mut proc));
    println!(
        "{} files, {:.1} MiB per round, {rounds} rounds; reader process started in {:.2} ms",
        at.len(),
        bytes as f64 / (1 << 20) as f64,
        start.as_secs_f64() * 1e3
    );
    println!("on the thread    {h:8.2} ms/round");
    println!("reader process   {p:8.2} ms/round   ratio {:.2}x", p / h);
    reader::shutdown(std::time::Duration::from_millis(100));
}

#[cfg(not(target_os = "linux"))]
fn main() {}
