//! TLS for PostgreSQL connections through rustls (no OpenSSL), with libpq's `sslmode` meaning:
//!
//! | sslmode | encrypted | chain verified | host name checked |
//! |---|---|---|---|
//! | `disable` | no | — | — |
//! | `prefer` | if the server offers it | only if `sslrootcert` is given | no |
//! | `require` | yes | only if `sslrootcert` is given (then like `verify-ca`, as libpq does) | no |
//! | `verify-ca` | yes | against `sslrootcert`, else `~/.postgresql/root.crt` (as libpq) | no |
//! | `verify-full` | yes | against `sslrootcert`, else `~/.postgresql/root.crt` (as libpq) | yes |
//!
//! `sslrootcert=system` ([`SYSTEM_ROOTS`](crate::config::SYSTEM_ROOTS), libpq 16) is the
//! webpki (Mozilla) roots, with `verify-full` (`SpecBuilder::finish` refuses a weaker mode):
//! the public roots are never trusted without the host name check.
//!
//! With `sslcert` and `sslkey` the client certificate is sent when the server asks for one
//! (`clientcert=verify-ca`/`verify-full`, or the `cert` method in `pg_hba.conf`). The key must be
//! unencrypted, and readable by its owner only (as libpq checks); errors name its path, never
//! a byte of it.
//!
//! rustls only ships a verifier that does everything (`verify-full`), so the weaker modes use
//! [`Verifier`], which still checks the handshake signatures (the server holds the key of the
//! certificate it sent) and skips only what libpq skips.
//!
//! The cryptography is the process's rustls [`CryptoProvider`] ([`crypto_provider`]): the one
//! the application installed with `CryptoProvider::install_default`, else *ring*'s.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::crypto::{
    verify_tls12_signature, verify_tls13_signature, verify_tls13_signature_with_raw_key,
    CryptoProvider, WebPkiSupportedAlgorithms,
};
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, ServerName, SubjectPublicKeyInfoDer, UnixTime,
};
use rustls::server::ParsedCertificate;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{
    ClientConfig, DigitallySignedStruct, InconsistentKeys, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::config::{
    read_interrupted, read_user_file, ConnectionSpec, ReadError, SslMode, STREAM_WAIT,
};
use crate::error::{Error, Result};

/// The connector for `spec`'s sslmode. Not called for `disable`.
pub(crate) fn make_connect(spec: &ConnectionSpec) -> Result<MakeRustlsConnect> {
    let provider = crypto_provider();
    // `SpecBuilder::finish` gave the verify modes their roots (`~/.postgresql/root.crt` when
    // none was named) and `sslrootcert=system` verify-full; a spec changed by hand is held to
    // the same: no roots is no verification there, never the public roots.
    let system = spec.uses_system_roots();
    let roots = match &spec.sslrootcert {
        Some(_) if system => Some(webpki_roots()),
        Some(path) => Some(load_roots(path)?),
        None => None,
    };
    let verify = matches!(spec.sslmode, SslMode::VerifyCa | SslMode::VerifyFull);
    if verify && roots.is_none() {
        return Err(Error::invalid(format!(
            "sslmode={} needs the CA certificates to check the server's certificate against, \
             and no sslrootcert is set",
            spec.sslmode
        ))
        .with_help(ROOTS_HELP));
    }
    let check_name = spec.sslmode == SslMode::VerifyFull || system;
    let verifier = Verifier {
        roots: roots.map(Arc::new),
        check_name,
        provider: provider.clone(),
    };
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::connection("cannot set up TLS").with_source(e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let config = match (&spec.sslcert, &spec.sslkey) {
        (Some(cert), Some(key)) => {
            let chain = load_client_chain(cert)?;
            let key_der = load_client_key(key)?;
            let certified = certified_key(chain, key_der, &provider, cert, key)?;
            builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(certified)))
        }
        // `SpecBuilder::finish` refuses one without the other.
        _ => builder.with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(config))
}

/// The process's rustls provider: the one the application installed
/// (`CryptoProvider::install_default`), else *ring*'s (the only provider this crate enables).
/// Never rustls's own pick from its crate features: an application whose build also enables
/// rustls's `aws-lc-rs` feature leaves it none to pick, and rustls would panic at the first
/// TLS connection. rustls 0.23.48 deprecates naming *ring*'s provider (it lacks post-quantum
/// key exchange), which changes nothing for a PostgreSQL server's handshake.
fn crypto_provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(ring_provider)
}

