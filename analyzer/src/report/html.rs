//! The report as one self-contained HTML page: inline CSS, inline SVG, the
//! flame graph's own inline script, and a Content-Security-Policy that forbids
//! every fetch, so opening the file never touches the network.

use std::fmt::Write as _;

use super::chart::{Bar, Chart};
use super::{errnos, tracing_line, utc, when, Hot, Report, Section};
use crate::cgroups::{human_bytes, memory::Memory, network::Network, throttling::Throttling};
use crate::syscalls::{human, show_ret};

const CSS: &str = "\
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1200px;padding:0 16px 40px;color:#222}
h1{font-size:22px;margin:18px 0 4px}h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:3px;margin-top:28px}
.sub{color:#666;margin:0 0 10px}nav a{margin-right:12px}
table{border-collapse:collapse;margin:6px 0 10px}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
.verdict{background:#f5f8ff;border-left:4px solid #4a7ebb;padding:6px 10px}
.bad{color:#b00020;font-weight:600}.ok{color:#1b7a1b}.missing{color:#777;font-style:italic}
ol.stacks li{margin-bottom:4px}.flame>svg{width:100%;display:block;border:1px solid #eee}
svg.chart text{font:11px sans-serif;fill:#555}svg.chart text.ax,svg.chart text.lim,svg.chart text.t1{text-anchor:end}
";

pub use crate::escape::html as esc;
use crate::escape::Html;

/// The page's Content-Security-Policy: no fetch of any kind; inline styles;
/// the one script allowed by its SHA-256 (no `'unsafe-inline'`: a script
/// or handler injected into the page would not run).
pub fn csp(script: &str) -> String {
    let scripts = if script.is_empty() {
        "'none'".to_string()
    } else {
        use sha2::Digest as _;
        format!(
            "'sha256-{}'",
            base64(&sha2::Sha256::digest(script.as_bytes()))
        )
    };
    format!("default-src 'none'; style-src 'unsafe-inline'; script-src {scripts}; img-src data:")
}

/// Standard Base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
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

pub fn render(r: &Report) -> String {
    let mut s = String::new();
    let script = r.flame.as_ref().map_or("", |f| f.script.as_str());
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{CSS}</style></head><body>\n",
        csp(script),
        esc(&r.title)
    );
    let c = r.capture;
    let _ = writeln!(
        s,
        "<h1>{}</h1><p class=\"sub\">{} · {} · {} · holter {}</p>",
        esc(&r.title),
        esc(&c.path.display().to_string()),
        esc(&utc(c.header.clock.wall_ns)),
        esc(&when(r.quality.duration_ns)),
        env!("CARGO_PKG_VERSION")
    );
    s.push_str(
        "<nav><a href=\"#target\">target</a><a href=\"#quality\">data quality</a>\
         <a href=\"#flame\">flame graph</a><a href=\"#syscalls\">syscalls</a>\
         <a href=\"#throttling\">throttling</a><a href=\"#memory\">memory</a>\
         <a href=\"#network\">network</a><a href=\"#warnings\">warnings</a></nav>\n",
    );
    target(&mut s, r);
    quality(&mut s, r);
    flame(&mut s, r);
    syscalls(&mut s, r);
    section(
        &mut s,
        "throttling",
        "CPU throttling",
        &r.throttling,
        throttling,
    );
    section(&mut s, "memory", "Memory and pressure", &r.memory, memory);
    section(&mut s, "network", "Network", &r.network, network);
    warnings(&mut s, r);
    s.push_str("</body></html>\n");
    s
}

/// A two-column table: values are [`Html`], made from escaped text or
/// trusted markup only.
fn rows(s: &mut String, rows: &[(&str, Html)]) {
    s.push_str("<table>");
    for (k, v) in rows {
        let _ = write!(s, "<tr><th>{}</th><td>{v}</td></tr>", esc(k));
    }
    s.push_str("</table>\n");
}

/// A summary table: paths as code, problems highlighted.
fn facts(s: &mut String, facts: &[super::facts::Fact]) {
    s.push_str("<table>");
    for f in facts {
        let value = if f.code {
            Html::wrap("<code>", Html::text(&f.value), "</code>")
        } else {
            Html::text(&f.value)
        };
        let value = if f.alarm {
            Html::wrap("<span class=\"bad\">", value, "</span>")
        } else {
            value
        };
        let _ = write!(s, "<tr><th>{}</th><td>{value}</td></tr>", esc(f.label));
    }
    s.push_str("</table>\n");
}

fn section<T>(s: &mut String, id: &str, title: &str, sec: &Section<T>, f: fn(&mut String, &T)) {
    let _ = writeln!(s, "<section id=\"{id}\"><h2>{title}</h2>");
    match sec {
        Ok(v) => f(s, v),
        Err(why) => missing(s, why),
    }
    s.push_str("</section>\n");
}

fn missing(s: &mut String, why: &str) {
    let _ = writeln!(s, "<p class=\"missing\">{}</p>", esc(why));
}

fn target(s: &mut String, r: &Report) {
    let h = &r.capture.header;
    let t = &h.target;
    let mut v = vec![
        ("target", Html::text(&format!("{} {}", t.kind, t.spec))),
        ("processes", Html::text(&super::processes_line(r.capture))),
    ];
    if let Some(id) = &t.container_id {
        v.push(("container", code(id)));
    }
    if !t.cgroups.is_empty() {
        v.push((
            "cgroups",
            Html::join(t.cgroups.iter().map(|c| code(c)), "<br>"),
        ));
    }
    v.push((
        "host",
        Html::text(&format!(
            "{} (Linux {}, {}, {} CPUs)",
            h.host.hostname, h.host.kernel_release, h.host.arch, h.host.cpus
        )),
    ));
    v.push(("boot id", code(&h.host.boot_id)));
    v.push(("started", Html::text(&utc(h.clock.wall_ns))));
    v.push(("agent", Html::text(&h.agent_version)));
    let o = &h.options;
    let mut rec = Vec::new();
    if o.samples {
        rec.push(format!(
            "samples ({} at {} Hz)",
            o.sample_event, o.frequency_hz
        ));
    }
    if o.syscalls {
        rec.push(match &o.syscalls_filter {
            Some(f) => format!("syscalls (filter {f})"),
            None => "syscalls".into(),
        });
    }
    rec.push(format!(
        "cgroup snapshots every {} ms",
        o.cgroup_interval_ns / 1_000_000
    ));
    if o.redact {
        rec.push("argv redacted".into());
    }
    v.push(("recorded", Html::text(&rec.join(", "))));
    s.push_str("<section id=\"target\"><h2>Target and host</h2>\n");
    rows(s, &v);
    s.push_str("</section>\n");
}

fn flag(bad: bool, text: String) -> Html {
    if bad {
        Html::wrap("<span class=\"bad\">", Html::text(&text), "</span>")
    } else {
        Html::text(&text)
    }
}

fn code(text: &str) -> Html {
    Html::wrap("<code>", Html::text(text), "</code>")
}

fn quality(s: &mut String, r: &Report) {
    let q = &r.quality;
    let status = match (&q.end_reason, q.complete) {
        (Some(reason), true) => flag(false, format!("complete, ended by {reason}")),
        _ => flag(
            true,
            "INCOMPLETE: no footer (the agent was killed or the file was cut); this shows what it holds".into(),
        ),
    };
    let seen = q.samples as f64 + q.lost_samples as f64;
    let lost_pct = if seen > 0.0 {
        q.lost_samples as f64 * 100.0 / seen
    } else {
        0.0
    };
    let mut v = vec![
        ("capture", status),
        ("duration", Html::text(&when(q.duration_ns))),
        (
            "samples",
            flag(
                lost_pct >= 1.0,
                format!(
                    "{} recorded, {} lost ({lost_pct:.1}%)",
                    q.samples, q.lost_samples
                ),
            ),
        ),
        (
            "frames symbolized",
            match q.symbolized_pct {
                Some(p) => flag(p < 80.0, format!("{p:.1}%")),
                None => Html::trusted("no samples"),
            },
        ),
        (
            "syscall tracing",
            flag(q.lost_syscalls > 0, tracing_line(q)),
        ),
        (
            "snapshots",
            Html::text(&format!(
                "{} cgroup, {} network",
                q.cgroup_snapshots, q.net_snapshots
            )),
        ),
        ("warnings", flag(q.warnings > 0, q.warnings.to_string())),
    ];
    if q.unknown_records > 0 {
        v.push((
            "newer records",
            Html::text(&format!(
                "{} records of kinds newer than this holter were skipped",
                q.unknown_records
            )),
        ));
    }
    s.push_str("<section id=\"quality\"><h2>Data quality</h2>\n");
    rows(s, &v);
    s.push_str("</section>\n");
}

fn hot_table(s: &mut String, title: &str, hot: &[Hot]) {
    let _ = write!(
        s,
        "<table><tr><th>{}</th><th>samples</th><th>%</th></tr>",
        esc(title)
    );
    for h in hot {
        let _ = write!(
            s,
            "<tr><td class=\"mono\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.1}</td></tr>",
            esc(&h.frames.join(";")),
            h.samples,
            h.pct
        );
    }
    s.push_str("</table>\n");
}

fn flame(s: &mut String, r: &Report) {
    s.push_str("<section id=\"flame\"><h2>Flame graph</h2>\n");
    match &r.flame {
        Ok(f) => {
            let _ = writeln!(
                s,
                "<p>{}. Click a frame to zoom, Ctrl-F to search.</p>",
                esc(&f.quality.line())
            );
            if !f.svg.is_empty() {
                let _ = writeln!(s, "<div class=\"flame\">{}</div>", f.svg);
            }
            if !f.script.is_empty() {
                let _ = writeln!(s, "<script>{}</script>", f.script);
            }
            s.push_str("<h3>Hottest functions (self)</h3>\n");
            hot_table(s, "function", &f.top_functions);
            s.push_str("<h3>Hottest stacks</h3>\n<ol class=\"stacks\">");
            for h in &f.top_stacks {
                let _ = write!(
                    s,
                    "<li><b>{:.1}%</b> ({} samples) <span class=\"mono\">{}</span></li>",
                    h.pct,
                    h.samples,
                    esc(&h.frames.join(" → "))
                );
            }
            s.push_str("</ol>\n");
        }
        Err(why) => missing(s, why),
    }
    s.push_str("</section>\n");
}

fn syscalls(s: &mut String, r: &Report) {
    s.push_str("<section id=\"syscalls\"><h2>Syscalls</h2>\n");
    match &r.syscalls {
        Ok(t) => {
            let _ = writeln!(s, "<p>{}.</p>", esc(&tracing_line(&r.quality)));
            s.push_str(
                "<table><tr><th>syscall</th><th>calls</th><th>errors</th><th>total</th><th>avg</th>\
                 <th>p50</th><th>p95</th><th>p99</th><th>max</th><th>errors by errno</th></tr>",
            );
            for row in &t.rows {
                let _ = write!(
                    s,
                    "<tr><td class=\"mono\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>{}<td class=\"mono\">{}</td></tr>",
                    esc(&row.name),
                    row.count,
                    flag(row.errors > 0, row.errors.to_string()),
                    [row.total_ns, row.avg_ns, row.p50_ns, row.p95_ns, row.p99_ns, row.max_ns]
                        .iter()
                        .map(|ns| format!("<td class=\"n\">{}</td>", human(*ns)))
                        .collect::<String>(),
                    esc(&errnos(&row.errnos))
                );
            }
            s.push_str("</table>\n");
            if !t.counted_only.is_empty() {
                let _ = writeln!(
                    s,
                    "<h3>Counted, not recorded (outside --syscalls-filter {})</h3>",
                    esc(t.filter.as_deref().unwrap_or(""))
                );
                s.push_str(
                    "<table><tr><th>syscall</th><th>calls</th><th>errors</th><th>total</th></tr>",
                );
                for c in &t.counted_only {
                    let _ = write!(
                        s,
                        "<tr><td class=\"mono\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                        esc(&c.name),
                        c.count,
                        c.errors,
                        human(c.total_ns)
                    );
                }
                s.push_str("</table>\n");
            }
            if !t.slowest.is_empty() {
                s.push_str(
                    "<h3>Slowest calls</h3><table><tr><th>at</th><th>pid</th><th>tid</th><th>syscall</th>\
                     <th>duration</th><th>return</th><th>summary</th></tr>",
                );
                for c in &t.slowest {
                    let _ = write!(
                        s,
                        "<tr><td class=\"n\">{:.6} s</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"mono\">{}</td>\
                         <td class=\"n\">{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td></tr>",
                        c.start_ns as f64 / 1e9,
                        c.pid,
                        c.tid,
                        esc(&c.name),
                        human(c.duration_ns),
                        esc(&show_ret(c.ret)),
                        esc(&c.summary)
                    );
                }
                s.push_str("</table>\n");
            }
        }
        Err(why) => missing(s, why),
    }
    s.push_str("</section>\n");
}

fn throttling(s: &mut String, t: &Throttling) {
    let _ = writeln!(s, "<p class=\"verdict\">{}</p>", esc(&t.verdict));
    facts(s, &super::facts::throttling(t));
    let bars: Vec<Bar> = t
        .intervals
        .iter()
        .map(|i| Bar {
            start_s: i.start_ns.saturating_sub(t.start_ns) as f64 / 1e9,
            end_s: i.end_ns.saturating_sub(t.start_ns) as f64 / 1e9,
            value: i.usage_cores,
            mark: match (i.throttled_periods, i.periods) {
                (Some(tp), Some(p)) if p > 0 => Some(tp as f64 / p as f64),
                (Some(_), Some(_)) => Some(0.0),
                _ => None,
            },
        })
        .collect();
    if !bars.is_empty() {
        s.push_str("<h3>Timeline: CPU usage (bars) and throttled periods (red strip)</h3>\n");
        s.push_str(
            &Chart {
                label: "CPU usage and throttling over time",
                bars: &bars,
                span_s: t.end_ns.saturating_sub(t.start_ns) as f64 / 1e9,
                limit: t.quota_cores,
                limit_label: "quota",
                unit: |v| format!("{v:.2} cores"),
                mark_label: Some("throttled"),
            }
            .svg(),
        );
        s.push('\n');
    }
}

fn memory(s: &mut String, m: &Memory) {
    let _ = writeln!(s, "<p class=\"verdict\">{}</p>", esc(&m.verdict));
    facts(s, &super::facts::memory(m));
    let bars: Vec<Bar> = m
        .samples
        .windows(2)
        .map(|w| Bar {
            start_s: w[0].time_ns.saturating_sub(m.start_ns) as f64 / 1e9,
            end_s: w[1].time_ns.saturating_sub(m.start_ns) as f64 / 1e9,
            value: Some(w[1].usage_bytes as f64),
            mark: None,
        })
        .collect();
    if !bars.is_empty() {
        s.push_str("<h3>Timeline: memory usage</h3>\n");
        s.push_str(
            &Chart {
                label: "memory usage over time",
                bars: &bars,
                span_s: m.end_ns.saturating_sub(m.start_ns) as f64 / 1e9,
                limit: m.limit_bytes.map(|l| l as f64),
                limit_label: "limit",
                unit: |v| human_bytes(v as u64),
                mark_label: None,
            }
            .svg(),
        );
        s.push('\n');
    }
}

fn network(s: &mut String, n: &Network) {
    let _ = writeln!(s, "<p class=\"verdict\">{}</p>", esc(&n.verdict));
    if let Some(v) = &n.container {
        facts(s, &super::facts::container(v));
    }
    let _ = writeln!(
        s,
        "<p>Over {:.2} s ({} snapshots).</p>",
        n.end_ns.saturating_sub(n.start_ns) as f64 / 1e9,
        n.snapshots
    );
    s.push_str(
        "<table><tr><th>interface</th><th>rx</th><th>tx</th><th>rx/s</th><th>tx/s</th>\
         <th>rx packets</th><th>tx packets</th><th>rx drop</th><th>tx drop</th><th>rx err</th><th>tx err</th></tr>",
    );
    for i in &n.interfaces {
        let bad = |v: u64| flag(v > 0, v.to_string());
        let _ = write!(
            s,
            "<tr><td class=\"mono\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(&i.name),
            human_bytes(i.rx_bytes),
            human_bytes(i.tx_bytes),
            human_bytes(i.rx_bytes_per_sec as u64),
            human_bytes(i.tx_bytes_per_sec as u64),
            i.rx_packets,
            i.tx_packets,
            bad(i.rx_dropped),
            bad(i.tx_dropped),
            bad(i.rx_errors),
            bad(i.tx_errors)
        );
    }
    s.push_str("</table>\n");
    facts(s, &super::facts::transport(n));
}

fn warnings(s: &mut String, r: &Report) {
    s.push_str("<section id=\"warnings\"><h2>Warnings</h2>\n");
    if r.capture.warnings.is_empty() {
        s.push_str("<p class=\"ok\">The agent and the reader raised no warning.</p>\n");
    } else {
        s.push_str("<ul>");
        for w in &r.capture.warnings {
            let _ = write!(s, "<li>{}</li>", esc(w));
        }
        s.push_str("</ul>\n");
    }
    s.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_the_script_hash() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
        // printf 'init();' | openssl dgst -sha256 -binary | base64
        assert_eq!(
            csp("init();"),
            "default-src 'none'; style-src 'unsafe-inline'; \
             script-src 'sha256-GEnM5q1nYY/iACnyMTdov+tNp9OFcBnnDgNXUXaVNXc='; img-src data:"
        );
        assert!(csp("").contains("script-src 'none'"));
        assert!(!csp("x").contains("script-src 'unsafe-inline'"));
    }
}
