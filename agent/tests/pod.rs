//! `--pod` resolution on the fixture trees of `fixtures/pods` (see its README):
//! both cgroup drivers, an old pod instance, a container of the pod, and the
//! errors a user meets.

use std::path::{Path, PathBuf};

use holter_agent::pod::{resolve, PodError, Roots};
use holter_agent::target::by_pod;

const U1: &str = "6c1f2a3b-4d5e-4f60-8172-93a4b5c6d7e8";
const U2: &str = "9f8e7d6c-5b4a-4938-a716-051423324150";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/pods")
}

fn roots(tree: &str) -> Roots {
    let f = fixture();
    Roots {
        pod_logs: f.join("var/log/pods"),
        container_logs: f.join("var/log/containers"),
        cgroups: vec![f.join(tree)],
    }
}

#[test]
fn a_burstable_pod_under_both_drivers() {
    let f = fixture();
    for (tree, pod_dir) in [
        (
            "cgroupfs-v1/cpu,cpuacct",
            format!("kubepods/burstable/pod{U1}"),
        ),
        (
            "systemd-v2",
            format!(
                "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice",
                U1.replace('-', "_")
            ),
        ),
    ] {
        let r = roots(tree);
        let pod = resolve("shop/web-7d9f", None, &r).unwrap();
        // The running instance, not the old one whose logs are still there.
        assert_eq!(pod.uid, U1, "{tree}");
        assert_eq!(pod.containers, ["app", "nginx"], "{tree}");
        assert_eq!(pod.pod_dir, f.join(tree).join(&pod_dir), "{tree}");
        assert_eq!(pod.cgroup_dir(), pod.pod_dir.as_path());

        let pod = resolve("shop/web-7d9f", Some("app"), &r).unwrap();
        let (name, id, dir) = pod.container.clone().unwrap();
        assert_eq!(name, "app");
        assert!(dir.starts_with(&pod.pod_dir), "{tree}: {}", dir.display());
        assert!(
            dir.file_name().unwrap().to_str().unwrap().contains(&id),
            "{tree}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("cgroup.procs")).unwrap(),
            "4242\n4243\n",
            "{tree}: the app container, not the pause or nginx one"
        );
    }
}

#[test]
fn a_guaranteed_pod_and_crio_beside_its_monitor() {
    for tree in ["cgroupfs-v1/cpu,cpuacct", "systemd-v2"] {
        let pod = resolve("kube-system/coredns-5d78", Some("coredns"), &roots(tree)).unwrap();
        assert_eq!(pod.uid, U2);
        let (_, id, dir) = pod.container.unwrap();
        let base = dir.file_name().unwrap().to_str().unwrap().to_string();
        assert!(!base.contains("conmon"), "{tree}: {base}");
        assert!(base.contains(&id));
        assert_eq!(
            std::fs::read_to_string(dir.join("cgroup.procs")).unwrap(),
            "5200\n"
        );
    }
}

#[test]
fn the_target_of_a_pod_and_of_one_container() {
    let r = roots("systemd-v2");
    let t = by_pod("shop/web-7d9f", Some("app"), &r).unwrap();
    assert_eq!(t.kind, "pod");
    assert_eq!(t.spec, "shop/web-7d9f/app");
    assert_eq!(t.pids, [4242, 4243]);
    assert_eq!(t.container_id.as_deref().map(str::len), Some(64));
    let t = by_pod("shop/web-7d9f", None, &r).unwrap();
    assert_eq!(t.spec, "shop/web-7d9f");
    assert!(t.pids.is_empty(), "a pod's own cgroup holds no process");
    assert_eq!(t.container_id, None);
    assert!(t.cgroup_dir.unwrap().ends_with(format!(
        "kubepods-burstable-pod{}.slice",
        U1.replace('-', "_")
    )));
}

#[test]
fn errors_name_the_thing_and_the_fix() {
    let r = roots("systemd-v2");
    let e = resolve("web-7d9f", None, &r).unwrap_err();
    assert!(matches!(e, PodError::Spec(_)));
    assert!(e.to_string().contains("give NAMESPACE/NAME"), "{e}");

    let e = resolve("shop/api-1", None, &r).unwrap_err().to_string();
    assert!(
        e.contains("not on this node") && e.contains("shop_api-1_"),
        "{e}"
    );

    let e = resolve("shop/web-7d9f", Some("redis"), &r)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no container redis") && e.contains("app, nginx"),
        "{e}"
    );

    // Logs but no cgroup: the pod is not running here.
    let mut none = r.clone();
    none.cgroups = vec![fixture().join("var")];
    let e = resolve("shop/web-7d9f", None, &none)
        .unwrap_err()
        .to_string();
    assert!(e.contains("has no cgroup here") && e.contains(U1), "{e}");
}
