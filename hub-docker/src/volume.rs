//! The lab's named volumes: `LAB-NAME`, made with the lab's marks when a container of the lab
//! first mounts them, found by label and removed by `down` (unless the user keeps them).

use std::collections::HashMap;

use bollard::models::VolumeCreateRequest;
use bollard::query_parameters::ListVolumesOptionsBuilder;
use hub_runtime::{ContainerSpec, RuntimeResult, labels};

use crate::DockerRuntime;
use crate::error;
use crate::mapping::volume_name;

impl DockerRuntime {
    /// Makes every named volume `spec` mounts, with the lab's label (creating one that exists
    /// returns it unchanged).
    pub(crate) async fn ensure_volumes(
        &self,
        lab: &str,
        spec: &ContainerSpec,
    ) -> RuntimeResult<()> {
        for v in &spec.volumes {
            let name = volume_name(lab, &v.name);
            let request = VolumeCreateRequest {
                name: Some(name.clone()),
                labels: Some(HashMap::from([
                    (labels::LAB.to_string(), lab.to_string()),
                    (labels::KIND.to_string(), "volume".to_string()),
                ])),
                ..Default::default()
            };
            self.docker
                .create_volume(request)
                .await
                .map_err(|e| error::backend(lab, format!("creating volume {name:?}"), e))?;
        }
        Ok(())
    }

    /// Removes every volume carrying the lab's label; returns their names.
    pub(crate) async fn remove_lab_volumes(&self, lab: &str) -> RuntimeResult<Vec<String>> {
        let filters = HashMap::from([("label", vec![format!("{}={lab}", labels::LAB)])]);
        let opts = ListVolumesOptionsBuilder::new().filters(&filters).build();
        let list = self
            .docker
            .list_volumes(Some(opts))
            .await
            .map_err(|e| error::backend(lab, "listing the lab's volumes", e))?;
        let mut removed = Vec::new();
        for v in list.volumes.unwrap_or_default() {
            match self
                .docker
                .remove_volume(
                    &v.name,
                    None::<bollard::query_parameters::RemoveVolumeOptions>,
                )
                .await
            {
                Ok(()) => removed.push(v.name),
                Err(e) if error::is_not_found(&e) => {}
                Err(e) => {
                    return Err(error::backend(
                        lab,
                        format!("removing volume {:?}", v.name),
                        e,
                    ));
                }
            }
        }
        Ok(removed)
    }
}
