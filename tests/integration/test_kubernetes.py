"""The Kubernetes manifests (packaging/kubernetes/single/ and sidecar/): every document parses,
the objects are the ones each layout needs and refer to each other correctly, every redpair
container's command line is a configuration `redpair --check-config` accepts, and the network
policies let through what the layout needs and no more. There is no Kubernetes here: the
side-car layout's pods are played by network namespaces (netns.py), each running its containers'
command lines as the manifests write them, which must elect a leader, serve clients through a
follower and outlive the loss of a pod.

Run: /usr/bin/python3 tests/integration/test_kubernetes.py   (REDPAIR_BIN=path/to/redpair)
"""

import glob
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import unittest

import redis
import yaml

from harness import REDIS_SERVER, REPO, STOP_TIMEOUT, Api, main, redpair_bin, wait_until
from netns import Netns

ROOT = os.path.join(REPO, "packaging", "kubernetes")
RESP_PORT = 6380
ADMIN_PORT = 8380
CLUSTER_PORT = 7380
REDIS_PORT = 6379
# Stand-ins for the Secret's values: what an operator puts there before applying.
TOKENS = {"admin-token": "admin-token-for-tests", "cluster-token": "cluster-token-for-tests-012345"}
CLIENT_POD = {"app": "some-client"}  # a pod of the same namespace that is none of the layout's


def selects(selector, labels):
    """A label selector (matchLabels, or a Service's plain map) matches these labels."""
    assert "matchExpressions" not in selector, "matchExpressions: not modelled here"
    return selector.get("matchLabels", selector).items() <= labels.items()


def container_port(container, port):
    """A probe's, Service's or policy's port (a number or a container port's name) as a number,
    or None when the container has no such port."""
    for p in container.get("ports", []):
        if port in (p["containerPort"], p.get("name")):
            return p["containerPort"]
    return None


def split_directives(words):
    """`--directive value ...` groups, as redpair takes them after the configuration file."""
    groups = []
    for w in words:
        if w.startswith("--"):
            groups.append([w[2:]])
        else:
            groups[-1].append(w)
    return groups


def effective_config(conf_text, words):
    """{directive: values} of a configuration file overridden by command-line groups, as redpair
    reads them: the last of a directive wins, backends and peers by their names."""
    out = {}
    lines = [shlex.split(line) for line in conf_text.splitlines()]
    for parts in [p for p in lines if p and not p[0].startswith("#")] + split_directives(words):
        name, values = parts[0], parts[1:]
        if name in ("backend", "peer"):
            out.setdefault(name, {})[values[0]] = values[1:]
        else:
            out[name] = values
    return out


