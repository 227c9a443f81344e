#!/usr/bin/env python3
# A fake `kubectl` for tests/kubectl_plugin.rs: serves recorded pod JSON
# (fixtures/kubectl/) and plays an agent pod by scenario; every call is
# appended to $FAKE_DIR/calls.log (one JSON array per line).
import json, os, re, sys

d = os.environ["FAKE_DIR"]
scen = os.environ.get("FAKE_SCENARIO", "ok")
MARK = "holter-agent: capture complete, lingering: "
args = sys.argv[1:]
stdin = sys.stdin.read() if args[:1] == ["create"] else ""
with open(os.path.join(d, "calls.log"), "a") as f:
    f.write(json.dumps(args) + "\n")

def fail(msg):
    sys.stderr.write(msg + "\n")
    sys.exit(1)

def polls(name, bump):
    p = os.path.join(d, f"polls-{name}")
    n = int(open(p).read()) if os.path.exists(p) else 0
    if bump:
        n += 1
        open(p, "w").write(str(n))
    return n

def agent_yaml(name):
    return open(os.path.join(d, f"agent-{name}.yaml")).read()

if scen == "unreachable":
    err = 'E1201 01:41:58.435159   19516 memcache.go:265] "Unhandled Error" err="couldn\'t get current server API group list: connection refused"\n'
    fail(err * 3 + "The connection to the server localhost:8080 was refused - did you specify the right host or port?")
elif args[0] == "get" and args[1] == "pods":
    if scen == "forbidden-list":
        fail('Error from server (Forbidden): pods is forbidden: User "dev" cannot list resource "pods" in API group "" in the namespace "shop"')
    sys.stdout.write(open(os.path.join(d, "list.json")).read())
elif args[0] == "get" and args[1] == "pod" and not args[2].startswith("holter-"):
    p = os.path.join(d, "pods", args[2] + ".json")
    if not os.path.exists(p):
        fail(f'Error from server (NotFound): pods "{args[2]}" not found')
    sys.stdout.write(open(p).read())
elif args[0] == "create":
    if scen == "forbidden-create":
        fail('Error from server (Forbidden): error when creating "STDIN": pods is forbidden: User "dev" cannot create resource "pods" in API group "" in the namespace "shop"')
    name = re.search(r'^  name: "([^"]*)"', stdin, re.M).group(1)
    if scen == "psa":
        fail(f'Error from server (Forbidden): error when creating "STDIN": pods "{name}" is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostPID=true), privileged (container "agent" must not set securityContext.privileged=true)')
    open(os.path.join(d, f"agent-{name}.yaml"), "w").write(stdin)
    print(f"pod/{name}")
elif args[0] == "get" and args[1] == "pod":
    name = args[2]
    y = agent_yaml(name)
    containers = re.findall(r'^  - name: "([^"]*)"', y, re.M)
    node = re.search(r'^  nodeName: "([^"]*)"', y, re.M).group(1)
    n = polls(name, True)
    phase, state = "Running", {"running": {"startedAt": "2026-12-01T00:00:00Z"}}
    if n == 1:
        phase, state = "Pending", {"waiting": {"reason": "ContainerCreating"}}
    if scen == "pull":
        phase, state = "Pending", {"waiting": {"reason": "ErrImagePull", "message": 'failed to pull image "nope/holter-agent": not found'}}
    if scen == "agent-fails" and n >= 2:
        phase, state = "Failed", {"terminated": {"exitCode": 1, "reason": "Error"}}
    doc = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": args[args.index("-n") + 1]},
           "spec": {"nodeName": node, "containers": [{"name": c} for c in containers]},
           "status": {"phase": phase, "containerStatuses": [{"name": c, "state": state} for c in containers]}}
    print(json.dumps(doc))
elif args[0] == "logs":
    name = args[1]
    if scen == "agent-fails":
        print("holter-agent: error: no container matches 0123456789ab: is it running on this node?")
    elif scen != "hang" and polls(name, False) >= 3:
        c = args[args.index("-c") + 1]
        print("holter-agent: wrote /holter/capture.holter (8.0 KiB, 19 samples)")
        print(MARK + "/holter/" + c)
elif args[0] == "exec":
    if scen == "garbage":
        sys.stdout.write("sh: /holter-agent: not found\n")
    else:
        sys.stdout.buffer.write(open(os.environ["FAKE_CAPTURE"], "rb").read())
elif args[0] == "delete":
    print(f'pod "{args[2]}" deleted')
else:
    fail("fake kubectl: unexpected call " + json.dumps(args))
