//! A [`Doc`] for a terminal: label/value lines, aligned tables, text bars.
//! Every string is shown on one line with control and format characters as
//! visible escapes ([`crate::escape::line`]): a name from the capture can
//! neither act on the terminal nor forge an output line.

use std::fmt::Write as _;

use super::{Align, Block, Cell, Doc, Fact, Inline, Table};
use crate::escape::line;

/// Labels of label/value lines are padded to at least this width.
const LABEL: usize = 9;

pub fn render(doc: &Doc) -> String {
    let mut s = String::new();
    blocks(&mut s, &doc.blocks);
    s
}

/// Blocks apart by a blank line; a heading stays on its block.
fn blocks(s: &mut String, list: &[Block]) {
    let mut after_heading = false;
    for b in list {
        if matches!(b, Block::Flame(_)) {
            continue;
        }
        if !s.is_empty() && !after_heading {
            s.push('\n');
        }
        block(s, b);
        after_heading = matches!(b, Block::Heading(_));
    }
}

fn block(s: &mut String, b: &Block) {
    match b {
        Block::Section(sec) => {
            let _ = writeln!(s, "== {} ==", line(&sec.title));
            blocks(s, &sec.blocks);
        }
        Block::Heading(h) => {
            let _ = writeln!(s, "{}:", line(h));
        }
        Block::Para(parts) => {
            let _ = writeln!(s, "{}", inline(parts));
        }
        Block::Verdict(v) => {
            let _ = writeln!(s, "verdict: {}", line(v));
        }
        Block::Missing(why) => {
            let _ = writeln!(s, "{}", line(why));
        }
        Block::Facts(f) => facts(s, f),
        Block::Table(t) => table(s, t),
        Block::List { numbered, items } => {
            for (i, item) in items.iter().enumerate() {
                if *numbered {
                    let _ = writeln!(s, "{:>3}. {}", i + 1, inline(item));
                } else {
                    let _ = writeln!(s, "  - {}", inline(item));
                }
            }
        }
        Block::Chart(c) => s.push_str(&c.text()),
        Block::Flame(_) => {}
        Block::Timeline(t) => s.push_str(&t.text()),
    }
}

fn inline(parts: &[Inline]) -> String {
    parts
        .iter()
        .map(|p| match p {
            Inline::Text(t) | Inline::Code(t) | Inline::Strong(t) => line(t),
        })
        .collect()
}

fn cell(c: &Cell) -> String {
    line(&c.text).into_owned()
}

fn facts(s: &mut String, facts: &[Fact]) {
    let width = facts
        .iter()
        .map(|f| f.label.chars().count())
        .max()
        .unwrap_or(0)
        .max(LABEL);
    for f in facts {
        let value = cell(&f.value);
        let _ = writeln!(s, "{}", format!("{:<width$} {value}", f.label).trim_end());
    }
}

fn table(s: &mut String, t: &Table) {
    let rows: Vec<Vec<String>> = t
        .rows
        .iter()
        .map(|r| r.iter().map(cell).collect())
        .collect();
    let n = t.columns.len();
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .chain([t.columns[i].title.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line_of = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate().take(n) {
            if i > 0 {
                l.push_str("  ");
            }
            let w = widths[i];
            match t.columns[i].align {
                Align::Right => {
                    let _ = write!(l, "{c:>w$}");
                }
                Align::Left if i + 1 == n => l.push_str(c),
                Align::Left => {
                    let _ = write!(l, "{c:<w$}");
                }
            }
        }
        l.trim_end().to_string()
    };
    let _ = writeln!(
        s,
        "{}",
        line_of(t.columns.iter().map(|c| c.title).collect())
    );
    for r in &rows {
        let _ = writeln!(s, "{}", line_of(r.iter().map(String::as_str).collect()));
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::render;

    #[test]
    fn lines_tables_and_escapes() {
        let mut d = Doc::new();
        d.push(vec![
            Fact::new("cgroup", Cell::code("/a\u{1b}[2J\nb")),
            Fact::new("throttled periods", "3 of 4"),
        ]);
        let mut t = Table::new(vec![col("name"), num("calls"), col("summary")]);
        t.row(vec![Cell::code("read"), 12u64.into(), "fd=3".into()]);
        t.row(vec![Cell::code("x"), 3u64.into(), "".into()]);
        d.push(t);
        d.push(Block::Verdict("ok\u{7}".into()));
        let s = render(&d);
        assert_eq!(
            s,
            "cgroup            /a\\x1b[2J\\nb\nthrottled periods 3 of 4\n\n\
             name  calls  summary\nread     12  fd=3\nx         3\n\nverdict: ok\\x07\n"
        );
    }
}
