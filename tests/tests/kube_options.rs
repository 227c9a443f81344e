//! `kubectl holter record` and `holter-agent record` side by side: every
//! option of the agent's `record` is taken by the plugin (same name, value
//! syntax and default) or listed here as making no sense from a laptop, and
//! whatever the plugin passes on is read by the agent exactly as the agent
//! reads the user's own words. A new agent option fails the first test until
//! it is passed through (analyzer/src/kube/options.rs, manifest.rs) or
//! listed in `NOT_REMOTE` with its reason (and in README "On a cluster").
//! No privilege, no cluster: the two clap command lines only.

use std::time::Duration;

use clap::{ArgAction, Args, CommandFactory, Parser};
use holter::kube::options::AgentOptions;
use holter_agent::cli::{Cli, Command, RecordArgs};

/// Agent `record` options that `kubectl holter` does not take, and why.
const NOT_REMOTE: &[(&str, &str)] = &[
    ("pid", "the target: the plugin finds it from the pod"),
    ("cgroup", "the target: the plugin finds it from the pod"),
    (
        "container",
        "the target: the pod's container id (-c picks one)",
    ),
    ("pod", "the target: the plugin's POD argument"),
    ("pod_container", "the target: the plugin's -c"),
    (
        "command",
        "the target: no command is launched in an agent pod",
    ),
    (
        "output",
        "a path on the node: the plugin's -o is the local file",
    ),
    ("force", "the agent pod's capture file is always new"),
    ("linger", "how the plugin copies the capture out of the pod"),
];

/// Options taken with another default, and why.
const OWN_DEFAULT: &[(&str, &str)] = &[(
    "duration",
    "30s: the agent's (until the target exits) would keep the agent pod up",
)];

fn agent_record() -> clap::Command {
    let mut cli = Cli::command();
    cli.build();
    cli.find_subcommand("record").unwrap().clone()
}

fn plugin_record() -> clap::Command {
    let mut c = AgentOptions::augment_args(clap::Command::new("kubectl-holter"));
    c.build();
    c
}

#[test]
fn every_agent_record_option_is_taken_by_kubectl_holter_or_said_why_not() {
    let agent = agent_record();
    let plugin = plugin_record();
    let skip = |id: &str| matches!(id, "help" | "version");
    for a in agent.get_arguments().filter(|a| !skip(a.get_id().as_str())) {
        let id = a.get_id().as_str();
        if NOT_REMOTE.iter().any(|(n, _)| *n == id) {
            assert!(
                plugin.get_arguments().all(|p| p.get_id() != id),
                "--{id} is listed as not remote but the plugin takes it"
            );
            continue;
        }
        let p = plugin
            .get_arguments()
            .find(|p| p.get_id() == id)
            .unwrap_or_else(|| {
                panic!(
                    "holter-agent record --{id} is not taken by kubectl holter record: \
                     pass it through (analyzer/src/kube/options.rs, manifest.rs) or list it \
                     in NOT_REMOTE with why"
                )
            });
        assert_eq!(p.get_long(), a.get_long(), "--{id}: long name");
        assert_eq!(p.get_short(), a.get_short(), "--{id}: short name");
        assert_eq!(
            p.get_value_names(),
            a.get_value_names(),
            "--{id}: value name"
        );
        assert_eq!(
            p.get_num_args(),
            a.get_num_args(),
            "--{id}: number of values"
        );
        assert_eq!(
            p.is_require_equals_set(),
            a.is_require_equals_set(),
            "--{id}: require_equals"
        );
        assert_eq!(
            p.is_allow_negative_numbers_set(),
            a.is_allow_negative_numbers_set(),
            "--{id}: negative numbers"
        );
        let values = |x: &clap::Arg| -> Vec<String> {
            x.get_possible_values()
                .iter()
                .map(|v| v.get_name().to_string())
                .collect()
        };
        assert_eq!(values(p), values(a), "--{id}: possible values");
        // (The value given bare, `--syscalls`: compared by the next test.)
        let flag = |x: &clap::Arg| matches!(x.get_action(), ArgAction::SetTrue);
        assert_eq!(
            flag(p),
            flag(a),
            "--{id}: a flag in one, a value in the other"
        );
        if flag(a) || OWN_DEFAULT.iter().any(|(n, _)| *n == id) {
            continue;
        }
        // The agent's default is the agent's alone: the plugin passes
        // nothing when the option is not given, and says which it is.
        assert!(
            p.get_default_values().is_empty(),
            "--{id}: the plugin must not pass a default of its own"
        );
        for v in a.get_default_values() {
            let help = p.get_help().map(|h| h.to_string()).unwrap_or_default();
            let want = format!("default: the agent's, {}", v.to_string_lossy());
            assert!(help.contains(&want), "--{id}: help {help:?} lacks {want:?}");
        }
    }
    // And the plugin invents no agent option.
    for p in plugin
        .get_arguments()
        .filter(|p| !skip(p.get_id().as_str()))
    {
        assert!(
            agent.get_arguments().any(|a| a.get_id() == p.get_id()),
            "kubectl holter takes --{} that holter-agent record has not",
            p.get_id()
        );
    }
}