class Layout:
    """Every document under one layout's folder."""

    def __init__(self, name):
        self.dir = os.path.join(ROOT, name)
        self.objects, self.files = {}, {}
        for path in sorted(glob.glob(os.path.join(self.dir, "*.yaml"))):
            with open(path) as f:
                docs = [d for d in yaml.safe_load_all(f) if d is not None]
            self.files[os.path.basename(path)] = docs
            for d in docs:
                key = (d["kind"], d.get("metadata", {}).get("name"))
                assert key not in self.objects, "%s defined twice" % (key,)
                self.objects[key] = d

    def get(self, kind, name):
        if (kind, name) not in self.objects:
            raise AssertionError("no %s %s in %s" % (kind, name, self.dir))
        return self.objects[(kind, name)]

    def of_kind(self, kind):
        return [d for (k, _), d in sorted(self.objects.items(), key=str) if k == kind]

    def workloads(self):
        return self.of_kind("Deployment") + self.of_kind("StatefulSet")

    @staticmethod
    def pod(workload):
        return workload["spec"]["template"]

    @staticmethod
    def labels(workload):
        return workload["spec"]["template"]["metadata"]["labels"]

    def pods_selected(self, selector):
        return [w for w in self.workloads() if selects(selector, self.labels(w))]

    def containers(self):
        """(workload, container) of every container of every pod."""
        return [(w, c) for w in self.workloads() for c in self.pod(w)["spec"]["containers"]]

    def redpairs(self):
        return [(w, c) for w, c in self.containers() if c["name"] == "redpair"]

    def secret_value(self, name, key):
        s = self.get("Secret", name)
        return s.get("stringData", s.get("data", {}))[key]

    def argv(self, container, secret=None):
        """The container's command line with $(VAR) expanded as the kubelet does, each Secret
        value through secret(name, key) (default: the value the Secret holds)."""
        secret = secret or self.secret_value
        env = {}
        for e in container.get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            env[e["name"]] = secret(ref["name"], ref["key"]) if ref else e["value"]
        argv = container.get("command", []) + container.get("args", [])
        for name, value in env.items():
            argv = [a.replace("$(%s)" % name, value) for a in argv]
        for a in argv:
            assert "$(" not in a, "%s: %r refers to no env variable" % (container["name"], a)
        return argv

    def argv_here(self, workload, container, into, secret=None):
        """argv() with the ConfigMaps the container mounts written under into, and the paths
        into them rewritten to there."""
        argv = self.argv(container, secret)
        for m in container.get("volumeMounts", []):
            cm = self.volume_at(workload, container, m["mountPath"]).get("configMap")
            if not cm:
                continue
            d = os.path.join(into, m["name"])
            os.makedirs(d, exist_ok=True)
            for fname, text in self.get("ConfigMap", cm["name"])["data"].items():
                with open(os.path.join(d, fname), "w") as f:
                    f.write(text)
            mp = m["mountPath"].rstrip("/") + "/"
            argv = [os.path.join(d, a[len(mp):]) if a.startswith(mp) else a for a in argv]
        return argv

    def node(self, workload, container):
        """What a redpair container runs: (argv, the file's text, the effective configuration)."""
        argv = self.argv(container)
        assert argv[0] == "/usr/bin/redpair", argv
        words = argv[1:]
        if words[0] == "--witness":
            words = words[1:]
        cm = (self.volume_at(workload, container, words[0]) or {}).get("configMap")
        assert cm, "%s is on no ConfigMap the container mounts" % words[0]
        conf = self.get("ConfigMap", cm["name"])["data"][os.path.basename(words[0])]
        return argv, conf, effective_config(conf, words[1:])

    def volume_at(self, workload, container, path):
        """The volume (a pod volume or a volumeClaimTemplate, marked 'claimTemplate') holding path
        in the container: the mount with the longest mountPath that contains it."""
        best = None
        for m in container.get("volumeMounts", []):
            mp = m["mountPath"].rstrip("/")
            if (path == mp or path.startswith(mp + "/")) and (not best or len(mp) > len(best[0])):
                best = (mp, m["name"])
        if not best:
            return None
        for v in self.pod(workload)["spec"].get("volumes", []):
            if v["name"] == best[1]:
                return v
        for t in workload["spec"].get("volumeClaimTemplates", []):
            if t["metadata"]["name"] == best[1]:
                return {"name": best[1], "claimTemplate": t}
        raise AssertionError("mount %s names no volume" % best[1])

    def allowed(self, src_labels, dst, port):
        """Whether the NetworkPolicies let a pod with src_labels open a connection to port of the
        pod of workload dst (the same namespace)."""
        containers = self.pod(dst)["spec"]["containers"]
        isolating = [p["spec"] for p in self.of_kind("NetworkPolicy")
                     if selects(p["spec"]["podSelector"], self.labels(dst))
                     and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])]
        if not isolating:
            return True
        for rule in [r for p in isolating for r in p.get("ingress", [])]:
            for peer in rule.get("from", []):
                assert set(peer) == {"podSelector"}, "only podSelector peers are modelled"
            if "from" in rule and not any(selects(f["podSelector"], src_labels) for f in rule["from"]):
                continue
            ports = [container_port(c, rp["port"]) for rp in rule.get("ports", []) for c in containers]
            if "ports" not in rule or port in ports:
                return True
        return False


def service_targets(layout, service_name, port):
    """The pod (workload) a Service sends port to, and the container port it lands on."""
    spec = layout.get("Service", service_name)["spec"]
    (pod,) = layout.pods_selected(spec["selector"])
    (sp,) = [p for p in spec["ports"] if p["port"] == port]
    ports = {container_port(c, sp["targetPort"]) for c in Layout.pod(pod)["spec"]["containers"]}
    ports.discard(None)
    assert len(ports) == 1, "Service %s port %s lands on %s" % (service_name, port, ports)
    return pod, ports.pop()


