//! TLS for PostgreSQL connections through rustls (no OpenSSL), with libpq's `sslmode` meaning:
//!
//! | sslmode | encrypted | chain verified | host name checked |
//! |---|---|---|---|
//! | `disable` | no | — | — |
//! | `prefer` | if the server offers it | only if `sslrootcert` is given | no |
//! | `require` | yes | only if `sslrootcert` is given (then like `verify-ca`, as libpq does) | no |
//! | `verify-ca` | yes | against `sslrootcert`, else the webpki roots | no |
//! | `verify-full` | yes | against `sslrootcert`, else the webpki roots | yes |
//!
//! With `sslcert` and `sslkey` the client certificate is sent when the server asks for one
//! (`clientcert=verify-ca`/`verify-full`, or the `cert` method in `pg_hba.conf`). The key must be
//! unencrypted, and readable by its owner only (as libpq checks); errors name its path, never
//! a byte of it.
//!
//! rustls only ships a verifier that does everything (`verify-full`), so the weaker modes use
//! [`Verifier`], which still checks the handshake signatures (the server holds the key of the
//! certificate it sent) and skips only what libpq skips.

use std::fmt;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::config::{ConnectionSpec, SslMode};
use crate::error::{Error, Result};

/// The connector for `spec`'s sslmode. Not called for `disable`.
pub(crate) fn make_connect(spec: &ConnectionSpec) -> Result<MakeRustlsConnect> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let explicit_roots = match &spec.sslrootcert {
        Some(path) => Some(load_roots(path)?),
        None => None,
    };
    let (roots, check_name) = match spec.sslmode {
        SslMode::Disable | SslMode::Prefer | SslMode::Require => (explicit_roots, false),
        SslMode::VerifyCa => (Some(explicit_roots.unwrap_or_else(webpki_roots)), false),
        SslMode::VerifyFull => (Some(explicit_roots.unwrap_or_else(webpki_roots)), true),
    };
    let verifier = Verifier {
        roots: roots.map(Arc::new),
        check_name,
        provider: provider.clone(),
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::connection("cannot set up TLS").with_source(e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let config = match (&spec.sslcert, &spec.sslkey) {
        (Some(cert), Some(key)) => {
            let chain = load_client_chain(cert)?;
            let key_der = load_client_key(key)?;
            builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                Error::invalid(format!(
                    "sslkey {} is not the key of the certificate in sslcert {}",
                    key.display(),
                    cert.display()
                ))
                .with_source(e)
                .with_help(CLIENT_KEY_HELP)
            })?
        }
        // `SpecBuilder::finish` refuses one without the other.
        _ => builder.with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(config))
}

fn webpki_roots() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// Reads `sslrootcert`: one or more PEM certificates, each trusted as a root.
fn load_roots(path: &Path) -> Result<RootCertStore> {
    let help = "set sslrootcert to a PEM file holding the certificate of the CA that signed the \
                server's certificate (or the server's own certificate if it is self-signed)";
    let file = std::fs::File::open(path).map_err(|e| {
        Error::invalid(format!("cannot read sslrootcert {}", path.display()))
            .with_source(e)
            .with_help(help)
    })?;
    let mut roots = RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut BufReader::new(file)) {
        let cert = cert.map_err(|e| {
            Error::invalid(format!("sslrootcert {} is not valid PEM", path.display()))
                .with_source(e)
                .with_help(help)
        })?;
        roots.add(cert).map_err(|e| {
            Error::invalid(format!(
                "sslrootcert {} holds an unusable certificate",
                path.display()
            ))
            .with_source(e)
            .with_help(help)
        })?;
    }
    if roots.is_empty() {
        return Err(Error::invalid(format!(
            "sslrootcert {} holds no PEM certificate",
            path.display()
        ))
        .with_help(help));
    }
    Ok(roots)
}

const CLIENT_CERT_HELP: &str =
    "set sslcert to a PEM file holding the client certificate (signed by a CA the server's \
     ssl_ca_file trusts, its common name the user name for clientcert=verify-full), followed by \
     any intermediate certificates";
const CLIENT_KEY_HELP: &str = "set sslkey to the PEM file of the client certificate's private \
     key, unencrypted and readable by its owner only (chmod 0600)";

/// Reads `sslcert`: the client certificate, then any intermediates.
fn load_client_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let file = std::fs::File::open(path).map_err(|e| {
        Error::invalid(format!("cannot read sslcert {}", path.display()))
            .with_source(e)
            .with_help(CLIENT_CERT_HELP)
    })?;
    let chain = rustls_pemfile::certs(&mut BufReader::new(file))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| {
            Error::invalid(format!("sslcert {} is not valid PEM", path.display()))
                .with_source(e)
                .with_help(CLIENT_CERT_HELP)
        })?;
    if chain.is_empty() {
        return Err(Error::invalid(format!(
            "sslcert {} holds no PEM certificate",
            path.display()
        ))
        .with_help(CLIENT_CERT_HELP));
    }
    Ok(chain)
}

