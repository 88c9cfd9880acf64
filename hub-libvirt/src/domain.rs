//! The libvirt domain XML of a VM: written with quick-xml's writer (every value escaped) and
//! read back from `virsh dumpxml` to find a VM's lab, files and address without any state.
//!
//! The hub's marks live in `<metadata>` under [`hub_runtime::labels::LIBVIRT_NS`]:
//!
//! ```xml
//! <hub:vm xmlns:hub="https://virtual-hub.invalid/xmlns/hub/1" lab="demo" workload="vm1"
//!         spec-hash="..." kind="vm" user="hub" ip="10.0.0.30" static-ip="false"
//!         boot="cold" boot-note="no entry yet" warm-key="...">
//!   <hub:file role="overlay" path="/lab/vms/vm1/disk.qcow2"/>
//!   <hub:file role="seed" path="/lab/vms/vm1/seed.img"/>
//!   <hub:file role="console" path="/lab/vms/vm1/console.log"/>
//! </hub:vm>
//! ```
//!
//! Only the files listed there are deleted when the VM is removed: the base image never is.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use hub_runtime::labels::LIBVIRT_NS;
use quick_xml::Writer;
use quick_xml::events::{BytesStart, BytesText, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use crate::error::{LibvirtError, LibvirtResult};
use crate::virt::DomainType;

/// The prefix of the hub's metadata element.
const NS_PREFIX: &str = "hub";

/// How a VM's current run started, recorded in its metadata so `status` can say it and the
/// readiness wait knows what to do after (fix a restored guest up, or save a snapshot).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootRecord {
    /// Whether the run was restored from a warm snapshot (else it booted cold).
    pub restored: bool,
    /// Why a warm VM booted cold (`no snapshot yet`, `the snapshot is corrupt: ...`).
    pub note: Option<String>,
    /// The warm cache key of the VM, when it is warm.
    pub warm_key: Option<String>,
    /// It runs on a remote libvirt (its disks are volumes there, its console log stays there).
    pub remote: bool,
}

impl BootRecord {
    /// The words `status` and the progress line show: `restored from warm snapshot`,
    /// `cold boot`, or `cold boot (no warm snapshot: REASON)`; on a remote libvirt
    /// `cold boot on a remote libvirt (...)`, saying that its console log is not read here.
    pub fn describe(&self) -> String {
        match (self.restored, &self.note, self.remote) {
            (true, _, _) => "restored from warm snapshot".to_string(),
            (false, Some(why), false) => format!("cold boot (no warm snapshot: {why})"),
            (false, None, false) => "cold boot".to_string(),
            (false, Some(why), true) => format!(
                "cold boot on a remote libvirt (no warm snapshot: {why}; {REMOTE_CONSOLE_NOTE})"
            ),
            (false, None, true) => format!("cold boot on a remote libvirt ({REMOTE_CONSOLE_NOTE})"),
        }
    }
}

/// What a VM on a remote libvirt's boot record says of its console log.
pub const REMOTE_CONSOLE_NOTE: &str = "its console log stays on its host, not read here";

/// Why a warm VM on a remote libvirt boots cold.
pub const REMOTE_WARM_NOTE: &str = "warm snapshots are kept for VMs on this machine's libvirt only";

impl BootRecord {
    /// A cold boot on a remote libvirt; `warm` when the spec asked for a warm start.
    pub fn remote_cold(warm: bool) -> Self {
        BootRecord {
            remote: true,
            note: warm.then(|| REMOTE_WARM_NOTE.to_string()),
            ..BootRecord::default()
        }
    }
}

