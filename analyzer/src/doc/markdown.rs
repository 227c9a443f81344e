//! A [`Doc`] as GitHub-flavoured Markdown, to paste into a ticket. The
//! renderer writes the markup (tables, lists, emphasis, code spans) and
//! escapes every string of the model ([`crate::escape::markdown`]): nothing
//! from a capture can become a link, an image, HTML or a table cell of its
//! own. Timelines and the flame graph are left to the HTML page.

use std::fmt::Write as _;

use super::{Align, Block, Cell, Doc, Fact, Inline, Table};

pub fn render(doc: &Doc) -> String {
    let mut s = String::new();
    blocks(&mut s, &doc.blocks);
    s
}

fn blocks(s: &mut String, list: &[Block]) {
    for b in list {
        block(s, b);
    }
}

/// Text, every markup character escaped.
pub fn text(s: &str) -> String {
    crate::escape::markdown(s)
}

/// A path or a name: a code span where nothing in it can end the span or
/// the table cell (no backtick, pipe, line break or control character; a
/// code span shows the rest literally: no markup, HTML or link), else
/// escaped text.
pub fn code(s: &str) -> String {
    let literal = !s.trim().is_empty()
        && !s.contains(['`', '|', '\n', '\r'])
        && crate::escape::terminal(s) == s;
    if literal {
        format!("`{s}`")
    } else {
        text(s)
    }
}

fn block(s: &mut String, b: &Block) {
    match b {
        Block::Section(sec) => {
            let _ = writeln!(s, "### {}\n", text(&sec.title));
            blocks(s, &sec.blocks);
        }
        Block::Heading(h) => {
            let _ = writeln!(s, "#### {}\n", text(h));
        }
        Block::Para(parts) => {
            let _ = writeln!(s, "{}\n", inline(parts));
        }
        Block::Verdict(v) => {
            let _ = writeln!(s, "> {}\n", text(v));
        }
        Block::Missing(why) => {
            let _ = writeln!(s, "_{}_\n", text(why));
        }
        Block::Facts(f) => facts(s, f),
        Block::Table(t) => table(s, t),
        Block::List { numbered, items } => {
            for (i, item) in items.iter().enumerate() {
                if *numbered {
                    let _ = writeln!(s, "{}. {}", i + 1, inline(item));
                } else {
                    let _ = writeln!(s, "- {}", inline(item));
                }
            }
            s.push('\n');
        }
        Block::Chart(_) | Block::Flame(_) | Block::Timeline(_) => {}
    }
}

fn inline(parts: &[Inline]) -> String {
    parts
        .iter()
        .map(|p| match p {
            Inline::Text(t) => text(t),
            Inline::Code(c) => code(c),
            Inline::Strong(t) => format!("**{}**", text(t)),
        })
        .collect()
}

fn cell(c: &Cell) -> String {
    let v = if c.code { code(&c.text) } else { text(&c.text) };
    if c.alarm && !v.is_empty() {
        format!("**{v}**")
    } else {
        v
    }
}

fn facts(s: &mut String, facts: &[Fact]) {
    s.push_str("| | |\n|---|---|\n");
    for f in facts {
        let _ = writeln!(s, "| {} | {} |", text(f.label), cell(&f.value));
    }
    s.push('\n');
}

fn table(s: &mut String, t: &Table) {
    let titles: Vec<String> = t.columns.iter().map(|c| text(c.title)).collect();
    let _ = writeln!(s, "| {} |", titles.join(" | "));
    let aligns: Vec<&str> = t
        .columns
        .iter()
        .map(|c| match c.align {
            Align::Left => "---",
            Align::Right => "---:",
        })
        .collect();
    let _ = writeln!(s, "|{}|", aligns.join("|"));
    for r in &t.rows {
        let cells: Vec<String> = (0..t.columns.len())
            .map(|i| r.get(i).map(cell).unwrap_or_default())
            .collect();
        let _ = writeln!(s, "| {} |", cells.join(" | "));
    }
    s.push('\n');
}

#[cfg(test)]
mod tests {
    use super::super::{col, num, Block, Cell, Doc, Fact, Inline, Table};
    use super::{code, render, text};

    #[test]
    fn cells_and_code() {
        assert_eq!(text("a|b\nc"), "a\\|b\\\\nc");
        assert_eq!(code("a`b"), "a\\`b");
        assert_eq!(code("<b>[x](y)"), "`<b>[x](y)`");
        assert_eq!(code("a|b"), "a\\|b");
    }

    #[test]
    fn tables_lists_and_alarms() {
        let mut d = Doc::new();
        let mut tab = Table::new(vec![col("syscall"), num("calls")]);
        tab.row(vec![Cell::code("read"), Cell::from(3u64).alarm(true)]);
        d.push(tab);
        d.push(Block::List {
            numbered: true,
            items: vec![vec![
                Inline::Strong("30.0%".into()),
                Inline::Text(" of ".into()),
                Inline::Code("a → b".into()),
            ]],
        });
        d.push(vec![Fact::new("x", "[l](javascript:y)")]);
        assert_eq!(
            render(&d),
            "| syscall | calls |\n|---|---:|\n| `read` | **3** |\n\n1. **30.0%** of `a → b`\n\n\
             | | |\n|---|---|\n| x | \\[l\\](javascript:y) |\n\n"
        );
    }
}