/// *ring*'s provider, named (see [`crypto_provider`]).
#[allow(deprecated)]
fn ring_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The client certificate and its key, checked to belong together. rustls's check
/// (`CertifiedKey::keys_match`, what `with_client_auth_cert` runs) reads the certificate with
/// webpki, which reads X.509 version 3 only; libpq (OpenSSL) also sends a version 1
/// certificate (what `openssl x509 -req` writes without extensions), and so do we: the
/// certificate is only sent, never read by rustls again, and its key is compared here.
fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key_der: PrivateKeyDer<'static>,
    provider: &CryptoProvider,
    cert: &Path,
    key: &Path,
) -> Result<CertifiedKey> {
    // rustls's error names the key types it tried, never a byte of the key.
    let signing_key = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| {
            Error::invalid(format!(
                "{} holds a private key TLS cannot use (RSA, ECDSA and Ed25519 keys can be)",
                named("sslkey", key)
            ))
            .with_source(e)
            .with_help(CLIENT_KEY_HELP)
        })?;
    let certified = CertifiedKey::new(chain, signing_key);
    let matches = match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => true,
        Err(rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => false,
        // webpki could not read the certificate: compared here when it is an older version.
        Err(unread) => match OlderCertificate::read(&certified.cert[0]) {
            Some(older) => certified
                .key
                .public_key()
                .is_none_or(|ours| ours.as_ref() == older.spki.as_slice()),
            None => {
                return Err(Error::invalid(format!(
                    "{} holds a client certificate that cannot be read",
                    named("sslcert", cert)
                ))
                .with_source(unread)
                .with_help(CLIENT_CERT_HELP))
            }
        },
    };
    if !matches {
        return Err(Error::invalid(format!(
            "{} is not the key of the certificate in {}",
            named("sslkey", key),
            named("sslcert", cert)
        ))
        .with_help(CLIENT_KEY_HELP));
    }
    Ok(certified)
}

/// An X.509 certificate of version 1 or 2 (what `openssl x509 -req` writes without
/// extensions), which webpki does not read (version 3 only), read here through `x509-cert`: the
/// one reading of such a certificate, for a client certificate's key check
/// ([`certified_key`]) and for a server's certificate, whose handshake signature
/// [`Verifier`] checks with its key and whose chain it refuses to verify
/// ([`UnverifiableServerCertificate`]).
struct OlderCertificate {
    /// 1 or 2.
    version: u8,
    /// The `SubjectPublicKeyInfo`, DER.
    spki: Vec<u8>,
    /// Its `AlgorithmIdentifier`'s contents (the tag and length left out), as
    /// `SignatureVerificationAlgorithm::public_key_alg_id` gives them.
    key_algorithm: Vec<u8>,
    /// Its `subjectPublicKey` bits.
    key: Vec<u8>,
}

impl OlderCertificate {
    /// `None` for a version 3 certificate or bytes that are no certificate.
    fn read(der: &[u8]) -> Option<OlderCertificate> {
        use x509_cert::certificate::Version;
        use x509_cert::der::{Decode, Encode, EncodeValue};
        let cert = x509_cert::Certificate::from_der(der).ok()?;
        let tbs = &cert.tbs_certificate;
        let version = match tbs.version {
            Version::V1 => 1,
            Version::V2 => 2,
            Version::V3 => return None,
        };
        let info = &tbs.subject_public_key_info;
        let mut key_algorithm = Vec::new();
        info.algorithm.encode_value(&mut key_algorithm).ok()?;
        Some(OlderCertificate {
            version,
            spki: info.to_der().ok()?,
            key_algorithm,
            key: info.subject_public_key.as_bytes()?.to_vec(),
        })
    }

