//! Name resolution for webhook requests through the access policy: reqwest
//! connects only to addresses the policy allows, so a host whose DNS answer
//! changes after the check (rebinding) still cannot reach a denied network.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use schemata_sources::AccessPolicy;

pub(crate) struct PolicyResolver(pub AccessPolicy);

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            // The port is not known here; reqwest puts the URL's back on each
            // address. The own-database check runs again on the literal
            // address in the sender, which knows it.
            let allowed = policy
                .allowed_addresses(name.as_str(), 0)
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}
