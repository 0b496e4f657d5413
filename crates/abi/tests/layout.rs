//! The Rust mirror has the C header's layout: a C program built from
//! `include/WslPluginApi.h` prints the size, alignment and every field offset
//! of every struct, and each must equal Rust's.

use std::collections::BTreeMap;
use std::mem::{align_of, offset_of, size_of};
use std::path::Path;
use std::process::Command;
use wslp_abi::*;

/// (struct, C type spelling, fields): the table both sides are generated from.
macro_rules! layouts {
    ($( $name:ident as $cty:literal { $($field:ident),* $(,)? } )*) => {
        fn rust_layout() -> BTreeMap<String, usize> {
            let mut m = BTreeMap::new();
            $(
                m.insert(format!("{}.sizeof", stringify!($name)), size_of::<$name>());
                m.insert(format!("{}.alignof", stringify!($name)), align_of::<$name>());
                $( m.insert(format!("{}.{}", stringify!($name), stringify!($field)), offset_of!($name, $field)); )*
            )*
            m
        }

        fn c_program() -> String {
            let mut s = String::from("#include <stdio.h>\n#include <stddef.h>\n#include <stdalign.h>\n#include \"WslPluginApi.h\"\nint main(void) {\n");
            $(
                s.push_str(&format!("printf(\"{0}.sizeof %zu\\n\", sizeof({1}));\n", stringify!($name), $cty));
                s.push_str(&format!("printf(\"{0}.alignof %zu\\n\", alignof({1}));\n", stringify!($name), $cty));
                $( s.push_str(&format!("printf(\"{0}.{2} %zu\\n\", offsetof({1}, {2}));\n", stringify!($name), $cty, stringify!($field))); )*
            )*
            s.push_str("return 0;\n}\n");
            s
        }
    };
}

layouts! {
    GUID as "GUID" { Data1, Data2, Data3, Data4 }
    WSLVersion as "struct WSLVersion" { Major, Minor, Revision }
    WSLVmCreationSettings as "struct WSLVmCreationSettings" { CustomConfigurationFlags }
    WSLSessionInformation as "struct WSLSessionInformation" { SessionId, UserToken, UserSid }
    WSLDistributionInformation as "struct WSLDistributionInformation" {
        Id, Name, PidNamespace, PackageFamilyName, InitPid, Flavor, Version
    }
    WslOfflineDistributionInformation as "struct WslOfflineDistributionInformation" {
        Id, Name, PackageFamilyName, Flavor, Version
    }
    WSLCSessionInformation as "struct WSLCSessionInformation" {
        SessionId, DisplayName, ApplicationPid, UserToken, UserSid
    }
    WSLPluginHooksV1 as "struct WSLPluginHooksV1" {
        OnVMStarted, OnVMStopping, OnDistributionStarted, OnDistributionStopping,
        OnDistributionRegistered, OnDistributionUnregistered, OnSessionCreated,
        OnSessionStopping, ContainerStarted, ContainerStopping, ImageCreated, ImageDeleted,
        WslcVmStarted, WslcVmStopping
    }
    WSLPluginAPIV1 as "struct WSLPluginAPIV1" {
        Version, MountFolder, ExecuteBinary, PluginError, ExecuteBinaryInDistribution,
        WSLCMountFolder, WSLCUnmountFolder, WSLCCreateProcess, WSLCProcessGetFd,
        WSLCProcessGetExitEvent, WSLCProcessGetExitCode, WSLCReleaseProcess
    }
}

fn c_layout(compiler: &str, lang: &[&str]) -> BTreeMap<String, usize> {
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../include");
    let dir = std::env::temp_dir().join(format!("wslp-layout-{}-{compiler}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("layout.c");
    let exe = dir.join("layout");
    std::fs::write(&src, c_program()).unwrap();
    let out = Command::new(compiler)
        .args(lang)
        .args(["-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&exe)
        .arg(format!("-I{}", include.display()))
        .arg(&src)
        .output()
        .unwrap_or_else(|e| panic!("{compiler} is needed for the layout test: {e}"));
    assert!(
        out.status.success(),
        "{compiler} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(&exe).output().unwrap();
    assert!(run.status.success());
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

#[test]
fn c_and_rust_agree_on_every_size_and_offset() {
    let rust = rust_layout();
    let c = c_layout("gcc", &["-x", "c", "-std=c11"]);
    assert_eq!(c.len(), rust.len(), "every entry printed");
    for (k, v) in &rust {
        assert_eq!(
            c.get(k),
            Some(v),
            "{k}: C says {:?}, Rust says {v}",
            c.get(k)
        );
    }
}

#[test]
fn the_header_compiles_as_cpp_with_the_same_layout() {
    let rust = rust_layout();
    let cpp = c_layout("g++", &["-x", "c++", "-std=c++17"]);
    assert_eq!(cpp, rust);
}

#[test]
fn full_size_tables() {
    // 14 hooks and 11 API pointers after the version: the host allocates the
    // full structs so a plugin built against any header version is safe.
    assert_eq!(size_of::<WSLPluginHooksV1>(), 14 * size_of::<usize>());
    assert_eq!(size_of::<WSLPluginAPIV1>(), 16 + 11 * size_of::<usize>());
}
