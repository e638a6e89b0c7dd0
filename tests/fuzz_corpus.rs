//! Every committed fuzz corpus file (fuzz/corpus/<target>/), crash reproducer included,
//! replayed through its target's checks on the stable toolchain: `cargo test` covers the
//! decoders' corpora without nightly or cargo-fuzz. The checks are the fuzz targets' own
//! (fuzz/src/lib.rs, included here).

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod harness;

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn corpus(target: &str) -> PathBuf {
    root().join("fuzz").join("corpus").join(target)
}

#[test]
fn every_committed_corpus_file_passes_its_targets_checks() {
    for (target, check) in harness::TARGETS {
        let dir = corpus(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("a directory entry").path())
            .collect();
        files.sort();
        assert!(
            !files.is_empty(),
            "no corpus for {target} in {}",
            dir.display()
        );
        for file in files {
            let bytes = std::fs::read(&file).expect("a corpus file");
            let run = std::panic::catch_unwind(|| check(&bytes));
            assert!(run.is_ok(), "{target}: {} fails its checks", file.display());
        }
    }
}

#[test]
fn the_seed_corpora_are_committed_and_decode() {
    // The seeds are valid examples: each is in the repository as generated.
    for (target, name, bytes) in harness::seeds::seeds(&root()) {
        let file = corpus(target).join(&name);
        let stored = std::fs::read(&file)
            .unwrap_or_else(|e| panic!("{}: {e} (write_seed_corpus makes it)", file.display()));
        assert_eq!(stored, bytes, "{} differs from its seed", file.display());
    }
}

/// Writes the seed corpora: `cargo test -p troupe --test fuzz_corpus -- --ignored`.
#[test]
#[ignore = "writes fuzz/corpus/: run by hand after a wire format change"]
fn write_seed_corpus() {
    for (target, name, bytes) in harness::seeds::seeds(&root()) {
        let dir = corpus(target);
        std::fs::create_dir_all(&dir).expect("a corpus directory");
        std::fs::write(Path::new(&dir).join(name), bytes).expect("a seed file");
    }
}
