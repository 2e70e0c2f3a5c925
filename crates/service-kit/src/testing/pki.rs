//! A throwaway certificate authority for tests: a CA made with rcgen,
//! server certificates for `127.0.0.1`/`localhost` and client certificates, written as PEM
//! files into a folder.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber,
};

use crate::client::ClientTls;
use crate::tls::TlsSettings;

/// A CA and the folder its files go to.
pub struct TestPki {
    dir: PathBuf,
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate's PEM file.
    pub ca_file: PathBuf,
    serial: u64,
}

/// A certificate and key written as PEM files.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate (PEM).
    pub cert_file: PathBuf,
    /// Its private key (PEM, PKCS#8).
    pub key_file: PathBuf,
    /// The certificate's serial number.
    pub serial: u64,
    /// The certificate in DER, to compare with what a peer presents.
    pub der: Vec<u8>,
}

impl TestPki {
    /// A new CA named `name`, its certificate written to `dir/ca.pem`.
    ///
    /// # Panics
    /// When the key cannot be generated or the file written (tests only).
    pub fn new(dir: &Path, name: &str) -> TestPki {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA certificate");
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, cert.pem()).expect("write CA");
        TestPki {
            dir: dir.to_path_buf(),
            issuer: Issuer::new(params, key),
            ca_file,
            serial: 1,
        }
    }

    fn issue(&mut self, stem: &str, common_name: &str, server: bool) -> Issued {
        let names = if server {
            vec!["localhost".to_owned(), "127.0.0.1".to_owned()]
        } else {
            Vec::new()
        };
        let mut params = CertificateParams::new(names).expect("params");
        self.serial += 1;
        params.serial_number = Some(SerialNumber::from(self.serial));
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![if server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("certificate");
        let cert_file = self.dir.join(format!("{stem}.pem"));
        let key_file = self.dir.join(format!("{stem}-key.pem"));
        std::fs::write(&cert_file, cert.pem()).expect("write certificate");
        std::fs::write(&key_file, key.serialize_pem()).expect("write key");
        Issued {
            cert_file,
            key_file,
            serial: self.serial,
            der: cert.der().to_vec(),
        }
    }

    /// A server certificate for `localhost` and `127.0.0.1` with subject `common_name`, written
    /// to `dir/<stem>.pem` and `dir/<stem>-key.pem` (replacing earlier files of that name).
    pub fn server(&mut self, stem: &str, common_name: &str) -> Issued {
        self.issue(stem, common_name, true)
    }

    /// A client certificate with subject `common_name`.
    pub fn client(&mut self, stem: &str, common_name: &str) -> Issued {
        self.issue(stem, common_name, false)
    }

    /// Server settings serving `issued`, requiring client certificates of this CA when
    /// `mutual`.
    pub fn settings(&self, issued: &Issued, mutual: bool) -> TlsSettings {
        TlsSettings {
            cert_file: Some(issued.cert_file.clone()),
            key_file: Some(issued.key_file.clone()),
            client_ca_file: mutual.then(|| self.ca_file.clone()),
        }
    }

    /// Client settings trusting this CA, presenting `identity` when given.
    pub fn client_tls(&self, identity: Option<&Issued>) -> ClientTls {
        ClientTls {
            ca_file: Some(self.ca_file.clone()),
            cert_file: identity.map(|i| i.cert_file.clone()),
            key_file: identity.map(|i| i.key_file.clone()),
        }
    }
}
