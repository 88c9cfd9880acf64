//! `list_labs` on the fakes: labs found by their marks and by their folders, each with what
//! runs of it.

mod common;

use common::Fx;
use hub_core::Container;
use hub_core::labs::{LabListing, LabRunState};
use hub_core::runtime::{ContainerSpec, LabContext, Runtime, WorkloadSpec};

fn find<'a>(labs: &'a [LabListing], name: &str) -> &'a LabListing {
    labs.iter()
        .find(|l| l.name == name)
        .unwrap_or_else(|| panic!("{name} not listed: {labs:?}"))
}

#[tokio::test]
async fn labs_are_listed_from_their_marks_and_folders() {
    let fx = Fx::new();
    let a = fx
        .builder("la", "10.217.10.0/24")
        .container(Container::new("web", "busybox"))
        .container(Container::new("db", "busybox"))
        .up()
        .await
        .unwrap();
    let b = fx
        .builder("lb", "10.217.11.0/24")
        .container(Container::new("web", "busybox"))
        .up()
        .await
        .unwrap();
    // A workload carrying the marks of a lab this state root knows nothing of.
    let ghost = LabContext::for_tests("lghost");
    fx.rt
        .create(
            &ghost,
            &WorkloadSpec::Container(ContainerSpec::new("x", "busybox")),
        )
        .await
        .unwrap();
    // One of lb's containers stops.
    let web = fx.rt.list("lb").await.unwrap().remove(0).handle;
    fx.rt.stop(&web, std::time::Duration::ZERO).await.unwrap();

    let labs = fx.hub.builder().list_labs().await.unwrap();
    let names: Vec<&str> = labs.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["la", "lb", "lghost"], "sorted, each once");
    let la = find(&labs, "la");
    assert_eq!(
        (la.state, la.containers, la.vms, la.state_file),
        (LabRunState::Up, 2, 0, true)
    );
    assert_eq!(find(&labs, "lb").state, LabRunState::Partial);
    let g = find(&labs, "lghost");
    assert_eq!(
        (g.state_file, g.containers),
        (false, 1),
        "found by its marks only"
    );

    // After down, a lab whose folder keeps its identity is listed as down; one with nothing
    // left is gone.
    a.down().await.unwrap();
    b.down().await.unwrap();
    std::fs::create_dir_all(fx.lab_dir("la").join("identity")).unwrap();
    let labs = fx.hub.builder().list_labs().await.unwrap();
    let names: Vec<&str> = labs.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["la", "lghost"]);
    let la = find(&labs, "la");
    assert_eq!(
        (la.state, la.containers, la.state_file),
        (LabRunState::Down, 0, false)
    );
}
