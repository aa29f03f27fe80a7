//! Keeping webhooks away from non-public addresses (SSRF): every address a webhook host resolves
//! to is checked, and the connection goes to a checked address — there is no second lookup that
//! a rebinding DNS server could answer differently.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::error::Error;
use crate::settings::{IpNetwork, is_public};

/// Which addresses webhooks may reach: public ones, plus the allowed networks.
#[derive(Clone, Debug)]
pub(crate) struct AddressGuard {
    allowed: Arc<[IpNetwork]>,
}

impl AddressGuard {
    pub(crate) fn new(allowed: &[IpNetwork]) -> Self {
        Self { allowed: allowed.into() }
    }

    pub(crate) fn permits(&self, ip: IpAddr) -> bool {
        is_public(ip) || self.allowed.iter().any(|network| network.contains(ip))
    }

    /// A literal address in a webhook URL (which skips DNS): refused unless permitted.
    pub(crate) fn check_literal(&self, host: &str) -> Result<(), Error> {
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        match literal.parse::<IpAddr>() {
            Ok(ip) if !self.permits(ip) => Err(refused(&format!("{ip} is not a public address"))),
            _ => Ok(()),
        }
    }
}

/// The error a refused webhook address is: permanent, never retried.
pub(crate) fn refused(why: &str) -> Error {
    Error::Invalid {
        what: "webhook address",
        reason: format!(
            "{why}; webhooks reach public addresses only unless WEBHOOK_ALLOWED_NETWORKS allows it"
        ),
    }
}

/// The resolver the webhook client connects through: it resolves as the system does, then keeps
/// the permitted addresses only.
impl Resolve for AddressGuard {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let permitted: Vec<SocketAddr> =
                found.iter().copied().filter(|addr| guard.permits(addr.ip())).collect();
            if permitted.is_empty() {
                let shown: Vec<String> = found.iter().map(|addr| addr.ip().to_string()).collect();
                let why = format!("{host} resolves to no public address ({})", shown.join(", "));
                return Err(
                    Box::new(Refused(refused(&why).to_string())) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(permitted.into_iter()) as Addrs)
        })
    }
}

/// Carries a refusal through reqwest's error chain, to be recognised by the classifier.
#[derive(Debug)]
pub(crate) struct Refused(pub(crate) String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}
