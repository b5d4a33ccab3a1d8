//! Runs the fuzz seed corpus (`fuzz/corpus/parse`) under `cargo test`: no input may panic, and
//! every accepted input must survive emit and re-parse unchanged.

use std::path::Path;

use bfd_wire::{parse, ControlPacket};

fn roundtrip(pkt: &ControlPacket) -> ControlPacket {
    let mut out = Vec::new();
    pkt.emit(&mut out);
    assert_eq!(out.len(), pkt.buffer_len());
    parse(&out).expect("emitted packet parses")
}

#[test]
fn fuzz_seed_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/parse");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();

    let (mut accepted, mut rejected) = (0, 0);
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy();
        match parse(&bytes) {
            Ok(pkt) => {
                accepted += 1;
                assert_eq!(roundtrip(&pkt), pkt, "{name}");
            }
            Err(e) => {
                rejected += 1;
                // The seeds written by vectors.py say which they should be.
                assert!(!name.starts_with("ok-"), "{name} rejected: {e}");
            }
        }
        if name.starts_with("bad-") {
            assert!(parse(&bytes).is_err(), "{name} accepted");
        }
    }
    // An empty or missing corpus must not pass silently.
    assert!(accepted >= 13, "only {accepted} seeds accepted");
    assert!(rejected >= 22, "only {rejected} seeds rejected");
}
