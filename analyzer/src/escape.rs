//! Text from a capture made harmless for where it goes: a terminal, JSON on
//! a terminal, XML (SVG), Markdown. Every string of a capture is
//! attacker-chosen (process names, paths, symbols, hostnames, warnings).

use std::borrow::Cow;
use std::fmt::Write as _;

/// A character a terminal may act on rather than show: C0 controls but the
/// line feed, DEL, C1 controls (U+0080..U+009F: `U+009B` is CSI), and the
/// format characters that reorder or hide text (bidi overrides, zero-width).
fn is_hazard(c: char) -> bool {
    matches!(c,
        '\0'..='\u{9}' | '\u{b}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}'
        | '\u{feff}' | '\u{fff9}'..='\u{fffb}' | '\u{fffe}' | '\u{ffff}')
}

/// Text for a terminal: control and format characters as visible escapes
/// (`\x1b`, `\u{202e}`); line feeds stay.
pub fn terminal(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_hazard) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        push_visible(&mut out, c);
    }
    Cow::Owned(out)
}

/// One line for a terminal or a line-based format: as [`terminal`], and a
/// line feed as `\n` too.
pub fn line(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c == '\n' || is_hazard(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if c == '\n' {
            out.push_str("\\n");
        } else {
            push_visible(&mut out, c);
        }
    }
    Cow::Owned(out)
}

fn push_visible(out: &mut String, c: char) {
    if !is_hazard(c) {
        out.push(c);
    } else if (c as u32) < 0x100 {
        let _ = write!(out, "\\x{:02x}", c as u32);
    } else {
        let _ = write!(out, "\\u{{{:x}}}", c as u32);
    }
}

