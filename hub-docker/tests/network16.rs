//! A /16 lab network: the whole 10.201.0.0/16 test block, so it lives in a test binary of its
//! own (tests of one binary run in parallel; binaries run one after another).

mod common;

use std::net::Ipv4Addr;

use common::{Cleanup, docker, http_from, httpd, lab_ctx, network, sleeper, up};
use hub_net::{AddressPlan, IpAllocator, IpPool};
use hub_runtime::{NetworkRuntime, Runtime};

#[tokio::test(flavor = "multi_thread")]
async fn t_dk_net16_serves_http_across_the_subnet() {
    let d = docker().await;
    let lab = "t-dk-net16";
    let _guard = Cleanup::new(lab).await;
    let info = network(&d, lab, "10.201.0.0/16").await;
    assert_eq!(info.subnet.prefix_len(), 16);
    assert!(
        std::path::Path::new("/sys/class/net")
            .join(&info.bridge)
            .exists()
    );
    let ctx = lab_ctx(lab, info.clone());

    let plan = AddressPlan::new(info.subnet).expect("plan");
    let pool = IpPool::for_plan(&plan);
    // Static addresses far apart in the subnet, and allocated ones from the static range.
    let statics = [
        Ipv4Addr::new(10, 201, 150, 7),
        Ipv4Addr::new(10, 201, 199, 254),
    ];
    let mut specs = Vec::new();
    for (i, ip) in statics.iter().enumerate() {
        plan.check_static(*ip).expect("fits the plan");
        pool.reserve(*ip).expect("reserve");
        specs.push(httpd(&format!("far{i}"), Some(*ip)));
    }
    for i in 0..2 {
        specs.push(httpd(
            &format!("near{i}"),
            Some(pool.allocate().expect("allocate")),
        ));
    }
    let handles = futures::future::join_all(specs.iter().cloned().map(|s| up(&d, &ctx, s))).await;
    for h in &handles {
        assert!(h.is_ok(), "{h:?}");
    }
    let client = up(&d, &ctx, sleeper("client", None))
        .await
        .expect("client (address by Docker)");
    let client_ip = d
        .inspect(&client)
        .await
        .expect("inspect")
        .ip
        .expect("client address");
    assert!(info.subnet.contains(&client_ip));

    let ips: Vec<Ipv4Addr> = specs.iter().map(|s| s.ip.expect("ip")).collect();
    let answers = http_from(&d, &ctx, &client, &ips).await;
    assert_eq!(answers.len(), specs.len(), "{answers:?}");
    for (spec, (ip, body)) in specs.iter().zip(&answers) {
        assert_eq!(body, &format!("hello from {}", spec.name), "at {ip}");
    }

    assert_eq!(d.remove_lab(lab).await.expect("remove"), 5);
    assert!(d.list(lab).await.expect("list").is_empty());
    assert!(d.find_network(lab).await.expect("find").is_none());
}
