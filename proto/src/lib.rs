//! The generated strata.v1 gRPC contract: prost messages, the tonic client and server, and the
//! encoded file descriptor set for server reflection.
//!
//! This crate owns only generated code and its re-exports; it must never contain behaviour
//! (validation, conversion to engine types, I/O). Those live in `strata-server`.

/// Package `strata.v1`: every message, the `Compression` enum, and the
/// `strata_client` / `strata_server` modules.
pub mod v1 {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    include!(concat!(env!("OUT_DIR"), "/strata.v1.rs"));
}

/// The encoded `FileDescriptorSet` of strata.v1, for `tonic_reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/strata_v1_descriptor.bin"));

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn descriptor_set_names_the_service() {
        let fds = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET)
            .expect("the build script wrote a valid descriptor set");
        let file = fds
            .file
            .iter()
            .find(|f| f.package() == "strata.v1")
            .expect("strata.v1 is in the set");
        assert!(file.service.iter().any(|s| s.name() == "Strata"));
    }

    #[test]
    fn compression_names_match_the_contract() {
        assert_eq!(v1::Compression::None.as_str_name(), "NONE");
        assert_eq!(v1::Compression::Zstd.as_str_name(), "ZSTD");
        assert_eq!(
            v1::Compression::Unspecified.as_str_name(),
            "COMPRESSION_UNSPECIFIED"
        );
    }
}
