use super::*;

fn keks(list: &str) -> Keks {
    Keks::parse(&SecretString::from(list.to_owned()), KEK_ENV).unwrap()
}

fn pem() -> SecretString {
    SecretString::from("-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n")
}

#[test]
fn sealed_keys_open_only_under_their_kek_and_row() {
    let k1 = Keks::generate();
    let k2 = Keks::generate();
    let one = keks(k1.expose_secret());
    let sealed = one.seal("kid-a", &pem()).unwrap();
    assert!(!sealed.contains("PRIVATE KEY"), "{sealed}");
    assert!(!is_plaintext(&sealed));
    assert!(one.is_sealed_under_primary(&sealed));
    assert_eq!(
        one.open("kid-a", &sealed).unwrap().expose_secret(),
        pem().expose_secret()
    );
    // Two seals of one key differ (fresh nonce).
    assert_ne!(sealed, one.seal("kid-a", &pem()).unwrap());
    // Another row's kid is the associated data: a moved ciphertext does not open.
    let moved = one.open("kid-b", &sealed).unwrap_err();
    assert!(moved.0.contains(KEK_ENV), "{moved}");
    // A rotated list opens it with its second KEK and seals under the first.
    let rotated = keks(&format!("{}, {}", k2.expose_secret(), k1.expose_secret()));
    assert!(rotated.open("kid-a", &sealed).is_ok());
    assert!(!rotated.is_sealed_under_primary(&sealed));
    // Without the KEK it was sealed under, the message names the variable and the KEK id.
    let other = keks(k2.expose_secret());
    let e = other.open("kid-a", &sealed).unwrap_err();
    assert!(
        e.0.contains(KEK_ENV) && e.0.contains(one.primary_id()),
        "{e}"
    );
    // Plaintext is never accepted where a sealed key is expected.
    assert!(is_plaintext(pem().expose_secret()));
    assert!(one.open("kid-a", pem().expose_secret()).is_err());
}

#[test]
fn malformed_lists_name_the_variable_and_never_echo_the_value() {
    for bad in ["", " , ", "not base64!", "c2hvcnQ="] {
        let e = Keks::parse(&SecretString::from(bad.to_owned()), KEK_ENV).unwrap_err();
        assert!(e.0.contains(KEK_ENV), "{e}");
        if !bad.trim().is_empty() && bad != " , " {
            assert!(!e.0.contains(bad), "{e}");
        }
    }
    let e = Keks::from_settings(None, None).unwrap_err();
    assert!(e.0.contains(KEK_ENV), "{e}");
    let key = Keks::generate();
    let e = Keks::from_settings(Some(&key), Some(Path::new("/run/secrets/kek"))).unwrap_err();
    assert!(e.0.contains(KEK_ENV) && e.0.contains(KEK_FILE_ENV), "{e}");
    let e = Keks::from_settings(None, Some(Path::new("/nonexistent/kek"))).unwrap_err();
    assert!(e.0.contains(KEK_FILE_ENV), "{e}");
    assert!(!format!("{:?}", keks(key.expose_secret())).contains(key.expose_secret()));
}

#[test]
fn a_kek_file_is_read_with_surrounding_blanks() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kek");
    let key = Keks::generate();
    std::fs::write(&file, format!("{}\n", key.expose_secret())).unwrap();
    let from_file = Keks::from_settings(None, Some(&file)).unwrap();
    assert_eq!(from_file.ids(), keks(key.expose_secret()).ids());
}
