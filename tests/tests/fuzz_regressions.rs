//! Every fuzz target's seed corpus (`fuzz/corpus/<target>/`) and every input a
//! fuzzing run found a bug with (`fuzz/regressions/<target>/`), replayed through
//! the same bodies the fuzz targets run (scripts/fuzz.sh), so a fixed crash
//! stays fixed without nightly or cargo-fuzz.

#[path = "../../fuzz/fuzz_targets/bodies.rs"]
mod bodies;

use std::path::Path;

#[test]
fn fuzz_corpora_and_regressions_replay_without_a_crash() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut replayed = 0;
    for (target, body) in bodies::TARGETS {
        let mut inputs = 0;
        for kind in ["corpus", "regressions"] {
            let dir = fuzz.join(kind).join(target);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries {
                let path = e.unwrap().path();
                if path.file_name().is_some_and(|n| n == ".keep") {
                    continue;
                }
                let data = std::fs::read(&path).unwrap();
                eprintln!("{target}: {}", path.display());
                body(&data);
                inputs += 1;
            }
        }
        assert!(inputs > 0, "no seed corpus for the fuzz target {target}");
        replayed += inputs;
    }
    eprintln!("{replayed} inputs replayed");
}
