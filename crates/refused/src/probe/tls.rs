//! TLS with rustls: the handshake for `tls://` and `https://`, with certificate errors said
//! plainly (expired, not yet valid, unknown authority, wrong name), each with its fix.
//!
//! The server's certificate is checked as curl and Python's requests check it (OpenSSL): by
//! rustls's verifier (webpki), except that a certificate given itself with `--cacert` is
//! trusted even when it says it is a CA (`CA:TRUE`, what `openssl req -x509` makes by default),
//! which webpki refuses as a server's certificate.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_name};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, OtherError,
    RootCertStore, SignatureScheme,
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
    let trust = if options.insecure {
        Trust::Any
    } else {
        let mut roots = system_roots().clone();
        let pinned = match &options.ca_file {
            Some(path) => {
                let certs =
                    read_ca_file(path).map_err(|err| protocol(Kind::Setup, err.to_string()))?;
                add_roots(&mut roots, path, &certs)
                    .map_err(|err| protocol(Kind::Setup, err.to_string()))?;
                certs
            }
            None => Vec::new(),
        };
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|err| match err {
                rustls::client::VerifierBuilderError::NoRootAnchors => protocol(
                    Kind::Setup,
                    "this host trusts no certificate authority (install `ca-certificates`), and no `--cacert FILE` was given",
                ),
                other => protocol(Kind::Setup, format!("TLS setup failed: {other}")),
            })?;
        Trust::Checked { webpki, pinned }
    };
    let mut config = builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Verifier { trust, provider }))
        .with_no_client_auth();
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
    let certs = read_ca_file(path)?;
    add_roots(&mut RootCertStore::empty(), path, &certs)?;
    Ok(certs.len())
}

/// The certificates of a `--cacert` file, at least one.
fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, CaFileError> {
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
    Ok(certs)
}

