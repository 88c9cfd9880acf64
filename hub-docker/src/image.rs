//! Images: a local image is used as is, a missing one is pulled with progress, and a root file
//! system tar is imported (`docker import`) for images the hub builds itself.

use bollard::query_parameters::CreateImageOptionsBuilder;
use bytes::Bytes;
use futures::StreamExt;
use hub_runtime::{RuntimeError, RuntimeResult};

use crate::DockerRuntime;
use crate::error::{self, message_of};
use crate::mapping::{normalize_image, split_reference};

/// One progress message of an image pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullProgress {
    /// The image being pulled (`name:tag`).
    pub image: String,
    /// The layer the message is about, if any.
    pub layer: Option<String>,
    /// Docker's status text (`Downloading`, `Pull complete`).
    pub status: String,
    /// Bytes done in this layer, when Docker says.
    pub current: Option<u64>,
    /// Bytes in this layer, when Docker says.
    pub total: Option<u64>,
}

impl DockerRuntime {
    /// Whether `image` is in the engine's local store.
    pub async fn image_exists(&self, image: &str) -> RuntimeResult<bool> {
        match self.docker.inspect_image(&normalize_image(image)).await {
            Ok(_) => Ok(true),
            Err(e) if error::is_not_found(&e) => Ok(false),
            Err(e) => Err(error::backend(
                "-",
                format!("inspecting image {image:?}"),
                e,
            )),
        }
    }

    /// Makes `image` local: nothing to do when it is, else copies it from an image source or
    /// pulls it ([`DockerRuntime::fetch_image`]), reporting progress to the callback set with
    /// [`DockerRuntime::with_pull_progress`]. A pull that fails or makes no
    /// progress for the idle timeout is [`RuntimeError::ImageUnavailable`], naming the image.
    pub async fn ensure_image(&self, lab: &str, workload: &str, image: &str) -> RuntimeResult<()> {
        if self.image_exists(image).await? {
            return Ok(());
        }
        self.fetch_image(lab, workload, image).await
    }

    /// Pulls `image` (tag `latest` when none is given).
    pub async fn pull(&self, lab: &str, workload: &str, image: &str) -> RuntimeResult<()> {
        let reference = normalize_image(image);
        let unavailable = |reason: String| RuntimeError::ImageUnavailable {
            lab: lab.to_string(),
            workload: workload.to_string(),
            image: image.to_string(),
            reason,
        };
        tracing::info!(lab, workload, image = %reference, "pulling image");
        let opts = CreateImageOptionsBuilder::new()
            .from_image(&reference)
            .build();
        let mut stream = Box::pin(self.docker.create_image(Some(opts), None, None));
        loop {
            let next = tokio::time::timeout(self.pull_idle_timeout, stream.next()).await;
            let item = match next {
                Err(_) => {
                    return Err(unavailable(format!(
                        "the pull made no progress for {:?}; check the registry and the network, \
                         or build the image locally",
                        self.pull_idle_timeout
                    )));
                }
                Ok(None) => break,
                Ok(Some(item)) => item,
            };
            match item {
                Ok(info) => {
                    if let Some(f) = &self.pull_progress {
                        let detail = info.progress_detail.as_ref();
                        f(PullProgress {
                            image: reference.clone(),
                            layer: info.id.clone(),
                            status: info.status.clone().unwrap_or_default(),
                            current: detail
                                .and_then(|d| d.current)
                                .and_then(|c| u64::try_from(c).ok()),
                            total: detail
                                .and_then(|d| d.total)
                                .and_then(|t| u64::try_from(t).ok()),
                        });
                    }
                }
                Err(e) => {
                    let msg = message_of(&e).to_string();
                    if msg.is_empty() {
                        return Err(error::backend(lab, format!("pulling image {image:?}"), e));
                    }
                    return Err(unavailable(format!(
                        "it is not in the local store and the pull failed: {msg}"
                    )));
                }
            }
        }
        // A pull stream can end without an error yet leave nothing (a registry that hung up).
        if self.image_exists(image).await? {
            Ok(())
        } else {
            Err(unavailable(
                "the pull ended but the image is not in the local store".into(),
            ))
        }
    }

    /// `docker import`: makes the image `reference` (`name:tag`) from a tar of a root file
    /// system, applying Dockerfile `changes` such as `CMD ["sh"]` or `LABEL k=v`. Returns the
    /// new image's id.
    pub async fn import_image_from_tar(
        &self,
        tar: Bytes,
        reference: &str,
        changes: &[String],
    ) -> RuntimeResult<String> {
        let (repo, tag) = split_reference(reference);
        let opts = CreateImageOptionsBuilder::new()
            .from_src("-")
            .repo(&repo)
            .tag(&tag)
            .changes(changes.to_vec())
            .build();
        let doing = format!("importing image {reference:?}");
        let mut stream = Box::pin(self.docker.create_image(
            Some(opts),
            Some(bollard::body_full(tar)),
            None,
        ));
        while let Some(item) = stream.next().await {
            item.map_err(|e| error::backend("-", doing.clone(), e))?;
        }
        let img = self
            .docker
            .inspect_image(reference)
            .await
            .map_err(|e| error::backend("-", format!("{doing}: inspecting the result"), e))?;
        img.id.ok_or_else(|| {
            error::own(
                "-",
                doing,
                crate::DockerError::Incomplete { what: "image id" },
            )
        })
    }
}
