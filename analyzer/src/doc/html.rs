//! A [`Doc`] as one self-contained HTML page: inline CSS, inline SVG, the
//! flame graph's own inline script pinned by hash, and a
//! Content-Security-Policy that forbids every fetch, so opening the file
//! never touches the network.
//!
//! Every piece of the page is an [`Html`] value, which can only be made
//! from escaped text, markup written in this source, or an SVG that
//! [`vet_svg`] parsed and found free of scripts, handlers and links.

use super::{Align, Block, Cell, Doc, Fact, Flame, Inline, Table};
use crate::escape::Html;

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

/// The head of a page: its title, a subtitle line and links to its sections.
pub struct Page<'a> {
    pub title: &'a str,
    pub subtitle: &'a str,
    /// Section anchors and their names.
    pub nav: &'a [(&'static str, &'static str)],
}

/// The whole page. The one script it may hold is the flame graph's.
pub fn page(p: &Page, doc: &Doc) -> String {
    let script = find_script(&doc.blocks).unwrap_or("");
    let mut s = Html::fill(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{}</style></head><body>\n",
        // The policy is made here of fixed words and a Base64 hash.
        &[&Html::vetted(csp(script)), &p.title, &Html::trusted(CSS)],
    );
    s.push(Html::fill(
        "<h1>{}</h1><p class=\"sub\">{}</p>\n",
        &[&p.title, &p.subtitle],
    ));
    if !p.nav.is_empty() {
        s.push_trusted("<nav>");
        for (id, name) in p.nav {
            s.push(Html::fill("<a href=\"#{}\">{}</a>", &[id, name]));
        }
        s.push_trusted("</nav>\n");
    }
    s.push(render(doc));
    s.push_trusted("</body></html>\n");
    s.into_string()
}

fn find_script(blocks: &[Block]) -> Option<&str> {
    blocks.iter().find_map(|b| match b {
        Block::Flame(f) if !f.script.is_empty() => Some(f.script.as_str()),
        Block::Section(s) => find_script(&s.blocks),
        _ => None,
    })
}

/// The blocks of a document, as HTML.
pub fn render(doc: &Doc) -> Html {
    let mut s = Html::default();
    blocks(&mut s, &doc.blocks);
    s
}

fn blocks(s: &mut Html, list: &[Block]) {
    for b in list {
        block(s, b);
    }
}

fn block(s: &mut Html, b: &Block) {
    match b {
        Block::Section(sec) => {
            s.push(Html::fill(
                "<section id=\"{}\"><h2>{}</h2>\n",
                &[&sec.id, &sec.title],
            ));
            blocks(s, &sec.blocks);
            s.push_trusted("</section>\n");
        }
        Block::Heading(h) => s.push(Html::fill("<h3>{}</h3>\n", &[h])),
        Block::Para(parts) => s.push(Html::fill("<p>{}</p>\n", &[&inline(parts)])),
        Block::Verdict(v) => s.push(Html::fill("<p class=\"verdict\">{}</p>\n", &[v])),
        Block::Missing(why) => s.push(Html::fill("<p class=\"missing\">{}</p>\n", &[why])),
        Block::Facts(f) => facts(s, f),
        Block::Table(t) => table(s, t),
        Block::List { numbered, items } => {
            s.push_trusted(if *numbered {
                "<ol class=\"stacks\">"
            } else {
                "<ul>"
            });
            for item in items {
                s.push(Html::fill("<li>{}</li>", &[&inline(item)]));
            }
            s.push_trusted(if *numbered { "</ol>\n" } else { "</ul>\n" });
        }
        Block::Chart(c) => {
            s.push(Html::fill("<h3>Timeline: {}</h3>\n", &[&c.title]));
            s.push(c.svg());
            s.push_trusted("\n");
        }
        Block::Flame(f) => flame(s, f),
        Block::Timeline(t) => {
            s.push(t.svg());
            s.push_trusted("\n");
        }
    }
}

fn inline(parts: &[Inline]) -> Html {
    let mut h = Html::default();
    for p in parts {
        match p {
            Inline::Text(t) => h.push_text(t),
            Inline::Code(c) => h.push(Html::fill("<code>{}</code>", &[c])),
            Inline::Strong(t) => h.push(Html::fill("<b>{}</b>", &[t])),
        }
    }
    h
}

fn value(c: &Cell) -> Html {
    let v = if c.code {
        Html::fill("<code>{}</code>", &[&c.text])
    } else {
        Html::text(&c.text)
    };
    if c.alarm {
        Html::fill("<span class=\"bad\">{}</span>", &[&v])
    } else {
        v
    }
}

fn facts(s: &mut Html, facts: &[Fact]) {
    s.push_trusted("<table>");
    for f in facts {
        s.push(Html::fill(
            "<tr><th>{}</th><td>{}</td></tr>",
            &[&f.label, &value(&f.value)],
        ));
    }
    s.push_trusted("</table>\n");
}