    /// A TLS 1.3 handshake signature made with this certificate's key: rustls's check of a
    /// raw public key.
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        dss: &DigitallySignedStruct,
        algorithms: &WebPkiSupportedAlgorithms,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let spki = SubjectPublicKeyInfoDer::from(self.spki.as_slice());
        verify_tls13_signature_with_raw_key(message, &spki, dss, algorithms)
    }

    /// A TLS 1.2 handshake signature made with this certificate's key, checked as rustls's
    /// `verify_tls12_signature` checks one by a certificate (which only reads version 3):
    /// each algorithm the scheme maps to whose public key algorithm is the key's, the first
    /// that verifies it.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        scheme: SignatureScheme,
        signature: &[u8],
        algorithms: &WebPkiSupportedAlgorithms,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        use SignatureScheme as S;
        let unadvertised = || rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme;
        // The schemes TLS 1.2 has (rustls's `SignatureScheme::algorithm`, not public).
        let in_tls12 = matches!(
            scheme,
            S::RSA_PKCS1_SHA1
                | S::RSA_PKCS1_SHA256
                | S::RSA_PKCS1_SHA384
                | S::RSA_PKCS1_SHA512
                | S::RSA_PSS_SHA256
                | S::RSA_PSS_SHA384
                | S::RSA_PSS_SHA512
                | S::ECDSA_SHA1_Legacy
                | S::ECDSA_NISTP256_SHA256
                | S::ECDSA_NISTP384_SHA384
                | S::ECDSA_NISTP521_SHA512
                | S::ED25519
                | S::ED448
        );
        if !in_tls12 {
            return Err(unadvertised().into());
        }
        let candidates = algorithms
            .mapping
            .iter()
            .find(|(mapped, _)| *mapped == scheme)
            .map(|(_, candidates)| *candidates)
            .ok_or_else(unadvertised)?;
        let mut for_this_key = candidates
            .iter()
            .filter(|alg| alg.public_key_alg_id().as_ref() == self.key_algorithm.as_slice())
            .peekable();
        if for_this_key.peek().is_none() {
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::BadSignature,
            ));
        }
        if for_this_key.any(|alg| alg.verify_signature(&self.key, message, signature).is_ok()) {
            Ok(HandshakeSignatureValid::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::BadSignature,
            ))
        }
    }
}

/// The server's certificate is X.509 version 1 or 2, and the sslmode asks for its chain to be
/// verified, which webpki (rustls's verifier) cannot do: the reason a verify mode refused it,
/// carried in rustls's error (`CertificateError::Other`), which `explain_tls` finds by its type.
#[derive(Debug)]
pub(crate) struct UnverifiableServerCertificate {
    pub(crate) version: u8,
}

impl fmt::Display for UnverifiableServerCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the server's certificate is X.509 version {}, whose chain cannot be verified \
             (version 3 only)",
            self.version
        )
    }
}

impl std::error::Error for UnverifiableServerCertificate {}

fn webpki_roots() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// `param path`, for messages: a relative path says what it is relative to (the current
/// directory: an environment file's relative paths were made relative to its directory when
/// it was read).
fn named(param: &str, path: &Path) -> String {
    let shown = shown_path(path);
    if path.is_absolute() {
        return format!("{param} {shown}");
    }
    match std::env::current_dir() {
        Ok(cwd) => format!(
            "{param} {shown} (relative to the current directory {})",
            crate::display::escape(&crate::display::path_text(&cwd))
        ),
        Err(_) => format!("{param} {shown} (relative to the current directory)"),
    }
}

/// A TLS file's path as messages show it, except a connection string given there by mistake
/// (`sslrootcert: ${DATABASE_URL}`) that names no file: it may hold a password, so only the
/// connection it names is said ([`NameOrConnection`](crate::config::NameOrConnection)).
fn shown_path(path: &Path) -> String {
    let text = crate::display::path_text(path);
    if crate::config::names_a_connection(&text) && std::fs::symlink_metadata(path).is_err() {
        return format!("{:?}", crate::config::NameOrConnection(&text));
    }
    crate::display::escape(&text).into_owned()
}

/// `help` for a TLS file that cannot be read at `path`, told first, when the path has a
/// component starting with `~` and is not there, that no `~` is expanded: a quoted URL or an
/// environment file reaches no shell, and libpq expands none either.
fn unread_help(path: &Path, help: &str) -> String {
    let home = crate::config::home_directory(&crate::config::process_vars);
    match unexpanded_tilde(path, home.as_deref()) {
        Some(tilde) if std::fs::symlink_metadata(path).is_err() => format!("{tilde}; {help}"),
        _ => help.to_string(),
    }
}