#[derive(Debug, Parser)]
struct Plugin {
    #[command(flatten)]
    o: AgentOptions,
}

fn agent_parse(args: &[String]) -> Result<RecordArgs, String> {
    let mut argv: Vec<String> = ["holter-agent", "record", "--pid", "1", "-o", "x.holter"]
        .map(String::from)
        .to_vec();
    argv.extend_from_slice(args);
    match Cli::try_parse_from(argv) {
        Ok(Cli {
            command: Command::Record(r),
        }) => Ok(*r),
        Ok(other) => Err(format!("not record: {other:?}")),
        Err(e) => Err(e.to_string()),
    }
}

/// What the options mean to the agent (the target and output left out).
fn meaning(r: &RecordArgs) -> String {
    format!(
        "frequency={} nice={} unwind={} stack_size={} no_samples={} off_cpu={} syscalls={:?} \
         syscalls_filter={:?} redact={} interval={:?} max_size={:?}",
        r.frequency,
        r.nice,
        r.unwind,
        r.stack_size,
        r.no_samples,
        r.off_cpu,
        r.syscalls,
        r.syscalls_filter,
        r.redact,
        r.interval,
        r.max_size
    )
}

#[test]
fn the_agent_reads_what_the_plugin_passes_as_it_reads_the_users_own_words() {
    let max = holter_agent::unwind::MAX_STACK_BYTES.to_string();
    let over = (holter_agent::unwind::MAX_STACK_BYTES + 1).to_string();
    let cases: Vec<Vec<&str>> = vec![
        vec![],
        vec!["--frequency", "1"],
        vec!["--frequency", "100000"],
        vec!["--frequency", "100001"],
        vec!["--frequency", "0"],
        vec!["--frequency", "fast"],
        vec!["--nice", "-20"],
        vec!["--nice", "19"],
        vec!["--nice=-3"],
        vec!["--nice", "20"],
        vec!["--nice", "-21"],
        vec!["--unwind", "fp"],
        vec!["--unwind", "dwarf"],
        vec!["--unwind", "lbr"],
        vec!["--stack-size", "1023"],
        vec!["--stack-size", "1024"],
        vec!["--stack-size", &max],
        vec!["--stack-size", &over],
        vec!["--no-samples"],
        vec!["--off-cpu"],
        vec!["--off-cpu", "--no-samples"],
        vec!["--syscalls"],
        vec!["--syscalls=kernel"],
        vec!["--syscalls=ptrace"],
        vec!["--syscalls=ebpf"],
        vec!["--syscalls", "--syscalls-filter", "openat, file"],
        vec!["--syscalls=kernel", "--syscalls-filter=read,write,network"],
        // (A filter name neither table knows: refused by the plugin at once,
        // by the agent when it starts recording; not compared here.)
        vec!["--syscalls-filter", "read"],
        vec!["--redact"],
        vec!["--interval", "10ms"],
        vec!["--interval", "9ms"],
        vec!["--interval", "1.5s"],
        vec!["--interval", "0.0105s"],
        vec!["--interval", "0.333333333333s"],
        vec!["--interval", "2m"],
        vec!["--interval", "often"],
        vec!["--max-size", "100M"],
        vec!["--max-size", "1"],
        vec!["--max-size", "2g"],
        vec!["--max-size", "0"],
        vec!["--max-size", "12Q"],
        vec!["--max-size", "99999999999G"],
        vec!["--duration", "1.5s"],
        vec!["--duration", "0.666666666667s"],
        vec!["--duration", "250us"],
        vec!["--duration", "0"],
        vec![
            "--duration",
            "2m",
            "--frequency",
            "997",
            "--nice",
            "-1",
            "--unwind",
            "fp",
            "--off-cpu",
            "--syscalls=kernel",
            "--syscalls-filter",
            "file",
            "--redact",
            "--interval",
            "100ms",
            "--max-size",
            "512K",
        ],
    ];
    for case in cases {
        let words: Vec<String> = case.iter().map(|s| s.to_string()).collect();
        let by_agent = agent_parse(&words);
        let by_plugin = Plugin::try_parse_from(
            std::iter::once("kubectl-holter".to_string()).chain(words.iter().cloned()),
        );
        match (&by_agent, &by_plugin) {
            (Ok(direct), Ok(p)) => {
                let opts = p.o.record_options();
                let passed = agent_parse(&opts.args()).unwrap_or_else(|e| {
                    panic!(
                        "{case:?}: the agent refuses what the plugin passes {:?}: {e}",
                        opts.args()
                    )
                });
                assert_eq!(
                    meaning(&passed),
                    meaning(direct),
                    "{case:?} -> {:?}",
                    opts.args()
                );
                // The duration: the user's, else the plugin's 30 s.
                let want = direct.duration.unwrap_or(Duration::from_secs(30));
                assert_eq!(passed.duration, Some(want), "{case:?} -> {:?}", opts.args());
            }
            (Err(_), Err(_)) => {}
            _ => panic!(
                "{case:?}: the agent says {:?}, the plugin {:?}",
                by_agent.as_ref().map(meaning),
                by_plugin.as_ref().map(|p| p.o.record_options())
            ),
        }
    }
}
