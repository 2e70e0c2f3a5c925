//! A throwaway PostgreSQL cluster for the TLS tests (never the machine's shared server): its own
//! folder, a free port, run as the `postgres` user (initdb refuses root), and a test CA made
//! with `rcgen`.

use std::path::{Path, PathBuf};
use std::process::Command;

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

/// A PostgreSQL cluster of its own in a temporary folder.
pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// The port it listens on, on 127.0.0.1 only.
    pub port: u16,
}

impl Cluster {
    /// A running cluster. With `tls`, it serves TLS with that server certificate and its
    /// `pg_hba.conf` admits TCP clients over TLS only (`hostssl`); without, it has TLS off.
    pub fn start(tls: Option<&TestPki>) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let cluster = Cluster {
            bin: bin(),
            port: free_port(),
            dir,
        };
        let data = cluster.data();
        if is_root() {
            chown_to_postgres(cluster.dir.path());
        }
        cluster.as_postgres(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        let mut options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off",
            cluster.port,
            cluster.dir.path().display()
        );
        let hba = Path::new(&data).join("pg_hba.conf");
        if let Some(pki) = tls {
            let cert = Path::new(&data).join("server.crt");
            let key = Path::new(&data).join("server.key");
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
        if is_root() {
            chown_to_postgres(cluster.dir.path());
        }
        let log = cluster.dir.path().join("server.log").display().to_string();
        cluster.as_postgres(
            "pg_ctl",
            &["-D", &data, "-o", &options, "-l", &log, "-w", "start"],
        );
        cluster
    }

    /// `postgres://postgres@{host}:{port}/{database}`, then `?{params}` when not empty.
    pub fn url(&self, host: &str, database: &str, params: &str) -> String {
        let mut url = format!("postgres://postgres@{host}:{}/{database}", self.port);
        if !params.is_empty() {
            url.push('?');
            url.push_str(params);
        }
        url
    }

    /// A file in the cluster's folder holding `text` (a CA file for `sslrootcert`).
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn as_postgres(&self, program: &str, args: &[&str]) {
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(self.bin.join(program));
            c
        } else {
            Command::new(self.bin.join(program))
        };
        let out = command.args(args).output().expect("run PostgreSQL tool");
        assert!(
            out.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"])
                .arg(self.bin.join("pg_ctl"));
            c
        } else {
            Command::new(self.bin.join("pg_ctl"))
        };
        let _ = command
            .args(["-D", &data, "-m", "immediate", "stop"])
            .output();
    }
}

/// The newest PostgreSQL server binaries under /usr/lib/postgresql.
fn bin() -> PathBuf {
    let mut versions: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries under /usr/lib/postgresql")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    versions.sort();
    versions.pop().expect("a PostgreSQL version").join("bin")
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn chown_to_postgres(path: &Path) {
    let ok = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(path)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "chown the cluster folder to postgres");
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}
