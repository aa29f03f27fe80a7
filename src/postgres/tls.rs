//! TLS for connections (feature `postgres-tls`): rustls with the webpki roots.

use crate::error::{Error, Result};

#[cfg(feature = "postgres-tls")]
pub(crate) fn connector() -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| Error::Invalid { what: "TLS configuration", reason: err.to_string() })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

#[cfg(not(feature = "postgres-tls"))]
pub(crate) fn connector() -> Result<tokio_postgres::NoTls> {
    Err(Error::Invalid {
        what: "PostgreSQL TLS",
        reason: "TLS was requested (sslmode=require or TlsMode::Require) but bindu was built without the \
                 `postgres-tls` feature"
            .into(),
    })
}
