//! Virtual Hub's libvirt/QEMU backend: VMs booted with cloud-init on the lab bridge.
