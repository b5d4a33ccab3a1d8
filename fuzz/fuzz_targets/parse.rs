//! Arbitrary bytes into `bfd_wire::parse`: it must never panic, and whatever it accepts must
//! emit to a packet that parses back to the same value, byte for byte the Length prefix of the
//! input up to the two normalisations parse allows (see `canonical`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(pkt) = bfd_wire::parse(data) {
        let mut out = Vec::with_capacity(pkt.buffer_len());
        pkt.emit(&mut out);
        assert_eq!(out.len(), pkt.buffer_len());
        assert_eq!(usize::from(out[3]), out.len());
        assert_eq!(bfd_wire::parse(&out), Ok(pkt));
        assert_eq!(out, canonical(data));
    }
});

/// The Length prefix of accepted `data` as emit writes it: a Length above 24 without the A bit
/// (which §6.8.6 does not discard) becomes the 24-byte packet, and the Reserved byte of a keyed
/// section, ignored on receipt, is written as zero (§4.3, §4.4).
fn canonical(data: &[u8]) -> Vec<u8> {
    let header = bfd_wire::HEADER_LEN;
    let length = usize::from(data[3]);
    let mut expected = data[..length].to_vec();
    let has_auth = data[1] & 0x04 != 0;
    if !has_auth && length > header {
        expected.truncate(header);
        expected[3] = header as u8;
    }
    if has_auth && (2..=5).contains(&data[header]) {
        expected[header + 3] = 0;
    }
    expected
}