class LayoutChecks:
    """What both layouts must satisfy."""

    LAYOUT = None
    KINDS = None

    @classmethod
    def setUpClass(cls):
        cls.layout = Layout(cls.LAYOUT)

    def test_documents(self):
        kinds = sorted(k for k, _ in self.layout.objects)
        self.assertEqual(kinds, sorted(self.KINDS))
        for (kind, name), d in self.layout.objects.items():
            self.assertTrue(d.get("apiVersion"), "%s %s has no apiVersion" % (kind, name))
            if kind != "Kustomization":
                self.assertTrue(name, "a %s has no name" % kind)
        kust = self.layout.get("Kustomization", None)
        listed = sorted(f for f in self.layout.files if f != "kustomization.yaml")
        self.assertEqual(sorted(kust["resources"]), listed, "kubectl apply -k applies every file")

    def test_workloads(self):
        for w in self.layout.workloads():
            spec, name = w["spec"], w["metadata"]["name"]
            self.assertEqual(spec["replicas"], 1, name)
            self.assertTrue(selects(spec["selector"], self.layout.labels(w)), name)
            pod = self.layout.pod(w)["spec"]
            self.assertTrue(pod["securityContext"]["runAsNonRoot"], name)
            for c in pod["containers"]:
                self.assertFalse(c["securityContext"]["allowPrivilegeEscalation"], c["name"])
                self.assertTrue(c["securityContext"]["readOnlyRootFilesystem"], c["name"])
            if w["kind"] == "Deployment":
                self.assertEqual(spec["strategy"]["type"], "Recreate",
                                 "%s: an update must not overlap two pods on one state" % name)
            for t in spec.get("volumeClaimTemplates", []):
                self.assertTrue(t["spec"]["resources"]["requests"]["storage"])

    def test_redis_servers(self):
        for name in ("redis-a", "redis-b"):
            sts = self.layout.get("StatefulSet", name)
            self.layout.get("Service", sts["spec"]["serviceName"])
            (c,) = [c for c in self.layout.pod(sts)["spec"]["containers"] if c["name"] == "redis"]
            self.assertEqual(container_port(c, "redis"), REDIS_PORT)
            data = c["args"][c["args"].index("--dir") + 1]
            self.assertIn("claimTemplate", self.layout.volume_at(sts, c, data), "the data on a PVC")

    def test_probes(self):
        for w, c in self.layout.redpairs():
            for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                http = c[probe]["httpGet"]
                self.assertEqual(http["path"], path)
                self.assertEqual(container_port(c, http["port"]), ADMIN_PORT, probe)
                self.assertNotEqual(http.get("scheme", "HTTP"), "HTTPS")
            _, _, cfg = self.layout.node(w, c)
            self.assertEqual(cfg["admin-port"], [str(ADMIN_PORT)])
            self.assertEqual(cfg["admin-bind"], ["0.0.0.0"], "the kubelet probes the pod's address")

    def test_state_on_persistent_volumes(self):
        for w, c in self.layout.redpairs():
            _, _, cfg = self.layout.node(w, c)
            state = cfg["state-dir"][0]
            dirs = {"state-dir": state}
            if "peer" in cfg:
                dirs["cluster-dir"] = cfg.get("cluster-dir", [state + "/raft"])[0]
            for what, path in dirs.items():
                v = self.layout.volume_at(w, c, path)
                self.assertIsNotNone(v, "%s %s is on no volume" % (what, path))
                self.assertNotIn("emptyDir", v, "%s %s must outlive the pod" % (what, path))
                claim = v.get("persistentVolumeClaim")
                if claim:
                    self.layout.get("PersistentVolumeClaim", claim["claimName"])
                else:
                    self.assertIn("claimTemplate", v, "%s %s is on a PVC" % (what, path))

    def test_configs_pass_check_config(self):
        redpairs = self.layout.redpairs()
        self.assertTrue(redpairs)
        for w, c in redpairs:
            with tempfile.TemporaryDirectory() as tmp:
                rc = self.check_config(w, c, tmp, lambda name, key: TOKENS[key])
                self.assertEqual(rc.returncode, 0, "%s: %s" % (w["metadata"]["name"], rc.stderr))
                self.assertIn("configuration OK", rc.stdout)
            _, _, cfg = self.layout.node(w, c)
            self.assertEqual(cfg["logfile"], [""], "logs go to standard output, for the runtime")
            self.assertEqual(sorted(cfg["backend"].values()),
                             [["redis-a", str(REDIS_PORT)], ["redis-b", str(REDIS_PORT)]])
            if container_port(c, "resp"):
                self.assertEqual(cfg["port"], [str(container_port(c, "resp"))])
                self.assertEqual(cfg["bind"], ["0.0.0.0"])

    def check_config(self, workload, container, tmp, secret):
        """`redpair --check-config` on the container's command line, with its ConfigMaps written
        under tmp (a witness's flag dropped: --check-config checks it as a data node)."""
        argv = self.layout.argv_here(workload, container, tmp, secret)
        words = [w for w in argv[1:] if w != "--witness"]
        return subprocess.run([redpair_bin(), "--check-config"] + words, capture_output=True,
                              text=True, timeout=10)

    def test_tokens_from_secrets(self):
        refs = {}  # flag: the Secret keys it is taken from
        for w, c in self.layout.redpairs():
            argv = c["command"] + c["args"]
            env = {e["name"]: e for e in c.get("env", [])}
            flags = ["--admin-token"] + (["--cluster-token"] if "--peer" in argv else [])
            for flag in flags:
                var = argv[argv.index(flag) + 1]
                self.assertTrue(var.startswith("$(") and var.endswith(")"), var)
                ref = env[var[2:-1]]["valueFrom"]["secretKeyRef"]
                self.layout.secret_value(ref["name"], ref["key"])
                refs.setdefault(flag, set()).add((ref["name"], ref["key"]))
            _, conf, _ = self.layout.node(w, c)
            for word in ("admin-token", "cluster-token", "requirepass", "password"):
                self.assertNotIn(word, conf, "a secret goes in the Secret, not the ConfigMap")
        self.assertLessEqual(len(refs.get("--cluster-token", ())), 1, "one cluster token for all")

    def test_redis_reached_only_by_redpair(self):
        redis_pods = [self.layout.get("StatefulSet", n) for n in ("redis-a", "redis-b")]
        for dst in redis_pods:
            self.assertFalse(self.layout.allowed(CLIENT_POD, dst, REDIS_PORT), "clients to Redis")
            for src in redis_pods:  # a resync copies one server from the other (REPLICAOF)
                self.assertTrue(self.layout.allowed(Layout.labels(src), dst, REDIS_PORT))
            for w, c in self.layout.redpairs():
                _, _, cfg = self.layout.node(w, c)
                for host, port in cfg["backend"].values():
                    pod, target = service_targets(self.layout, host, int(port))
                    self.assertEqual(target, REDIS_PORT)
                    self.assertTrue(self.layout.allowed(Layout.labels(w), pod, target),
                                    "%s to backend %s" % (w["metadata"]["name"], host))


