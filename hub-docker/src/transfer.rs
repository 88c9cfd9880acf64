//! Copying an image between two engines (for labs spread over several hosts): the source's
//! `docker save` stream (`GET /images/NAME/get`) is fed, as it arrives, into the target's
//! `docker load` (`POST /images/load`), so the image never lands on this machine's disk nor
//! whole in its memory. Progress (bytes sent, of the image's size) goes to the target's
//! [`PullProgressFn`](crate::PullProgressFn).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bollard::query_parameters::ImportImageOptionsBuilder;
use futures::StreamExt;
use hub_runtime::{RuntimeError, RuntimeResult};

use crate::DockerRuntime;
use crate::error;
use crate::image::PullProgress;
use crate::mapping::normalize_image;

/// The `status` of transfer progress messages.
pub const TRANSFER_STATUS: &str = "Copying";
/// The `status` of the last message of a copy [`DockerRuntime::fetch_image`] made.
pub const COPIED_STATUS: &str = "Copied";

impl DockerRuntime {
    /// Copies `image` from the engine `from` into this engine, reporting the bytes sent to
    /// this runtime's progress callback. Returns the number of bytes streamed. The copy of an
    /// image that `from` does not have fails with [`RuntimeError::ImageUnavailable`], naming
    /// it; a transfer cut halfway leaves no image behind (`docker load` commits an image only
    /// from a complete archive).
    pub async fn copy_image_from(&self, from: &DockerRuntime, image: &str) -> RuntimeResult<u64> {
        let reference = normalize_image(image);
        let unavailable = |reason: String| RuntimeError::ImageUnavailable {
            lab: "-".into(),
            workload: "-".into(),
            image: image.to_string(),
            reason,
        };
        let total = match from.docker.inspect_image(&reference).await {
            Ok(i) => i.size.and_then(|s| u64::try_from(s).ok()),
            Err(e) if error::is_not_found(&e) => {
                return Err(unavailable(
                    "the engine it was to be copied from does not have it".into(),
                ));
            }
            Err(e) => {
                return Err(error::backend(
                    "-",
                    format!("inspecting image {image:?} on the source engine"),
                    e,
                ));
            }
        };
        tracing::info!(image = %reference, bytes = total, "copying image between engines");
        let sent = Arc::new(AtomicU64::new(0));
        let progress = self.pull_progress.clone();
        let counter = Arc::clone(&sent);
        let name = reference.clone();
        let source = from.docker.clone();
        let archive = source.export_image(&reference).map(move |chunk| {
            let chunk = chunk?;
            let done =
                counter.fetch_add(chunk.len() as u64, Ordering::Relaxed) + chunk.len() as u64;
            if let Some(f) = &progress {
                f(PullProgress {
                    image: name.clone(),
                    layer: None,
                    status: TRANSFER_STATUS.into(),
                    current: Some(done),
                    total,
                });
            }
            Ok::<_, bollard::errors::Error>(chunk)
        });
        let opts = ImportImageOptionsBuilder::new().quiet(true).build();
        let mut load = Box::pin(self.docker.import_image_stream(opts, archive, None));
        while let Some(item) = load.next().await {
            let info = item.map_err(|e| {
                error::backend(
                    "-",
                    format!("loading image {image:?} into the target engine"),
                    e,
                )
            })?;
            if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                return Err(unavailable(format!(
                    "the target engine refused it: {detail}"
                )));
            }
        }
        if !self.image_exists(&reference).await? {
            return Err(unavailable(
                "the copy ended but the image is not in the target engine's store".into(),
            ));
        }
        Ok(sent.load(Ordering::Relaxed))
    }

    /// Makes `image` present on this engine: nothing to do when it is; otherwise copies it from
    /// the first of `sources` that has it. `Ok(None)` when it was already here, else the bytes
    /// copied. When no source has it, the error names the image and how many engines were asked.
    pub async fn ensure_image_from(
        &self,
        image: &str,
        sources: &[&DockerRuntime],
    ) -> RuntimeResult<Option<u64>> {
        if self.image_exists(image).await? {
            return Ok(None);
        }
        for source in sources {
            if source.image_exists(image).await? {
                return self.copy_image_from(source, image).await.map(Some);
            }
        }
        Err(RuntimeError::ImageUnavailable {
            lab: "-".into(),
            workload: "-".into(),
            image: image.to_string(),
            reason: format!(
                "it is missing here and none of the {} other engines has it to copy",
                sources.len()
            ),
        })
    }

    /// Gets `image`, missing here, for workload `workload` of `lab`: copied from the first
    /// of this runtime's [image sources](DockerRuntime::with_image_sources) that has it, else
    /// pulled. A failed copy is the error (the image exists somewhere the lab can reach; a
    /// registry pull would only hide why it did not arrive).
    pub async fn fetch_image(&self, lab: &str, workload: &str, image: &str) -> RuntimeResult<()> {
        for source in self.image_sources.iter() {
            if !source.image_exists(image).await.unwrap_or(false) {
                continue;
            }
            return match self.copy_image_from(source, image).await {
                Ok(bytes) => {
                    tracing::info!(
                        lab,
                        workload,
                        image,
                        bytes,
                        "image copied from another host"
                    );
                    if let Some(f) = &self.pull_progress {
                        f(PullProgress {
                            image: normalize_image(image),
                            layer: None,
                            status: COPIED_STATUS.into(),
                            current: Some(bytes),
                            total: Some(bytes),
                        });
                    }
                    Ok(())
                }
                Err(RuntimeError::ImageUnavailable { image, reason, .. }) => {
                    Err(RuntimeError::ImageUnavailable {
                        lab: lab.to_string(),
                        workload: workload.to_string(),
                        image,
                        reason: format!("copying it from another host of the lab: {reason}"),
                    })
                }
                Err(e) => Err(e),
            };
        }
        self.pull(lab, workload, image).await
    }
}
