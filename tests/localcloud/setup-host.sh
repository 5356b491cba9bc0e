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
# Named one by one, never left to what a machine happens to have (nor to Recommends, which are off):
# - podman and its rootful runtime (crun, conmon), its network stack (netavark, aardvark-dns for names)
#   and netavark's firewall backend: netavark runs `iptables` to set up NAT for every bridge network and
#   fails with "netavark: No such file or directory (os error 2)" without it; catatonit is the pause
#   process of pods (the bridge pod);
# - debootstrap builds the host image; chromium drives the browser tests;
# - ssh reaches the test hosts; iproute2 for `ip` (bridges, routes); iputils-ping for the network smoke
#   check below; curl for probes; ca-certificates for https mirrors and PyPI;
# - pebble is the local ACME CA (localcloud.acme) the hosts get their certificates from.
# - haproxy is the local cloud's load balancer (localcloud.load_balancer runs its own haproxy process with
#   its own configuration; Debian's haproxy service, with no listener in its default configuration, is
#   not used).
packages=(
    podman crun conmon netavark aardvark-dns iptables catatonit
    debootstrap
    chromium
    openssh-client iproute2 iputils-ping curl ca-certificates
    pebble
    haproxy
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

# --- 5. smoke check: prove the stack works before anything relies on it -------------------------------------
# A throwaway pod on each project network must start (crun, cgroups, netavark, iptables) and answer a ping
# at its address from this machine. On failure: the command, its error and the most likely fix.
smoke_fail() {
    local cmd=$1 err=$2 fix=$3
    printf 'setup-host: SMOKE CHECK FAILED: %s\n' "${cmd}" >&2
    printf '%s\n' "${err}" | sed 's/^/    /' >&2
    printf 'setup-host: likely fix: %s\n' "${fix}" >&2
    exit 1
}
likely_fix() {
    case $1 in
    *"netavark"*"No such file or directory"*) echo "netavark's firewall backend is missing: apt-get install iptables" ;;
    *"hybrid mode"*) echo "crun refuses hybrid cgroups: re-run this script (it mounts the stray controller as v1)" ;;
    *"setrlimit"*) echo "containers ask for more than this VM allows: check default_ulimits in /etc/containers/containers.conf" ;;
    *"pause"*"image"*) echo "podman cannot build its pause image: apt-get install catatonit" ;;
    *) echo "see the error above; 'podman info' and 'journalctl -xe' tell more" ;;
    esac
}
smoke_network() {
    local net=$1 address=$2 pod=visitor-board-smoke-$1 out
    podman pod rm --force "${pod}" >/dev/null 2>&1 || true
    if ! out=$(podman pod create --name "${pod}" --network "${net}" --ip "${address}" 2>&1 && podman pod start "${pod}" 2>&1); then
        podman pod rm --force "${pod}" >/dev/null 2>&1 || true
        smoke_fail "podman pod create/start --network ${net} --ip ${address}" "${out}" "$(likely_fix "${out}")"
    fi
    # A few tries: a bridge that netavark has just (re)created may drop the very first packet.
    for _ in 1 2 3 4 5; do
        if out=$(ping -c 1 -W 2 "${address}" 2>&1); then break; fi
        sleep 0.5
    done
    if ! out=$(ping -c 1 -W 2 "${address}" 2>&1); then
        podman pod rm --force "${pod}" >/dev/null 2>&1 || true
        smoke_fail "ping -c 1 ${address} (a pod on ${net})" "${out}" \
            "the bridge of ${net} does not route: check 'ip route get ${address}' and 'podman network inspect ${net}'"
    fi
    if ! out=$(podman pod rm --force "${pod}" 2>&1); then
        smoke_fail "podman pod rm --force ${pod}" "${out}" \
            "podman cannot clean up its cgroups: check 'grep cgroup /proc/mounts' against /proc/cgroups"
    fi
    log "smoke check: a pod on ${net} started and answered at ${address}"
}
smoke_network visitor-board 172.31.255.253
smoke_network visitor-board-molecule 10.89.77.253

# Chromium for the browser tests: it must start headless and render a page without any network.
if ! out=$(timeout 60 chromium --headless --no-sandbox --disable-gpu --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$(mktemp -d)" --dump-dom 'data:text/html,<p id=smoke>ok</p>' 2>&1); then
    smoke_fail "chromium --headless --dump-dom" "${out}" "apt-get install --reinstall chromium"
fi
if [[ ${out} != *'<p id="smoke">ok</p>'* ]]; then
    smoke_fail "chromium --headless --dump-dom" "${out}" "apt-get install --reinstall chromium"
fi
log "smoke check: chromium renders headless"

log "done"
