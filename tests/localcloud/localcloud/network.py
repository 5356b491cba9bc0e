"""The project's podman networks on this machine: created with a fixed subnet, their bridge held up.

A network's gateway address (where moto and the metadata service listen) exists on this machine only
while its bridge does, and netavark deletes a bridge, even one made by hand, when its last container
stops. So a tiny pause pod stays attached to it. A blackhole route below the bridge's own keeps traffic
for the subnet on this machine even when the bridge is gone (never out through the default route).
"""

from __future__ import annotations

import ipaddress
import subprocess
from dataclasses import dataclass

BLACKHOLE_METRIC = "4242"


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), check=check, capture_output=True, text=True)


@dataclass(frozen=True)
class Network:
    """A podman network `name` on `subnet`; its gateway is the subnet's first address, and the pod that
    holds its bridge sits at the subnet's last usable address."""

    name: str
    subnet: str

    @property
    def gateway(self) -> str:
        return str(next(ipaddress.ip_network(self.subnet).hosts()))

    @property
    def bridge_pod(self) -> str:
        return f"{self.name}-bridge"

    @property
    def bridge_pod_ip(self) -> str:
        return str(ipaddress.ip_network(self.subnet).broadcast_address - 1)

    def hold(self) -> bool:
        """Creates the network if missing and starts the bridge pod; True if the pod had to start."""
        if _run("podman", "network", "exists", self.name, check=False).returncode != 0:
            _run("podman", "network", "create", "--subnet", self.subnet, "--gateway", self.gateway, self.name)
        if _run("podman", "pod", "exists", self.bridge_pod, check=False).returncode != 0:
            _run(
                "podman", "pod", "create", "--name", self.bridge_pod, "--network", self.name,
                "--ip", self.bridge_pod_ip,
            )  # fmt: skip
        state = _run("podman", "pod", "inspect", self.bridge_pod, "--format", "{{.State}}").stdout.strip()
        started = state != "Running"
        if started:
            _run("podman", "pod", "start", self.bridge_pod)
        _run("ip", "route", "replace", "blackhole", self.subnet, "metric", BLACKHOLE_METRIC)
        return started

    def release(self) -> bool:
        """Removes the bridge pod (the network and the blackhole route stay); True if it existed."""
        if _run("podman", "pod", "exists", self.bridge_pod, check=False).returncode != 0:
            return False
        _run("podman", "pod", "rm", "--force", self.bridge_pod)
        return True