fn table(s: &mut Html, t: &Table) {
    s.push_trusted("<table><tr>");
    for c in &t.columns {
        s.push(Html::fill("<th>{}</th>", &[&c.title]));
    }
    s.push_trusted("</tr>");
    for r in &t.rows {
        s.push_trusted("<tr>");
        for (i, c) in r.iter().enumerate() {
            let right = t.columns.get(i).is_some_and(|c| c.align == Align::Right);
            let open = match (c.code, right) {
                (true, _) => "<td class=\"mono\">",
                (false, true) => "<td class=\"n\">",
                (false, false) => "<td>",
            };
            s.push_trusted(open);
            // A code cell is already monospace.
            let inner = if c.code {
                Cell {
                    code: false,
                    ..c.clone()
                }
            } else {
                c.clone()
            };
            s.push(value(&inner));
            s.push_trusted("</td>");
        }
        s.push_trusted("</tr>");
    }
    s.push_trusted("</table>\n");
}

fn flame(s: &mut Html, f: &Flame) {
    if !f.svg.is_empty() {
        s.push(Html::fill("<div class=\"flame\">{}</div>\n", &[&f.svg]));
    }
    if !f.script.is_empty() {
        // The script is inferno's (vetted by `script`), never the capture's.
        s.push(Html::fill(
            "<script>{}</script>\n",
            &[&Html::vetted(f.script.clone())],
        ));
    }
}

/// A flame graph script for a `<script>` element: refused if it could end
/// the element early.
pub fn script(js: &str) -> Option<String> {
    (!js.to_ascii_lowercase().contains("</script")).then(|| js.to_string())
}

/// The elements an inline SVG may hold: shapes, text and styling; no
/// `script`, `foreignObject`, `a`, `use`, `image`, `iframe`, animation.
const SVG_ELEMENTS: &[&str] = &[
    "svg",
    "g",
    "rect",
    "line",
    "polyline",
    "path",
    "text",
    "tspan",
    "title",
    "desc",
    "defs",
    "linearGradient",
    "stop",
    "style",
];

/// An SVG made by another program (inferno's flame graph) for inline use:
/// it must parse as XML and hold only [`SVG_ELEMENTS`], no event handler
/// (`on…`), no link or reference attribute (`href`, `src`), and no
/// namespace other than SVG's. What it says about the capture is then text,
/// which cannot run or fetch.
pub fn vet_svg(svg: &str) -> Result<Html, String> {
    let doc = roxmltree::Document::parse(svg).map_err(|e| format!("not well-formed XML: {e}"))?;
    for n in doc.descendants().filter(|n| n.is_element()) {
        let tag = n.tag_name();
        if tag
            .namespace()
            .is_some_and(|ns| ns != "http://www.w3.org/2000/svg")
            || !SVG_ELEMENTS.contains(&tag.name())
        {
            return Err(format!("element <{}> is not allowed", tag.name()));
        }
        for a in n.attributes() {
            let name = a.name().to_ascii_lowercase();
            if name.starts_with("on") || name.contains("href") || name == "src" {
                return Err(format!("attribute {} is not allowed", a.name()));
            }
        }
        if tag.name() == "style" && n.text().unwrap_or("").contains('<') {
            return Err("a style holds markup".into());
        }
    }
    Ok(Html::vetted(svg.to_string()))
}

#[cfg(test)]
mod tests {
    use super::super::*;
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
        assert_eq!(script("a</SCRIPT>"), None);
    }

    #[test]
    fn svgs_with_scripts_handlers_or_links_are_refused() {
        assert!(vet_svg(
            r#"<svg xmlns="http://www.w3.org/2000/svg"><g><text>&lt;script&gt;</text></g></svg>"#
        )
        .is_ok());
        for bad in [
            r#"<svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>"#,
            r#"<svg xmlns="http://www.w3.org/2000/svg" onload="x()"/>"#,
            r#"<svg xmlns="http://www.w3.org/2000/svg"><a href="javascript:x()"><text>a</text></a></svg>"#,
            r#"<svg xmlns="http://www.w3.org/2000/svg"><rect xmlns:l="http://www.w3.org/1999/xlink" l:href="x"/></svg>"#,
            r#"<svg xmlns="http://www.w3.org/2000/svg"><foreignObject/></svg>"#,
            r#"<svg><text>unclosed</svg>"#,
        ] {
            assert!(vet_svg(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_string_is_escaped() {
        let mut d = Doc::new();
        d.push(Section {
            id: "x",
            title: "<t>".into(),
            blocks: vec![
                Block::Verdict("<script>".into()),
                vec![Fact::new("f", Cell::code("<i>").alarm(true))].into(),
                Block::List {
                    numbered: false,
                    items: vec![vec![Inline::Code("<b>".into()), t("\"'&")]],
                },
            ],
        });
        let mut tab = Table::new(vec![col("name"), num("n")]);
        tab.row(vec![Cell::code("<a>"), 5u64.into()]);
        d.push(tab);
        assert_eq!(
            render(&d).as_str(),
            "<section id=\"x\"><h2>&lt;t&gt;</h2>\n<p class=\"verdict\">&lt;script&gt;</p>\n\
             <table><tr><th>f</th><td><span class=\"bad\"><code>&lt;i&gt;</code></span></td></tr></table>\n\
             <ul><li><code>&lt;b&gt;</code>&quot;&#39;&amp;</li></ul>\n</section>\n\
             <table><tr><th>name</th><th>n</th></tr><tr><td class=\"mono\">&lt;a&gt;</td><td class=\"n\">5</td></tr></table>\n"
        );
    }
}
