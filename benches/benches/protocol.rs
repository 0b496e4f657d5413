//! Micro-benchmarks of the service protocol's hot path: every `wslp` command
//! encodes a Hello and a Run request and decodes a few answers.
//! `cargo bench -p wslp-bench --bench protocol`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use wslp_ipc::protocol::{
    decode, encode, ClientMessage, Request, RunCommand, RunRequest, ServerMessage,
};

fn run_request() -> ClientMessage {
    ClientMessage::Request(Request::Run(RunRequest {
        distribution: Some("Debian".into()),
        user: None,
        cwd: Some("/home/user/src/project".into()),
        command: RunCommand::Exec(vec!["cargo".into(), "test".into(), "--workspace".into()]),
        tty: false,
        term: Some("xterm-256color".into()),
        lang: Some("C.UTF-8".into()),
    }))
}

fn frames(c: &mut Criterion) {
    let req = run_request();
    let frame = encode(&req);
    c.bench_function("encode Run request frame", |b| {
        b.iter(|| encode(black_box(&req)))
    });
    c.bench_function("decode Run request frame", |b| {
        b.iter(|| decode::<ClientMessage>(black_box(&frame)).unwrap())
    });
    let exited = encode(&ServerMessage::Exited { code: 0 });
    c.bench_function("encode Exited frame", |b| {
        b.iter(|| encode(black_box(&ServerMessage::Exited { code: 0 })))
    });
    c.bench_function("decode Exited frame", |b| {
        b.iter(|| decode::<ServerMessage>(black_box(&exited)).unwrap())
    });
    let failure = ServerMessage::Failed {
        text: "A fatal error was returned by plugin 'MyPlugin'. Error message: 'no license'\nError code: Wsl/Service/CreateInstance/CreateVm/Plugin/E_UNEXPECTED".into(),
        exit_code: 1,
    };
    let failed = encode(&failure);
    c.bench_function("decode Failed frame", |b| {
        b.iter(|| decode::<ServerMessage>(black_box(&failed)).unwrap())
    });
}

criterion_group!(benches, frames);
criterion_main!(benches);