/// Everything the domain XML is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainConfig {
    /// Domain name (`LAB-VM`).
    pub name: String,
    /// Domain UUID, derived from lab and VM names ([`crate::domain_uuid`]).
    pub uuid: String,
    /// The lab.
    pub lab: String,
    /// The VM's name in the lab.
    pub workload: String,
    /// The lab directory (keys, known_hosts), recorded so `ssh` works from the domain alone.
    pub lab_dir: PathBuf,
    /// The spec hash recorded in the metadata.
    pub spec_hash: String,
    /// kvm or qemu.
    pub domain_type: DomainType,
    /// Memory in MiB.
    pub memory_mib: u64,
    /// Virtual CPUs.
    pub vcpus: u32,
    /// The qcow2 overlay (the VM's disk).
    pub overlay: PathBuf,
    /// The NoCloud seed image (raw vfat).
    pub seed: PathBuf,
    /// The file the serial console is logged to.
    pub console_log: PathBuf,
    /// Its NICs, in order (`eth0` first): one per segment it joins, the lab network's alone
    /// in a lab of one network.
    pub nics: Vec<Nic>,
    /// The login user (for `ssh`).
    pub user: String,
    /// The VM's address, when known in advance (static or reserved in netd).
    pub ip: Option<Ipv4Addr>,
    /// Whether the address is configured statically.
    pub static_ip: bool,
    /// How this run starts.
    pub boot: BootRecord,
    /// Whether the firmware writes its screen to the serial console too (see
    /// [`crate::virt::firmware_console_available`]).
    pub firmware_console: bool,
    /// The storage pool on the VM's host that holds its disk and seed as volumes (a VM on a
    /// remote libvirt); `None`: they are files of this machine.
    pub pool: Option<String>,
}

/// One virtio NIC of a VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nic {
    /// The Linux bridge it is attached to.
    pub bridge: String,
    /// Its MAC.
    pub mac: String,
}

fn path_str(p: &Path) -> std::borrow::Cow<'_, str> {
    p.to_string_lossy()
}

