//! Distributions started from a process's main thread stay up.
//!
//! An init sheds its copy of the caller's memory; the main thread's control
//! block (where glibc registers the thread's rseq area, which the kernel
//! writes on every reschedule) lies apart from its stack, and shedding it made
//! the kernel kill the init with SIGSEGV at a random moment. Test harnesses
//! run tests on other threads, so the scenario runs in a child process of this
//! test binary, on its main thread, before the harness starts (.init_array).

mod common;

use common::*;
use std::process::Command;
use wslp_vm::DistroSpec;

const PROBE: &str = "WSLP_VM_MAIN_THREAD_PROBE";

/// Runs before `main` in every process of this binary; only acts in the child.
extern "C" fn probe_before_main() {
    let Some(dir) = std::env::var_os(PROBE) else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let rootfs = busybox_rootfs(&dir);
    let vm = start_vm(&dir, "main-thread");
    let mut dead = 0;
    for _ in 0..40 {
        let d = vm
            .start_distribution(&DistroSpec {
                name: "main".into(),
                rootfs: rootfs.clone(),
                hostname: "main".into(),
                stored_shifted: false,
            })
            .expect("start");
        std::thread::sleep(std::time::Duration::from_millis(15));
        if !d.is_running() {
            dead += 1;
        }
        d.stop();
    }
    vm.stop();
    println!("dead={dead}");
    std::process::exit(0);
}

#[used]
#[link_section = ".init_array"]
static PROBE_BEFORE_MAIN: extern "C" fn() = probe_before_main;

#[test]
fn distributions_started_from_the_main_thread_stay_up() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .env(PROBE, dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.trim(), "dead=0", "distributions whose init died");
}
