//! wslp's `include/WslPluginApi.h` declares what Microsoft's released header
//! declares (SPEC §1): `tests/msft/WslPluginApi.h` is Microsoft's WSL 2.9.5
//! header, unchanged (see `tests/msft/README.md` for its source commit).
//!
//! The check is generated from Microsoft's header, so a newer copy is checked
//! without editing this file: one C++ translation unit includes wslp's header,
//! then Microsoft's inside `namespace msft` (with `tests/msft/shim/windows.h`
//! for `<windows.h>`), and `static_assert`s that every typedef is the same type,
//! every struct has the same size and every field the same type at the same
//! offset, every enumerator and constant the same value, and
//! `WSL_PLUGIN_REQUIRE_VERSION` accepts the same versions. A declaration missing
//! from wslp's header fails the compile too.

use std::path::{Path, PathBuf};
use std::process::Command;

use wslp_abi::hresult::{hresult_from_name, hresult_from_win32, HResult};

fn abi_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn ours() -> PathBuf {
    abi_dir().join("../../include/WslPluginApi.h")
}

fn theirs() -> PathBuf {
    abi_dir().join("tests/msft/WslPluginApi.h")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The part of wslp's header that corresponds to Microsoft's: what follows the
/// Windows-compatibility part (Microsoft's header has `#include <windows.h>` there).
fn api_part(header: &str) -> &str {
    let marker = "#endif /* WSLP_NO_WINDOWS_COMPAT */";
    let at = header
        .find(marker)
        .expect("wslp's header ends its Windows-compatibility part with this marker");
    &header[at + marker.len()..]
}

/// The declarations of a plugin header, in the order written.
#[derive(Debug, Default, PartialEq)]
struct Decls {
    typedefs: Vec<String>,
    /// (struct name, field names in order)
    structs: Vec<(String, Vec<String>)>,
    /// enum tags (`WSLUserConfiguration`, `_WSLCProcessFd`)
    enums: Vec<String>,
    enumerators: Vec<String>,
    /// object-like macros: (name, body)
    constants: Vec<(String, String)>,
    function_macros: Vec<String>,
}

fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let block = rest.find("/*");
        let line = rest.find("//");
        match (block, line) {
            (Some(b), l) if l.map_or(true, |l| b < l) => {
                out.push_str(&rest[..b]);
                let end = rest[b..].find("*/").expect("unterminated comment") + b + 2;
                rest = &rest[end..];
            }
            (_, Some(l)) => {
                out.push_str(&rest[..l]);
                rest = &rest[l..];
                rest = &rest[rest.find('\n').unwrap_or(rest.len())..];
            }
            _ => {
                out.push_str(rest);
                return out;
            }
        }
    }
}

fn ident_before(s: &str, end: char) -> String {
    let s = s.trim_end().trim_end_matches(end).trim_end();
    let start = s
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(0, |i| i + 1);
    s[start..].to_string()
}

/// Reads the declarations of a header written in Microsoft's style (one
/// declaration per line, braces on their own lines), which both headers are.
fn parse(text: &str) -> Decls {
    let text = strip_comments(text);
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let mut d = Decls::default();
    let mut i = 0;
    // Reads `NAME = VALUE,` lines up to the closing brace; returns its line.
    let enumerators = |d: &mut Decls, i: &mut usize| {
        *i += 1;
        while !lines[*i].starts_with('}') {
            let l = lines[*i];
            if !l.is_empty() && l != "{" {
                d.enumerators
                    .push(l.split(['=', ',']).next().unwrap().trim().to_string());
            }
            *i += 1;
        }
        lines[*i]
    };
    while i < lines.len() {
        let l = lines[i];
        if let Some(def) = l.strip_prefix("#define ") {
            let name_end = def
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(def.len());
            let (name, body) = def.split_at(name_end);
            if body.starts_with('(') {
                d.function_macros.push(name.to_string());
            } else if !body.trim().is_empty() {
                d.constants
                    .push((name.to_string(), body.trim().to_string()));
            }
            while lines[i].ends_with('\\') {
                i += 1;
            }
        } else if let Some(tag) = l.strip_prefix("typedef enum ") {
            d.enums.push(tag.trim().to_string());
            let close = enumerators(&mut d, &mut i);
            d.typedefs.push(ident_before(close, ';'));
        } else if l.starts_with("typedef ") {
            if let Some(at) = l.find("(*") {
                let name = &l[at + 2..];
                d.typedefs.push(name[..name.find(')').unwrap()].to_string());
            } else {
                d.typedefs.push(ident_before(l, ';'));
            }
        } else if let Some(tag) = l.strip_prefix("enum ") {
            if lines.get(i + 1) == Some(&"{") {
                d.enums.push(tag.trim().to_string());
                enumerators(&mut d, &mut i);
            }
        } else if let Some(name) = l.strip_prefix("struct ") {
            if lines.get(i + 1) == Some(&"{") {
                let mut fields = Vec::new();
                i += 2;
                while lines[i] != "};" {
                    if !lines[i].is_empty() {
                        fields.push(ident_before(lines[i], ';'));
                    }
                    i += 1;
                }
                d.structs.push((name.trim().to_string(), fields));
            }
        }
        i += 1;
    }
    d
}

