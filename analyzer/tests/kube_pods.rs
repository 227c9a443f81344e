//! `kubectl holter`'s pod side on recorded `kubectl get pod -o json`
//! documents (fixtures/kubectl/), and the agent Pod's YAML parsed back,
//! hostile names included.

use std::path::PathBuf;
use std::time::Duration;

use holter::kube::manifest::{
    agent_command, quote, AgentContainer, AgentPod, AgentTarget, CaptureVolume, RecordOptions,
};
use holter::kube::pod::{parse_container_id, Kind, Pod, PodError, State, Target};
use serde_yaml::Value;

fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/kubectl")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn pod(name: &str) -> Pod {
    Pod::from_json(&fixture(name)).unwrap()
}

fn sha(s: &str) -> String {
    // The fixtures' ids: sha256 of container name + runtime (fixtures/kubectl/make.py).
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(s.as_bytes()))
}

#[test]
fn containerd_single_container_is_recorded_by_its_id() {
    let p = pod("containerd-single.json");
    assert_eq!(
        (p.namespace.as_str(), p.name.as_str(), p.node.as_str()),
        ("shop", "web-7d9f", "node-a")
    );
    let Target::Container { name, id } = p.target(None).unwrap() else {
        panic!("one container: by id")
    };
    assert_eq!(name, "app");
    assert_eq!(id.runtime, "containerd");
    assert_eq!(id.id, sha("appcontainerd"));
    // Named explicitly: the same.
    assert!(matches!(
        p.target(Some("app")).unwrap(),
        Target::Container { .. }
    ));
}

#[test]
fn crio_init_and_sidecar_containers() {
    let p = pod("crio-init-sidecar.json");
    let kinds: Vec<(&str, Kind)> = p
        .containers
        .iter()
        .map(|c| (c.name.as_str(), c.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("migrate", Kind::Init),
            ("proxy", Kind::Sidecar),
            ("app", Kind::App),
            ("metrics", Kind::App)
        ]
    );
    // No -c: the sidecar and both app containers run: the whole pod.
    assert_eq!(
        p.target(None).unwrap(),
        Target::Pod {
            containers: vec!["proxy".into(), "app".into(), "metrics".into()]
        }
    );
    // The sidecar by name: its CRI-O id.
    let Target::Container { id, .. } = p.target(Some("proxy")).unwrap() else {
        panic!()
    };
    assert_eq!(
        (id.runtime.as_str(), id.id.clone()),
        ("cri-o", sha("proxycri-o"))
    );
    // A finished init container cannot be recorded.
    let e = p.target(Some("migrate")).unwrap_err();
    assert!(
        matches!(&e, PodError::ContainerNotRunning { state, .. } if state.contains("Completed")),
        "{e}"
    );
    // An unknown name lists the pod's containers.
    let e = p.target(Some("nope")).unwrap_err().to_string();
    assert!(
        e.contains("no container `nope`") && e.contains("migrate, proxy, app, metrics"),
        "{e}"
    );
}

#[test]
fn docker_multi_container_with_one_crashing() {
    let p = pod("docker-multi.json");
    // Only the worker runs (the logger is in CrashLoopBackOff): it alone, by id.
    let Target::Container { name, id } = p.target(None).unwrap() else {
        panic!()
    };
    assert_eq!((name.as_str(), id.runtime.as_str()), ("worker", "docker"));
    assert_eq!(id.id, sha("workerdocker"));
    let e = p.target(Some("logger")).unwrap_err().to_string();
    assert!(
        e.contains("not running") && e.contains("CrashLoopBackOff"),
        "{e}"
    );
}

#[test]
fn a_pod_not_yet_running_says_why() {
    let e = pod("pending.json").target(None).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, PodError::NotRunning { .. }), "{msg}");
    assert!(
        msg.contains("shop/web-new is Pending") && msg.contains("app: waiting: ContainerCreating"),
        "{msg}"
    );
    let p = pod("unscheduled.json");
    assert_eq!(p.node, "");
    assert_eq!(p.containers[0].state, State::Unknown);
    assert!(p.target(None).unwrap_err().to_string().contains("Pending"));
}

