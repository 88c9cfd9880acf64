//! The domain XML a snapshot is restored with: the saved domain's own XML (as
//! `virsh save-image-dumpxml` gives it, so the guest's device model is exactly the saved one),
//! with this run's host-side values put in: the files' paths, the lab bridge, the lab
//! directory and the hub's boot record. The saved disk's `<backingStore>` is dropped: the new
//! overlay has another chain (base image, cached disk, overlay), which QEMU reads from the
//! overlay's header.

use std::collections::BTreeMap;

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, Writer};

use crate::domain::BootRecord;
use crate::error::{LibvirtError, LibvirtResult};

/// What to change in the saved XML.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rewrite {
    /// Attribute values replaced wherever they occur exactly (old path or bridge → new).
    pub values: BTreeMap<String, String>,
    /// The hub metadata's spec hash.
    pub spec_hash: String,
    /// The hub metadata's boot record.
    pub boot: BootRecord,
}

fn hub_vm(e: &BytesStart<'_>) -> bool {
    let name = e.name();
    let name = name.as_ref();
    (name.ends_with(":vm") || name == "vm")
        && e.try_get_attribute("workload").ok().flatten().is_some()
}

fn rewrite_start(e: &BytesStart<'_>, rw: &Rewrite) -> LibvirtResult<BytesStart<'static>> {
    let name = e.name().as_ref().to_string();
    let is_hub = hub_vm(e);
    let mut out = BytesStart::new(name);
    for a in e.attributes() {
        let a = a.map_err(|err| xml_err(err.into()))?;
        let key = a.key.as_ref().to_string();
        if is_hub
            && matches!(
                key.as_str(),
                "boot" | "boot-note" | "warm-key" | "spec-hash"
            )
        {
            continue;
        }
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(xml_err)?
            .into_owned();
        let value = rw.values.get(&value).cloned().unwrap_or(value);
        out.push_attribute((key.as_str(), value.as_str()));
    }
    if is_hub {
        out.push_attribute(("spec-hash", rw.spec_hash.as_str()));
        out.push_attribute(("boot", if rw.boot.restored { "restored" } else { "cold" }));
        if let Some(n) = &rw.boot.note {
            out.push_attribute(("boot-note", n.as_str()));
        }
        if let Some(k) = &rw.boot.warm_key {
            out.push_attribute(("warm-key", k.as_str()));
        }
    }
    Ok(out)
}

fn xml_err(source: quick_xml::Error) -> LibvirtError {
    LibvirtError::XmlParse {
        domain: "(warm snapshot)".into(),
        source,
    }
}

/// `saved` with `rw` applied.
pub(crate) fn rewrite(saved: &str, rw: &Rewrite) -> LibvirtResult<String> {
    let mut reader = Reader::from_str(saved);
    let mut w = Writer::new(Vec::new());
    // Depth inside a dropped <backingStore>, 0 outside.
    let mut skipping = 0usize;
    loop {
        let ev = reader.read_event().map_err(xml_err)?;
        let write = |w: &mut Writer<Vec<u8>>, ev: Event<'_>| {
            w.write_event(ev)
                .map_err(|e| xml_err(quick_xml::Error::Io(std::sync::Arc::new(e))))
        };
        match ev {
            Event::Eof => break,
            _ if skipping > 0 => match ev {
                Event::Start(_) => skipping += 1,
                Event::End(_) => skipping -= 1,
                _ => {}
            },
            Event::Start(e) if e.name().as_ref() == "backingStore" => skipping = 1,
            Event::Empty(e) if e.name().as_ref() == "backingStore" => {}
            Event::Start(e) => write(&mut w, Event::Start(rewrite_start(&e, rw)?))?,
            Event::Empty(e) => write(&mut w, Event::Empty(rewrite_start(&e, rw)?))?,
            other => write(&mut w, other)?,
        }
    }
    String::from_utf8(w.into_inner()).map_err(|e| {
        xml_err(quick_xml::Error::Io(std::sync::Arc::new(
            std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        )))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAVED: &str = r#"<domain type='qemu'>
  <name>lab-vm1</name>
  <uuid>0b7e4e3a-1111-8222-8333-444455556666</uuid>
  <metadata>
    <hub:vm xmlns:hub="https://virtual-hub.invalid/xmlns/hub/1" lab="lab" workload="vm1" lab-dir="/old/lab" spec-hash="s1" boot="cold" boot-note="no snapshot yet" warm-key="k">
      <hub:file role="overlay" path="/old/lab/vms/vm1/disk.qcow2"/>
    </hub:vm>
  </metadata>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/old/lab/vms/vm1/disk.qcow2' index='2'/>
      <backingStore type='file' index='3'>
        <format type='qcow2'/>
        <source file='/base.qcow2'/>
        <backingStore/>
      </backingStore>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='bridge'>
      <source bridge='br-old'/>
    </interface>
    <serial type='pty'><log file='/old/lab/vms/vm1/console.log' append='off'/></serial>
  </devices>
</domain>"#;

    #[test]
    fn paths_bridge_and_boot_record_are_replaced_and_the_chain_dropped() {
        let mut rw = Rewrite {
            spec_hash: "s2".into(),
            boot: BootRecord {
                restored: true,
                note: None,
                warm_key: Some("k".into()),
                remote: false,
            },
            ..Rewrite::default()
        };
        for (a, b) in [
            ("/old/lab/vms/vm1/disk.qcow2", "/new/lab/vms/vm1/disk.qcow2"),
            (
                "/old/lab/vms/vm1/console.log",
                "/new/lab/vms/vm1/console.log",
            ),
            ("/old/lab", "/new/lab"),
            ("br-old", "br-new"),
        ] {
            rw.values.insert(a.into(), b.into());
        }
        let out = rewrite(SAVED, &rw).unwrap();
        assert!(!out.contains("/old/"), "{out}");
        assert!(!out.contains("backingStore"), "{out}");
        assert!(!out.contains("/base.qcow2"), "{out}");
        assert!(
            out.contains("<source file=\"/new/lab/vms/vm1/disk.qcow2\" index=\"2\"/>"),
            "{out}"
        );
        assert!(out.contains("bridge=\"br-new\""), "{out}");
        assert!(out.contains("boot=\"restored\""), "{out}");
        assert!(!out.contains("boot-note"), "{out}");
        assert!(out.contains("spec-hash=\"s2\""), "{out}");
        assert!(
            out.contains("<uuid>0b7e4e3a-1111-8222-8333-444455556666</uuid>"),
            "{out}"
        );
        let info = crate::domain::parse_domain_xml(&out).unwrap();
        assert!(info.hub.unwrap().boot.restored);
    }
}