fn add_roots(
    roots: &mut RootCertStore,
    path: &Path,
    certs: &[CertificateDer<'static>],
) -> Result<(), CaFileError> {
    for cert in certs {
        roots
            .add(cert.clone())
            .map_err(|err| CaFileError::Unusable {
                path: path.to_owned(),
                problem: err.to_string(),
            })?;
    }
    Ok(())
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

/// How the detail of a rejected certificate begins.
const CERTIFICATE: &str = "the server's certificate ";

/// What separates a rejected certificate's problem from its fix in the detail.
const FIX: &str = "; fix: ";

/// What skips every check of the certificate, the last resort of every fix.
const SKIP: &str = "`--insecure` skips the check";

/// A rejected certificate's problem (from "the server's certificate") and its fix, from a TLS
/// failure's detail: waiting does not change a certificate, so `why` gives this fix instead.
pub(crate) fn certificate_problem(detail: &str) -> Option<(&str, &str)> {
    if !detail.starts_with(CERTIFICATE) {
        return None;
    }
    detail.rsplit_once(FIX)
}

/// A failed handshake in words a person can act on.
fn describe(err: &std::io::Error, target: &Target) -> String {
    let Some(tls) = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    else {
        return format!("the TLS handshake failed: {err} (is it a TLS port?)");
    };
    let host = target.host().map(ToString::to_string).unwrap_or_default();
    match tls {
        rustls::Error::InvalidCertificate(cert) => rejection(cert, &host),
        rustls::Error::AlertReceived(alert) => alert_words(*alert, &host),
        // Its first bytes are no TLS record: a plain server answering our ClientHello (an
        // HTTP 400, a banner).
        rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => {
            PLAIN_NOT_TLS.to_owned()
        }
        other => format!("the TLS handshake failed: {other} (is it a TLS port?)"),
    }
}

/// A rejected certificate's detail: what is wrong with it, and the fix.
pub(crate) fn rejection(cert: &CertificateError, host: &str) -> String {
    let (problem, fix) = rejected(cert, host);
    format!("{CERTIFICATE}{problem}{FIX}{fix}")
}

/// What is wrong with the server's certificate (the words after [`CERTIFICATE`]), and the fix.
fn rejected(cert: &CertificateError, host: &str) -> (String, String) {
    let trust = format!(
        "`--cacert FILE` with that certificate, or the CA that signed it, trusts it (as curl's `--cacert` and requests' `verify=` do); {SKIP}"
    );
    let reissue = |what: &str| format!("{what} on the server; {SKIP}");
    let (problem, fix) = match cert {
        CertificateError::Expired => ("has expired".to_owned(), expired_fix()),
        CertificateError::ExpiredContext { not_after, .. } => {
            (format!("expired on {}", date(*not_after)), expired_fix())
        }
        CertificateError::NotValidYet => ("is not valid yet".to_owned(), not_yet_fix()),
        CertificateError::NotValidYetContext { not_before, .. } => (
            format!("is not valid before {}", date(*not_before)),
            not_yet_fix(),
        ),
        CertificateError::UnknownIssuer => (
            "is not signed by an authority this host trusts (it is self-signed, or signed by a CA of its own)".to_owned(),
            trust,
        ),
        CertificateError::NotValidForName => (
            format!("is not valid for `{host}`"),
            name_fix(host),
        ),
        CertificateError::NotValidForNameContext { presented, .. } => {
            let names: Vec<String> = presented
                .iter()
                .filter_map(|n| host_name(n))
                .map(|n| format!("`{n}`"))
                .collect();
            let names = if names.is_empty() {
                "it names no host (no DNS or IP subject alternative name)".to_owned()
            } else {
                format!("it is valid for {}", names.join(", "))
            };
            (format!("is not valid for `{host}`: {names}"), name_fix(host))
        }
        CertificateError::BadSignature => (
            "does not hold the key that signed the handshake (the server's key and certificate do not match, or something between altered the handshake)".to_owned(),
            reissue("configure the key that goes with the certificate"),
        ),
        CertificateError::UnsupportedSignatureAlgorithmContext { .. }
        | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => (
            "is signed with an algorithm refused does not accept (such as SHA-1 or MD5)".to_owned(),
            reissue("reissue it signed with SHA-256 and an RSA or ECDSA key"),
        ),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => (
            "is not meant for a server (its extended key usage lacks `serverAuth`)".to_owned(),
            reissue("reissue it with `extendedKeyUsage = serverAuth`"),
        ),
        CertificateError::Revoked => (
            "has been revoked by its authority".to_owned(),
            reissue("install a new certificate"),
        ),
        CertificateError::BadEncoding => (
            "is not a well-formed X.509 certificate".to_owned(),
            reissue("check the certificate file"),
        ),
        CertificateError::UnhandledCriticalExtension => (
            "has a critical extension refused does not understand".to_owned(),
            reissue("reissue it without that extension"),
        ),
        CertificateError::Other(OtherError(other)) => {
            match other.downcast_ref::<webpki::Error>() {
                Some(webpki::Error::CaUsedAsEndEntity) => (
                    "is a CA certificate (`CA:TRUE`, as `openssl req -x509` makes by default), not a server's, and not one this host trusts".to_owned(),
                    format!(
                        "`--cacert FILE` with that very certificate trusts it (as curl's `--cacert` does), or give the server a certificate signed by that CA (or made with `-addext basicConstraints=critical,CA:FALSE`); {SKIP}"
                    ),
                ),
                Some(webpki::Error::EndEntityUsedAsCa) => (
                    "comes with a certificate that is not a CA (`CA:FALSE`) where its chain needs one".to_owned(),
                    reissue("send the certificate and then the CA certificates that signed it"),
                ),
                _ => (
                    format!("was rejected: {other}"),
                    reissue("check the certificate"),
                ),
            }
        }
        other => (
            format!("was rejected: {other}"),
            reissue("check the certificate"),
        ),
    };
    (problem, fix)
}

/// A name of the server's certificate as webpki presents it (`DnsName("localhost")`,
/// `IpAddress(127.0.0.1)`), bare; `None` for a name that is no host's (a URI, a directory name).
fn host_name(presented: &str) -> Option<&str> {
    if let Some(dns) = presented.strip_prefix("DnsName(\"") {
        return dns.strip_suffix("\")");
    }
    presented.strip_prefix("IpAddress(")?.strip_suffix(')')
}

fn expired_fix() -> String {
    format!("renew it on the server (if it is not old, check this host's clock: `date`); {SKIP}")
}

fn not_yet_fix() -> String {
    format!("check the clocks of this host (`date`) and of the server that made it; {SKIP}")
}

fn name_fix(host: &str) -> String {
    format!(
        "connect by a name it is valid for, or give the server a certificate whose subject alternative names hold `{host}`; {SKIP}"
    )
}

/// A date as the certificate says it, in UTC.
fn date(time: UnixTime) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_secs(time.as_secs()))
}

