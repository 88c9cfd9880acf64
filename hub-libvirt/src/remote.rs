//! VMs on a remote libvirt (`qemu+tls://H/system`, `qemu+ssh://...`): their disks are storage
//! volumes on that host, made through the libvirt connection alone (nothing is installed on the
//! host, and nothing reaches it but `virsh -c URI`).
//!
//! - **Base images** go once into the directory pool [`IMAGE_POOL`] (under [`POOL_ROOT`]), as a
//!   volume named by the image's content ([`base_volume_name`]: `sha256-` and 24 hex digits of
//!   its SHA-256): `vol-create-as` of an empty volume, then `vol-upload` fed by this process,
//!   with progress. Every lab on that host reuses it; an upload cut short (its file is smaller
//!   than the image) is deleted and made again. The cache stays when labs go.
//! - **Per-VM volumes** live in the lab's own pool, [`lab_pool`] (`hub-lab-LAB`): the qcow2
//!   overlay `VM-disk.qcow2` (`vol-create-as --backing-vol` the base volume), the NoCloud seed
//!   `VM-seed.img` (rendered here, uploaded, the local copy removed) and the serial console log
//!   `VM-console.log` (virtlogd writes it there; it becomes a volume when the pool is re-read).
//!   Removing a VM deletes its volumes; [`LibvirtRuntime::remove_lab_storage`] removes the
//!   lab's pool with whatever is in it, by its name, so `down` finds it after a crash too.
//! - Warm snapshots are not made or used there (their files are this machine's): such a VM
//!   boots cold and its boot record says so; its console log is not read from here either.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use hub_runtime::RuntimeResult;

use crate::domain::BootRecord;
use crate::error::{LibvirtError, LibvirtResult};
use crate::fsutil::remove_file_if_exists;
use crate::overlay::{ImageInfo, file_sha256};
use crate::runtime::{CreatePhases, DomainFiles, DomainPlan, LibvirtRuntime};
use crate::seed::write_seed;

/// The pool of base images on a remote host, shared by every lab there.
pub const IMAGE_POOL: &str = "hub-images";

/// Where the hub's pools live on a remote host (Debian's libvirt makes this folder).
pub const POOL_ROOT: &str = "/var/lib/libvirt/images";

/// Whether a libvirt URI names another machine (`qemu+tls://H/system`), not this one
/// (`qemu:///system`, `qemu+unix:///system?socket=...`).
pub fn is_remote_uri(uri: &str) -> bool {
    uri.split_once("://")
        .map(|(_, rest)| rest.split(['/', '?']).next().unwrap_or_default())
        .is_some_and(|authority| !authority.is_empty())
}

/// The pool holding lab `lab`'s VM volumes on a remote host.
pub fn lab_pool(lab: &str) -> String {
    format!("hub-lab-{lab}")
}

/// The volume name of a base image in [`IMAGE_POOL`]: its content's SHA-256 (`digest`, hex),
/// shortened to 24 hex digits, and its format.
pub fn base_volume_name(digest: &str, format: &str) -> String {
    let short = digest.get(..24).unwrap_or(digest);
    format!("sha256-{short}.{format}")
}

/// The names of VM `vm`'s volumes in its lab's pool: disk, seed, console log.
pub fn vm_volumes(vm: &str) -> [String; 3] {
    [
        format!("{vm}-disk.qcow2"),
        format!("{vm}-seed.img"),
        format!("{vm}-console.log"),
    ]
}

/// How the upload of a base image to a remote libvirt stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadStage {
    /// Bytes are being sent.
    Sending,
    /// Every byte was sent, in this time.
    Uploaded(Duration),
    /// The host already had the image (a volume of the same content): nothing was sent.
    Cached,
}

/// One report of a base image's upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadProgress {
    /// The libvirt URI of the host.
    pub uri: String,
    /// The image on this machine.
    pub image: PathBuf,
    /// The volume, as `POOL/NAME`.
    pub volume: String,
    /// Bytes sent so far.
    pub sent: u64,
    /// The image's size.
    pub total: u64,
    /// Where the upload stands.
    pub stage: UploadStage,
}

/// A callback receiving base image uploads' progress.
pub type UploadProgressFn = Arc<dyn Fn(UploadProgress) + Send + Sync>;

/// The content digest of `image`, computed once per process for a given path, size and
/// modification time (hashing a base image takes seconds).
async fn image_digest(image: &Path) -> LibvirtResult<String> {
    type Key = (PathBuf, u64, Option<SystemTime>);
    static DIGESTS: OnceLock<Mutex<HashMap<Key, String>>> = OnceLock::new();
    let meta = std::fs::metadata(image).map_err(|source| LibvirtError::Io {
        action: "read",
        path: image.to_path_buf(),
        source,
    })?;
    let key = (image.to_path_buf(), meta.len(), meta.modified().ok());
    let cache = DIGESTS.get_or_init(Default::default);
    if let Some(d) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(d.clone());
    }
    let path = image.to_path_buf();
    let digest = tokio::task::spawn_blocking(move || file_sha256(&path))
        .await
        .map_err(|e| LibvirtError::Io {
            action: "hash",
            path: image.to_path_buf(),
            source: std::io::Error::other(e),
        })??;
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, digest.clone());
    Ok(digest)
}