#[test]
fn a_list_of_pods() {
    let pods = Pod::list_from_json(&fixture("list-web.json")).unwrap();
    let names: Vec<(&str, &str, &str)> = pods
        .iter()
        .map(|p| (p.name.as_str(), p.node.as_str(), p.phase.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("web-7d9f", "node-a", "Running"),
            ("web-8e1a", "node-a", "Running"),
            ("web-9f2b", "node-c", "Running"),
            ("web-new", "node-a", "Pending")
        ]
    );
}

#[test]
fn garbage_is_refused() {
    assert!(Pod::from_json(b"").is_err());
    assert!(Pod::from_json(b"{\"kind\":\"Service\"}")
        .unwrap_err()
        .to_string()
        .contains("not `Pod`"));
    assert!(Pod::from_json(b"[1,2]").is_err());
    assert!(Pod::list_from_json(b"{\"kind\":\"List\"}").is_err());
    let sixty_four = "a".repeat(64);
    assert!(parse_container_id(&format!("containerd://{sixty_four}")).is_some());
    for bad in [
        format!("containerd://{}", "a".repeat(63)),
        format!("containerd://{}", "A".repeat(64)),
        format!("rkt://{sixty_four}"),
        format!("containerd://{}/../x", "a".repeat(58)),
        sixty_four.clone(),
        String::new(),
    ] {
        assert_eq!(parse_container_id(&bad), None, "{bad}");
    }
}

const HOSTILE: &[&str] = &[
    "x\"\n  hostPath: /etc\n#",
    "a: b",
    "- item",
    "{flow: map}",
    "&anchor *alias !tag |lit >fold %dir @at `tick`",
    "line\u{2028}sep\u{2029}para\u{85}nel",
    "tab\there\rcr\u{0}nul\u{1b}[31m",
    "'single' \"double\" \\back\\",
    "yes",
    "0x1F",
    "~",
    "",
    "emoji 🦀 and é",
    "$(touch /tmp/pwned) `id` ; rm -rf / && echo 'x' \"y\" | cat > /etc/passwd",
    "--pid 1 -o /etc/shadow --force",
];

fn get<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(v, |v, k| &v[*k])
}

