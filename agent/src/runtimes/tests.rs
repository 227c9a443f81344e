//! Name resolution on the runtimes' real records (`fixtures/runtimes/`,
//! made by `fixtures/runtimes/make.sh`).

use std::path::PathBuf;

use super::*;
use crate::container::{choose, index_lines, ContainerError, Index};

const DKSPIN: &str = "34b51418245ba976c6c1699590ac8571f1f264f9e0fbe0aaa291b9695a3c8bac";
const DEADBEEF: &str = "a9dddf3f02759d50e4f2970ee2daaa5d1461ec0f4e2c056c12eb6fb40976f23e";
const STOPPED: &str = "c297b3c51f215d60109871506998d545a14f4e528b9fa349d6c420cca88dca4c";
const PDSPIN: &str = "80ca7d69480e12f2452da1cb21c6c9b404fbdc5d5274bde20e4905a11b85db2b";
const K8S_APP: &str = "f0d64011ff21798ac98339dab250c8dc7bd8c3e3f91e40d5f4470a72a3b764b1";
const K8S_PAUSE: &str = "55c3fe7ab0c42fde3403907d77ed4497f114b4434f86d3c8c32354c343ca29fe";

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/runtimes")
}

fn roots() -> Roots {
    let f = fixtures();
    Roots {
        docker: vec![f.join("docker")],
        storage: vec![f.join("storage"), f.join("crio")],
        containerd: vec![f.join("containerd")],
        runc: vec![f.join("runc")],
    }
}

fn find<'a>(s: &'a Scan, id: &str, rt: Runtime) -> &'a Named {
    s.named
        .iter()
        .find(|n| n.id == id && n.runtime == rt)
        .unwrap_or_else(|| panic!("{id} {rt:?} in {:#?}", s.named))
}

#[test]
fn each_runtime_record_names_its_containers() {
    let s = scan(&roots());
    assert!(s.skipped.is_empty(), "{:?}", s.skipped);
    // Docker: the name without its slash, running or not.
    let d = find(&s, DKSPIN, Runtime::Docker);
    assert_eq!(
        (d.names.as_slice(), d.running),
        (&["dkspin".to_string()][..], Some(true))
    );
    assert_eq!(find(&s, DEADBEEF, Runtime::Docker).names, ["deadbeefcafe"]);
    assert_eq!(find(&s, STOPPED, Runtime::Docker).running, Some(false));
    // Podman (containers.json).
    let p = find(&s, PDSPIN, Runtime::Podman);
    assert_eq!(
        (p.names.as_slice(), p.owner),
        (&["pdspin".to_string()][..], None)
    );
    // runc's state of the same container: its id, its first process.
    let r = find(&s, PDSPIN, Runtime::Runc);
    assert!(
        r.init.is_some_and(|(pid, start)| pid > 0 && start > 0),
        "{r:?}"
    );
    // containerd's CRI: the Kubernetes container, not its sandbox; docker's
    // own tasks (namespace moby) name nothing.
    let k = find(&s, K8S_APP, Runtime::Containerd);
    assert_eq!(k.names, ["app"]);
    assert_eq!(k.pod.as_deref(), Some("shop/web-7d9f8c6b5-x2x4q"));
    assert!(!s.named.iter().any(|n| n.id == K8S_PAUSE));
    assert!(!s
        .named
        .iter()
        .any(|n| n.id == DKSPIN && n.runtime == Runtime::Containerd));
    // CRI-O: the container by its Kubernetes name and its storage name; the pod's infra left out.
    let c = find(&s, &"c".repeat(64), Runtime::CriO);
    assert_eq!(c.names[0], "app");
    assert!(c.names[1].starts_with("k8s_app_web-7d9f8c6b5-x2x4q_shop_"));
    assert_eq!(c.pod.as_deref(), Some("shop/web-7d9f8c6b5-x2x4q"));
    assert!(!s.named.iter().any(|n| n.id == "d".repeat(64)));
}

/// The node's cgroup paths for the running fixture containers (docker's
/// cgroupfs driver, podman's libpod_parent, a kubepods container).
fn index() -> Index {
    let mut idx = Index::new();
    for line in [
        format!("4:memory:/docker/{DKSPIN}\n0::/docker/{DKSPIN}\n"),
        format!("0::/docker/{DEADBEEF}\n"),
        format!("0::/libpod_parent/libpod-{PDSPIN}\n"),
        format!("0::/kubepods/burstable/pod0f1e2d3c/{K8S_APP}\n"),
        format!(
            "0::/kubepods/burstable/pod0f1e2d3c/crio-{}\n",
            "c".repeat(64)
        ),
    ] {
        index_lines(&mut idx, &line);
    }
    idx
}

fn pick(given: &str) -> Result<crate::container::Choice, ContainerError> {
    let s = scan(&roots());
    choose(
        &index(),
        &s.named,
        given,
        |_| None,
        "the fixtures",
        &s.skipped,
    )
}

#[test]
fn names_ids_and_prefixes_resolve() {
    for (given, id, runtime, name) in [
        ("dkspin", DKSPIN, "docker", "dkspin"),
        (&DKSPIN[..12], DKSPIN, "docker", "dkspin"),
        (DKSPIN, DKSPIN, "docker", "dkspin"),
        // A name made of hex digits only is a name first.
        ("deadbeefcafe", DEADBEEF, "docker", "deadbeefcafe"),
        ("pdspin", PDSPIN, "podman", "pdspin"),
        (&PDSPIN[..12], PDSPIN, "podman", "pdspin"),
        (K8S_APP, K8S_APP, "containerd", "app"),
    ] {
        let c = pick(given).unwrap_or_else(|e| panic!("{given}: {e}"));
        assert_eq!(
            (c.id.as_str(), c.runtime, c.name.as_deref()),
            (id, Some(runtime), Some(name)),
            "{given}"
        );
        assert!(!c.lines.is_empty());
    }
}

