//! The header's WSLC HANDLE helpers (SPEC §11): `CloseHandle`,
//! `WaitForSingleObject` with `WAIT_*` and `INFINITE`, `WSLP_HANDLE_FD`, run by
//! C and C++ programs on real pipes, a pidfd and a signal (`tests/c/handles.c`);
//! and what stays defined when `WSLP_NO_WINDOWS_COMPAT` switches the Windows
//! names off.

use std::path::{Path, PathBuf};
use std::process::Command;

fn include() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../include")
}

fn c_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c")
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn compiler(program: &str, dir: &Path) -> Command {
    let mut c = Command::new(program);
    c.current_dir(dir)
        .args(["-Wall", "-Wextra", "-Wpedantic", "-Werror"])
        .arg(format!("-I{}", include().display()));
    c
}

/// Builds handles.c (as C or C++) with the two strict-ISO builds of waits.c and
/// runs it.
fn build_and_run(main_compiler: &str, main_std: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    for (name, std, expect) in [
        ("wait_c11", "-std=c11", Some("-DEXPECT_C11_CLOCK")),
        ("wait_c99", "-std=c99", None),
    ] {
        run(compiler("gcc", dir.path())
            .args(["-c", std, &format!("-DWAIT_NAME={name}")])
            .args(expect)
            .arg(c_dir().join("waits.c"))
            .args(["-o", &format!("{name}.o")]));
    }
    run(compiler(main_compiler, dir.path())
        .args(main_std)
        .arg(c_dir().join("handles.c"))
        .args([
            "-x",
            "none",
            "wait_c11.o",
            "wait_c99.o",
            "-pthread",
            "-o",
            "handles",
        ]));
    let out = run(&mut Command::new(dir.path().join("handles")));
    assert_eq!(out, "ok\n");
}

#[test]
fn handle_helpers_work_on_real_descriptors_in_c() {
    build_and_run("gcc", &["-std=gnu11"]);
}

#[test]
fn handle_helpers_work_on_real_descriptors_in_cpp() {
    build_and_run("g++", &["-x", "c++", "-std=c++17"]);
}

/// With `WSLP_NO_WINDOWS_COMPAT` the plugin brings the Windows names; the header
/// still gives WSL's own names (WSLC_E_*) and wslp's (WSLP_HANDLE_FD), and none
/// of the Windows ones (CloseHandle, WAIT_*, ...) that would clash with the
/// plugin's.
#[test]
fn compat_off_keeps_wsl_and_wslp_names_only() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("compat_off.c");
    std::fs::write(
        &src,
        r#"#define WSLP_NO_WINDOWS_COMPAT
/* What a plugin bringing its own Windows names provides. */
#include <stdint.h>
#include <wchar.h>
typedef int32_t HRESULT;
typedef uint32_t DWORD;
typedef int32_t BOOL;
typedef const wchar_t* LPCWSTR;
typedef const char* LPCSTR;
typedef int SOCKET;
typedef void* HANDLE;
typedef void* PSID;
typedef struct { uint32_t Data1; uint16_t Data2; uint16_t Data3; uint8_t Data4[8]; } GUID;
#define MAKE_HRESULT(s, f, c) ((HRESULT)(((uint32_t)(s) << 31) | ((uint32_t)(f) << 16) | ((uint32_t)(c))))
#define SEVERITY_ERROR 1
#define FACILITY_ITF 4
/* The plugin's own CloseHandle must not clash with anything of the header. */
static int CloseHandle(HANDLE h) { return h != 0; }
#include "WslPluginApi.h"
#if defined(S_OK) || defined(E_POINTER) || defined(ERROR_NOT_FOUND) || defined(WAIT_OBJECT_0) || \
    defined(INFINITE) || defined(INVALID_HANDLE_VALUE) || defined(closesocket) || defined(DEFINE_ENUM_FLAG_OPERATORS)
#error "a Windows name is defined with WSLP_NO_WINDOWS_COMPAT"
#endif
#ifdef __cplusplus
static_assert((WSLUserConfigurationCustomKernel | WSLUserConfigurationCustomKernelCommandLine) == 3, "flag operators");
#endif
int main(void)
{
    const struct WSLPluginAPIV1* api = 0;
    (void)api;
    if (WSLP_HANDLE_FD((HANDLE)(intptr_t)5) != 5 || CloseHandle(0))
        return 1;
    if ((uint32_t)WSLC_E_SESSION_NOT_FOUND != 0x8004060Fu || (uint32_t)WSLC_E_VM_NOT_RUNNING != 0x80040610u ||
        (uint32_t)WSL_E_PLUGIN_REQUIRES_UPDATE != 0x8004032Au || (uint32_t)WSL_E_VM_MODE_INVALID_STATE != 0x80040313u)
        return 2;
    return 0;
}
"#,
    )
    .unwrap();
    for (program, lang) in [
        ("gcc", ["-x", "c", "-std=c11"]),
        ("g++", ["-x", "c++", "-std=c++17"]),
    ] {
        let exe = dir.path().join(format!("compat_off_{program}"));
        run(compiler(program, dir.path())
            .args(lang)
            .arg(&src)
            .arg("-o")
            .arg(&exe));
        run(&mut Command::new(&exe));
    }
}