/// A TLS alert the server sent, in words.
fn alert_words(alert: AlertDescription, host: &str) -> String {
    let what = match alert {
        AlertDescription::HandshakeFailure => {
            "it shares no TLS version or cipher suite with refused (TLS 1.2 and 1.3), or it wants a client certificate"
                .to_owned()
        }
        AlertDescription::ProtocolVersion => {
            "it speaks no TLS version refused speaks (TLS 1.2 and 1.3)".to_owned()
        }
        AlertDescription::CertificateRequired => {
            "it requires a client certificate (mutual TLS), which refused does not send".to_owned()
        }
        AlertDescription::UnrecognisedName => format!("it has no certificate for `{host}`"),
        AlertDescription::NoApplicationProtocol => {
            "it speaks no application protocol refused offers (ALPN)".to_owned()
        }
        other => format!("{other:?}"),
    };
    format!("{ALERT}{what}")
}

/// How the detail of a TLS alert the server sent begins.
const ALERT: &str = "the server ended the TLS handshake: ";

/// Whether a failed handshake's detail shows that the server spoke TLS: it sent an alert, or a
/// certificate (rejected). Plain text, a close, or a message rustls could not read does not.
pub(crate) fn is_tls_answer(detail: &str) -> bool {
    detail.starts_with(ALERT) || detail.starts_with(CERTIFICATE)
}

/// Which certificates a [`Verifier`] trusts.
#[derive(Debug)]
enum Trust {
    /// `--insecure`: any.
    Any,
    /// The authorities this host trusts and those of `--cacert` (webpki checks them), and the
    /// certificates of `--cacert` themselves as the server's.
    Checked {
        webpki: Arc<WebPkiServerVerifier>,
        pinned: Vec<CertificateDer<'static>>,
    },
}

