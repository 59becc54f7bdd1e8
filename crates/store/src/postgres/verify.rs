//! How the PostgreSQL server's certificate is checked, one verifier per strength libpq knows:
//! none (`prefer`/`require` with no root file: encrypted, not authenticated), the chain only
//! (`verify-ca`), the chain and the host name (`verify-full`, rustls's own verifier).
//!
//! Whatever the strength, the handshake's signatures are checked against the certificate the
//! server sent: a verifier that skips the certificate still makes the server prove it holds its
//! key.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, WebPkiServerVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

/// How much of the server's certificate is verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strength {
    /// Nothing: the connection is encrypted, the server not authenticated (libpq's `prefer` and
    /// `require` without a root certificate).
    Nothing,
    /// The certificate chains to a trusted root (`verify-ca`; `prefer`/`require` with
    /// `sslrootcert`, as libpq does).
    Chain,
    /// The chain, and the certificate names the host connected to (`verify-full`).
    ChainAndName,
}

/// The verifier for `strength` over `roots`, on `provider`'s algorithms.
pub fn verifier(
    strength: Strength,
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, rustls::client::VerifierBuilderError> {
    Ok(match strength {
        Strength::Nothing => Arc::new(Unverified { provider }),
        Strength::Chain => Arc::new(ChainOnly {
            roots,
            signatures: Unverified { provider },
        }),
        Strength::ChainAndName => {
            WebPkiServerVerifier::builder_with_provider(roots, provider).build()?
        }
    })
}

/// Accepts any certificate; checks the handshake's signatures.
#[derive(Debug)]
struct Unverified {
    provider: Arc<CryptoProvider>,
}

/// Verifies the chain to the roots, not which name the certificate is for; the signatures as
/// [`Unverified`] does.
#[derive(Debug)]
struct ChainOnly {
    roots: Arc<RootCertStore>,
    signatures: Unverified,
}

impl ServerCertVerifier for Unverified {
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

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.signatures
                .provider
                .signature_verification_algorithms
                .all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.signatures.supported_verify_schemes()
    }
}
