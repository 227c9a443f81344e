//! Readable names for mangled Rust and C++ symbols.
//!
//! As perf and samply show them: Rust legacy (`_ZN…17h<hash>E`) and v0
//! (`_R…`) names without their hash or crate disambiguators, C++ (Itanium)
//! names without return types, compiler suffixes (`.llvm.N`, `.constprop.0`)
//! kept where the demangler keeps them. A name that is none of these (C,
//! Swift, OCaml, Go, a JIT's) is returned as it is.

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

/// A Rust legacy name: `_ZN…17h<16 hex>E`, possibly followed by a
/// `.llvm.N` style suffix. Path elements themselves contain `.` (`..` stands
/// for `::`, `{{vtable.shim}}`), so the hash is looked for wherever an
/// element ends, not before the first `.`.
fn is_rust_legacy(name: &str) -> bool {
    name.starts_with("_ZN")
        && name.as_bytes().windows(20).any(|w| {
            w.starts_with(b"17h") && w[3..19].iter().all(u8::is_ascii_hexdigit) && w[19] == b'E'
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real symbols, each as a compiler emitted it (`nm`), with what the
    /// flame graph shows. Made from `fixtures/demangle/names.rs` and
    /// `names.cpp`, `clone.cpp` (see fixtures/README.md).
    const TABLE: &[(&str, &str, &str)] = &[
        // rustc 1.95, legacy mangling (the default).
        (
            "rustc legacy trait impl",
            "_ZN59_$LT$names..BomPeeker$LT$R$GT$$u20$as$u20$std..io..Read$GT$4read17h8d9e6049b1cf7e0aE",
            "<names::BomPeeker<R> as std::io::Read>::read",
        ),
        (
            "rustc legacy vtable shim",
            "_ZN4core3ops8function6FnOnce40call_once$u7b$$u7b$vtable.shim$u7d$$u7d$17h695ec42e2bf6c98bE",
            "core::ops::function::FnOnce::call_once{{vtable.shim}}",
        ),
        (
            "rustc legacy function",
            "_ZN5names4main17hd52b26720289402dE",
            "names::main",
        ),
        (
            "rustc legacy with an LLVM suffix (the suffix of a -C lto=thin symbol appended)",
            "_ZN5names4main17hd52b26720289402dE.llvm.3643936799275306673",
            "names::main",
        ),
        // rustc 1.95, -C symbol-mangling-version=v0.
        (
            "rustc v0 function",
            "_RNvCs4T4zK9Otvt5_5names3run",
            "names::run",
        ),
        (
            "rustc v0 trait impl",
            "_RNvXCs4T4zK9Otvt5_5namesINtB2_9BomPeekerNtNtNtCsjrHSEGnQ3l9_3std2io4util5EmptyENtBG_4Read4readB2_",
            "<names::BomPeeker<std::io::util::Empty> as std::io::Read>::read",
        ),
        (
            "rustc v0 vtable shim",
            "_RNSNvYNCINvNtCsjrHSEGnQ3l9_3std2rt10lang_startuE0INtNtNtCsgEmfK2I1SDS_4core3ops8function6FnOnceuE9call_once6vtableCs4T4zK9Otvt5_5names",
            "<std::rt::lang_start<()>::{closure#0} as core::ops::function::FnOnce<()>>::call_once::{shim:vtable#0}",
        ),
        (
            "rustc v0 with an LLVM suffix (-C lto=thin)",
            "_RINvNtCsgEmfK2I1SDS_4core3ptr13drop_in_placeNtNtCsiGO2KWI1TB6_12panic_unwind3imp9ExceptionEBK_.llvm.5566994946562375346",
            "core::ptr::drop_in_place::<panic_unwind::imp::Exception>",
        ),
        // g++ 12.2.
        (
            "g++ const method",
            "_ZNK3app6Parser5parseERKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE",
            "app::Parser::parse(std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> > const&) const",
        ),
        (
            "g++ template member",
            "_ZN3app6Parser3getIiEET_S2_",
            "app::Parser::get<int>(int)",
        ),
        (
            "g++ lambda",
            "_ZZ4mainENKUliE_clEi",
            "main::{lambda(int)#1}::operator()(int) const",
        ),
        (
            "g++ clone suffix",
            "_ZN1zL4workEii.constprop.0",
            "z::work(int, int) [clone .constprop.0]",
        ),
        (
            "g++ static data-like name (no hash: not Rust)",
            "_ZNSt6vectorIiSaIiEE17_M_realloc_insertIJiEEEvN9__gnu_cxx17__normal_iteratorIPiS1_EEDpOT_",
            "std::vector<int, std::allocator<int> >::_M_realloc_insert<int>(__gnu_cxx::__normal_iterator<int*, std::vector<int, std::allocator<int> > >, int&&)",
        ),
        // clang 14.0.6.
        (
            "clang lambda",
            "_ZZ4mainENK3$_0clEi",
            "main::$_0::operator()(int) const",
        ),
        (
            "clang map operator[]",
            "_ZNSt3mapINSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEiSt4lessIS5_ESaISt4pairIKS5_iEEEixEOS5_",
            "std::map<std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >, int, std::less<std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> > >, std::allocator<std::pair<std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> > const, int> > >::operator[](std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >&&)",
        ),
        // Left as they are.
        ("C", "memmove", "memmove"),
        ("C with a version", "memcpy@GLIBC_2.14", "memcpy@GLIBC_2.14"),
        ("Java perf map", "LInterpreter;", "LInterpreter;"),
        ("Swift", "$s4main3FooV3baryyF", "$s4main3FooV3baryyF"),
        ("OCaml", "camlStdlib__List__map_273", "camlStdlib__List__map_273"),
        ("Go", "main.(*T).Run", "main.(*T).Run"),
        ("truncated Itanium", "_ZN", "_ZN"),
        ("truncated Rust legacy", "_ZN5names4ma17hd52b26720289402dE", "_ZN5names4ma17hd52b26720289402dE"),
    ];

    #[test]
    fn real_compiler_names() {
        let mut wrong = Vec::new();
        for (what, mangled, want) in TABLE {
            let got = demangle(mangled);
            if got != *want {
                wrong.push(format!("{what}: {mangled}\n  got  {got}\n  want {want}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
