//! TLS with rustls: the handshake for `tls://` and `https://`, with certificate errors said
//! plainly (expired, not yet valid, unknown authority, wrong name).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::ProtocolErrorKind as Kind;
use super::bounded::{protocol, too_slow};
use super::{ProbeOptions, Readiness, TlsSession};
use crate::target::{Host, Scheme, Target};

pub async fn handshake<S>(
    target: &Target,
    stream: S,
    options: &ProbeOptions,
    deadline: Instant,
) -> Result<(TlsStream<S>, Duration), Readiness>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let config = config(options, target.scheme() == Scheme::Https)?;
    let name = match target.host() {
        Some(Host::Ip(ip)) => ServerName::IpAddress((*ip).into()),
        Some(Host::ScopedIpv6 { ip, .. }) => ServerName::IpAddress(IpAddr::V6(*ip).into()),
        Some(Host::Name(name)) => ServerName::try_from(name.clone())
            .map_err(|_| protocol(Kind::Setup, format!("`{name}` cannot be a TLS server name")))?,
        None => return Err(protocol(Kind::Setup, "TLS needs a host name")),
    };
    let connector = TlsConnector::from(Arc::new(config));
    let started = Instant::now();
    match tokio::time::timeout_at(deadline, connector.connect(name, stream)).await {
        Ok(Ok(stream)) => Ok((stream, started.elapsed())),
        Ok(Err(err)) => {
            // Closed or reset before the server said anything of TLS (a forwarder whose
            // backend is down): no handshake of its failed.
            let kind = match err.kind() {
                std::io::ErrorKind::UnexpectedEof => Kind::Closed,
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe => Kind::Io,
                _ => Kind::Tls,
            };
            Err(protocol(kind, describe(&err, target)))
        }
        Err(_) => Err(too_slow("TLS handshake")),
    }
}

/// The version and the certificates of a completed handshake, which took `handshake`.
pub fn session<S>(stream: &TlsStream<S>, handshake: Duration) -> TlsSession {
    let connection = stream.get_ref().1;
    let version = match connection.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3".to_owned(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2".to_owned(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    };
    let certificates = connection
        .peer_certificates()
        .map(|chain| chain.iter().map(|c| c.clone().into_owned()).collect())
        .unwrap_or_default();
    TlsSession {
        version,
        certificates,
        handshake,
    }
}

fn config(options: &ProbeOptions, http: bool) -> Result<ClientConfig, Readiness> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|err| protocol(Kind::Setup, format!("TLS setup failed: {err}")))?;
    let mut config = if options.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = system_roots().clone();
        if let Some(path) = &options.ca_file {
            add_ca_file(&mut roots, path).map_err(|err| protocol(Kind::Setup, err.to_string()))?;
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    if http {
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
    }
    Ok(config)
}

/// A `--cacert` file that cannot be used: the path and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum CaFileError {
    /// The file cannot be read (missing, a directory, no permission).
    #[error("cannot read CA file `{path}`: {source}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not PEM, or a PEM block in it is broken.
    #[error("CA file `{path}` is not PEM: {problem}")]
    NotPem {
        /// The file.
        path: PathBuf,
        /// What the PEM reader said.
        problem: String,
    },
    /// The file has no `CERTIFICATE` block.
    #[error("CA file `{path}` holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)")]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// A certificate in it cannot be a trust anchor.
    #[error("a certificate in CA file `{path}` is not usable: {problem}")]
    Unusable {
        /// The file.
        path: PathBuf,
        /// What rustls said.
        problem: String,
    },
}

/// Checks a `--cacert` file as a probe would load it, so that a command can reject it at start
/// rather than fail every probe; returns how many certificates it holds.
pub fn check_ca_file(path: &Path) -> Result<usize, CaFileError> {
    add_ca_file(&mut RootCertStore::empty(), path)
}

fn add_ca_file(roots: &mut RootCertStore, path: &Path) -> Result<usize, CaFileError> {
    let bytes = std::fs::read(path).map_err(|source| CaFileError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| CaFileError::NotPem {
            path: path.to_owned(),
            problem: err.to_string(),
        })?;
    if certs.is_empty() {
        return Err(CaFileError::NoCertificate {
            path: path.to_owned(),
        });
    }
    let count = certs.len();
    for cert in certs {
        roots.add(cert).map_err(|err| CaFileError::Unusable {
            path: path.to_owned(),
            problem: err.to_string(),
        })?;
    }
    Ok(count)
}

/// The system's trusted authorities (`/etc/ssl/certs`), loaded once.
fn system_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        roots
    })
}

/// How a server that answered the TLS handshake in plain text is told, in a readiness.
pub(crate) const PLAIN_NOT_TLS: &str =
    "the server answered the TLS handshake in plain text: the port does not speak TLS";

/// A certificate error in words a person can act on.
fn describe(err: &std::io::Error, target: &Target) -> String {
    let Some(tls) = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    else {
        return format!("the TLS handshake failed: {err} (is it a TLS port?)");
    };
    let host = target.host().map(ToString::to_string).unwrap_or_default();
    let skip = "`--insecure` skips the check";
    match tls {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                format!("the server's certificate has expired ({skip})")
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                format!("the server's certificate is not valid yet: check both clocks ({skip})")
            }
            CertificateError::UnknownIssuer => format!(
                "the server's certificate is signed by an authority this host does not trust (`--cacert FILE` trusts one, {skip})"
            ),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!("the server's certificate is not valid for `{host}` ({skip})")
            }
            other => format!("the server's certificate was rejected: {other:?} ({skip})"),
        },
        rustls::Error::AlertReceived(alert) => {
            format!("the server ended the TLS handshake: {alert:?}")
        }
        // Its first bytes are no TLS record: a plain server answering our ClientHello (an
        // HTTP 400, a banner).
        rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => {
            PLAIN_NOT_TLS.to_owned()
        }
        other => format!("the TLS handshake failed: {other} (is it a TLS port?)"),
    }
}

/// `--insecure`: accepts any certificate, still checking the handshake's signatures.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