/// What to write instead of `path`'s first component starting with `~` (`~/ca.crt`, or
/// `db/environments/~/ca.crt` once an environment file's directory was put before it): that
/// component and everything before it replaced by `home` (`HOME`), or, for `~name`, said to
/// be that user's home directory. `None` without such a component.
fn unexpanded_tilde(path: &Path, home: Option<&Path>) -> Option<String> {
    let mut components = path.components();
    let tilde = components.by_ref().find(|c| {
        let bytes = c.as_os_str().as_encoded_bytes();
        bytes.first() == Some(&b'~')
    })?;
    let rest = components.as_path();
    let said = "`~` is not expanded (nor by libpq)";
    let user = &tilde.as_os_str().as_encoded_bytes()[1..];
    if !user.is_empty() {
        return Some(format!(
            "{said}: write the path of {}'s home directory in its place",
            crate::display::escape(&String::from_utf8_lossy(user))
        ));
    }
    Some(match home {
        Some(home) => {
            let expanded = match rest.as_os_str().is_empty() {
                true => home.to_path_buf(),
                false => home.join(rest),
            };
            let shown = crate::display::path_text(&expanded);
            format!("{said}: write {} instead", crate::display::escape(&shown))
        }
        None => format!(
            "{said}, and HOME is not set: write the path of the home directory in its place"
        ),
    })
}

/// The most bytes read from an sslrootcert, sslcert or sslkey file: a bundle of every public
/// CA is a few hundred KiB.
const MAX_TLS_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The bytes of an sslrootcert, sslcert or sslkey file, read as the project reads every file a
/// user names that may be a pipe (`sslkey=<(vault read ...)`, a FIFO): on a helper thread,
/// given up after [`STREAM_WAIT`] (nobody may ever write to it) or at once on Ctrl-C
/// (`config::read_user_file`). A pipe is read once per process and kept: a run connects more
/// than once (another host of a list, the pooler check, verify's scratch database), and a
/// pipe has nothing left to give the second time. The targets of a fleet (`--jobs 2`) that
/// name the same pipe connect at once: each pipe has a slot of its own, locked while it is
/// read, so that the others wait for its bytes rather than read it too and find it empty —
/// while a pipe that is slow to end holds up no other file.
fn read_tls_file(param: &str, path: &Path, help: &str) -> Result<Arc<Vec<u8>>> {
    type Slot = Arc<Mutex<Option<Arc<Vec<u8>>>>>;
    static PIPES: Mutex<Option<std::collections::HashMap<std::path::PathBuf, Slot>>> =
        Mutex::new(None);
    let pipe = std::fs::metadata(path).is_ok_and(|meta| !meta.is_file() && !meta.is_dir());
    if !pipe {
        return read_tls_bytes(param, path, help).map(Arc::new);
    }
    let slot = PIPES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(Default::default)
        .entry(path.to_path_buf())
        .or_default()
        .clone();
    let mut kept = slot.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(bytes) = kept.as_ref() {
        return Ok(bytes.clone());
    }
    // A read that failed keeps nothing: the next connection tries again, and says its error.
    let bytes = Arc::new(read_tls_bytes(param, path, help)?);
    *kept = Some(bytes.clone());
    Ok(bytes)
}

/// [`read_tls_file`]'s read of `path`, every time: its errors worded, its size bounded.
fn read_tls_bytes(param: &str, path: &Path, help: &str) -> Result<Vec<u8>> {
    let bytes = read_user_file(path, MAX_TLS_FILE_BYTES, STREAM_WAIT).map_err(|e| match e {
        ReadError::TimedOut => Error::invalid(format!(
            "{} is a pipe or a device, and it did not reach its end within {} s of waiting: it \
             was not read",
            named(param, path),
            STREAM_WAIT.as_secs()
        ))
        .with_help(format!(
            "check that the command writing to it runs and ends (`{param}=<(command)`), or {help}"
        )),
        ReadError::Interrupted => read_interrupted(&named(param, path)),
        ReadError::Io(e) => Error::invalid(format!("cannot read {}", named(param, path)))
            .with_source(e)
            .with_help(unread_help(path, help)),
    })?;
    if bytes.len() as u64 > MAX_TLS_FILE_BYTES {
        return Err(Error::invalid(format!(
            "{} is larger than {} MiB: it was not read",
            named(param, path),
            MAX_TLS_FILE_BYTES / (1024 * 1024)
        ))
        .with_help(help.to_string()));
    }
    Ok(bytes)
}

