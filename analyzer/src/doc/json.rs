//! A report as JSON: the serialized report the [`super::Doc`] is made from
//! (its field names are each command's contract), pretty-printed, with the
//! characters a terminal may act on written as `\uXXXX` inside strings
//! (valid JSON, equal strings; see [`crate::escape::json_terminal`]).

use serde::Serialize;

/// `value` as pretty JSON, ending with a line feed.
pub fn render(value: &impl Serialize) -> Result<String, serde_json::Error> {
    let text = serde_json::to_string_pretty(value)?;
    let mut out = crate::escape::json_terminal(&text).into_owned();
    out.push('\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn strings_stay_equal_and_harmless() {
        let v = serde_json::json!({ "name": "a\u{1b}]0;x\u{7}\u{9b}\u{202e}" });
        let text = super::render(&v).unwrap();
        assert!(!text.contains('\u{1b}') && !text.contains('\u{9b}') && !text.contains('\u{202e}'));
        assert!(text.ends_with("}\n"));
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
    }
}
