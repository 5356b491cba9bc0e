#!/usr/bin/env bash
# Prepare this machine (as root) for the local cloud and the tests: packages, the Podman host fixes
# measured in ENVIRONMENT.md, and the project's podman networks.
#
# Idempotent and quick on a re-run: every step checks first and only acts when something is missing.
# The cgroup mount does not survive a reboot, so `make test` / `make demo` call this every time.
set -euo pipefail

log() { printf 'setup-host: %s\n' "$*"; }

if [[ ${EUID} -ne 0 ]]; then
    echo "setup-host: must run as root (rootful podman, apt, mount)" >&2
    exit 1
fi

# --- 1. packages ---------------------------------------------------------------------------------------
# podman + its rootful runtime and network stack; debootstrap builds the host image; chromium drives the
# browser tests; ssh reaches the test hosts; iproute2 for `ip`; curl for probes.
packages=(
    podman crun conmon netavark aardvark-dns catatonit iptables
    debootstrap
    chromium
    openssh-client iproute2 curl ca-certificates
)
missing=()
for pkg in "${packages[@]}"; do
    # dpkg-query is ~10 ms per package; apt-get update is only paid for when something is missing.
    if ! dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null | grep -q '^install ok installed$'; then
        missing+=("${pkg}")
    fi
done
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    log "packages present"
fi

# --- 2. fix: crun refuses hybrid cgroups ("drop all controllers from cgroupv2") -------------------------
# On this VM kind the hugetlb controller sits on the cgroup2 `unified` mount of a v1 hierarchy. Mounting
# hugetlb as its own v1 hierarchy moves it off cgroup2 and crun starts containers again.
unified=/sys/fs/cgroup/unified
# (sysfs reports size 0 for these files, so read them instead of testing -s.)
controllers=$(cat "${unified}/cgroup.controllers" 2>/dev/null || true)
if [[ -d /sys/fs/cgroup/systemd && -n ${controllers} ]]; then
    for ctrl in ${controllers}; do
        target=/sys/fs/cgroup/${ctrl}
        if ! mountpoint -q "${target}"; then
            log "mounting ${ctrl} as a cgroup v1 hierarchy"
            # /sys/fs/cgroup is a tmpfs in hybrid mode, so the mount point can be created.
            mkdir -p "${target}"
            mount -t cgroup -o "${ctrl}" cgroup "${target}"
        fi
    done
else
    log "cgroup controllers: nothing on the unified hierarchy"
fi

# --- 3. fix: "crun: setrlimit RLIMIT_NOFILE: Operation not permitted" -----------------------------------
# The VM withholds CAP_SYS_RESOURCE, so containers must not ask for more than the host's limits.
conf=/etc/containers/containers.conf
want='default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]'
mkdir -p /etc/containers
touch "${conf}"
if ! grep -qF "${want}" "${conf}"; then
    log "setting default_ulimits in ${conf}"
    python3 - "${conf}" "${want}" <<'PY'
import re
import sys

path, want = sys.argv[1], sys.argv[2]
text = open(path, encoding="utf-8").read()
# Drop any earlier default_ulimits line (ours or not) so the key is set exactly once.
text = re.sub(r"(?m)^\s*default_ulimits\s*=.*\n?", "", text)
if re.search(r"(?m)^\[containers\]\s*$", text):
    text = re.sub(r"(?m)^\[containers\]\s*$", "[containers]\n" + want, text, count=1)
else:
    text = text.rstrip("\n") + ("\n\n" if text.strip() else "") + "[containers]\n" + want + "\n"
open(path, "w", encoding="utf-8").write(text)
PY
else
    log "default_ulimits already set"
fi

# --- 4. fix: container IPs change on restart on the default network -> dedicated fixed-subnet networks ----
ensure_network() {
    local name=$1 subnet=$2 gateway=$3
    if podman network exists "${name}"; then
        log "network ${name} present"
    else
        log "creating network ${name} ${subnet}"
        podman network create --subnet "${subnet}" --gateway "${gateway}" "${name}" >/dev/null
    fi
}
# The fleet network matches moto's default VPC (172.31.0.0/16), so moto's private IPs are the hosts' IPs.
ensure_network visitor-board 172.31.0.0/16 172.31.0.1
# Molecule scenarios get their own network so they never collide with a running demo fleet.
ensure_network visitor-board-molecule 10.89.77.0/24 10.89.77.1

# A network's gateway address only exists on the host once a container is attached to the bridge. The
# stand-ins (moto, metadata) listen on the gateway, so bring the bridges up now: a throwaway container is
# not available without an image, so create the bridge device by hand when podman has not yet.
for net in visitor-board visitor-board-molecule; do
    iface=$(podman network inspect "${net}" --format '{{.NetworkInterface}}')
    gw=$(podman network inspect "${net}" --format '{{range .Subnets}}{{.Gateway}}{{end}}')
    subnet=$(podman network inspect "${net}" --format '{{range .Subnets}}{{.Subnet}}{{end}}')
    prefix=${subnet#*/}
    if ! ip link show "${iface}" >/dev/null 2>&1; then
        log "bringing up bridge ${iface} (${gw}/${prefix}) for ${net}"
        ip link add "${iface}" type bridge
    fi
    if ! ip -4 addr show dev "${iface}" | grep -qF "inet ${gw}/"; then
        ip addr add "${gw}/${prefix}" dev "${iface}"
    fi
    ip link set "${iface}" up
    # netavark deletes a bridge when its last container stops; traffic to the subnet would then follow the
    # default route off this machine. A blackhole route below the bridge's own keeps it here instead.
    ip route replace blackhole "${subnet}" metric 4242
done

log "done"
