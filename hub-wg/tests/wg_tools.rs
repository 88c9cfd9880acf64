//! Our keys and configs against the real wireguard-tools (installed by
//! scripts/setup-host.sh): the same private key gives the same public key as `wg pubkey`, our
//! private keys are accepted by `wg pubkey`, keys from `wg genkey` are accepted by us, and our
//! `strip` gives what `wg-quick strip` gives.

use std::io::Write as _;
use std::process::{Command, Stdio};

use hub_wg::{
    ClientParams, KeyGen, OsKeyGen, PrivateKey, PublicKey, SeededKeyGen, WgConfig, client_config,
    gateway_config, write_secret,
};

/// Runs `wg ARGS` with `input` on stdin and returns its trimmed stdout; fails the test
/// clearly when `wg` is missing or refuses the input.
fn wg(args: &[&str], input: &str) -> String {
    let mut child = Command::new("wg")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("`wg` (wireguard-tools) must be installed: run scripts/setup-host.sh");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input.as_bytes())
        .expect("write to wg");
    let out = child.wait_with_output().expect("wait for wg");
    assert!(
        out.status.success(),
        "wg {args:?} refused its input: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

#[test]
fn public_keys_match_wg_pubkey_for_200_random_keys() {
    let seeded = SeededKeyGen::new(0x5eed);
    for i in 0..200 {
        let pair = if i % 2 == 0 {
            OsKeyGen.generate().unwrap()
        } else {
            seeded.generate().unwrap()
        };
        let theirs = wg(&["pubkey"], &format!("{}\n", pair.private.to_base64()));
        assert_eq!(theirs, pair.public.to_base64(), "key #{i}");
        assert_eq!(theirs.parse::<PublicKey>().unwrap(), pair.public);
    }
}

#[test]
fn keys_from_wg_genkey_derive_the_same_public_key() {
    for _ in 0..20 {
        let private = wg(&["genkey"], "");
        let ours = PrivateKey::from_base64(&private).unwrap();
        assert_eq!(ours.to_base64(), private);
        assert_eq!(ours.public_key().to_base64(), wg(&["pubkey"], &private));
    }
}

#[test]
fn unclamped_private_keys_derive_as_wg_does() {
    // wg clamps when deriving; a key file written by someone else need not be clamped.
    for fill in [0x00u8, 0xff, 0x5a] {
        let key = PrivateKey::from_bytes([fill; 32]);
        assert_eq!(
            key.public_key().to_base64(),
            wg(&["pubkey"], &key.to_base64())
        );
    }
}

#[test]
fn strip_matches_wg_quick_strip() {
    let keys = SeededKeyGen::new(3);
    let gw = keys.generate().unwrap();
    let clients: Vec<_> = (2..6)
        .map(|i| {
            (
                keys.generate().unwrap().public,
                format!("10.214.7.{i}").parse().unwrap(),
            )
        })
        .collect();
    let client = keys.generate().unwrap();
    let configs = [
        gateway_config(
            &gw.private,
            "10.214.7.1/24".parse().unwrap(),
            51820,
            &clients,
        ),
        client_config(&ClientParams {
            private_key: &client.private,
            address: "10.214.7.2".parse().unwrap(),
            dns: "10.204.7.2".parse().unwrap(),
            dns_search: Some("t.lab"),
            gateway_key: gw.public,
            endpoint: "192.0.2.2:51820".into(),
            lab_subnet: "10.204.7.0/24".parse().unwrap(),
            segments: Vec::new(),
            vpn_subnet: "10.214.7.0/24".parse().unwrap(),
        }),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (i, config) in configs.iter().enumerate() {
        // wg-quick takes the interface name from the file name.
        let path = dir.path().join(format!("wgt{i}.conf"));
        write_secret(&path, config.render().as_bytes()).unwrap();
        let out = Command::new("wg-quick")
            .arg("strip")
            .arg(&path)
            .output()
            .expect("`wg-quick` (wireguard-tools) must be installed: run scripts/setup-host.sh");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let theirs = String::from_utf8(out.stdout).unwrap();
        assert_eq!(theirs.trim_end(), config.strip().trim_end(), "config #{i}");
        assert_eq!(
            WgConfig::parse(&theirs).unwrap(),
            WgConfig::parse(&config.strip()).unwrap()
        );
    }
}
