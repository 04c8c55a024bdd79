//! Compiles `proto/*.proto` (all in protobuf package `wa`) into `$OUT_DIR/wa.rs`.
//!
//! `protox` parses the schemas in pure Rust and hands prost-build a `FileDescriptorSet`, so no
//! system `protoc` is needed. Regeneration is automatic: editing any file under `proto/` reruns
//! this script on the next `cargo build -p wa-protos`.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = PathBuf::from("proto");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&proto_dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "proto"))
        .collect();
    files.sort();
    println!("cargo:rerun-if-changed={}", proto_dir.display());
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let descriptors = protox::compile(&files, [&proto_dir])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