impl LibvirtRuntime {
    /// Whether this runtime's libvirt is another machine's.
    pub fn is_remote(&self) -> bool {
        is_remote_uri(self.uri())
    }

    fn report(&self, p: UploadProgress) {
        if let Some(f) = &self.upload_progress {
            f(p);
        }
    }

    /// Makes sure the host holds base image `base` as a volume of [`IMAGE_POOL`], uploading it
    /// when it does not; its path there.
    pub(crate) async fn upload_base(&self, base: &Path, info: &ImageInfo) -> LibvirtResult<String> {
        // One upload at a time per host from this process: two VMs of one image share it.
        let _one = self.uploads.lock().await;
        let digest = image_digest(base).await?;
        let name = base_volume_name(&digest, &info.format);
        let target = format!("{POOL_ROOT}/{IMAGE_POOL}");
        self.virsh.ensure_pool(IMAGE_POOL, &target, true).await?;
        let total = std::fs::metadata(base)
            .map_err(|source| LibvirtError::Io {
                action: "read",
                path: base.to_path_buf(),
                source,
            })?
            .len();
        let report = |sent, stage| UploadProgress {
            uri: self.uri().to_string(),
            image: base.to_path_buf(),
            volume: format!("{IMAGE_POOL}/{name}"),
            sent,
            total,
            stage,
        };
        match self.virsh.vol_physical(IMAGE_POOL, &name).await? {
            Some(size) if size == total => {
                tracing::info!(uri = %self.uri(), image = %base.display(), volume = %name, "base image already on the host");
                self.report(report(0, UploadStage::Cached));
                return self.volume_path(IMAGE_POOL, &name).await;
            }
            Some(size) => {
                tracing::warn!(uri = %self.uri(), volume = %name, size, total, "an upload of this base image was cut short; sending it again");
                self.virsh.vol_delete(IMAGE_POOL, &name).await?;
            }
            None => {}
        }
        let t = Instant::now();
        tracing::info!(uri = %self.uri(), image = %base.display(), volume = %name, bytes = total, "uploading the base image");
        self.virsh
            .vol_create(IMAGE_POOL, &name, 0, "raw", None)
            .await?;
        let step = (total / 100).max(1 << 20);
        let last = std::sync::atomic::AtomicU64::new(0);
        let sent = self
            .virsh
            .vol_upload(IMAGE_POOL, &name, base, &|sent| {
                let before = last.load(std::sync::atomic::Ordering::Relaxed);
                if sent - before >= step || sent == total {
                    last.store(sent, std::sync::atomic::Ordering::Relaxed);
                    self.report(report(sent, UploadStage::Sending));
                }
            })
            .await;
        let sent = match sent {
            Ok(n) => n,
            Err(e) => {
                let _ = self.virsh.vol_delete(IMAGE_POOL, &name).await;
                return Err(e);
            }
        };
        let took = t.elapsed();
        tracing::info!(uri = %self.uri(), volume = %name, bytes = sent, ?took, "base image uploaded");
        self.report(report(sent, UploadStage::Uploaded(took)));
        self.volume_path(IMAGE_POOL, &name).await
    }

    async fn volume_path(&self, pool: &str, name: &str) -> LibvirtResult<String> {
        self.virsh
            .vol_path(pool, name)
            .await?
            .ok_or_else(|| LibvirtError::Virsh {
                command: format!("vol-path --pool {pool} {name}"),
                stderr: "the volume just made is not there".into(),
            })
    }

    /// Deletes VM `vm`'s volumes from `pool` (those of a crashed run too); missing is fine.
    pub(crate) async fn delete_vm_volumes(&self, pool: &str, vm: &str) -> LibvirtResult<()> {
        // The console log is a volume only once the pool is re-read.
        self.virsh.refresh_pool(pool).await?;
        for v in vm_volumes(vm) {
            self.virsh.vol_delete(pool, &v).await?;
        }
        Ok(())
    }