/// Reads `sslkey`: one unencrypted private key (PKCS#8, PKCS#1 or SEC1 PEM). Nothing read
/// from the file reaches an error: the parser's own messages are left out too.
fn load_client_key(path: &Path) -> Result<rustls::pki_types::PrivateKeyDer<'static>> {
    let read_error = |e: std::io::Error| {
        Error::invalid(format!("cannot read sslkey {}", path.display()))
            .with_source(e)
            .with_help(CLIENT_KEY_HELP)
    };
    let metadata = std::fs::metadata(path).map_err(read_error)?;
    check_key_permissions(path, &metadata)?;
    let bytes = std::fs::read(path).map_err(read_error)?;
    if is_encrypted_pem_key(&bytes) {
        return Err(Error::invalid(format!(
            "sslkey {} is encrypted with a passphrase, which cargo-confiture cannot decrypt",
            path.display()
        ))
        .with_help(format!(
            "write an unencrypted copy readable by its owner only, e.g. `openssl pkey -in {} \
             -out {plain} && chmod 0600 {plain}`, and set sslkey to it",
            crate::hint::quote(&path.to_string_lossy()),
            plain = crate::hint::quote(&format!("{}.plain", path.to_string_lossy()))
        )));
    }
    match rustls_pemfile::private_key(&mut &bytes[..]) {
        Ok(Some(key)) => Ok(key),
        Ok(None) | Err(_) => Err(Error::invalid(format!(
            "sslkey {} holds no PEM private key",
            path.display()
        ))
        .with_help(CLIENT_KEY_HELP)),
    }
}

/// Whether a PEM key needs a passphrase: PKCS#8 `ENCRYPTED PRIVATE KEY`, or the traditional
/// OpenSSL form with a `Proc-Type: 4,ENCRYPTED` header.
fn is_encrypted_pem_key(bytes: &[u8]) -> bool {
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    contains(b"-----BEGIN ENCRYPTED PRIVATE KEY-----") || contains(b"Proc-Type: 4,ENCRYPTED")
}

/// libpq's rule: a key others may read is refused (0600 or less when owned by the user, 0640
/// or less when owned by root, as distributions install them).
#[cfg(unix)]
fn check_key_permissions(path: &Path, metadata: &std::fs::Metadata) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let mode = metadata.mode() & 0o777;
    let allowed = if metadata.uid() == 0 { 0o640 } else { 0o600 };
    if mode & !allowed != 0 {
        return Err(Error::invalid(format!(
            "sslkey {} can be read by other users (mode {mode:04o}); a private key must be \
             private",
            path.display()
        ))
        .with_help(format!(
            "chmod 0600 {} (0640 is accepted for a key owned by root)",
            crate::hint::quote(&path.to_string_lossy())
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_key_permissions(_path: &Path, _metadata: &std::fs::Metadata) -> Result<()> {
    Ok(())
}

/// Verifies what the sslmode asks for: the chain when `roots` is set, the host name when
/// `check_name` is set, and always the handshake signatures.
struct Verifier {
    roots: Option<Arc<RootCertStore>>,
    check_name: bool,
    provider: Arc<CryptoProvider>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("roots", &self.roots.as_ref().map(|r| r.len()))
            .field("check_name", &self.check_name)
            .finish()
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(roots) = &self.roots else {
            return Ok(ServerCertVerified::assertion());
        };
        let cert = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(
            &cert,
            roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        if self.check_name {
            verify_server_name(&cert, server_name)?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key's path went into the suggested `chmod` and `openssl` commands as it is: a
    /// space or a control character in it made the pasted command act on other files.
    #[cfg(unix)]
    #[test]
    fn the_suggested_commands_for_a_key_act_on_that_key() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("confiture-tls-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("my key\t(prod).pem");
        std::fs::write(&key, "-----BEGIN ENCRYPTED PRIVATE KEY-----\n").unwrap();
        let set_mode =
            |mode| std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
        set_mode(0o644);
        let help = load_client_key(&key).unwrap_err().help.unwrap();
        let command = help.split(" (0640").next().unwrap();
        let status = std::process::Command::new("bash")
            .arg("-c")
            .arg(command)
            .status()
            .unwrap();
        assert!(status.success(), "{help}");
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{help}");

        let help = load_client_key(&key).unwrap_err().help.unwrap();
        let plain = crate::hint::quote(&format!("{}.plain", key.display())).into_owned();
        assert!(
            help.contains(&format!(
                "`openssl pkey -in {} -out {plain} && chmod 0600 {plain}`",
                crate::hint::quote(&key.display().to_string())
            )),
            "{help}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
