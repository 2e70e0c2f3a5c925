//! A throwaway PostgreSQL cluster for the TLS tests (never the machine's shared server): its own
//! folder, a free port, run as the `postgres` user (initdb refuses root), and a test CA made
//! with `rcgen`.

use std::path::{Path, PathBuf};

use db_core::testing::PgCluster;

/// A certificate authority made for one test, and a server certificate it signed.
pub struct TestPki {
    /// The CA certificate (PEM): what `sslrootcert` names.
    pub ca_pem: String,
    /// The server certificate (PEM), issued for the DNS name `localhost` only.
    pub server_cert_pem: String,
    /// The server's private key (PKCS#8 PEM).
    pub server_key_pem: String,
}

impl TestPki {
    /// A new CA, and a server certificate for `localhost` signed by it.
    pub fn new() -> TestPki {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose,
        };
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "codelab test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
        let issuer = Issuer::new(ca, ca_key);
        let server_key = KeyPair::generate().unwrap();
        let mut server = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        server
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        server.use_authority_key_identifier_extension = true;
        server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert_pem = server.signed_by(&server_key, &issuer).unwrap().pem();
        TestPki {
            ca_pem,
            server_cert_pem,
            server_key_pem: server_key.serialize_pem(),
        }
    }
}

/// A PostgreSQL cluster of its own, with or without TLS.
pub struct Cluster {
    pg: PgCluster,
}

impl Cluster {
    /// A running cluster. With `tls`, it serves TLS with that server certificate and its
    /// `pg_hba.conf` admits TCP clients over TLS only (`hostssl`); without, it has TLS off.
    pub fn start(tls: Option<&TestPki>) -> Cluster {
        let pg = PgCluster::init();
        let data = pg.data_dir();
        let hba = data.join("pg_hba.conf");
        let mut options = "-c fsync=off".to_owned();
        if let Some(pki) = tls {
            let cert = data.join("server.crt");
            let key = data.join("server.key");
            std::fs::write(&cert, &pki.server_cert_pem).unwrap();
            std::fs::write(&key, &pki.server_key_pem).unwrap();
            set_mode(&key, 0o600);
            std::fs::write(
                &hba,
                "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
            )
            .unwrap();
            options.push_str(" -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key");
        } else {
            std::fs::write(
                &hba,
                "local all all trust\nhost all all 127.0.0.1/32 trust\n",
            )
            .unwrap();
            options.push_str(" -c ssl=off");
        }
        pg.start(&options);
        Cluster { pg }
    }

    /// `postgres://postgres@{host}:{port}/{database}`, then `?{params}` when not empty.
    pub fn url(&self, host: &str, database: &str, params: &str) -> String {
        self.pg.url(host, database, params)
    }

    /// A file in the cluster's folder holding `text` (a CA file for `sslrootcert`).
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.pg.dir().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}
