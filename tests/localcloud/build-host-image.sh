#!/usr/bin/env bash
# Build the EC2-like test host image `localhost/visitor-board-host:bookworm` from Debian packages.
#
# No container registry is reachable here, so the image is a debootstrap'ed Debian 12 root imported into
# podman. It carries what the official Debian 12 AMI carries that matters to a rollout, and no more of
# what the roles install (tests/harness/test_host_image.py fails if it does):
#   - packages of Debian's cloud images (debian-cloud-images, config_space/package_config CLOUD and EC2):
#     openssh-server, sudo, dbus, unattended-upgrades, cloud-init, curl, ca-certificates, python3 (and
#     python3-apt through unattended-upgrades), iproute2, procps. Left out, because they do nothing in a
#     container: the kernel, grub, chrony (no CAP_SYS_TIME), cloud-guest-utils (no partitions), awscli.
#     python3-venv is NOT here: the app role installs it, as it must on AWS.
#   - cloud-init with its EC2 datasource, configured as Debian's AMI does (login user `admin` with
#     passwordless sudo), so the instance id, hostname and the SSH key of the instance's key pair come
#     from the metadata service at first boot, not from the image. The only local difference is where the
#     metadata service is: `http://instance-data:1339`, a name the local cloud's hypervisor maps to the
#     stand-in on each host (EC2's own DNS resolves `instance-data` to the real service too).
#   - the AMI's boot-time apt jobs: apt-daily.timer and apt-daily-upgrade.timer enabled and
#     unattended-upgrades switched on (20auto-upgrades), so hosts may hold the dpkg lock as AWS ones do.
# Every container gets its own SSH host keys (cloud-init's ssh module) and machine-id on first boot.
#
# Cached: the image carries a label with the hash of this script; when an image with the same hash
# exists the build is skipped. FORCE=1 rebuilds anyway. DEBIAN_MIRROR overrides the mirror.
#
# Usage (as root): tests/localcloud/build-host-image.sh
set -euo pipefail

IMAGE=${IMAGE:-localhost/visitor-board-host:bookworm}
SUITE=bookworm
LABEL=org.visitor-board.host-image.inputs
# Where cloud-init finds the local cloud's metadata stand-in: its boot endpoint, which answers cloud-init's
# token-less reads (cloud-init cannot tell it is on EC2 inside a container; see localcloud/metadata.py).
METADATA_URL=http://instance-data:1339

log() { printf 'build-host-image: %s\n' "$*"; }
fail() {
    printf 'build-host-image: %s\n' "$@" >&2
    exit 1
}

if [[ ${EUID} -ne 0 ]]; then
    fail "must run as root (debootstrap, rootful podman)"
fi

# --- cache check ---------------------------------------------------------------------------------------
inputs=$(sha256sum <"${BASH_SOURCE[0]}" | cut -c1-32)
if [[ -z ${FORCE:-} ]] && podman image exists "${IMAGE}"; then
    have=$(podman image inspect "${IMAGE}" --format "{{index .Labels \"${LABEL}\"}}" 2>/dev/null || true)
    if [[ ${have} == "${inputs}" ]]; then
        log "${IMAGE} is up to date (inputs ${inputs})"
        exit 0
    fi
    log "${IMAGE} is stale (inputs ${have:-none} -> ${inputs}); rebuilding"
fi

# The Debian mirror this machine already uses (never a hard-coded host).
mirror=${DEBIAN_MIRROR:-}
if [[ -z ${mirror} ]]; then
    mirror=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
        | grep -v security | grep -oE 'https?://[^ ]+' | head -n1 || true)
fi
security=${DEBIAN_SECURITY_MIRROR:-}
if [[ -z ${security} ]]; then
    security=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
        | grep -oE 'https?://[^ ]+security[^ ]*' | head -n1 || true)
fi
if [[ -z ${mirror} ]]; then
    fail "no Debian mirror found in /etc/apt; set DEBIAN_MIRROR=http://deb.debian.org/debian (or yours)"
fi
# Prove the mirror answers before a long debootstrap fails somewhere in the middle of it.
if ! probe=$(curl -fsS -o /dev/null --max-time 20 -w '%{http_code}' "${mirror%/}/dists/${SUITE}/Release" 2>&1); then
    fail "the Debian mirror ${mirror} does not serve dists/${SUITE}/Release: ${probe}" \
        "fix: check this machine's network/proxy, or set DEBIAN_MIRROR to a reachable Debian mirror"
fi

start=$(date +%s)
rootfs=$(mktemp -d /var/tmp/visitor-board-host.XXXXXX)
cleanup() { rm -rf --one-file-system "${rootfs}" "${rootfs}.log"; }
trap cleanup EXIT

# debootstrap resolves --include dependencies poorly (cloud-init's Python stack fails to configure), so it
# lays down the base system and apt, inside the new root, installs the rest with real dependency solving.
packages=(openssh-server sudo python3 python3-apt cloud-init unattended-upgrades locales iproute2 procps curl ca-certificates)
log "debootstrap ${SUITE} from ${mirror}"
if ! debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus "${SUITE}" "${rootfs}" "${mirror}" >"${rootfs}.log" 2>&1; then
    tail -n 30 "${rootfs}.log" >&2
    fail "debootstrap ${SUITE} from ${mirror} failed (log above)" \
        "fix: a transient mirror error is retried by running the command again; else set DEBIAN_MIRROR"