/// Writes the domain XML for `cfg`.
pub fn domain_xml(cfg: &DomainConfig) -> LibvirtResult<String> {
    let err = |source| LibvirtError::XmlWrite {
        domain: cfg.name.clone(),
        source,
    };
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    write_domain(&mut w, cfg).map_err(err)?;
    String::from_utf8(w.into_inner())
        .map_err(|e| err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
}

fn text<W: std::io::Write>(w: &mut Writer<W>, name: &str, value: &str) -> std::io::Result<()> {
    w.create_element(name)
        .write_text_content(BytesText::new(value))?;
    Ok(())
}

fn write_domain<W: std::io::Write>(w: &mut Writer<W>, cfg: &DomainConfig) -> std::io::Result<()> {
    let memory = cfg.memory_mib.to_string();
    let vcpus = cfg.vcpus.to_string();
    w.create_element("domain")
        .with_attribute(("type", cfg.domain_type.as_str()))
        .write_inner_content(|w| {
            text(w, "name", &cfg.name)?;
            text(w, "uuid", &cfg.uuid)?;
            w.create_element("metadata")
                .write_inner_content(|w| write_metadata(w, cfg))?;
            w.create_element("memory")
                .with_attribute(("unit", "MiB"))
                .write_text_content(BytesText::new(&memory))?;
            w.create_element("vcpu")
                .write_text_content(BytesText::new(&vcpus))?;
            w.create_element("os").write_inner_content(|w| {
                w.create_element("type")
                    .with_attribute(("arch", "x86_64"))
                    .write_text_content(BytesText::new("hvm"))?;
                w.create_element("boot")
                    .with_attribute(("dev", "hd"))
                    .write_empty()?;
                if cfg.firmware_console {
                    w.create_element("bios")
                        .with_attribute(("useserial", "yes"))
                        .write_empty()?;
                }
                Ok(())
            })?;
            w.create_element("features").write_inner_content(|w| {
                w.create_element("acpi").write_empty()?;
                w.create_element("apic").write_empty()?;
                Ok(())
            })?;
            match cfg.domain_type {
                DomainType::Kvm => w
                    .create_element("cpu")
                    .with_attribute(("mode", "host-passthrough"))
                    .write_empty()?,
                // TCG needs a CPU model with modern features: the default qemu64 crashes the
                // Debian kernel's decompressor on BMI2 instructions.
                DomainType::Qemu => w
                    .create_element("cpu")
                    .with_attribute(("mode", "maximum"))
                    .write_empty()?,
            };
            w.create_element("clock")
                .with_attribute(("offset", "utc"))
                .write_empty()?;
            text(w, "on_poweroff", "destroy")?;
            text(w, "on_reboot", "restart")?;
            text(w, "on_crash", "destroy")?;
            w.create_element("devices")
                .write_inner_content(|w| write_devices(w, cfg))?;
            Ok(())
        })?;
    Ok(())
}

fn write_metadata<W: std::io::Write>(w: &mut Writer<W>, cfg: &DomainConfig) -> std::io::Result<()> {
    let ip = cfg.ip.map(|ip| ip.to_string()).unwrap_or_default();
    let xmlns = format!("xmlns:{NS_PREFIX}");
    let mut el = w
        .create_element(format!("{NS_PREFIX}:vm"))
        .with_attribute((xmlns.as_str(), LIBVIRT_NS))
        .with_attribute(("lab", cfg.lab.as_str()))
        .with_attribute(("workload", cfg.workload.as_str()))
        .with_attribute(("lab-dir", path_str(&cfg.lab_dir).as_ref()))
        .with_attribute(("spec-hash", cfg.spec_hash.as_str()))
        .with_attribute(("kind", "vm"))
        .with_attribute(("user", cfg.user.as_str()))
        .with_attribute(("static-ip", if cfg.static_ip { "true" } else { "false" }));
    if cfg.ip.is_some() {
        el = el.with_attribute(("ip", ip.as_str()));
    }
    el = el.with_attribute((
        "boot",
        if cfg.boot.restored {
            "restored"
        } else {
            "cold"
        },
    ));
    if let Some(note) = &cfg.boot.note {
        el = el.with_attribute(("boot-note", note.as_str()));
    }
    if let Some(key) = &cfg.boot.warm_key {
        el = el.with_attribute(("warm-key", key.as_str()));
    }
    if let Some(pool) = &cfg.pool {
        el = el.with_attribute(("pool", pool.as_str()));
    }
    el.write_inner_content(|w| {
        for (role, path) in [
            ("overlay", &cfg.overlay),
            ("seed", &cfg.seed),
            ("console", &cfg.console_log),
        ] {
            w.create_element(format!("{NS_PREFIX}:file"))
                .with_attribute(("role", role))
                .with_attribute(("path", path_str(path).as_ref()))
                .write_empty()?;
        }
        Ok(())
    })?;
    Ok(())
}

/// One virtio `<disk>` backed by a file.
fn write_disk<W: std::io::Write>(
    w: &mut Writer<W>,
    file: &Path,
    format: &str,
    dev: &str,
    readonly: bool,
) -> std::io::Result<()> {
    w.create_element("disk")
        .with_attribute(("type", "file"))
        .with_attribute(("device", "disk"))
        .write_inner_content(|w| {
            w.create_element("driver")
                .with_attribute(("name", "qemu"))
                .with_attribute(("type", format))
                .write_empty()?;
            w.create_element("source")
                .with_attribute(("file", path_str(file).as_ref()))
                .write_empty()?;
            w.create_element("target")
                .with_attribute(("dev", dev))
                .with_attribute(("bus", "virtio"))
                .write_empty()?;
            if readonly {
                w.create_element("readonly").write_empty()?;
            }
            Ok(())
        })?;
    Ok(())
}

fn write_devices<W: std::io::Write>(w: &mut Writer<W>, cfg: &DomainConfig) -> std::io::Result<()> {
    // The VM's own disk: the qcow2 overlay over the base image.
    write_disk(w, &cfg.overlay, "qcow2", "vda", false)?;
    // The NoCloud seed as a read-only virtio disk: Debian's cloud kernel has no SATA CD-ROM
    // driver.
    write_disk(w, &cfg.seed, "raw", "vdb", true)?;
    // One NIC per network, in order: the guest names them eth0, eth1... by PCI slot, which
    // libvirt assigns in this order.
    for nic in &cfg.nics {
        w.create_element("interface")
            .with_attribute(("type", "bridge"))
            .write_inner_content(|w| {
                w.create_element("source")
                    .with_attribute(("bridge", nic.bridge.as_str()))
                    .write_empty()?;
                w.create_element("mac")
                    .with_attribute(("address", nic.mac.as_str()))
                    .write_empty()?;
                w.create_element("model")
                    .with_attribute(("type", "virtio"))
                    .write_empty()?;
                Ok(())
            })?;
    }
    // A pty serial port (so `virsh console` works) whose output virtlogd also writes to a file.
    w.create_element("serial")
        .with_attribute(("type", "pty"))
        .write_inner_content(|w| {
            w.create_element("log")
                .with_attribute(("file", path_str(&cfg.console_log).as_ref()))
                .with_attribute(("append", "off"))
                .write_empty()?;
            w.create_element("target")
                .with_attribute(("port", "0"))
                .write_empty()?;
            Ok(())
        })?;
    w.create_element("console")
        .with_attribute(("type", "pty"))
        .write_inner_content(|w| {
            w.create_element("target")
                .with_attribute(("type", "serial"))
                .with_attribute(("port", "0"))
                .write_empty()?;
            Ok(())
        })?;
    w.create_element("memballoon")
        .with_attribute(("model", "virtio"))
        .write_empty()?;
    w.create_element("rng")
        .with_attribute(("model", "virtio"))
        .write_inner_content(|w| {
            w.create_element("backend")
                .with_attribute(("model", "random"))
                .write_text_content(BytesText::new("/dev/urandom"))?;
            Ok(())
        })?;
    Ok(())
}

/// What the hub reads back from a domain's XML.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainInfo {
    /// The domain's name.
    pub name: String,
    /// `kvm` or `qemu` (the `type` attribute).
    pub domain_type: String,
    /// The hub's marks, when the domain has them.
    pub hub: Option<HubMetadata>,
    /// MAC of the first NIC.
    pub mac: Option<String>,
    /// Source files of the disks, in order.
    pub disks: Vec<PathBuf>,
    /// The serial console's log file.
    pub console_log: Option<PathBuf>,
}