class SingleLayoutTest(LayoutChecks, unittest.TestCase):
    """One redpair in front of the two Redis StatefulSets."""

    LAYOUT = "single"
    KINDS = ["ConfigMap", "Secret", "PersistentVolumeClaim", "Deployment", "Service", "Service",
             "Service", "StatefulSet", "StatefulSet", "NetworkPolicy", "Kustomization"]

    def test_one_redpair(self):
        ((w, c),) = self.layout.redpairs()
        self.assertEqual(w["kind"], "Deployment", "one sequencer, Recreate (test_workloads)")
        self.assertEqual(container_port(c, "resp"), RESP_PORT)
        _, _, cfg = self.layout.node(w, c)
        self.assertNotIn("peer", cfg, "not a cluster")

    def test_services_select_their_pods(self):
        for svc, (kind, name), port in (
            ("redpair", ("Deployment", "redpair"), RESP_PORT),
            ("redis-a", ("StatefulSet", "redis-a"), REDIS_PORT),
            ("redis-b", ("StatefulSet", "redis-b"), REDIS_PORT),
        ):
            pod, target = service_targets(self.layout, svc, port)
            self.assertIs(pod, self.layout.get(kind, name))
            self.assertEqual(target, port)
            # redpair resolves backends once: they need addresses that outlive the pods.
            self.assertNotEqual(self.layout.get("Service", svc)["spec"].get("clusterIP"), "None", svc)
        self.assertEqual(service_targets(self.layout, "redpair", ADMIN_PORT)[1], ADMIN_PORT)