/// The server's certificate as curl checks it; the handshake's signatures always checked.
#[derive(Debug)]
struct Verifier {
    trust: Trust,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Trust::Checked { webpki, pinned } = &self.trust else {
            return Ok(ServerCertVerified::assertion());
        };
        match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            // A certificate given itself with `--cacert` is trusted as it is, CA or not, as
            // OpenSSL finds it in its trust store. webpki checks the validity period of the
            // server's certificate before its CA bit, so this error means it is in date; the
            // name is still checked.
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(other))))
                if matches!(
                    other.downcast_ref::<webpki::Error>(),
                    Some(webpki::Error::CaUsedAsEndEntity)
                ) && pinned.iter().any(|c| c.as_ref() == end_entity.as_ref()) =>
            {
                verify_server_name(&ParsedCertificate::try_from(end_entity)?, server_name)?;
                Ok(ServerCertVerified::assertion())
            }
            // The chain led to a trusted certificate with the issuer's name but not its key (a
            // self-signed `CN=localhost` meets Debian's snakeoil certificate, also
            // `CN=localhost`, in `/etc/ssl/certs`): no authority this host trusts signed it.
            Err(rustls::Error::InvalidCertificate(CertificateError::BadSignature)) => {
                Err(CertificateError::UnknownIssuer.into())
            }
            other => other,
        }
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
            &self.provider.signature_verification_algorithms,
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
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

    /// A self-signed certificate for `localhost`, a CA or not, with `cn` as its subject.
    fn self_signed(ca: bool, cn: &str) -> CertificateDer<'static> {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.is_ca = if ca {
            IsCa::Ca(BasicConstraints::Unconstrained)
        } else {
            IsCa::ExplicitNoCa
        };
        params.self_signed(&key).unwrap().der().clone()
    }

    /// A verifier that trusts `roots`, and `pinned` as servers' certificates.
    fn verifier(roots: &[CertificateDer<'static>], pinned: &[CertificateDer<'static>]) -> Verifier {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut store = RootCertStore::empty();
        for root in roots {
            store.add(root.clone()).unwrap();
        }
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
            .build()
            .unwrap();
        Verifier {
            trust: Trust::Checked {
                webpki,
                pinned: pinned.to_vec(),
            },
            provider,
        }
    }

    fn verify(verifier: &Verifier, cert: &CertificateDer<'_>, name: &str) -> Result<(), String> {
        let server = ServerName::try_from(name.to_owned()).unwrap();
        verifier
            .verify_server_cert(cert, &[], &server, &[], UnixTime::now())
            .map(|_| ())
            .map_err(|err| match err {
                rustls::Error::InvalidCertificate(cert) => rejection(&cert, name),
                other => other.to_string(),
            })
    }

    #[test]
    fn a_ca_certificate_given_itself_is_trusted_as_the_servers_for_its_names() {
        let ca = self_signed(true, "localhost");
        let pinned = verifier(std::slice::from_ref(&ca), std::slice::from_ref(&ca));
        assert_eq!(verify(&pinned, &ca, "localhost"), Ok(()));
        let wrong = verify(&pinned, &ca, "db.example").unwrap_err();
        assert!(
            wrong.starts_with(
                "the server's certificate is not valid for `db.example`: it is valid for `localhost`"
            ),
            "{wrong}"
        );
        // A root, but not given itself (another CA certificate was): webpki's refusal, said.
        let other = self_signed(true, "other");
        let unpinned = verifier(std::slice::from_ref(&ca), &[other]);
        let refused = verify(&unpinned, &ca, "localhost").unwrap_err();
        assert!(
            refused.starts_with("the server's certificate is a CA certificate (`CA:TRUE`"),
            "{refused}"
        );
    }

    #[test]
    fn a_trusted_name_with_another_key_is_not_trusted_not_a_bad_signature() {
        // Debian's snakeoil certificate is `CN=localhost`, `CA:FALSE`, in /etc/ssl/certs: a
        // server's own self-signed `CN=localhost` leads the chain to it, whose key did not
        // sign it.
        let snakeoil = self_signed(false, "localhost");
        let server = self_signed(false, "localhost");
        let words = verify(&verifier(&[snakeoil], &[]), &server, "localhost").unwrap_err();
        assert!(
            words.starts_with(
                "the server's certificate is not signed by an authority this host trusts"
            ),
            "{words}"
        );
        // Given itself with `--cacert`, a `CA:FALSE` certificate was always trusted.
        assert_eq!(
            verify(
                &verifier(std::slice::from_ref(&server), &[]),
                &server,
                "localhost"
            ),
            Ok(())
        );
    }

    #[test]
    fn every_rejection_is_words_and_a_fix() {
        let at = UnixTime::since_unix_epoch(Duration::from_secs(1_009_843_200));
        let cases = [
            (
                CertificateError::ExpiredContext {
                    time: UnixTime::now(),
                    not_after: at,
                },
                "expired on Tue, 01 Jan 2002 00:00:00 GMT",
                "renew it on the server",
            ),
            (
                CertificateError::NotValidYetContext {
                    time: UnixTime::now(),
                    not_before: at,
                },
                "is not valid before Tue, 01 Jan 2002 00:00:00 GMT",
                "check the clocks",
            ),
            (
                CertificateError::UnknownIssuer,
                "is not signed by an authority this host trusts",
                "`--cacert FILE`",
            ),
            (
                CertificateError::NotValidForNameContext {
                    expected: ServerName::try_from("db").unwrap().to_owned(),
                    presented: vec![
                        "DnsName(\"localhost\")".to_owned(),
                        "IpAddress(127.0.0.1)".to_owned(),
                        "UniformResourceIdentifier(\"spiffe://x\")".to_owned(),
                    ],
                },
                "is not valid for `db`: it is valid for `localhost`, `127.0.0.1`",
                "connect by a name it is valid for",
            ),
            (
                CertificateError::BadSignature,
                "does not hold the key that signed the handshake",
                "the key that goes with the certificate",
            ),
            (
                CertificateError::InvalidPurpose,
                "is not meant for a server",
                "serverAuth",
            ),
            (
                CertificateError::Other(OtherError(Arc::new(webpki::Error::CaUsedAsEndEntity))),
                "is a CA certificate",
                "with that very certificate",
            ),
            (
                CertificateError::Other(OtherError(Arc::new(webpki::Error::EndEntityUsedAsCa))),
                "comes with a certificate that is not a CA",
                "the CA certificates that signed it",
            ),
        ];
        for (error, problem, fix) in cases {
            let detail = rejection(&error, "db");
            let (said, fixed) = certificate_problem(&detail).unwrap();
            assert!(
                said.starts_with(&format!("{CERTIFICATE}{problem}")),
                "{detail}"
            );
            assert!(fixed.contains(fix) && fixed.ends_with(SKIP), "{detail}");
            assert!(
                !detail.contains("Other(") && !detail.contains("DnsName"),
                "{detail}"
            );
        }
        assert_eq!(certificate_problem(PLAIN_NOT_TLS), None);
    }

    #[test]
    fn the_names_of_a_certificate_are_bare() {
        assert_eq!(
            host_name("DnsName(\"*.example.com\")"),
            Some("*.example.com")
        );
        assert_eq!(host_name("IpAddress(::1)"), Some("::1"));
        assert_eq!(host_name("DirectoryName"), None);
        assert_eq!(host_name("UniformResourceIdentifier(\"spiffe://x\")"), None);
    }
}