/// The hub's metadata element of a domain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HubMetadata {
    /// The lab.
    pub lab: String,
    /// The VM's name in the lab.
    pub workload: String,
    /// The lab directory.
    pub lab_dir: Option<PathBuf>,
    /// The spec hash at creation.
    pub spec_hash: String,
    /// The login user.
    pub user: String,
    /// The VM's address, when it was known at creation.
    pub ip: Option<Ipv4Addr>,
    /// Whether the address is static.
    pub static_ip: bool,
    /// Files the hub made for the VM, as `(role, path)`: overlay, seed, console.
    pub files: Vec<(String, PathBuf)>,
    /// How the VM's current run started.
    pub boot: BootRecord,
    /// The storage pool on the VM's host holding its files as volumes (a VM on a remote
    /// libvirt); `None`: its files are this machine's.
    pub pool: Option<String>,
}

impl HubMetadata {
    /// The file the hub made with this role (`overlay`, `seed`, `console`).
    pub fn file(&self, role: &str) -> Option<&Path> {
        self.files
            .iter()
            .find(|(r, _)| r == role)
            .map(|(_, p)| p.as_path())
    }
}

/// Parses a domain XML (as `virsh dumpxml` prints it). The hub's metadata element is found by
/// its namespace, whatever prefix libvirt gives it.
pub fn parse_domain_xml(xml: &str) -> LibvirtResult<DomainInfo> {
    parse(xml).map_err(|source| LibvirtError::XmlParse {
        domain: quick_name(xml).unwrap_or_default(),
        source,
    })
}

/// The domain name for an error message, best effort.
fn quick_name(xml: &str) -> Option<String> {
    let start = xml.find("<name>")? + "<name>".len();
    let end = xml[start..].find("</name>")?;
    Some(xml[start..start + end].to_string())
}

fn attr(e: &BytesStart<'_>, key: &str) -> Result<Option<String>, quick_xml::Error> {
    for a in e.attributes() {
        let a = a.map_err(quick_xml::Error::from)?;
        if a.key.local_name().as_ref() == key {
            return Ok(Some(
                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)?
                    .into_owned(),
            ));
        }
    }
    Ok(None)
}