    /// Makes a cold-booting VM on the remote libvirt: the base image uploaded (or found), the
    /// overlay and the seed as volumes of the lab's pool, the domain defined over their paths.
    /// Leaves nothing half-made on error (the volumes it made and the domain go).
    pub(crate) async fn create_remote(
        &self,
        plan: &DomainPlan<'_>,
        base_info: &ImageInfo,
        boot: &BootRecord,
        phases: &mut CreatePhases,
    ) -> LibvirtResult<()> {
        let DomainPlan {
            lab,
            vm,
            domain,
            paths,
            base,
            ..
        } = *plan;
        let pool = lab_pool(&lab.name);
        let [disk, seed, console] = vm_volumes(&vm.name);
        let made = async {
            let t = Instant::now();
            let base_path = self.upload_base(base, base_info).await?;
            phases.upload = t.elapsed();

            let t = Instant::now();
            self.virsh
                .ensure_pool(&pool, &format!("{POOL_ROOT}/{pool}"), false)
                .await?;
            // What a crashed run of this VM left.
            self.delete_vm_volumes(&pool, &vm.name).await?;
            self.virsh
                .vol_create(
                    &pool,
                    &disk,
                    base_info.virtual_size,
                    "qcow2",
                    Some((&base_path, &base_info.format)),
                )
                .await?;
            let disk_path = self.volume_path(&pool, &disk).await?;
            phases.overlay = t.elapsed();

            let t = Instant::now();
            write_seed(lab, vm, &paths.seed)?;
            let uploaded = async {
                self.virsh.vol_create(&pool, &seed, 0, "raw", None).await?;
                self.virsh
                    .vol_upload(&pool, &seed, &paths.seed, &|_| {})
                    .await
            }
            .await;
            // The seed holds the VM's private host key: no copy stays here.
            remove_file_if_exists(&paths.seed)?;
            uploaded?;
            let seed_path = self.volume_path(&pool, &seed).await?;
            phases.seed = t.elapsed();

            let dir = Path::new(&disk_path)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(format!("{POOL_ROOT}/{pool}")));
            let files = DomainFiles {
                overlay: PathBuf::from(&disk_path),
                seed: PathBuf::from(&seed_path),
                console_log: dir.join(&console),
                pool: Some(pool.clone()),
                // The firmware's screen on the console helps only where the log is read.
                firmware_console: false,
            };
            self.define_domain(plan, files, boot, phases).await
        }
        .await;
        if let Err(e) = made {
            self.forget_domain(domain).await;
            let _ = self.delete_vm_volumes(&pool, &vm.name).await;
            for f in [&paths.seed, &paths.domain_xml] {
                let _ = remove_file_if_exists(f);
            }
            let _ = std::fs::remove_dir(&paths.dir);
            return Err(e);
        }
        // Nothing of the VM stays in this machine's lab folder.
        let _ = std::fs::remove_dir(&paths.dir);
        Ok(())
    }

    /// Removes what lab `lab`'s VMs keep on this libvirt besides their domains: on a remote
    /// libvirt, the lab's pool ([`lab_pool`]) with every volume in it, found by its name (after
    /// a crash too); the shared base images stay. `true` when there was a pool. On this
    /// machine's libvirt a VM's files live in the lab folder: nothing to do.
    pub async fn remove_lab_storage(&self, lab: &str) -> RuntimeResult<bool> {
        if !self.is_remote() {
            return Ok(false);
        }
        let pool = lab_pool(lab);
        self.virsh.remove_pool(&pool).await.map_err(|e| {
            crate::runtime::to_runtime_error(
                lab,
                format!(
                    "removing the lab's storage pool {pool:?} from libvirt at {}",
                    self.uri()
                ),
                e,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_libvirt_uri_with_a_host_is_remote() {
        for uri in [
            "qemu+tls://10.203.0.11/system?pkipath=/x",
            "qemu+ssh://root@h2/system",
            "qemu+tcp://h3/system",
        ] {
            assert!(is_remote_uri(uri), "{uri}");
        }
        for uri in [
            "qemu:///system",
            "qemu:///session",
            "qemu+unix:///system?socket=/s",
        ] {
            assert!(!is_remote_uri(uri), "{uri}");
        }
    }

    #[test]
    fn names_carry_the_content_and_the_lab() {
        let digest = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(
            base_volume_name(digest, "qcow2"),
            "sha256-0123456789abcdef01234567.qcow2"
        );
        assert_eq!(lab_pool("demo"), "hub-lab-demo");
        assert_eq!(
            vm_volumes("vm1"),
            ["vm1-disk.qcow2", "vm1-seed.img", "vm1-console.log"]
        );
    }

    #[tokio::test]
    async fn an_images_digest_is_computed_once_per_content() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("img");
        std::fs::write(&f, b"one").unwrap();
        let a = image_digest(&f).await.unwrap();
        assert_eq!(a, file_sha256(&f).unwrap());
        assert_eq!(image_digest(&f).await.unwrap(), a);
        std::fs::write(&f, b"other").unwrap();
        assert_ne!(
            image_digest(&f).await.unwrap(),
            a,
            "a new size is a new key"
        );
    }
}