fi
# No service may start inside the build root (policy-rc.d, Debian's documented switch), and postinst
# scripts get a /proc.
printf '#!/bin/sh\nexit 101\n' >"${rootfs}/usr/sbin/policy-rc.d"
chmod 755 "${rootfs}/usr/sbin/policy-rc.d"
mount -t proc proc "${rootfs}/proc"
cleanup() {
    umount "${rootfs}/proc" 2>/dev/null || true
    rm -rf --one-file-system "${rootfs}" "${rootfs}.log"
}
log "installing ${packages[*]}"
if ! chroot "${rootfs}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${packages[@]}" >"${rootfs}.log" 2>&1; then
    tail -n 30 "${rootfs}.log" >&2
    fail "apt-get install in the image root failed (log above)" \
        "fix: a transient mirror error is retried by running the command again; else set DEBIAN_MIRROR"
fi
# cloud-init's locale module sets en_US.UTF-8 (its default), which must exist, as on Debian's images.
sed -i 's/^# *en_US.UTF-8 UTF-8/en_US.UTF-8 UTF-8/' "${rootfs}/etc/locale.gen"
chroot "${rootfs}" locale-gen >/dev/null
umount "${rootfs}/proc"
rm -f "${rootfs}/usr/sbin/policy-rc.d"
# The AMI's sources: the release, its updates and (when this machine knows where) security updates.
{
    echo "deb ${mirror} ${SUITE} main"
    echo "deb ${mirror} ${SUITE}-updates main"
    if [[ -n ${security} ]]; then echo "deb ${security} ${SUITE}-security main"; fi
} >"${rootfs}/etc/apt/sources.list"

# --- cloud-init as on Debian's EC2 images --------------------------------------------------------------
cat >"${rootfs}/etc/cloud/cloud.cfg.d/01_debian_cloud.cfg" <<'CFG'
# As Debian's EC2 images: the login user is `admin`, with passwordless sudo and the key pair's key.
system_info:
  default_user:
    name: admin
    lock_passwd: true
    gecos: Debian
    groups: [adm, sudo]
    sudo: ["ALL=(ALL) NOPASSWD:ALL"]
    shell: /bin/bash
CFG
cat >"${rootfs}/etc/cloud/cloud.cfg.d/90_visitor_board_localcloud.cfg" <<CFG
# The local cloud (a Podman host, not an EC2 machine). What differs from the AMI, and why:
# - the EC2 datasource is named outright (no DMI to identify EC2 by) and finds the metadata service at
#   ${METADATA_URL}; the hypervisor maps instance-data to the stand-in on the host's network;
# - podman (netavark) configures the network interface, as DHCP does on EC2, so cloud-init leaves it.
datasource_list: [Ec2, None]
datasource:
  Ec2:
    strict_id: false
    metadata_urls: ["${METADATA_URL}"]
    max_wait: 120
    timeout: 5
network:
  config: disabled
CFG

# --- the AMI's boot-time apt jobs ----------------------------------------------------------------------
cat >"${rootfs}/etc/apt/apt.conf.d/20auto-upgrades" <<'CFG'
APT::Periodic::Update-Package-Lists "1";
APT::Periodic::Unattended-Upgrade "1";
CFG
chroot "${rootfs}" systemctl enable apt-daily.timer apt-daily-upgrade.timer >/dev/null 2>&1

# --- per-host identity on first boot --------------------------------------------------------------------
# Host keys: cloud-init's ssh module makes them before sshd starts. Should cloud-init fail or find no
# metadata, this oneshot makes them instead (sshd's own ExecStartPre `sshd -t` fails without any).
rm -f "${rootfs}"/etc/ssh/ssh_host_*
cat >"${rootfs}/etc/systemd/system/ssh-hostkeys.service" <<'UNIT'
[Unit]
Description=Generate this host's SSH host keys when cloud-init did not
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key
After=cloud-init.service
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
RequiredBy=ssh.service
UNIT
chroot "${rootfs}" systemctl enable ssh-hostkeys.service ssh.service >/dev/null 2>&1
# Empty (not missing) machine-id: systemd generates one per container at boot.
: >"${rootfs}/etc/machine-id"
rm -f "${rootfs}/var/lib/dbus/machine-id"

# --- container hygiene ------------------------------------------------------------------------------------
# Consoles do not exist in a container (they would only log failures).
chroot "${rootfs}" systemctl mask getty@tty1.service console-getty.service >/dev/null 2>&1 || true
chroot "${rootfs}" apt-get clean
# No package lists, as on the AMI: a role that needs a package must refresh them itself.
rm -rf "${rootfs}"/var/log/*.log "${rootfs}"/var/cache/apt/*.bin "${rootfs}"/var/lib/apt/lists/*
rm -rf "${rootfs}"/var/lib/cloud/*

old_id=$(podman image inspect "${IMAGE}" --format '{{.Id}}' 2>/dev/null || true)
log "importing ${IMAGE}"
tar -C "${rootfs}" --numeric-owner -c . | podman import \
    --change 'CMD ["/sbin/init"]' \
    --change 'STOPSIGNAL SIGRTMIN+3' \
    --change 'ENV container=podman' \
    --change "LABEL ${LABEL}=${inputs}" \
    - "${IMAGE}" >/dev/null
# The previous build of this image (now untagged) is only disk; running containers keep it alive.
if [[ -n ${old_id} ]]; then
    podman image rm "${old_id}" >/dev/null 2>&1 || true
fi

log "built ${IMAGE} in $(($(date +%s) - start)) s (inputs ${inputs})"
