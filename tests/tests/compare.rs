//! Comparing captures end to end: tests/workloads/shift.c run twice, once
//! hot in `alpha` and once hot in `omega` (both 4/5 of the work, `common`
//! the other 1/5), each recorded live by `holter-agent record -- CMD`; the
//! differential flame graph and `holter compare` must put the move from
//! `alpha` to `omega` first.

use std::path::Path;

use holter_e2e::*;

/// Records `shift MODE 1.5` launched by the agent.
fn record_shift(w: &Workload, mode: &str, file: &Path) {
    ok_stdout(
        "holter-agent record",
        &agent(&[
            "record",
            "--frequency",
            "499",
            "-o",
            file.to_str().unwrap(),
            "--",
            w.path.to_str().unwrap(),
            mode,
            "1.5",
        ]),
    );
}

/// Two live captures: hot in `alpha`, then hot in `omega`.
fn two_captures(dir: &Path) -> (String, String) {
    let w = compile_workload("shift");
    let base = dir.join("alpha.holter");
    let new = dir.join("omega.holter");
    record_shift(&w, "alpha", &base);
    record_shift(&w, "omega", &new);
    (
        base.to_str().unwrap().to_string(),
        new.to_str().unwrap().to_string(),
    )
}

/// Samples of the folded lines whose leaf is `f`: (base, new).
fn leaf_counts(folded: &str, f: &str) -> (u64, u64) {
    folded
        .lines()
        .filter_map(|l| {
            let mut it = l.rsplitn(3, ' ');
            let (n, b, stack) = (it.next()?, it.next()?, it.next()?);
            if stack.rsplit(';').next()? != f {
                return None;
            }
            Some((b.parse::<u64>().ok()?, n.parse::<u64>().ok()?))
        })
        .fold((0, 0), |a, (b, n)| (a.0 + b, a.1 + n))
}

#[test]
fn the_hot_function_that_moved_is_the_top_difference() {
    if !require_privileged("the_hot_function_that_moved_is_the_top_difference") {
        return;
    }
    let dir = scratch("compare");
    let (base, new) = two_captures(dir.path());

    // The folded difference: base scaled to new's total; alpha's samples
    // went, omega's came; the biggest line change is one of theirs.
    let o = holter(&["flamegraph", "--diff", &base, &new, "--folded"]);
    let folded = ok_stdout("holter flamegraph --diff --folded", &o);
    let err = String::from_utf8_lossy(&o.stderr);
    eprintln!("{err}");
    let (total_b, total_n) = folded
        .lines()
        .filter_map(|l| {
            let mut it = l.rsplitn(3, ' ');
            Some((
                it.next()?.parse::<u64>().ok()?,
                it.next()?.parse::<u64>().ok()?,
            ))
        })
        .fold((0u64, 0u64), |a, (n, b)| (a.0 + b, a.1 + n));
    assert!(total_n >= 200, "{total_n} samples in 1.5 s at 499 Hz");
    // Normalized: the base sums to the new total, less rounding down.
    assert!(
        total_b <= total_n && total_b + folded.lines().count() as u64 >= total_n,
        "base {total_b} vs new {total_n}"
    );
    let (alpha_b, alpha_n) = leaf_counts(&folded, "alpha");
    let (omega_b, omega_n) = leaf_counts(&folded, "omega");
    eprintln!("alpha {alpha_b} -> {alpha_n}, omega {omega_b} -> {omega_n} of {total_n}");
    assert_eq!((alpha_n, omega_b), (0, 0), "{folded}");
    assert!(alpha_b * 10 >= total_n * 6, "alpha {alpha_b} of {total_n}");
    assert!(omega_n * 10 >= total_n * 6, "omega {omega_n} of {total_n}");
    let biggest = folded
        .lines()
        .max_by_key(|l| {
            let mut it = l.rsplitn(3, ' ');
            let n: i64 = it.next().unwrap().parse().unwrap();
            let b: i64 = it.next().unwrap().parse().unwrap();
            (n - b).abs()
        })
        .unwrap();
    assert!(
        biggest.contains(";alpha ") || biggest.contains(";omega "),
        "{biggest}"
    );
    let changes = err
        .lines()
        .find(|l| l.contains("largest changes"))
        .unwrap_or_else(|| panic!("{err}"));
    let first_two: Vec<&str> = changes
        .split_once("(share of samples): ")
        .unwrap()
        .1
        .split(", ")
        .take(2)
        .collect();
    assert!(
        first_two
            .iter()
            .any(|c| c.contains(" pts alpha ") && c.starts_with('-'))
            && first_two
                .iter()
                .any(|c| c.contains(" pts omega ") && c.starts_with('+')),
        "{changes}"
    );

    // holter compare: the two top differences are alpha's share lost and
    // omega's gained (common's, 1/5 of the work in both, moves by sampling
    // noise only, on a loaded machine up to ~5 points).
    let j: serde_json::Value = serde_json::from_str(&ok_stdout(
        "holter compare --json",
        &holter(&["compare", &base, &new, "--json"]),
    ))
    .unwrap();
    let d = j["differences"].as_array().unwrap();
    eprintln!("differences: {d:?}");
    let mut top: Vec<&str> = d
        .iter()
        .take(2)
        .map(|x| x["what"].as_str().unwrap())
        .collect();
    top.sort_unstable();
    assert_eq!(top, ["function alpha", "function omega"], "{d:?}");
    assert_eq!(j["captures"][0]["top_functions"][0]["function"], "alpha");
    assert_eq!(j["captures"][1]["top_functions"][0]["function"], "omega");
    for c in j["captures"].as_array().unwrap() {
        assert_eq!(
            c["target"].as_str().unwrap().split(' ').next(),
            Some("command")
        );
        assert!(c["cpu_cores"].as_f64().unwrap() > 0.3, "{c}");
    }
    let text = ok_stdout("holter compare", &holter(&["compare", &base, &new]));
    let verdict = text.lines().next().unwrap();
    assert!(
        verdict.starts_with("verdict: Largest difference: function alpha")
            || verdict.starts_with("verdict: Largest difference: function omega"),
        "{text}"
    );

    // The SVG: omega in red.
    let svg_path = dir.path().join("d.svg");
    ok_stdout(
        "holter flamegraph --diff",
        &holter(&[
            "flamegraph",
            "--diff",
            &base,
            &new,
            "-o",
            svg_path.to_str().unwrap(),
        ]),
    );
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    let at = svg.find("<title>omega (").expect("omega in the SVG");
    let fill = &svg[at..][svg[at..].find("fill=\"rgb(").unwrap() + 10..];
    assert!(fill.starts_with("255,"), "omega not red: {}", &fill[..16]);
}
