#!/usr/bin/env python3
"""Independent computation of the test vectors in vectors.rs.

Builds every packet byte by byte with `struct` (no shared code with the Rust crate), computes
the RFC 5880 §6.7.3 / §6.7.4 digests with hashlib (key zero-padded to 16 / 20 bytes in place of
the digest field, hash over the whole packet), and prints the hex that vectors.rs hard-codes.

    python3 crates/bfd-wire/tests/vectors.py                  # print the vectors
    python3 crates/bfd-wire/tests/vectors.py fuzz/corpus/parse # also (re)write the seed corpus
"""

import hashlib
import os
import struct
import sys

MY, YOUR = 0x12345678, 0x9ABCDEF0
TX, RX, ECHO = 1_000_000, 300_000, 50_000
STATE = {"admin_down": 0, "down": 1, "init": 2, "up": 3}
P, F, C, A, D, M = 0x20, 0x10, 0x08, 0x04, 0x02, 0x01


def header(diag=0, state="up", flags=0, mult=3, length=24, my=MY, your=YOUR, version=1):
    return struct.pack(
        ">BBBBIIIII",
        version << 5 | diag,
        STATE[state] << 6 | flags,
        mult,
        length,
        my,
        your,
        TX,
        RX,
        ECHO,
    )


def simple(key_id, password, auth_type=1, auth_len=None):
    auth_len = 3 + len(password) if auth_len is None else auth_len
    return bytes([auth_type, auth_len, key_id]) + password


def keyed_signed(auth_type, key_id, seq, key, flags=0):
    n = 16 if auth_type in (2, 3) else 20
    auth_len = 8 + n
    pkt = header(flags=A | flags, length=24 + auth_len)
    pkt += struct.pack(">BBBBI", auth_type, auth_len, key_id, 0, seq)
    assert len(key) <= n
    with_key = pkt + key + bytes(n - len(key))
    h = hashlib.md5 if n == 16 else hashlib.sha1
    digest = h(with_key).digest()
    return pkt + digest, digest


POSITIVE = {
    "no_auth": header(),
    "down_zero_your": header(diag=1, state="down", your=0),
    "admin_down_zero_your": header(diag=7, state="admin_down", your=0),
    "reserved_diag": header(diag=31),
    "poll": header(flags=P),
    "final": header(flags=F),
    "cpi_demand": header(flags=C | D),
    # §6.8.6 discards only a Length below 24: four bytes inside Length that carry nothing.
    "no_auth_length_28": header(length=28) + bytes(4),
    "simple_password": header(flags=A, length=33) + simple(1, b"secret"),
}
KEYED = {
    # name: (type, key id, sequence, key)
    "keyed_md5": (2, 1, 0x0000002A, b"bfd-md5-key"),
    "meticulous_keyed_md5": (3, 2, 0xDEADBEEF, b"0123456789abcdef"),
    "keyed_sha1": (4, 3, 0x00000064, b"bfd-sha1-key"),
    "meticulous_keyed_sha1": (5, 4, 0xFFFFFFFE, b"0123456789abcdefghij"),
}
DIGESTS = {}
for name, (t, kid, seq, key) in KEYED.items():
    POSITIVE[name], DIGESTS[name] = keyed_signed(t, kid, seq, key)

NEGATIVE = {
    "truncated_23": header()[:23],
    "bad_version_2": header(version=2),
    "bad_version_0": header(version=0),
    "length_too_short": header(length=23),
    "length_too_short_auth": header(flags=A, length=25) + simple(1, b"x"),
    "length_exceeds_payload": header(length=25),
    "zero_detect_mult": header(mult=0),
    "multipoint": header(flags=M),
    "zero_my": header(my=0),
    "zero_your_up": header(your=0),
    "zero_your_init": header(state="init", your=0),
    "poll_and_final": header(flags=P | F),
    "auth_type_0": header(flags=A, length=33) + simple(1, b"secret", auth_type=0),
    "auth_type_6": header(flags=A, length=33) + simple(1, b"secret", auth_type=6),
    "auth_len_mismatch": header(flags=A, length=34) + simple(1, b"secret") + b"\0",
    "auth_len_mismatch_md5": header(flags=A, length=52)
    + struct.pack(">BBBBI", 2, 24, 1, 0, 42)
    + bytes(20),
    "bad_auth_len_simple_3": header(flags=A, length=27) + simple(1, b""),
    "bad_auth_len_simple_20": header(flags=A, length=44) + simple(1, b"0123456789abcdefg"),
    "bad_auth_len_md5_28": header(flags=A, length=52)
    + struct.pack(">BBBBI", 2, 28, 1, 0, 42)
    + bytes(20),
    "bad_auth_len_met_md5_23": header(flags=A, length=47)
    + struct.pack(">BBBBI", 3, 23, 1, 0, 42)
    + bytes(15),
    "bad_auth_len_sha1_24": header(flags=A, length=48)
    + struct.pack(">BBBBI", 4, 24, 1, 0, 42)
    + bytes(16),
    "bad_auth_len_met_sha1_29": header(flags=A, length=53)
    + struct.pack(">BBBBI", 5, 29, 1, 0, 42)
    + bytes(21),
}


def dump(title, table):
    print(f"== {title}")
    for name, data in table.items():
        print(f"{name:24} {len(data):3} {data.hex()}")


if __name__ == "__main__":
    dump("positive", POSITIVE)
    dump("negative", NEGATIVE)
    dump("digests", DIGESTS)
    if len(sys.argv) > 1:
        out = sys.argv[1]
        os.makedirs(out, exist_ok=True)
        for prefix, table in (("ok", POSITIVE), ("bad", NEGATIVE)):
            for name, data in table.items():
                with open(os.path.join(out, f"{prefix}-{name}.bin"), "wb") as f:
                    f.write(data)
