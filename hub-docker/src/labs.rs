//! Every lab that has anything on this Docker Engine (`hub ls`): the values of the
//! `io.hub.lab` label on containers, networks and volumes.

use std::collections::{BTreeSet, HashMap};

use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
};
use hub_runtime::{RuntimeResult, labels};

use crate::DockerRuntime;
use crate::error;

impl DockerRuntime {
    /// The lab names found on containers (running or not), networks and volumes.
    pub(crate) async fn all_labs(&self) -> RuntimeResult<Vec<String>> {
        let filters = HashMap::from([("label", vec![labels::LAB.to_string()])]);
        let failed = |what: &str, e| error::backend("", format!("listing {what} of every lab"), e);
        let mut found = BTreeSet::new();
        let containers = self
            .docker
            .list_containers(Some(
                ListContainersOptionsBuilder::new()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(|e| failed("the containers", e))?;
        found.extend(
            containers
                .into_iter()
                .filter_map(|c| c.labels?.remove(labels::LAB)),
        );
        let networks = self
            .docker
            .list_networks(Some(
                ListNetworksOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .map_err(|e| failed("the networks", e))?;
        found.extend(
            networks
                .into_iter()
                .filter_map(|n| n.labels?.remove(labels::LAB)),
        );
        let volumes = self
            .docker
            .list_volumes(Some(
                ListVolumesOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .map_err(|e| failed("the volumes", e))?;
        found.extend(
            volumes
                .volumes
                .unwrap_or_default()
                .into_iter()
                .filter_map(|mut v| v.labels.remove(labels::LAB)),
        );
        Ok(found.into_iter().collect())
    }
}