class SidecarLayoutTest(LayoutChecks, unittest.TestCase):
    """A redpair beside each Redis, a witness, one Service over the side-cars."""

    LAYOUT = "sidecar"
    KINDS = ["ConfigMap", "Secret", "Service", "Service", "Service", "Service", "StatefulSet",
             "StatefulSet", "Deployment", "PersistentVolumeClaim", "NetworkPolicy", "NetworkPolicy",
             "PodDisruptionBudget", "Kustomization"]

    def nodes(self):
        """{node-id: (workload, container, effective configuration)}."""
        out = {}
        for w, c in self.layout.redpairs():
            _, _, cfg = self.layout.node(w, c)
            out[cfg["node-id"][0]] = (w, c, cfg)
        return out

    def test_side_cars(self):
        nodes = self.nodes()
        self.assertEqual(sorted(nodes), ["a", "b", "witness"])
        for node, sts in (("a", "redis-a"), ("b", "redis-b")):
            w, c, cfg = nodes[node]
            self.assertIs(w, self.layout.get("StatefulSet", sts), "node %s beside %s" % (node, sts))
            self.assertEqual(sorted(x["name"] for x in self.layout.pod(w)["spec"]["containers"]),
                             ["redis", "redpair"])
            self.assertEqual(sorted(t["metadata"]["name"] for t in w["spec"]["volumeClaimTemplates"]),
                             ["data", "state"], "Redis data and the consensus state each on a PVC")
            self.assertEqual(w["spec"]["updateStrategy"]["type"], "OnDelete",
                             "an apply must not restart both data nodes at once")
            self.assertEqual(container_port(c, "resp"), RESP_PORT)
            self.assertEqual(cfg["cluster-bind"], ["0.0.0.0", str(CLUSTER_PORT)])
            self.assertEqual(container_port(c, "cluster"), CLUSTER_PORT)

    def test_data_nodes_are_twins(self):
        # node-b.yaml is node-a.yaml with a and b swapped, so that the two cannot drift apart.
        swap = {"a": "b", "b": "a", "redis-a": "redis-b", "redis-b": "redis-a"}

        def swapped(x):
            if isinstance(x, dict):
                return {k: swapped(v) for k, v in x.items()}
            if isinstance(x, list):
                return [swapped(v) for v in x]
            return swap.get(x, x) if isinstance(x, str) else x

        self.assertEqual(swapped(self.layout.files["node-a.yaml"]), self.layout.files["node-b.yaml"])

    def test_witness(self):
        w, c, cfg = self.nodes()["witness"]
        self.assertEqual(w["kind"], "Deployment")
        self.assertEqual(self.layout.argv(c)[1], "--witness")
        self.assertIsNone(container_port(c, "resp"), "a witness serves no clients")
        self.assertEqual(container_port(c, "cluster"), CLUSTER_PORT)
        self.assertEqual(len(cfg["backend"]), 2, "the witness probes both servers: its vote counts")

    def test_peers_name_the_other_two(self):
        nodes = self.nodes()
        for node, (w, c, cfg) in nodes.items():
            self.assertEqual(sorted(cfg["peer"]), sorted(set(nodes) - {node}), node)
            for peer, (host, port) in cfg["peer"].items():
                pw, pc, pcfg = nodes[peer]
                svc = self.layout.get("Service", host)["spec"]
                self.assertNotEqual(svc.get("clusterIP"), "None", "resolved once: a ClusterIP")
                self.assertTrue(svc.get("publishNotReadyAddresses"),
                                "%s: the cluster port is needed before any pod is ready" % host)
                pod, target = service_targets(self.layout, host, int(port))
                self.assertIs(pod, pw, "peer %s's host %s is its pod" % (peer, host))
                self.assertEqual(target, int(pcfg["cluster-bind"][1]))
                self.assertTrue(self.layout.allowed(Layout.labels(w), pod, target),
                                "%s to %s's cluster port" % (node, peer))
                if "port" in pcfg and container_port(pc, "resp"):
                    # A follower relays its clients to the leader's peer host and RESP port.
                    resp = int(pcfg["port"][0])
                    self.assertEqual(service_targets(self.layout, host, resp), (pw, resp))
                    self.assertTrue(self.layout.allowed(Layout.labels(w), pod, resp))

    def test_placeholder_token_refused(self):
        # As shipped, the Secret's cluster token is too short: the cluster will not start on it.
        w, c, _ = self.nodes()["a"]
        with tempfile.TemporaryDirectory() as tmp:
            rc = self.check_config(w, c, tmp, None)
        self.assertNotEqual(rc.returncode, 0)
        self.assertIn("cluster-token", rc.stderr)

    def test_client_service(self):
        spec = self.layout.get("Service", "redpair")["spec"]
        nodes = self.nodes()
        selected = self.layout.pods_selected(spec["selector"])
        self.assertEqual(sorted(p["metadata"]["name"] for p in selected), ["redis-a", "redis-b"],
                         "every side-car, not the witness")
        for port in (RESP_PORT, ADMIN_PORT):
            (sp,) = [p for p in spec["ports"] if p["port"] == port]
            for pod in selected:
                (c,) = [c for w, c, _ in nodes.values() if w is pod]
                self.assertEqual(container_port(c, sp["targetPort"]), port)
                self.assertTrue(self.layout.allowed(CLIENT_POD, pod, port), "clients to %s" % port)
                self.assertFalse(self.layout.allowed(CLIENT_POD, pod, CLUSTER_PORT))

    def test_disruption_budget(self):
        (pdb,) = self.layout.of_kind("PodDisruptionBudget")
        voters = self.layout.pods_selected(pdb["spec"]["selector"])
        self.assertEqual(sorted(v["metadata"]["name"] for v in voters),
                         ["redis-a", "redis-b", "redpair-witness"])
        self.assertEqual(pdb["spec"]["minAvailable"], len(voters) // 2 + 1, "a majority stays")


class SidecarRunTest(unittest.TestCase):
    """The side-car layout's pods, each a network namespace running its containers' command
    lines: the Service names each node resolves become the addresses of the namespaces the
    Services select, and the volumes temporary directories; everything else is as written."""

    def setUp(self):
        self.layout = Layout("sidecar")
        self.tmp = tempfile.mkdtemp(prefix="redpair-k8s-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        pods = self.layout.workloads()
        net = Netns(len(pods))
        self.addCleanup(net.cleanup)
        self.procs = []  # (workload name, container name, Popen, log path)
        self.addCleanup(self.stop_all)  # cleanups run last first: the processes, then the rest
        self.ns = {p["metadata"]["name"]: net.node_ns[i] for i, p in enumerate(pods)}
        self.ip = {p["metadata"]["name"]: net.data_ip(i) for i, p in enumerate(pods)}

    def address(self, service, port):
        pod, target = service_targets(self.layout, service, int(port))
        return self.ip[pod["metadata"]["name"]], str(target)

    def volume_dir(self, workload, container, path):
        """A path on one of the pod's volumes, moved into the test's directory."""
        v = self.layout.volume_at(workload, container, path)
        (mp,) = [m["mountPath"] for m in container["volumeMounts"] if m["name"] == v["name"]]
        d = os.path.join(self.tmp, workload["metadata"]["name"], v["name"])
        os.makedirs(d, exist_ok=True)
        return d + path[len(mp.rstrip("/")):]

    def argv(self, w, c):
        if c["name"] != "redpair":
            args = list(c["args"])
            i = args.index("--dir") + 1
            args[i] = self.volume_dir(w, c, args[i])
            return [REDIS_SERVER] + args
        pod_dir = os.path.join(self.tmp, w["metadata"]["name"])
        argv = self.layout.argv_here(w, c, pod_dir, lambda name, key: TOKENS[key])
        argv[0] = redpair_bin()
        _, _, cfg = self.layout.node(w, c)
        for what in ("backend", "peer"):
            for name, (host, port) in sorted(cfg[what].items()):
                argv += ["--" + what, name, *self.address(host, port)]
        for what in ("state-dir", "cluster-dir"):
            argv += ["--" + what, self.volume_dir(w, c, cfg[what][0])]
        return argv

    def start(self):
        for w, c in self.layout.containers():
            name = w["metadata"]["name"]
            log = os.path.join(self.tmp, "%s-%s.log" % (name, c["name"]))
            with open(log, "wb") as out:
                p = subprocess.Popen(["ip", "netns", "exec", self.ns[name]] + self.argv(w, c),
                                     stdout=out, stderr=subprocess.STDOUT)
            self.procs.append((name, c["name"], p, log))

    def logs(self):
        out = []
        for name, cname, p, log in self.procs:
            with open(log, errors="replace") as f:
                tail = f.read()[-3000:]
            out.append("--- %s/%s (exit %s)\n%s" % (name, cname, p.poll(), tail))
        return "\n".join(out)

    def wait(self, predicate, what, timeout=30):
        try:
            return wait_until(predicate, timeout=timeout, interval=0.1, what=what)
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, self.logs())) from None

    def get(self, pod, path):
        api = Api(ADMIN_PORT, token=TOKENS["admin-token"], host=self.ip[pod], timeout=2)
        try:
            return api.get(path)
        finally:
            api.close()

    def ready(self, pod):
        return self.get(pod, "/readyz").status == 200

    def leader(self, pod, among):
        """The leader pod pod knows, when it is one of among."""
        r = self.get(pod, "/api/v1/cluster")
        leader = r.json().get("leader") if r.status == 200 else None
        return leader if leader in among else None

    def kill_pod(self, pod):
        for name, _, p, _ in self.procs:
            if name == pod and p.poll() is None:
                p.kill()
                p.wait(timeout=STOP_TIMEOUT)

    def stop_all(self):
        """SIGTERM to every container still running; a redpair must exit cleanly."""
        unclean = []
        for name, cname, p, _ in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for name, cname, p, _ in self.procs:
            try:
                rc = p.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                p.kill()
                rc = "ignored SIGTERM"
            if cname == "redpair" and rc not in (0, -signal.SIGKILL):
                unclean.append("%s/%s: %s" % (name, cname, rc))
        self.assertEqual(unclean, [], self.logs())

    def test_pods_elect_serve_and_outlive_one(self):
        self.start()
        pods = [w["metadata"]["name"] for w in self.layout.workloads()]
        self.wait(lambda: all(self.ready(p) for p in pods), "every pod ready")
        node_of = {w["metadata"]["name"]: self.layout.node(w, c)[2]["node-id"][0]
                   for w, c in self.layout.redpairs()}
        pod_of = {n: p for p, n in node_of.items()}
        leader = self.wait(lambda: self.leader("redpair-witness", ("a", "b")), "a data node leading")
        follower = pod_of["b" if leader == "a" else "a"]

        through = redis.Redis(host=self.ip[follower], port=RESP_PORT, socket_timeout=10)
        self.assertTrue(through.set("k8s", "side-car"))
        self.assertEqual(through.incr("n"), 1)
        for server in ("redis-a", "redis-b"):
            direct = redis.Redis(host=self.ip[server], port=REDIS_PORT, socket_timeout=10)
            self.assertEqual(direct.mget("k8s", "n"), [b"side-car", b"1"], server)

        # The leader's pod dies whole, its Redis with it: the follower and the witness are a
        # majority, see that server down and go on with the other.
        self.kill_pod(pod_of[leader])
        self.wait(lambda: self.leader(follower, (node_of[follower],)) and self.ready(follower),
                  "the surviving data node leading")
        survivor = redis.Redis(host=self.ip[follower], port=RESP_PORT, socket_timeout=10)
        self.assertEqual(survivor.incr("n"), 2)
        self.assertEqual(survivor.get("k8s"), b"side-car")
        self.assertTrue(self.ready("redpair-witness"))


if __name__ == "__main__":
    main()
