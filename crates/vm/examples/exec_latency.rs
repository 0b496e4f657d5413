//! Rough latency of ExecuteBinary and spawn in a namespace VM (run as root):
//! `cargo run --release -p wslp-vm --example exec_latency [N]`.
//! Not a benchmark with statistics; the project's benchmark lives elsewhere.

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::time::Instant;

use wslp_vm::{NamespaceBackend, ProcessSpec, VmBackend, VmConfig};

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let dir = std::env::temp_dir().join(format!("wslp-exec-latency-{}", std::process::id()));
    let t = Instant::now();
    let vm = NamespaceBackend
        .start(&VmConfig::new(&dir, "latency"))
        .expect("start the VM (as root)");
    println!("VM start: {:?}", t.elapsed());

    let argv = vec!["true".to_string()];
    let t = Instant::now();
    for _ in 0..n {
        let sock = vm
            .execute_binary("/bin/true", &argv)
            .expect("execute_binary");
        let mut s = UnixStream::from(sock);
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).unwrap();
    }
    println!(
        "execute_binary /bin/true until EOF: {:?} each",
        t.elapsed() / n
    );

    let t = Instant::now();
    for _ in 0..n {
        let null = || {
            std::fs::File::options()
                .read(true)
                .write(true)
                .open("/dev/null")
                .unwrap()
                .into()
        };
        let p = vm
            .spawn(ProcessSpec {
                program: None,
                argv: argv.clone(),
                env: vec![],
                cwd: None,
                uid: 0,
                gid: 0,
                groups: vec![],
                stdin: null(),
                stdout: null(),
                stderr: null(),
                controlling_tty: false,
                rlimits: Vec::new(),
                no_new_privs: false,
            })
            .expect("spawn");
        p.wait().unwrap();
    }
    println!("spawn /bin/true + wait: {:?} each", t.elapsed() / n);

    let t = Instant::now();
    vm.stop();
    println!("VM stop: {:?}", t.elapsed());
    let _ = std::fs::remove_dir_all(&dir);
}