fn parse(xml: &str) -> Result<DomainInfo, quick_xml::Error> {
    let mut reader = NsReader::from_str(xml);
    let mut info = DomainInfo::default();
    // Local names of the open elements, outermost first.
    let mut stack: Vec<String> = Vec::new();
    let mut name_text = String::new();
    loop {
        let (ns, ev) = reader.read_resolved_event()?;
        let in_hub = matches!(ns, ResolveResult::Bound(n) if n.as_ref() == LIBVIRT_NS);
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let local = e.local_name().as_ref().to_string();
                let parent = stack.last().map(String::as_str);
                let depth = stack.len();
                match (local.as_str(), parent) {
                    ("domain", None) => info.domain_type = attr(e, "type")?.unwrap_or_default(),
                    ("vm", Some("metadata")) if in_hub => {
                        let pool = attr(e, "pool")?;
                        info.hub = Some(HubMetadata {
                            lab: attr(e, "lab")?.unwrap_or_default(),
                            workload: attr(e, "workload")?.unwrap_or_default(),
                            lab_dir: attr(e, "lab-dir")?.map(PathBuf::from),
                            spec_hash: attr(e, "spec-hash")?.unwrap_or_default(),
                            user: attr(e, "user")?.unwrap_or_default(),
                            ip: attr(e, "ip")?.and_then(|s| s.parse().ok()),
                            static_ip: attr(e, "static-ip")?.as_deref() == Some("true"),
                            files: Vec::new(),
                            boot: BootRecord {
                                restored: attr(e, "boot")?.as_deref() == Some("restored"),
                                note: attr(e, "boot-note")?,
                                warm_key: attr(e, "warm-key")?,
                                remote: pool.is_some(),
                            },
                            pool,
                        })
                    }
                    ("file", Some("vm")) if in_hub => {
                        if let (Some(h), Some(role), Some(path)) =
                            (info.hub.as_mut(), attr(e, "role")?, attr(e, "path")?)
                        {
                            h.files.push((role, PathBuf::from(path)));
                        }
                    }
                    ("source", Some("disk")) if depth == 3 => {
                        if let Some(f) = attr(e, "file")? {
                            info.disks.push(PathBuf::from(f));
                        }
                    }
                    ("mac", Some("interface")) if info.mac.is_none() => {
                        info.mac = attr(e, "address")?;
                    }
                    ("log", Some("serial")) if info.console_log.is_none() => {
                        info.console_log = attr(e, "file")?.map(PathBuf::from);
                    }
                    _ => {}
                }
                if matches!(ev, Event::Start(_)) {
                    stack.push(local);
                }
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Text(ref t) if is_domain_name(&stack) => name_text.push_str(&t.xml10_content()),
            Event::CData(ref t) if is_domain_name(&stack) => name_text.push_str(&t.xml10_content()),
            Event::GeneralRef(ref r) if is_domain_name(&stack) => {
                if let Some(c) = r.resolve_char_ref()? {
                    name_text.push(c);
                } else {
                    let entity = r.xml10_content();
                    let resolved = quick_xml::escape::resolve_predefined_entity(&entity)
                        .ok_or_else(|| {
                            quick_xml::Error::Escape(
                                quick_xml::escape::EscapeError::UnrecognizedEntity(
                                    0..0,
                                    entity.to_string(),
                                ),
                            )
                        })?;
                    name_text.push_str(resolved);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    info.name = name_text;
    Ok(info)
}

fn is_domain_name(stack: &[String]) -> bool {
    stack.len() == 2 && stack[0] == "domain" && stack[1] == "name"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(name: &str) -> DomainConfig {
        DomainConfig {
            name: name.to_string(),
            lab: "lab".into(),
            workload: "vm1".into(),
            lab_dir: "/labs/lab".into(),
            spec_hash: "abc123".into(),
            domain_type: DomainType::Qemu,
            memory_mib: 1024,
            vcpus: 2,
            overlay: "/labs/lab/vms/vm1/disk.qcow2".into(),
            seed: "/labs/lab/vms/vm1/seed.img".into(),
            console_log: "/labs/lab/vms/vm1/console.log".into(),
            nics: vec![Nic {
                bridge: "br-0123456789ab".into(),
                mac: "52:54:00:12:34:56".into(),
            }],
            user: "hub".into(),
            ip: Some(Ipv4Addr::new(10, 203, 0, 30)),
            static_ip: false,
            uuid: crate::names::domain_uuid("lab", "vm1"),
            boot: BootRecord::default(),
            firmware_console: true,
            pool: None,
        }
    }

    /// Every element name in document order, with its depth, read with a plain quick-xml reader.
    fn elements(xml: &str) -> Vec<(usize, String)> {
        let mut r = quick_xml::Reader::from_str(xml);
        let mut depth = 0;
        let mut out = Vec::new();
        loop {
            match r.read_event().expect("well-formed XML") {
                Event::Start(e) => {
                    out.push((depth, e.name().as_ref().to_string()));
                    depth += 1;
                }
                Event::Empty(e) => out.push((depth, e.name().as_ref().to_string())),
                Event::End(_) => depth -= 1,
                Event::Eof => break,
                _ => {}
            }
        }
        out
    }

    #[test]
    fn the_xml_reads_back_to_what_was_written() {
        let cfg = config("lab-vm1");
        let xml = domain_xml(&cfg).unwrap();
        let info = parse_domain_xml(&xml).unwrap();
        assert_eq!(info.name, "lab-vm1");
        assert_eq!(info.domain_type, "qemu");
        assert_eq!(info.mac.as_deref(), Some("52:54:00:12:34:56"));
        assert_eq!(info.disks, vec![cfg.overlay.clone(), cfg.seed.clone()]);
        assert_eq!(info.console_log.as_deref(), Some(cfg.console_log.as_path()));
        let hub = info.hub.unwrap();
        assert_eq!((hub.lab.as_str(), hub.workload.as_str()), ("lab", "vm1"));
        assert_eq!(hub.spec_hash, "abc123");
        assert_eq!(hub.lab_dir.as_deref(), Some(Path::new("/labs/lab")));
        assert_eq!(hub.user, "hub");
        assert_eq!(hub.ip, Some(Ipv4Addr::new(10, 203, 0, 30)));
        assert!(!hub.static_ip);
        assert_eq!(hub.file("overlay"), Some(cfg.overlay.as_path()));
        assert_eq!(hub.file("seed"), Some(cfg.seed.as_path()));
        assert_eq!(hub.file("console"), Some(cfg.console_log.as_path()));
        assert!(xml.contains(r#"<cpu mode="maximum"/>"#), "{xml}");
        assert!(
            xml.contains(r#"<source bridge="br-0123456789ab"/>"#),
            "{xml}"
        );
        assert!(xml.contains(r#"<memory unit="MiB">1024</memory>"#), "{xml}");
        assert!(xml.contains("<vcpu>2</vcpu>"), "{xml}");
    }

    #[test]
    fn a_remote_vms_pool_reads_back_and_its_boot_says_where_it_runs() {
        let mut cfg = config("lab-vm1");
        let hub = parse_domain_xml(&domain_xml(&cfg).unwrap())
            .unwrap()
            .hub
            .unwrap();
        assert_eq!(hub.pool, None);
        assert!(!hub.boot.remote);
        cfg.pool = Some("hub-lab-lab".into());
        cfg.boot = BootRecord::remote_cold(true);
        let hub = parse_domain_xml(&domain_xml(&cfg).unwrap())
            .unwrap()
            .hub
            .unwrap();
        assert_eq!(hub.pool.as_deref(), Some("hub-lab-lab"));
        assert!(hub.boot.remote);
        let said = hub.boot.describe();
        assert!(
            said.starts_with("cold boot on a remote libvirt (no warm snapshot: ")
                && said.contains(REMOTE_WARM_NOTE)
                && said.contains(REMOTE_CONSOLE_NOTE),
            "{said}"
        );
        assert_eq!(
            BootRecord::remote_cold(false).describe(),
            format!("cold boot on a remote libvirt ({REMOTE_CONSOLE_NOTE})")
        );
    }

    #[test]
    fn a_nic_per_segment_in_order_each_with_its_bridge_and_mac() {
        let mut cfg = config("lab-fw");
        cfg.nics.push(Nic {
            bridge: "br-internal0000".into(),
            mac: "52:54:00:ab:cd:ef".into(),
        });
        let xml = domain_xml(&cfg).unwrap();
        let first = xml.find(r#"<source bridge="br-0123456789ab"/>"#).unwrap();
        let second = xml.find(r#"<source bridge="br-internal0000"/>"#).unwrap();
        assert!(first < second, "{xml}");
        let mac = xml.find(r#"<mac address="52:54:00:ab:cd:ef"/>"#).unwrap();
        assert!(second < mac, "{xml}");
        assert_eq!(xml.matches(r#"<model type="virtio"/>"#).count(), 2, "{xml}");
        // The first NIC's MAC is the VM's.
        let info = parse_domain_xml(&xml).unwrap();
        assert_eq!(info.mac.as_deref(), Some("52:54:00:12:34:56"));
    }

    #[test]
    fn kvm_passes_the_host_cpu_through() {
        let mut cfg = config("lab-vm1");
        cfg.domain_type = DomainType::Kvm;
        let xml = domain_xml(&cfg).unwrap();
        assert!(xml.starts_with(r#"<domain type="kvm">"#), "{xml}");
        assert!(xml.contains(r#"<cpu mode="host-passthrough"/>"#), "{xml}");
        assert_eq!(parse_domain_xml(&xml).unwrap().domain_type, "kvm");
    }

    #[test]
    fn hostile_values_are_escaped_and_read_back_intact() {
        let hostile = r#"x</name><devices><disk/></devices><name>&amp;'"<!-- ]]>"#;
        let mut cfg = config(hostile);
        cfg.lab = hostile.into();
        cfg.nics[0].bridge = r#"br" evil="1"#.into();
        cfg.overlay = PathBuf::from(format!("/tmp/{hostile}/disk.qcow2"));
        let xml = domain_xml(&cfg).unwrap();

        // The structure is exactly what the writer meant: one name, one devices block, two disks.
        let els = elements(&xml);
        assert_eq!(els.iter().filter(|(_, n)| n == "name").count(), 1, "{xml}");
        assert_eq!(
            els.iter().filter(|(_, n)| n == "devices").count(),
            1,
            "{xml}"
        );
        assert_eq!(els.iter().filter(|(_, n)| n == "disk").count(), 2, "{xml}");
        assert!(els.contains(&(1, "name".to_string())));

        let info = parse_domain_xml(&xml).unwrap();
        assert_eq!(info.name, hostile);
        assert_eq!(info.hub.as_ref().unwrap().lab, hostile);
        assert_eq!(info.disks[0], cfg.overlay);
        assert!(!xml.contains(r#"evil="1""#), "{xml}");
    }

    #[test]
    fn libvirts_own_prefix_and_extra_elements_are_understood() {
        // libvirt may re-prefix the metadata element and adds devices of its own.
        let xml = format!(
            r#"<domain type='qemu' id='3'>
  <name>demo-vm1</name>
  <uuid>8a3c</uuid>
  <metadata>
    <other:vm xmlns:other="https://example.invalid/other" lab="intruder"/>
    <x:vm xmlns:x="{LIBVIRT_NS}" lab="demo" workload="vm1" spec-hash="h" user="u" ip="not-an-ip">
      <x:file role="seed" path="/l/seed.img"/>
    </x:vm>
  </metadata>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'><source file='/l/disk.qcow2' index='2'/>
      <backingStore type='file' index='3'><source file='/base.qcow2'/></backingStore>
    </disk>
    <interface type='bridge'><mac address='52:54:00:aa:bb:cc'/></interface>
    <serial type='pty'><source path='/dev/pts/3'/><log file='/l/console.log' append='off'/></serial>
  </devices>
</domain>"#
        );
        let info = parse_domain_xml(&xml).unwrap();
        assert_eq!(info.name, "demo-vm1");
        // The base image behind the overlay is not one of the VM's disks.
        assert_eq!(info.disks, vec![PathBuf::from("/l/disk.qcow2")]);
        assert_eq!(info.console_log, Some(PathBuf::from("/l/console.log")));
        let hub = info.hub.unwrap();
        assert_eq!(hub.lab, "demo");
        assert_eq!(hub.ip, None);
        assert_eq!(hub.file("seed"), Some(Path::new("/l/seed.img")));
        assert_eq!(hub.file("overlay"), None);
    }

    #[test]
    fn a_domain_without_hub_metadata_has_none() {
        let info = parse_domain_xml("<domain type='kvm'><name>other</name></domain>").unwrap();
        assert_eq!(info.name, "other");
        assert!(info.hub.is_none());
    }

    #[test]
    fn broken_xml_is_an_error_naming_the_domain() {
        let err = parse_domain_xml("<domain><name>d1</name><devices></domain>").unwrap_err();
        assert!(err.to_string().contains("\"d1\""), "{err}");
    }
}
