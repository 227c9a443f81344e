//! `kubectl-holter`: the kubectl plugin (`kubectl holter record POD`).
//! The logic is in the library (`holter::kube`); this is its command line.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use holter::kube::kubectl::Kubectl;
use holter::kube::manifest::{
    AgentContainer, AgentPod, AgentTarget, CaptureVolume, CAPTURE_DIR, DEFAULT_IMAGE,
};
use holter::kube::options::AgentOptions;
use holter::kube::pod::parse_container_id;
use holter::kube::record::{record, Request};
use holter_format::args::parse_duration;

#[derive(Debug, Parser)]
#[command(
    name = "kubectl-holter",
    bin_name = "kubectl holter",
    version,
    about = "Record a Kubernetes pod with holter from your laptop: a one-shot agent pod on its node, the capture brought back",
    after_help = "Examples:\n  \
      kubectl holter record web-7d9f -n shop --duration 30s\n  \
      kubectl holter record web-7d9f -n shop -c app --syscalls -o web.holter\n  \
      kubectl holter record -l app=web -n shop            # one agent pod per node, one capture per pod\n  \
      kubectl holter manifest --node node-1 --container 3f4e…  > agent.yaml\n\n\
      Then: holter info FILE; holter flamegraph FILE; holter report FILE"
)]
struct Cli {
    /// The kubectl to run (default: `kubectl` on PATH).
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        env = "HOLTER_KUBECTL",
        default_value = "kubectl"
    )]
    kubectl: PathBuf,
    /// kubeconfig context to use (passed to kubectl).
    #[arg(long, global = true, value_name = "NAME")]
    context: Option<String>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Record a pod (or every pod matching -l) on its node and bring the capture back.
    Record(RecordCli),
    /// Print, as YAML, the agent Pod `record` would create for a node and a container.
    Manifest(ManifestCli),
}

#[derive(Debug, Args)]
struct Opts {
    #[command(flatten)]
    agent: AgentOptions,
    /// The agent's image (build it with deploy/build.sh).
    #[arg(long, value_name = "IMAGE", env = "HOLTER_IMAGE", default_value = DEFAULT_IMAGE)]
    image: String,
}

#[derive(Debug, Args)]
struct RecordCli {
    /// The pod to record.
    #[arg(
        value_name = "POD",
        required_unless_present = "selector",
        conflicts_with = "selector"
    )]
    pod: Option<String>,
    /// Namespace of the pod (default: your context's).
    #[arg(short, long, value_name = "NS")]
    namespace: Option<String>,
    /// The container to record (default: the pod's only one, else all of them).
    #[arg(short, long, value_name = "CONTAINER")]
    container: Option<String>,
    /// Every pod matching this label selector: one agent pod per node, in parallel.
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    selector: Option<String>,
    /// With -l: pods of every namespace.
    #[arg(short = 'A', long, requires = "selector")]
    all_namespaces: bool,
    /// Capture file (default: POD-<time>.holter); with -l, a directory.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Namespace of the agent pods (default: the recorded pod's).
    #[arg(long, value_name = "NS")]
    agent_namespace: Option<String>,
    /// How long the agent pod may take to start (image pull included).
    #[arg(long, value_name = "DUR", default_value = "2m", value_parser = parse_duration)]
    start_timeout: Duration,
    #[command(flatten)]
    opts: Opts,
}

#[derive(Debug, Args)]
struct ManifestCli {
    /// The node to run on (`kubectl get pod POD -o wide` shows it).
    #[arg(long, value_name = "NODE")]
    node: String,
    /// The container's runtime id (`containerd://…`, `cri-o://…`, `docker://…`, or 64 hex digits).
    #[arg(long, value_name = "ID")]
    container: String,
    /// Namespace put in the Pod (default: none, kubectl's -n decides).
    #[arg(short, long, value_name = "NS")]
    namespace: Option<String>,
    /// Write the capture to this directory of the node (hostPath) instead of an emptyDir.
    #[arg(long, value_name = "DIR")]
    host_path: Option<String>,
    #[command(flatten)]
    opts: Opts,
}

static STOP: AtomicBool = AtomicBool::new(false);

#[cfg(unix)]
extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn install_signals() {
    #[cfg(unix)]
    // SAFETY: the handler only stores to an atomic (async-signal-safe).
    unsafe {
        let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
        libc::signal(libc::SIGHUP, handler);
    }
}

/// A path as a shell word (for the commands printed next).
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:+@,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("kubectl holter: error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let mut kubectl = Kubectl::new(&cli.kubectl);
    if let Some(ctx) = &cli.context {
        kubectl.global = vec!["--context".into(), ctx.into()];
    }
    match cli.command {
        Cmd::Manifest(m) => {
            let id = parse_container_id(&m.container)
                .or_else(|| parse_container_id(&format!("containerd://{}", m.container)))
                .with_context(|| {
                    format!(
                        "--container {:?}: expected a runtime id (containerd://, cri-o:// or docker:// and 64 hex digits, as `kubectl get pod -o jsonpath='{{.status.containerStatuses[*].containerID}}'` prints)",
                        m.container
                    )
                })?;
            let pod = AgentPod {
                name: holter::kube::manifest::pod_name("holter", &id.id[..12], "agent"),
                namespace: m.namespace,
                node: m.node,
                image: m.opts.image.clone(),
                options: m.opts.agent.record_options(),
                volume: match m.host_path {
                    Some(p) => CaptureVolume::HostPath(p),
                    None => CaptureVolume::EmptyDir,
                },
                // None: podman kube play refuses annotation values over 63 bytes.
                annotations: Vec::new(),
                containers: vec![AgentContainer {
                    name: "agent".into(),
                    target: AgentTarget::Container(id),
                    output: format!("{CAPTURE_DIR}/capture-0.holter"),
                }],
            };
            print!("{}", pod.to_yaml());
            Ok(())
        }
        Cmd::Record(r) => {
            install_signals();
            let req = Request {
                pod: r.pod,
                namespace: r.namespace,
                container: r.container,
                selector: r.selector,
                all_namespaces: r.all_namespaces,
                options: r.opts.agent.record_options(),
                image: r.opts.image,
                output: r.output,
                agent_namespace: r.agent_namespace,
                start_timeout: r.start_timeout,
            };
            let fetched = record(&kubectl, &req, &STOP).map_err(|e| anyhow::anyhow!(*e))?;
            for f in &fetched {
                eprintln!(
                    "holter: {}: capture written to {} ({} bytes)",
                    f.pod,
                    f.path.display(),
                    f.bytes
                );
            }
            eprintln!("next:");
            for f in &fetched {
                let p = shell_word(&f.path.display().to_string());
                for cmd in ["info", "throttling", "flamegraph", "report"] {
                    eprintln!("  holter {cmd} {p}");
                }
            }
            Ok(())
        }
    }
}