/// What gives the verify modes their roots.
const ROOTS_HELP: &str = "set sslrootcert to a PEM file holding the certificate of the CA that \
     signed the server's certificate (or the server's own certificate if it is self-signed); \
     without sslrootcert, sslmode=verify-ca and verify-full read ~/.postgresql/root.crt, as \
     libpq; sslrootcert=system trusts the public CAs instead, with verify-full";

/// Reads `sslrootcert`: one or more PEM certificates, each trusted as a root. A file that is
/// not there is said as libpq says it (it is often `~/.postgresql/root.crt`, read without
/// being named).
fn load_roots(path: &Path) -> Result<RootCertStore> {
    let help = ROOTS_HELP;
    if let Err(e) = std::fs::metadata(path) {
        if e.kind() == std::io::ErrorKind::NotFound {
            return Err(Error::invalid(format!(
                "root certificate file {} does not exist (sslrootcert)",
                shown_path(path)
            ))
            .with_source(e)
            .with_help(unread_help(path, help)));
        }
    }
    let mut roots = RootCertStore::empty();
    for cert in pem_certificates("sslrootcert", path, help)? {
        roots.add(cert).map_err(|e| {
            Error::invalid(format!(
                "{} holds an unusable certificate",
                named("sslrootcert", path)
            ))
            .with_source(e)
            .with_help(help)
        })?;
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
    pem_certificates("sslcert", path, CLIENT_CERT_HELP)
}

/// The PEM certificates of the file `param` names (`sslrootcert`, `sslcert`), in order: one at
/// least, each valid PEM, else refused with `help`.
fn pem_certificates(param: &str, path: &Path, help: &str) -> Result<Vec<CertificateDer<'static>>> {
    let bytes = read_tls_file(param, path, help)?;
    let certs = rustls_pemfile::certs(&mut bytes.as_slice())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| {
            Error::invalid(format!("{} is not valid PEM", named(param, path)))
                .with_source(e)
                .with_help(help)
        })?;
    if certs.is_empty() {
        return Err(
            Error::invalid(format!("{} holds no PEM certificate", named(param, path)))
                .with_help(help),
        );
    }
    Ok(certs)
}

