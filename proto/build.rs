//! Build script: compiles proto/strata/v1/strata.proto with protox (pure Rust, no protoc),
//! writes the file descriptor set to OUT_DIR for server reflection, and generates the prost
//! messages and tonic client/server code from it.
//!
//! It must never need a system `protoc` or network access.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/strata/v1/strata.proto";
    println!("cargo:rerun-if-changed={proto}");
    println!("cargo:rerun-if-changed=build.rs");

    let fds = protox::compile([proto], ["proto"])?;

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("strata_v1_descriptor.bin"),
        fds.encode_to_vec(),
    )?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // `bytes` fields decode as slices of the received buffer (no copy per key or value).
        .bytes(".")
        .compile_fds(fds)?;
    Ok(())
}
