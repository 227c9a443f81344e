//! The output layer: every report (`holter info`, `syscalls`, `throttling`,
//! `memory`, `network`, `report`) is built once as a [`Doc`] of typed blocks
//! (facts, tables of cells, timelines, notes), then drawn by one renderer per
//! format: [`text`] (a terminal), [`markdown`] and [`html`]; [`json`] writes
//! the serialized report the `Doc` is made from (the `--json` field names
//! are each command's contract, so JSON keeps the report's own shape).
//!
//! Escaping lives in the renderers, never in the reports: a report puts the
//! capture's strings in the model as they are, and each renderer escapes
//! every string it did not write itself (text: control characters as
//! visible escapes; Markdown: every markup character; HTML: through the
//! [`crate::escape::Html`] type, which cannot be built from a `String`).

pub mod chart;
pub mod html;
pub mod json;
pub mod markdown;
pub mod text;
pub mod timeline;

pub use chart::{Bar, Chart, Merge};

/// A report: blocks in reading order.
#[derive(Debug, Clone, Default)]
pub struct Doc {
    pub blocks: Vec<Block>,
}

impl Doc {
    pub fn new() -> Doc {
        Doc::default()
    }

    pub fn push(&mut self, b: impl Into<Block>) -> &mut Doc {
        self.blocks.push(b.into());
        self
    }

    pub fn extend(&mut self, blocks: impl IntoIterator<Item = Block>) -> &mut Doc {
        self.blocks.extend(blocks);
        self
    }
}

/// One block of a report.
#[derive(Debug, Clone)]
pub enum Block {
    /// A titled part of a report (`<section id>` + `<h2>`, `### title`, a
    /// title line).
    Section(Section),
    /// A sub-heading inside a section (`<h3>`, a line ending in `:`).
    Heading(String),
    /// A paragraph of inline pieces.
    Para(Vec<Inline>),
    /// The one-line conclusion of a report, set apart.
    Verdict(String),
    /// Why a section is empty.
    Missing(String),
    /// Label/value rows.
    Facts(Vec<Fact>),
    Table(Table),
    /// A list of lines; numbered or not.
    List {
        numbered: bool,
        items: Vec<Vec<Inline>>,
    },
    /// A value over time.
    Chart(Chart),
    /// The flame graph (HTML only; the other formats list the hottest stacks).
    Flame(Flame),
    /// Every lane of a capture on one time axis (HTML; a summary line on a
    /// terminal; left out of Markdown).
    Timeline(timeline::Timeline),
}

/// A section: `id` is an anchor written in the source.
#[derive(Debug, Clone)]
pub struct Section {
    pub id: &'static str,
    pub title: String,
    pub blocks: Vec<Block>,
}

/// A piece of a line.
#[derive(Debug, Clone, PartialEq)]
pub enum Inline {
    Text(String),
    /// A path, a name, a stack: shown literally (monospace).
    Code(String),
    /// Emphasised (a share, a problem).
    Strong(String),
}

/// A text piece: `t("x")`.
pub fn t(s: impl Into<String>) -> Inline {
    Inline::Text(s.into())
}

/// A code piece.
pub fn code(s: impl Into<String>) -> Inline {
    Inline::Code(s.into())
}

/// A label/value row.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    /// Written in the source.
    pub label: &'static str,
    pub value: Cell,
}

impl Fact {
    pub fn new(label: &'static str, value: impl Into<Cell>) -> Fact {
        Fact {
            label,
            value: value.into(),
        }
    }
}

/// A table cell (or a fact's value).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cell {
    pub text: String,
    /// Shown literally, monospace: a path, a name.
    pub code: bool,
    /// Points at a problem: highlighted.
    pub alarm: bool,
}

impl Cell {
    pub fn text(s: impl Into<String>) -> Cell {
        Cell {
            text: s.into(),
            ..Cell::default()
        }
    }

    pub fn code(s: impl Into<String>) -> Cell {
        Cell {
            text: s.into(),
            code: true,
            alarm: false,
        }
    }

    /// Highlighted when `bad`.
    pub fn alarm(self, bad: bool) -> Cell {
        Cell { alarm: bad, ..self }
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Cell {
        Cell::text(s)
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Cell::text(s)
    }
}

macro_rules! number_cells {
    ($($t:ty),*) => {$(
        impl From<$t> for Cell {
            fn from(v: $t) -> Cell {
                Cell::text(v.to_string())
            }
        }
    )*};
}
number_cells!(u64, u32, usize, i64);

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    /// Numbers.
    Right,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub title: &'static str,
    pub align: Align,
}

/// A left-aligned column.
pub fn col(title: &'static str) -> Column {
    Column {
        title,
        align: Align::Left,
    }
}

/// A right-aligned (number) column.
pub fn num(title: &'static str) -> Column {
    Column {
        title,
        align: Align::Right,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn new(columns: Vec<Column>) -> Table {
        Table {
            columns,
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<Cell>) -> &mut Table {
        self.rows.push(cells);
        self
    }
}

/// The flame graph of the HTML report: an SVG that [`html::vet_svg`]
/// accepted, and its script.
#[derive(Debug, Clone, Default)]
pub struct Flame {
    pub svg: crate::escape::Html,
    pub script: String,
}

impl From<Section> for Block {
    fn from(s: Section) -> Block {
        Block::Section(s)
    }
}

impl From<Table> for Block {
    fn from(t: Table) -> Block {
        Block::Table(t)
    }
}

impl From<Vec<Fact>> for Block {
    fn from(f: Vec<Fact>) -> Block {
        Block::Facts(f)
    }
}

impl From<Chart> for Block {
    fn from(c: Chart) -> Block {
        Block::Chart(c)
    }
}