/// JSON for a terminal: serde_json escapes C0 controls inside strings but
/// leaves C1 and format characters raw; this writes them as `\uXXXX`, which
/// keeps the JSON valid and its strings equal.
pub fn json_terminal(json: &str) -> Cow<'_, str> {
    if !json.chars().any(is_hazard) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if is_hazard(c) {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Escapes text for HTML content and attribute values; control and format
/// characters become visible escapes (`\x1b`).
pub fn html(s: &str) -> String {
    let s = terminal(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A piece of HTML safe to put in a page: it can only be made from escaped
/// text ([`Html::text`]) or markup written in the source ([`Html::trusted`]
/// takes a `&'static str`), and pieces of those. A value from a capture
/// cannot become markup by mistake: there is no way to build an `Html` from
/// a `String`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Html(String);

impl Html {
    /// Text, escaped.
    pub fn text(s: &str) -> Html {
        Html(html(s))
    }

    /// Markup from the source code.
    pub fn trusted(markup: &'static str) -> Html {
        Html(markup.to_string())
    }

    /// `open` + `inner` + `close`, e.g. `<code>`…`</code>`.
    pub fn wrap(open: &'static str, inner: Html, close: &'static str) -> Html {
        Html(format!("{open}{}{close}", inner.0))
    }

    /// The pieces, separated by trusted markup.
    pub fn join(parts: impl IntoIterator<Item = Html>, sep: &'static str) -> Html {
        Html(parts.into_iter().map(|p| p.0).collect::<Vec<_>>().join(sep))
    }

    /// A template written in the source with each `{}` replaced by an
    /// argument: [`Html`] as it is, text escaped, numbers as numbers.
    /// `Html::fill("<td class=\"n\">{}</td>", &[&count])`.
    pub fn fill(template: &'static str, args: &[&dyn ToHtml]) -> Html {
        let mut out = String::with_capacity(template.len() + 16 * args.len());
        let mut args = args.iter();
        let mut rest = template;
        while let Some(at) = rest.find("{}") {
            out.push_str(&rest[..at]);
            if let Some(a) = args.next() {
                a.push_to(&mut out);
            }
            rest = &rest[at + 2..];
        }
        out.push_str(rest);
        Html(out)
    }

    /// Appends another piece.
    pub fn push(&mut self, more: Html) {
        self.0.push_str(&more.0);
    }

    /// Appends markup written in the source.
    pub fn push_trusted(&mut self, markup: &'static str) {
        self.0.push_str(markup);
    }

    /// Appends escaped text.
    pub fn push_text(&mut self, s: &str) {
        self.0.push_str(&html(s));
    }

    /// Markup another module has checked (see `doc::html::vet_svg`); only
    /// the output layer may vouch for a string.
    pub(crate) fn vetted(markup: String) -> Html {
        Html(markup)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_string(self) -> String {
        self.0
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Html {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What may fill a `{}` of [`Html::fill`]: text (escaped), [`Html`] (as it
/// is) and numbers (whose digits need no escaping).
pub trait ToHtml {
    fn push_to(&self, out: &mut String);
}

impl ToHtml for Html {
    fn push_to(&self, out: &mut String) {
        out.push_str(&self.0);
    }
}

impl ToHtml for str {
    fn push_to(&self, out: &mut String) {
        out.push_str(&html(self));
    }
}

impl ToHtml for String {
    fn push_to(&self, out: &mut String) {
        out.push_str(&html(self));
    }
}

impl ToHtml for &str {
    fn push_to(&self, out: &mut String) {
        out.push_str(&html(self));
    }
}

macro_rules! number_to_html {
    ($($t:ty),*) => {$(
        impl ToHtml for $t {
            fn push_to(&self, out: &mut String) {
                let _ = write!(out, "{self}");
            }
        }
    )*};
}
number_to_html!(u64, u32, usize, i64, f64);

/// Whether XML 1.0 allows the character at all (even escaped).
fn xml_allowed(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

/// Text for XML content: characters XML forbids are dropped (it is not
/// escaped here: the XML writer escapes `<`, `&` and quotes).
pub fn xml_chars(s: &str) -> Cow<'_, str> {
    if s.chars().all(xml_allowed) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.chars().filter(|&c| xml_allowed(c)).collect())
    }
}

/// Text for Markdown, inline: every ASCII punctuation character that
/// CommonMark or GFM may read as markup there is backslash-escaped
/// (CommonMark lets any be), so that nothing in it is read as emphasis, code
/// spans, links, autolinks, HTML, entities, list markers or table pipes; line
/// breaks and control characters are shown as escapes. GFM autolinks are
/// broken by an escaped `.` after `www`, `:` before `/`, and `@`; list
/// markers by an escaped `-`, `+` or `.` at the start. Left as they are:
/// `, ; ? % $ " ' = / ( )`, other `.`, `-`, `+` and `:`, which are never
/// markup inline once `[`, `]` and `<` are escaped.
pub fn markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 4);
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let before = &s[..i];
        let at_start = before.trim_start().chars().all(|c| c.is_ascii_digit());
        let plain = match c {
            ',' | ';' | '?' | '%' | '$' | '"' | '\'' | '=' | '/' | '(' | ')' => true,
            ':' => chars.peek().map(|p| p.1) != Some('/'),
            '-' | '+' => !before.trim().is_empty(),
            '.' => {
                let marker = at_start && chars.peek().is_none_or(|p| p.1.is_whitespace());
                !(marker || before.to_ascii_lowercase().ends_with("www"))
            }
            _ => false,
        };
        match c {
            '\n' => out.push_str("\\\\n"),
            '\r' => out.push_str("\\\\r"),
            c if plain => out.push(c),
            c if c.is_ascii_punctuation() => {
                out.push('\\');
                out.push(c);
            }
            c if is_hazard(c) => {
                // `\x1b` with its backslash escaped, so that it shows as typed.
                let mut v = String::new();
                push_visible(&mut v, c);
                out.push_str(&v.replace('\\', "\\\\"));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_shows_controls() {
        assert_eq!(terminal("a\u{1b}]0;x\u{7}b\n"), "a\\x1b]0;x\\x07b\n");
        assert_eq!(
            terminal("\u{9b}31m\u{202e}\r\t"),
            "\\x9b31m\\u{202e}\\x0d\\x09"
        );
        assert!(matches!(terminal("plain é ✓"), Cow::Borrowed(_)));
        assert_eq!(line("a\nb"), "a\\nb");
    }

    #[test]
    fn json_stays_json() {
        let v = serde_json::json!({ "s": "x\u{1b}[2J\u{9b}\u{202e}y" });
        let text = serde_json::to_string(&v).unwrap();
        let safe = json_terminal(&text);
        assert!(!safe.chars().any(is_hazard), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn html_pieces() {
        let cell = Html::wrap("<code>", Html::text("<b>&\"'"), "</code>");
        assert_eq!(cell.as_str(), "<code>&lt;b&gt;&amp;&quot;&#39;</code>");
        let list = Html::join([Html::text("a<"), Html::trusted("<i>x</i>")], "<br>");
        assert_eq!(list.to_string(), "a&lt;<br><i>x</i>");
        let row = Html::fill(
            "<td class=\"n\">{}</td><td>{}</td><td>{}</td>",
            &[&7u64, &"<x>", &Html::trusted("<b>y</b>")],
        );
        assert_eq!(
            row.as_str(),
            "<td class=\"n\">7</td><td>&lt;x&gt;</td><td><b>y</b></td>"
        );
    }

    #[test]
    fn xml_drops_what_xml_forbids() {
        assert_eq!(xml_chars("a\u{0}\u{1b}b\u{fffe}\tc"), "ab\tc");
    }

    #[test]
    fn markdown_escapes_all_markup() {
        assert_eq!(markdown("[a](javascript:x)"), "\\[a\\](javascript:x)");
        assert_eq!(markdown("1. a.b - c"), "1\\. a.b - c");
        assert_eq!(markdown("0.20"), "0.20");
        assert_eq!(markdown("- x"), "\\- x");
        assert_eq!(markdown("``a`` <b>"), "\\`\\`a\\`\\` \\<b\\>");
        assert_eq!(markdown("a|b\nc"), "a\\|b\\\\nc");
        assert_eq!(markdown("www.x.com"), "www\\.x.com");
        assert_eq!(
            markdown("http://a/b a@b std::vec"),
            "http\\://a/b a\\@b std::vec"
        );
        assert_eq!(markdown("\u{1b}"), "\\\\x1b");
    }
}