/// Reads `sslkey`: one unencrypted private key (PKCS#8, PKCS#1 or SEC1 PEM). Nothing read
/// from the file reaches an error: the parser's own messages are left out too.
fn load_client_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    let metadata = std::fs::metadata(path).map_err(|e| {
        Error::invalid(format!("cannot read {}", named("sslkey", path)))
            .with_source(e)
            .with_help(unread_help(path, CLIENT_KEY_HELP))
    })?;
    check_key_permissions(path, &metadata)?;
    let bytes = read_tls_file("sslkey", path, CLIENT_KEY_HELP)?;
    if is_encrypted_pem_key(&bytes) {
        return Err(Error::invalid(format!(
            "{} is encrypted with a passphrase, which cargo-confiture cannot decrypt",
            named("sslkey", path)
        ))
        .with_help(crate::hint::unencrypted_key_advice(Some(path))));
    }
    match rustls_pemfile::private_key(&mut bytes.as_slice()) {
        Ok(Some(key)) => Ok(key),
        Ok(None) | Err(_) => Err(Error::invalid(format!(
            "{} holds no PEM private key",
            named("sslkey", path)
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
            "{} can be read by other users (mode {mode:04o}); a private key must be private",
            named("sslkey", path)
        ))
        .with_help(format!(
            "chmod 0600 {} (0640 is accepted for a key owned by root)",
            crate::hint::quote_path(path)
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
        let cert =
            ParsedCertificate::try_from(end_entity).map_err(
                |unread| match OlderCertificate::read(end_entity) {
                    Some(older) => {
                        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(
                            rustls::OtherError(Arc::new(UnverifiableServerCertificate {
                                version: older.version,
                            })),
                        ))
                    }
                    None => unread,
                },
            )?;
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
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algorithms).or_else(|unread| {
            // A certificate webpki does not read: only reached without roots (the chain of
            // one is refused first), where libpq reads no certificate either.
            match OlderCertificate::read(cert) {
                Some(older) => {
                    older.verify_tls12_signature(message, dss.scheme, dss.signature(), algorithms)
                }
                None => Err(unread),
            }
        })
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algorithms).or_else(|unread| {
            // As for TLS 1.2.
            match OlderCertificate::read(cert) {
                Some(older) => older.verify_tls13_signature(message, dss, algorithms),
                None => Err(unread),
            }
        })
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

    /// A connection string given as a TLS file (`sslrootcert: ${DATABASE_URL}`, the variable
    /// holding the URL) was shown whole, password included, as the file that does not exist.
    #[test]
    fn a_connection_string_given_as_a_tls_file_is_not_shown() {
        let path = Path::new("/nonexistent/db/postgresql://app:S3cretPW@127.0.0.1/app");
        let errors = [
            load_roots(path).unwrap_err(),
            load_client_chain(path).unwrap_err(),
            load_client_key(path).unwrap_err(),
        ];
        for error in errors {
            let text = format!("{error:#} {}", error.help.as_deref().unwrap_or(""));
            assert!(!text.contains("S3cret"), "{text}");
            assert!(text.contains("connection string"), "{text}");
        }
        // A file whose name has `@` that is there is named as any other.
        let dir = std::env::temp_dir().join(format!("confiture-tls-at-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("me@host.pem");
        std::fs::write(&file, "not pem").unwrap();
        let error = load_roots(&file).unwrap_err();
        assert!(error.message.contains("me@host.pem"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A path starting with `~` (`sslcert=~/.postgresql/app.crt`, written in a quoted URL or an
    /// environment file, where no shell expands it) was said only not to exist, relative to
    /// the current directory or the file's: the help now says that `~` is not expanded, as
    /// libpq does not, for each of the three files.
    #[test]
    fn a_tilde_path_that_is_not_there_is_said_to_be_unexpanded() {
        let base = std::env::temp_dir().join(format!("confiture-tls-tilde-{}", std::process::id()));
        for path in [
            Path::new("~/.postgresql/x.pem").to_path_buf(),
            base.join("~/x.pem"),
        ] {
            let errors = [
                load_roots(&path).unwrap_err(),
                load_client_chain(&path).unwrap_err(),
                load_client_key(&path).unwrap_err(),
            ];
            for error in errors {
                let help = error.help.clone().unwrap_or_default();
                assert!(
                    help.contains("`~` is not expanded (nor by libpq)"),
                    "{}: {error} / {help}",
                    path.display()
                );
            }
        }
        // The help gives the path to write instead, from HOME; without HOME it says so; for
        // `~name` it names that user's home directory.
        let home = Some(Path::new("/home/alice"));
        for (path, write) in [
            ("~/ca.crt", "write /home/alice/ca.crt instead"),
            ("~", "write /home/alice instead"),
            (
                "/project/db/environments/~/certs/ca.crt",
                "write /home/alice/certs/ca.crt instead",
            ),
        ] {
            let help = unexpanded_tilde(Path::new(path), home).unwrap();
            assert!(help.contains(write), "{path}: {help}");
        }
        let help = unexpanded_tilde(Path::new("~/ca.crt"), None).unwrap();
        assert!(help.contains("HOME is not set"), "{help}");
        let help = unexpanded_tilde(Path::new("~bob/ca.crt"), home).unwrap();
        assert!(help.contains("bob's home directory"), "{help}");
        assert_eq!(unexpanded_tilde(Path::new("/etc/ca.crt"), home), None);
        // A path without one is told nothing about it.
        let help = load_client_chain(&base.join("x.pem"))
            .unwrap_err()
            .help
            .unwrap();
        assert!(!help.contains('~'), "{help}");
    }

    /// A version 1 certificate, which webpki does not read, made by the `openssl` command line
    /// tool (self-signed, no extensions): its certificate and key, PEM.
    fn version_1_certificate(dir: &Path, newkey: &[&str]) -> (Vec<u8>, Vec<u8>) {
        let openssl = |args: &[&str]| {
            let output = std::process::Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .expect("this test needs the openssl command line tool");
            assert!(output.status.success(), "openssl {args:?}: {output:?}");
        };
        openssl(
            &[
                &["req", "-new", "-nodes", "-subj", "/CN=localhost"],
                newkey,
                &["-keyout", "v1.key", "-out", "v1.csr"],
            ]
            .concat(),
        );
        openssl(&[
            "x509", "-req", "-days", "2", "-in", "v1.csr", "-signkey", "v1.key", "-out", "v1.crt",
        ]);
        (
            std::fs::read(dir.join("v1.crt")).unwrap(),
            std::fs::read(dir.join("v1.key")).unwrap(),
        )
    }

    /// `sslmode=require` without `sslrootcert` refused a server's X.509 version 1 certificate
    /// (hostile run htl, A): rustls's check of the handshake's signature reads the
    /// certificate with webpki. The signature is now checked with the key `x509-cert` reads
    /// — and still checked: over TLS 1.2 (the end-to-end test `tls_server_v1` can only show
    /// that a good one passes), a signature of other bytes, or by another key, is refused.
    #[test]
    fn a_version_1_certificate_s_tls12_signatures_are_checked_with_its_key() {
        let base = std::env::temp_dir().join(format!("confiture-tls-v1-{}", std::process::id()));
        let provider = ring_provider();
        let algorithms = &provider.signature_verification_algorithms;
        let message = b"the handshake's transcript";
        let keys: [(&[&str], SignatureScheme); 3] = [
            (&["-newkey", "rsa:2048"], SignatureScheme::RSA_PKCS1_SHA256),
            (&["-newkey", "rsa:2048"], SignatureScheme::RSA_PSS_SHA256),
            (
                &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
                SignatureScheme::ECDSA_NISTP256_SHA256,
            ),
        ];
        let mut made = Vec::new();
        for (i, (newkey, scheme)) in keys.iter().enumerate() {
            let dir = base.join(i.to_string());
            std::fs::create_dir_all(&dir).unwrap();
            let (cert_pem, key_pem) = version_1_certificate(&dir, newkey);
            let cert = rustls_pemfile::certs(&mut cert_pem.as_slice())
                .next()
                .unwrap()
                .unwrap();
            let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
                .unwrap()
                .unwrap();
            assert!(
                ParsedCertificate::try_from(&cert).is_err(),
                "webpki does not read it"
            );
            let older = OlderCertificate::read(&cert).expect("a version 1 certificate");
            assert_eq!(older.version, 1);
            let signer = provider
                .key_provider
                .load_private_key(key)
                .unwrap()
                .choose_scheme(&[*scheme])
                .expect("the key signs with the scheme");
            let signature = signer.sign(message).unwrap();
            older
                .verify_tls12_signature(message, *scheme, &signature, algorithms)
                .unwrap_or_else(|e| panic!("{scheme:?}: {e}"));
            let mut other = message.to_vec();
            other[0] ^= 1;
            assert!(
                older
                    .verify_tls12_signature(&other, *scheme, &signature, algorithms)
                    .is_err(),
                "{scheme:?}: a signature of other bytes"
            );
            made.push((older, *scheme, signature));
        }
        // The first RSA key's signature, checked with the second RSA certificate's key.
        let (second, scheme, _) = &made[1];
        let (_, _, first_signature) = &made[0];
        assert!(second
            .verify_tls12_signature(
                message,
                SignatureScheme::RSA_PKCS1_SHA256,
                first_signature,
                algorithms
            )
            .is_err());
        // An RSA signature presented with the EC certificate's key.
        let (ec, _, _) = &made[2];
        assert!(ec
            .verify_tls12_signature(message, *scheme, &made[1].2, algorithms)
            .is_err());
        std::fs::remove_dir_all(&base).unwrap();
    }

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
        let plain = crate::hint::quote_path(&{
            let mut plain = key.as_os_str().to_owned();
            plain.push(".plain");
            std::path::PathBuf::from(plain)
        });
        assert!(
            help.contains(&format!(
                "`openssl pkey -in {} -out {plain} && chmod 0600 {plain}`",
                crate::hint::quote_path(&key)
            )),
            "{help}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
