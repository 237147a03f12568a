"""The Kubernetes manifests (packaging/kubernetes/): every document parses, the objects are the
ones the layout needs and refer to each other correctly, and the ConfigMap's redpair.conf is a
configuration redpair accepts. There is no cluster here: this is what can be checked without one.

Run: /usr/bin/python3 tests/integration/test_kubernetes.py   (REDPAIR_BIN=path/to/redpair)
"""

import glob
import os
import subprocess
import tempfile
import unittest

import yaml

from harness import REPO, main, redpair_bin

DIR = os.path.join(REPO, "packaging", "kubernetes")
RESP_PORT = 6380
ADMIN_PORT = 8380


def load():
    """{(kind, name): document} over every YAML file, and the documents per file."""
    objects, files = {}, {}
    for path in sorted(glob.glob(os.path.join(DIR, "*.yaml"))):
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
        files[os.path.basename(path)] = docs
        for d in docs:
            key = (d["kind"], d.get("metadata", {}).get("name"))
            assert key not in objects, "%s defined twice" % (key,)
            objects[key] = d
    return objects, files


def container_port(container, port):
    """A probe's or Service's port (a number or a container port's name) as a number."""
    if isinstance(port, int):
        return port
    for p in container.get("ports", []):
        if p.get("name") == port:
            return p["containerPort"]
    raise AssertionError("container %s has no port named %r" % (container["name"], port))


def conf_directives(text):
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if parts and not parts[0].startswith("#"):
            out.setdefault(parts[0], []).append(parts[1:])
    return out


class KubernetesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.objects, cls.files = load()

    def get(self, kind, name):
        self.assertIn((kind, name), self.objects, "no %s %s in %s" % (kind, name, DIR))
        return self.objects[(kind, name)]

    def pod_labels_of(self, kind, name):
        return self.get(kind, name)["spec"]["template"]["metadata"]["labels"]

    def test_documents(self):
        kinds = sorted(k for k, _ in self.objects)
        self.assertEqual(
            kinds,
            sorted(["ConfigMap", "Secret", "PersistentVolumeClaim", "Deployment", "Service", "Service",
                    "Service", "StatefulSet", "StatefulSet", "NetworkPolicy", "Kustomization"]),
        )
        for (kind, name), d in self.objects.items():
            self.assertTrue(d.get("apiVersion"), "%s %s has no apiVersion" % (kind, name))
            if kind != "Kustomization":
                self.assertTrue(name, "a %s has no name" % kind)
        kust = self.get("Kustomization", None)
        listed = sorted(f for f in self.files if f != "kustomization.yaml")
        self.assertEqual(sorted(kust["resources"]), listed)

    def test_one_redpair(self):
        dep = self.get("Deployment", "redpair")
        spec = dep["spec"]
        self.assertEqual(spec["replicas"], 1, "one sequencer")
        self.assertEqual(spec["strategy"]["type"], "Recreate", "an update must not overlap two daemons")
        pod_labels = spec["template"]["metadata"]["labels"]
        self.assertEqual(spec["selector"]["matchLabels"].items() - pod_labels.items(), set())
        pod = spec["template"]["spec"]
        (c,) = pod["containers"]
        self.assertEqual(container_port(c, "resp"), RESP_PORT)
        self.assertEqual(container_port(c, "admin"), ADMIN_PORT)
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            http = c[probe]["httpGet"]
            self.assertEqual(http["path"], path)
            self.assertEqual(container_port(c, http["port"]), ADMIN_PORT, probe)
            self.assertNotEqual(http.get("scheme", "HTTP"), "HTTPS")
        self.assertFalse(c["securityContext"]["allowPrivilegeEscalation"])
        self.assertTrue(pod["securityContext"]["runAsNonRoot"])

        # Volumes: the ConfigMap, the Secret and the state PVC are the ones defined here.
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        self.get("ConfigMap", volumes[mounts["/etc/redpair"]]["configMap"]["name"])
        state = volumes[mounts["/var/lib/redpair"]]
        self.get("PersistentVolumeClaim", state["persistentVolumeClaim"]["claimName"])
        self.assertEqual(c["args"][0], "/etc/redpair/redpair.conf")
        env = {e["name"]: e for e in c.get("env", [])}
        i = c["args"].index("--admin-token")
        var = c["args"][i + 1]
        self.assertTrue(var.startswith("$(") and var.endswith(")"), var)
        ref = env[var[2:-1]]["valueFrom"]["secretKeyRef"]
        secret = self.get("Secret", ref["name"])
        self.assertIn(ref["key"], secret.get("stringData", secret.get("data", {})))

    def test_redis_statefulsets(self):
        for name in ("redis-a", "redis-b"):
            sts = self.get("StatefulSet", name)
            spec = sts["spec"]
            self.assertEqual(spec["replicas"], 1)
            self.get("Service", spec["serviceName"])
            (claim,) = spec["volumeClaimTemplates"]
            self.assertTrue(claim["spec"]["resources"]["requests"]["storage"])
            (c,) = spec["template"]["spec"]["containers"]
            self.assertIn(claim["metadata"]["name"], [m["name"] for m in c["volumeMounts"]])
            self.assertEqual(container_port(c, "redis"), 6379)

    def test_services_select_their_pods(self):
        for svc, (kind, name), port in (
            ("redpair", ("Deployment", "redpair"), RESP_PORT),
            ("redis-a", ("StatefulSet", "redis-a"), 6379),
            ("redis-b", ("StatefulSet", "redis-b"), 6379),
        ):
            spec = self.get("Service", svc)["spec"]
            labels = self.pod_labels_of(kind, name)
            self.assertEqual(spec["selector"].items() - labels.items(), set(), svc)
            (c,) = self.get(kind, name)["spec"]["template"]["spec"]["containers"]
            first = spec["ports"][0]
            self.assertEqual(first["port"], port)
            self.assertEqual(container_port(c, first["targetPort"]), port)
            # redpair resolves backends once: they need addresses that outlive the pods.
            self.assertNotEqual(spec.get("clusterIP"), "None", svc)
        admin = [p for p in self.get("Service", "redpair")["spec"]["ports"] if p["port"] == ADMIN_PORT]
        self.assertEqual(len(admin), 1)

    def test_config_is_valid(self):
        conf = self.get("ConfigMap", "redpair-config")["data"]["redpair.conf"]
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
            f.write(conf)
            f.flush()
            rc = subprocess.run(
                [redpair_bin(), "--check-config", f.name], capture_output=True, text=True, timeout=10
            )
        self.assertEqual(rc.returncode, 0, rc.stderr)
        self.assertIn("configuration OK", rc.stdout)

        d = conf_directives(conf)
        self.assertEqual(d["port"], [[str(RESP_PORT)]])
        self.assertEqual(d["admin-port"], [[str(ADMIN_PORT)]])
        self.assertEqual(d["state-dir"], [["/var/lib/redpair"]])
        self.assertEqual(d["logfile"], [['""']], "logs go to standard output, for the container runtime")
        self.assertEqual(d["bind"], [["0.0.0.0"]])
        self.assertEqual(sorted(b[1:] for b in d["backend"]), [["redis-a", "6379"], ["redis-b", "6379"]])
        for _, host, _ in d["backend"]:
            self.get("Service", host)
        self.assertNotIn("admin-token", d, "the token comes from the Secret")


if __name__ == "__main__":
    main()