#[test]
fn the_agent_pod_yaml_keeps_every_hostile_string_exact() {
    for &s in HOSTILE {
        assert_eq!(
            serde_yaml::from_str::<String>(&quote(s)).unwrap(),
            s,
            "quote({s:?}) = {}",
            quote(s)
        );
        assert!(!quote(s).contains('\n'), "{s:?}");
        let pod = AgentPod {
            name: "holter-x".into(),
            namespace: Some(s.into()),
            node: s.into(),
            image: s.into(),
            options: RecordOptions {
                frequency: Some(49),
                syscalls: Some("kernel".into()),
                // A value reaches the agent as one argv element, whatever it holds.
                syscalls_filter: Some(s.into()),
                ..RecordOptions::new(Duration::from_millis(1500))
            },
            volume: CaptureVolume::HostPath(s.into()),
            containers: vec![AgentContainer {
                name: "agent".into(),
                target: AgentTarget::Pod {
                    namespace: s.into(),
                    name: s.into(),
                    container: Some(s.into()),
                },
                output: "/holter/capture-0.holter".into(),
            }],
            annotations: vec![(format!("holter.dev/{s}"), s.into())],
        };
        let yaml = pod.to_yaml();
        let v: Value = serde_yaml::from_str(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        assert_eq!(get(&v, &["metadata", "namespace"]).as_str(), Some(s));
        assert_eq!(get(&v, &["spec", "nodeName"]).as_str(), Some(s));
        let c = &v["spec"]["containers"][0];
        assert_eq!(c["image"].as_str(), Some(s));
        let cmd: Vec<String> = serde_yaml::from_value(c["command"].clone()).unwrap();
        assert_eq!(cmd, agent_command(&pod.containers[0], &pod.options));
        assert_eq!(
            cmd,
            [
                "/holter-agent",
                "record",
                "--pod",
                &format!("{s}/{s}"),
                "--pod-container",
                s,
                "--duration",
                "1500ms",
                "--frequency",
                "49",
                "--syscalls=kernel",
                &format!("--syscalls-filter={s}"),
                "-o",
                "/holter/capture-0.holter",
                "--linger",
                "600s"
            ]
        );
        let anns = v["metadata"]["annotations"].as_mapping().unwrap();
        assert_eq!(anns.len(), 1);
        assert_eq!(
            anns.get(format!("holter.dev/{s}").as_str())
                .and_then(Value::as_str),
            Some(s)
        );
        // The volume still the one written (no key injected beside it).
        let capture = v["spec"]["volumes"]
            .as_sequence()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(capture["hostPath"]["path"].as_str(), Some(s));
        assert_eq!(capture.as_mapping().unwrap().len(), 2, "{capture:?}");
    }
}

#[test]
fn the_agent_pod_is_privileged_one_shot_on_its_node() {
    let pod = AgentPod {
        name: "holter-web-7d9f-abcdef".into(),
        namespace: Some("shop".into()),
        node: "node-a".into(),
        image: "registry.example/holter-agent:0.1.0".into(),
        options: RecordOptions::new(Duration::from_secs(30)),
        volume: CaptureVolume::EmptyDir,
        containers: vec![AgentContainer {
            name: "agent".into(),
            target: AgentTarget::Container(
                parse_container_id(&format!("containerd://{}", "c".repeat(64))).unwrap(),
            ),
            output: "/holter/capture-0.holter".into(),
        }],
        annotations: vec![],
    };
    let v: Value = serde_yaml::from_str(&pod.to_yaml()).unwrap();
    assert_eq!(v["kind"].as_str(), Some("Pod"));
    let spec = &v["spec"];
    assert_eq!(spec["restartPolicy"].as_str(), Some("Never"));
    assert_eq!(spec["hostPID"].as_bool(), Some(true));
    assert_eq!(spec["nodeName"].as_str(), Some("node-a"));
    assert_eq!(spec["tolerations"][0]["operator"].as_str(), Some("Exists"));
    let c = &spec["containers"][0];
    assert_eq!(c["securityContext"]["privileged"].as_bool(), Some(true));
    let cmd: Vec<String> = serde_yaml::from_value(c["command"].clone()).unwrap();
    let c64 = "c".repeat(64);
    assert_eq!(
        cmd,
        [
            "/holter-agent",
            "record",
            "--container",
            c64.as_str(),
            "--duration",
            "30s",
            "-o",
            "/holter/capture-0.holter",
            "--linger",
            "600s"
        ]
    );
    let mounts: Vec<(String, String, bool)> = c["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_string(),
                m["mountPath"].as_str().unwrap().to_string(),
                m["readOnly"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    let want = [
        ("cgroup", "/sys/fs/cgroup", true),
        ("pod-logs", "/var/log/pods", true),
        ("container-logs", "/var/log/containers", true),
        ("capture", "/holter", false),
    ];
    assert_eq!(mounts.len(), want.len());
    for ((n, p, ro), (wn, wp, wro)) in mounts.iter().zip(want) {
        assert_eq!((n.as_str(), p.as_str(), *ro), (wn, wp, wro));
    }
    let vols = spec["volumes"].as_sequence().unwrap();
    assert_eq!(vols[0]["hostPath"]["path"].as_str(), Some("/sys/fs/cgroup"));
    assert_eq!(vols[1]["hostPath"]["path"].as_str(), Some("/var/log/pods"));
    assert_eq!(
        vols[2]["hostPath"]["path"].as_str(),
        Some("/var/log/containers")
    );
    assert!(vols[3]["emptyDir"].is_mapping());
}