fn is_identifier(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The C++ translation unit that checks `ours` against `theirs` (paths of headers).
fn check_program(ours: &Path, theirs: &Path) -> String {
    let d = parse(&read(theirs));
    let mut s = String::new();
    let mut w = |line: String| {
        s.push_str(&line);
        s.push('\n');
    };
    w("#include <cstddef>\n#include <cstdint>\n#include <type_traits>".into());
    w(format!("#include \"{}\"", ours.display()));
    w("#define WSLP_TEXT2_(x) #x\n#define WSLP_TEXT_(x) WSLP_TEXT2_(x)".into());
    w("constexpr bool wslp_same_text_(const char* a, const char* b) { return *a == *b && (*a == 0 || wslp_same_text_(a + 1, b + 1)); }".into());

    // Macros: wslp's values, captured before Microsoft's header defines its own.
    let capture = |w: &mut dyn FnMut(String), side: &str| {
        for (name, body) in &d.constants {
            if is_identifier(body) {
                w(format!(
                    "constexpr const char {side}_{name}[] = WSLP_TEXT_({name});"
                ));
            } else {
                w(format!("constexpr auto {side}_{name} = {name};"));
            }
        }
        for name in &d.function_macros {
            assert_eq!(
                name, "WSL_PLUGIN_REQUIRE_VERSION",
                "Microsoft's header has a function-like macro this test does not know"
            );
            w(format!(
                "template <class A> constexpr HRESULT {side}_require(uint32_t a, uint32_t b, uint32_t c, const A* api) \
                 {{ WSL_PLUGIN_REQUIRE_VERSION(a, b, c, api); return S_OK; }}"
            ));
        }
    };
    capture(&mut w, "ours");
    for name in d.constants.iter().map(|(n, _)| n).chain(&d.function_macros) {
        w(format!("#undef {name}"));
    }
    w(format!(
        "namespace msft {{\n#include \"{}\"\n}}",
        theirs.display()
    ));
    capture(&mut w, "theirs");

    for (name, body) in &d.constants {
        if is_identifier(body) {
            w(format!("static_assert(wslp_same_text_(ours_{name}, theirs_{name}), \"{name} is not Microsoft's\");"));
        } else {
            w(format!(
                "static_assert(ours_{name} == theirs_{name}, \"{name} is not Microsoft's value\");"
            ));
        }
    }
    if !d.function_macros.is_empty() {
        w(r#"struct wslp_api_ { ::WSLVersion Version; };
constexpr bool wslp_require_agrees_()
{
    const uint32_t v[] = {0u, 1u, 2u, 9u, 0xFFFFFFFFu};
    for (uint32_t a : v) for (uint32_t b : v) for (uint32_t c : v)
        for (uint32_t x : v) for (uint32_t y : v) for (uint32_t z : v)
        {
            const wslp_api_ api{{x, y, z}};
            if (ours_require(a, b, c, &api) != theirs_require(a, b, c, &api))
                return false;
        }
    return true;
}
static_assert(wslp_require_agrees_(), "WSL_PLUGIN_REQUIRE_VERSION does not accept the versions Microsoft's does");"#
            .into());
    }

    // Types: map Microsoft's structs and enums to wslp's, through pointers,
    // const, arrays and function types, then compare.
    w(r#"template <class T> struct wslp_g_ { using type = T; };
template <class T> struct wslp_g_<T*> { using type = typename wslp_g_<T>::type*; };
template <class T> struct wslp_g_<const T> { using type = const typename wslp_g_<T>::type; };
template <class T, std::size_t N> struct wslp_g_<T[N]> { using type = typename wslp_g_<T>::type[N]; };
template <class R, class... A> struct wslp_g_<R(A...)> { using type = typename wslp_g_<R>::type(typename wslp_g_<A>::type...); };"#.into());
    // GUID comes from <windows.h>: the shim's against wslp's.
    let guid = (
        "_GUID".to_string(),
        ["Data1", "Data2", "Data3", "Data4"]
            .map(String::from)
            .to_vec(),
    );
    let structs: Vec<_> = std::iter::once(&guid).chain(&d.structs).collect();
    for tag in structs.iter().map(|(n, _)| n).chain(&d.enums) {
        w(format!(
            "template <> struct wslp_g_<msft::{tag}> {{ using type = ::{tag}; }};"
        ));
    }
    for name in &d.typedefs {
        w(format!("static_assert(std::is_same<wslp_g_<msft::{name}>::type, ::{name}>::value, \"typedef {name} is not Microsoft's\");"));
    }
    for (name, fields) in structs {
        w(format!("static_assert(sizeof(::{name}) == sizeof(msft::{name}), \"sizeof(struct {name}) is not Microsoft's\");"));
        w(format!("static_assert(alignof(::{name}) == alignof(msft::{name}), \"alignof(struct {name}) is not Microsoft's\");"));
        for f in fields {
            w(format!("static_assert(offsetof(::{name}, {f}) == offsetof(msft::{name}, {f}), \"{name}::{f} is not at Microsoft's offset\");"));
            w(format!("static_assert(std::is_same<wslp_g_<decltype(msft::{name}::{f})>::type, decltype(::{name}::{f})>::value, \"{name}::{f} does not have Microsoft's type\");"));
        }
    }
    for tag in &d.enums {
        w(format!("static_assert(std::is_same<std::underlying_type<::{tag}>::type, std::underlying_type<msft::{tag}>::type>::value, \"enum {tag} does not have Microsoft's underlying type\");"));
    }
    for e in &d.enumerators {
        w(format!("static_assert(static_cast<long long>(::{e}) == static_cast<long long>(msft::{e}), \"{e} is not Microsoft's value\");"));
    }
    // DEFINE_ENUM_FLAG_OPERATORS(WSLUserConfiguration): winnt.h's full set.
    w(r#"namespace wslp_flags_ {
using F = ::WSLUserConfiguration;
constexpr F a = ::WSLUserConfigurationCustomKernel, b = ::WSLUserConfigurationCustomKernelCommandLine;
static_assert((a | b) == F(3) && ((a | b) & b) == b && ((a | b) ^ a) == b, "WSLUserConfiguration's |, & and ^ are not winnt.h's");
static_assert(std::is_same<decltype(~a), F>::value, "WSLUserConfiguration has no ~ as winnt.h gives it");
static_assert(std::is_same<decltype(std::declval<F&>() |= a), F&>::value, "WSLUserConfiguration has no |= as winnt.h gives it");
static_assert(std::is_same<decltype(std::declval<F&>() &= a), F&>::value, "WSLUserConfiguration has no &= as winnt.h gives it");
static_assert(std::is_same<decltype(std::declval<F&>() ^= a), F&>::value, "WSLUserConfiguration has no ^= as winnt.h gives it");
}"#.into());
    s
}

/// Compiles the check of `ours` against Microsoft's header; g++'s stderr on failure.
fn compile_check(ours: &Path, dir: &Path) -> Result<(), String> {
    let src = dir.join("check.cpp");
    std::fs::write(&src, check_program(ours, &theirs())).unwrap();
    let out = Command::new("g++")
        .args([
            "-std=c++17",
            "-Wall",
            "-Wextra",
            "-Wpedantic",
            "-Werror",
            "-fsyntax-only",
        ])
        .arg(format!("-I{}", abi_dir().join("tests/msft/shim").display()))
        .arg(&src)
        .output()
        .expect("g++ is needed to check the header against Microsoft's");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn the_api_part_declares_what_microsofts_header_declares_in_its_order() {
    let ours = parse(api_part(&read(&ours())));
    let theirs = parse(&read(&theirs()));
    assert!(
        theirs.typedefs.len() > 25 && theirs.structs.len() == 8,
        "{theirs:#?}"
    );
    assert_eq!(ours.typedefs, theirs.typedefs);
    assert_eq!(ours.structs, theirs.structs);
    assert_eq!(ours.enums, theirs.enums);
    assert_eq!(ours.enumerators, theirs.enumerators);
    assert_eq!(ours.function_macros, theirs.function_macros);
    // The constants wslp adds on purpose, as the header's opening comment says.
    let mut extra: Vec<&str> = ours.constants.iter().map(|(n, _)| n.as_str()).collect();
    for (name, _) in &theirs.constants {
        let at = extra.iter().position(|n| n == name);
        extra.remove(at.unwrap_or_else(|| panic!("wslp's header lacks {name}")));
    }
    extra.sort_unstable();
    assert_eq!(
        extra,
        ["WSLC_E_SESSION_NOT_FOUND", "WSL_E_VM_MODE_INVALID_STATE"]
    );
}

#[test]
fn every_typedef_field_and_constant_is_microsofts() {
    let dir = tempfile::tempdir().unwrap();
    if let Err(e) = compile_check(&ours(), dir.path()) {
        panic!("wslp's header differs from Microsoft's:\n{e}");
    }
}

/// The check fails on a header that differs, and names what differs: the
/// pre-release WSLC mount signature wslp's header once had, the old typedef
/// names, and a field of the right size but the wrong type.
#[test]
fn the_check_catches_a_header_that_differs() {
    let header = read(&ours());
    let mutations = [
        (
            "WSLCSessionId Session, LPCWSTR WindowsPath, LPCSTR Mountpoint, BOOL ReadOnly",
            "WSLCSessionId Session, LPCWSTR WindowsPath, BOOL ReadOnly, LPCWSTR Name, LPSTR Mountpoint",
            "typedef WSLCPluginAPI_MountFolder is not Microsoft's",
        ),
        (
            "WSLPluginAPI_OnWslcVmStarted",
            "WSLPluginAPI_WslcVmStarted",
            "WSLPluginAPI_OnWslcVmStarted",
        ),
        (
            "    LPCWSTR DisplayName;",
            "    LPCSTR DisplayName;",
            "WSLCSessionInformation::DisplayName does not have Microsoft's type",
        ),
        (
            "    WSLCPluginAPI_UnmountFolder WSLCUnmountFolder;\n    WSLCPluginAPI_CreateProcess WSLCCreateProcess;",
            "    WSLCPluginAPI_CreateProcess WSLCCreateProcess;\n    WSLCPluginAPI_UnmountFolder WSLCUnmountFolder;",
            "WSLPluginAPIV1::WSLCUnmountFolder is not at Microsoft's offset",
        ),
        (
            "FACILITY_ITF, 0x0610)",
            "FACILITY_ITF, 0x0611)",
            "WSLC_E_VM_NOT_RUNNING is not Microsoft's value",
        ),
    ];
    for (from, to, expect) in mutations {
        assert!(header.contains(from), "the header no longer has {from:?}");
        let dir = tempfile::tempdir().unwrap();
        let mutated = dir.path().join("WslPluginApi.h");
        std::fs::write(&mutated, header.replace(from, to)).unwrap();
        match compile_check(&mutated, dir.path()) {
            Ok(()) => panic!("the check passed a header with {to:?}"),
            Err(e) => assert!(e.contains(expect), "{to:?}: expected {expect:?} in:\n{e}"),
        }
    }
}

/// Every HRESULT the C header names has that name and value in the Rust mirror,
/// so `hresult_name` prints what a C plugin compares against; and the Win32
/// codes of SPEC §11 agree.
#[test]
fn the_c_constants_agree_with_the_rust_mirror() {
    let header = read(&ours());
    let mut hresults = Vec::new();
    let mut win32 = Vec::new();
    for (name, body) in parse(&header).constants {
        if body.starts_with("((HRESULT)") || body.starts_with("MAKE_HRESULT(") {
            hresults.push(name);
        } else if name.starts_with("ERROR_") {
            win32.push(name);
        }
    }
    for needed in [
        "E_POINTER",
        "E_INVALIDARG",
        "E_FAIL",
        "WSLC_E_SESSION_NOT_FOUND",
        "WSLC_E_VM_NOT_RUNNING",
    ] {
        assert!(
            hresults.iter().any(|n| n == needed),
            "{needed} in {hresults:?}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("constants.c");
    let exe = dir.path().join("constants");
    let mut c = format!(
        "#include <stdio.h>\n#include \"{}\"\nint main(void) {{\n",
        ours().display()
    );
    for n in &hresults {
        c.push_str(&format!("printf(\"{n} %d\\n\", (int){n});\n"));
    }
    for n in &win32 {
        c.push_str(&format!("printf(\"{n} %ld\\n\", (long){n});\n"));
    }
    c.push_str("return 0;\n}\n");
    std::fs::write(&src, c).unwrap();
    let status = Command::new("gcc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&exe)
        .arg(&src)
        .status()
        .unwrap();
    assert!(status.success());
    let out = Command::new(&exe).output().unwrap();
    let mut seen = Vec::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let (name, value) = line.split_once(' ').unwrap();
        if name.starts_with("ERROR_") {
            let code: u32 = value.parse().unwrap();
            // Only the codes wslp names in messages are in the Rust table.
            if let Some(hr) = hresult_from_name(name) {
                assert_eq!(hr, hresult_from_win32(code), "{name}");
                seen.push(name.to_string());
            }
        } else {
            let value: HResult = value.parse().unwrap();
            assert_eq!(hresult_from_name(name), Some(value), "{name}");
        }
    }
    for needed in [
        "ERROR_PATH_NOT_FOUND",
        "ERROR_ALREADY_EXISTS",
        "ERROR_NOT_FOUND",
        "ERROR_INVALID_STATE",
    ] {
        assert!(seen.iter().any(|n| n == needed), "{needed} in {seen:?}");
    }
}
