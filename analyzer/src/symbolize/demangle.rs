//! Readable names for mangled Rust and C++ symbols.

use std::borrow::Cow;

/// Demangles a Rust (legacy or v0, hash dropped) or Itanium C++ name; any
/// other name is returned as it is.
pub fn demangle(name: &str) -> Cow<'_, str> {
    if name.starts_with("_R") || is_rust_legacy(name) {
        if let Ok(d) = rustc_demangle::try_demangle(name) {
            return Cow::Owned(format!("{d:#}"));
        }
    }
    if name.starts_with("_Z") {
        if let Ok(sym) = cpp_demangle::Symbol::new(name) {
            let opts = cpp_demangle::DemangleOptions::new().no_return_type();
            if let Ok(s) = sym.demangle_with_options(&opts) {
                return Cow::Owned(s);
            }
        }
    }
    Cow::Borrowed(name)
}

/// `_ZN...17h<16 hex>E`, possibly followed by a `.llvm.N` style suffix.
fn is_rust_legacy(name: &str) -> bool {
    if !name.starts_with("_ZN") {
        return false;
    }
    let base = name.split('.').next().unwrap_or(name);
    let Some(body) = base.strip_suffix('E') else {
        return false;
    };
    body.len() > 19 && {
        let (head, hash) = body.split_at(body.len() - 16);
        head.ends_with("17h") && hash.bytes().all(|b| b.is_ascii_hexdigit())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_legacy_drops_hash() {
        assert_eq!(
            demangle("_ZN4core3fmt5write17h0123456789abcdefE"),
            "core::fmt::write"
        );
    }

    #[test]
    fn rust_v0() {
        assert_eq!(demangle("_RNvCs1234_7mycrate3foo"), "mycrate::foo");
    }

    #[test]
    fn cpp_with_arguments() {
        assert_eq!(demangle("_ZN3foo3barEi"), "foo::bar(int)");
        assert_eq!(
            demangle("_ZNSt6vectorIiSaIiEE9push_backERKi"),
            "std::vector<int, std::allocator<int> >::push_back(int const&)"
        );
    }

    #[test]
    fn plain_names_unchanged() {
        assert_eq!(demangle("main"), "main");
        assert_eq!(demangle("_ZN"), "_ZN");
    }
}