#[test]
fn ambiguous_stopped_and_unknown_names_say_so() {
    // Two Kubernetes containers named `app` (containerd's and CRI-O's): both listed.
    match pick("app") {
        Err(ContainerError::Ambiguous { candidates, .. }) => {
            assert_eq!(candidates.len(), 2, "{candidates:?}");
            assert!(candidates.iter().any(|c| c.contains(K8S_APP)
                && c.contains("containerd")
                && c.contains("pod shop/web-7d9f8c6b5-x2x4q")));
            assert!(candidates.iter().any(|c| c.contains("cri-o")));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        pick("dkstopped").unwrap_err(),
        ContainerError::NotRunning {
            name: "dkstopped".into(),
            id: STOPPED.into(),
            runtime: "docker"
        }
    );
    let e = pick("nosuch").unwrap_err().to_string();
    assert!(
        e.contains("no running container named or with id `nosuch`") && e.contains("the fixtures"),
        "{e}"
    );
    assert_eq!(
        pick("deadbeef").unwrap_err(),
        ContainerError::TooShort("deadbeef".into())
    );
    // A name that is a prefix of another container's id: both are candidates.
    let s = scan(&roots());
    let mut named = s.named.clone();
    named.push(Named {
        names: vec![DKSPIN[..12].to_string()],
        ..find(&s, PDSPIN, Runtime::Podman).clone()
    });
    match choose(&index(), &named, &DKSPIN[..12], |_| None, "", &[]) {
        Err(ContainerError::Ambiguous { candidates, .. }) => assert_eq!(candidates.len(), 2),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_runc_container_by_its_name_and_first_process() {
    let s = scan(&roots());
    let (pid, start) = find(&s, PDSPIN, Runtime::Runc).init.unwrap();
    // Without podman's records, the runc state alone names it (its id) and
    // finds it through its first process when that still runs.
    let runc_only: Vec<Named> = s
        .named
        .iter()
        .filter(|n| n.runtime == Runtime::Runc)
        .cloned()
        .collect();
    let lines = crate::host::mounts::parse_proc_cgroup("0::/somewhere/else\n");
    let c = choose(
        &Index::new(),
        &runc_only,
        PDSPIN,
        |init| (init == (pid, start)).then(|| lines.clone()),
        "",
        &[],
    )
    .unwrap();
    assert_eq!((c.runtime, c.name), (Some("runc"), None));
    assert_eq!(c.lines, lines);
    // A reused pid (another start time) is not it.
    let e = choose(&Index::new(), &runc_only, PDSPIN, |_| None, "", &[]).unwrap_err();
    assert!(
        matches!(
            e,
            ContainerError::NotRunning {
                runtime: "runc",
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn a_rootless_store_names_only_its_users_containers() {
    let s = scan(&roots());
    let mut named: Vec<Named> = s.named.clone();
    // A user's store claiming a root container's id under a new name.
    named.push(Named {
        id: DKSPIN.into(),
        names: vec!["prod-db".into()],
        runtime: Runtime::Podman,
        pod: None,
        running: None,
        init: None,
        owner: Some(1000),
    });
    let e = choose(&index(), &named, "prod-db", |_| None, "", &[]).unwrap_err();
    assert!(matches!(e, ContainerError::NotFound { .. }), "{e:?}");
    // Its own container (in its user slice) it names.
    let mine = "e".repeat(64);
    let mut idx = index();
    index_lines(
        &mut idx,
        &format!(
            "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{mine}.scope\n"
        ),
    );
    named.push(Named {
        id: mine.clone(),
        names: vec!["mine".into()],
        ..named.last().unwrap().clone()
    });
    assert_eq!(
        choose(&idx, &named, "mine", |_| None, "", &[]).unwrap().id,
        mine
    );
}

#[test]
fn oversized_and_odd_files_are_skipped_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store/overlay-containers");
    std::fs::create_dir_all(&store).unwrap();
    // A FIFO where containers.json should be: never opened for reading (would block).
    let fifo = std::ffi::CString::new(store.join("containers.json").as_os_str().as_encoded_bytes())
        .unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    // A link out of the store's root resolves inside it (to nothing there).
    let docker = dir.path().join("docker/containers").join(DKSPIN);
    std::fs::create_dir_all(&docker).unwrap();
    std::os::unix::fs::symlink(
        fixtures()
            .join("docker/containers")
            .join(DKSPIN)
            .join("config.v2.json"),
        docker.join("config.v2.json"),
    )
    .unwrap();
    // Too large.
    let runc = dir.path().join("runc/big");
    std::fs::create_dir_all(&runc).unwrap();
    std::fs::write(runc.join("state.json"), vec![b' '; MAX_CONFIG as usize + 1]).unwrap();
    let s = scan(&Roots {
        docker: vec![dir.path().join("docker")],
        storage: vec![dir.path().join("store")],
        containerd: vec![],
        runc: vec![dir.path().join("runc")],
    });
    assert!(s.named.is_empty(), "{:?}", s.named);
    assert!(
        s.skipped.iter().any(|m| m.contains("not a regular file")),
        "{:?}",
        s.skipped
    );
    assert!(
        s.skipped.iter().any(|m| m.contains("larger than")),
        "{:?}",
        s.skipped
    );
}
