//! Unit tests of the token helpers.

use super::{random_token, sha256_hex};

#[test]
fn tokens_are_random_and_hashes_hex() {
    let a = random_token();
    assert_eq!(a.len(), 43);
    assert_ne!(a, random_token());
    assert_eq!(
        sha256_hex("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}
