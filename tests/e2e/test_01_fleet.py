"""site.yml on an empty (moto) account: 3 hosts serving one board, each as its own instance and role."""

from __future__ import annotations

import json
import re
import uuid

import boto3
from board import Visitor
from localcloud import fleet
from localfleet import Host, PlaybookRun, aws, run_site

IMDS = fleet.IMDS_URL


def test_first_rollout_waited_for_cloud_init_and_the_dpkg_lock(
    first_run: PlaybookRun, hosts: list[Host]
) -> None:
    """The hosts booted with user data that keeps cloud-init busy and a boot job holding dpkg's lock
    (conftest.BUSY_BOOT_USER_DATA). The first batch's host meets both when the rollout reaches it (later
    batches may find the boot over by then): the rollout waited for both instead of failing, and said so."""
    # The output callback wraps long messages over lines: compare with whitespace collapsed.
    waits = re.findall(
        r"(i-[0-9a-f]+): waited ([0-9.]+) s for cloud-init \(status: (\w+)\) and ([0-9.]+) s for "
        r"the dpkg/apt locks held by ([^.]+)\.",
        " ".join(first_run.output.split()),
    )
    assert waits, "no host reported waiting for cloud-init and the dpkg lock"
    ids = {host.instance_id for host in hosts}
    for instance_id, cloud_init_seconds, status, lock_seconds, holders in waits:
        assert instance_id in ids
        assert status == "done"
        assert float(cloud_init_seconds) > 0 and float(lock_seconds) > 0
        assert "python3" in holders
    for host in hosts:
        assert host.ssh("cloud-init status").strip() == "status: done"
        # cloud-init made the login user from the key pair the metadata stand-in served.
        assert "visitor-board-localcloud" in host.ssh("cat ~/.ssh/authorized_keys")


def test_every_host_serves_and_names_its_own_instance(hosts: list[Host]) -> None:
    for host in hosts:
        page = Visitor(host.address).board()
        assert page.status == 200
        assert page.served_by == host.instance_id


def test_message_posted_on_host_1_is_on_hosts_2_and_3(hosts: list[Host]) -> None:
    text = f"hello from host 1 {uuid.uuid4().hex}"
    assert Visitor(hosts[0].address).post("e2e", text)
    for host in hosts[1:]:
        page = Visitor(host.address).board()
        assert text in page.texts, f"{host.instance_id} does not show the message"
        assert page.served_by == host.instance_id


def _instance_role(host: Host) -> str:
    profile = host.profile_arn.rsplit("/", 1)[-1]
    roles = aws("iam").get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Roles"]
    return roles[0]["RoleName"]


def test_each_host_gets_its_own_role_credentials_from_the_metadata_stand_in(hosts: list[Host]) -> None:
    for host in hosts:
        # IMDSv2 is required: without a session token the stand-in refuses, as EC2 does.
        refused = host.ssh(f"curl -s -o /dev/null -w '%{{http_code}}' {IMDS}/latest/meta-data/instance-id")
        assert refused == "401"
        raw = host.ssh(
            f"t=$(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' {IMDS}/latest/api/token)"
            f" && c={IMDS}/latest/meta-data/iam/security-credentials/"
            ' && r=$(curl -sf -H "X-aws-ec2-metadata-token: $t" $c)'
            ' && curl -sf -H "X-aws-ec2-metadata-token: $t" $c$r'
        )
        creds = json.loads(raw)
        # Who the data tier sees when this host calls it with what the metadata service gave it.
        sts = boto3.client(
            "sts",
            region_name=fleet.REGION,
            endpoint_url=fleet.MOTO_URL,
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["Token"],
        )
        arn = sts.get_caller_identity()["Arn"]
        assert f":assumed-role/{_instance_role(host)}/{host.instance_id}" in arn, arn
    # The apps themselves fetched role credentials from the stand-in, one issue per instance.
    log = (fleet.STATE / "logs" / "metadata.log").read_text()
    for host in hosts:
        assert f"issued credentials of role {_instance_role(host)} to {host.instance_id}" in log


# Key material looks like this in files and environments; botocore's own source mentions the variable
# names, so the venvs' site-packages are not searched (the release's own files are).
KEY_PATTERN = (
    r"AWS_SECRET_ACCESS_KEY|AWS_ACCESS_KEY_ID|AWS_SESSION_TOKEN|aws_secret_access_key|AKIA[0-9A-Z]{16}"
)


def test_no_aws_keys_on_any_host_disk_or_unit_environment(hosts: list[Host]) -> None:
    for host in hosts:
        unit = host.ssh("systemctl list-units --type=service --no-legend 'visitor-board*' | awk '{print $1}'")
        assert unit.strip(), f"{host.instance_id}: no visitor-board service"
        service = unit.split()[0]
        pid = host.ssh(f"systemctl show -p MainPID --value {service}").strip()
        assert pid not in ("", "0")
        environ = host.ssh(f"sudo cat /proc/{pid}/environ | tr '\\0' '\\n'")
        assert not [
            line
            for line in environ.splitlines()
            if line.startswith(("AWS_ACCESS_KEY", "AWS_SECRET", "AWS_SESSION_TOKEN"))
        ]
        shown = host.ssh(f"systemctl show -p Environment -p EnvironmentFiles {service}")
        files = [part.split()[0] for part in shown.split("EnvironmentFiles=")[1:]]
        for path in files:
            content = host.ssh(f"sudo cat {path.lstrip('-')}")
            assert "AWS_ACCESS_KEY_ID" not in content and "AWS_SECRET" not in content, path
        assert "AWS_SECRET" not in shown and "AWS_ACCESS_KEY_ID" not in shown
        found = host.ssh(
            f"sudo grep -rIlE '{KEY_PATTERN}' /etc /home /root /opt /srv /var/lib "
            "--exclude-dir=site-packages --exclude-dir=dist-packages --exclude-dir=python3"
            " 2>/dev/null || true"
        )
        assert found.strip() == "", f"{host.instance_id}: key-like content in {found.split()}"
        aws_dirs = host.ssh("sudo find / -xdev -name .aws -o -name credentials -path '*/.aws/*' 2>/dev/null")
        assert aws_dirs.strip() == ""


# Every task of the host roles, not just their fingerprint check: the roles themselves are idempotent.
EVERY_TASK = '{"visitor_board_app_skip_unchanged": false, "visitor_board_front_skip_unchanged": false}'


def test_second_run_changes_nothing(first_run: PlaybookRun, hosts: list[Host]) -> None:
    again = run_site("02-second-run", "-e", EVERY_TASK)
    assert again.returncode == 0, again.output[-4000:]
    assert set(again.recap) >= {"localhost", *(h.instance_id for h in hosts)}
    assert again.changed() == dict.fromkeys(again.recap, 0), again.output[-4000:]
    assert "Write the service environment file" in again.output


def test_unchanged_hosts_are_skipped_by_fingerprint(first_run: PlaybookRun, hosts: list[Host]) -> None:
    """A re-run with the defaults ends both host roles at their fingerprint check on every host."""
    again = run_site("02-fingerprint-run")
    assert again.returncode == 0, again.output[-4000:]
    assert again.changed() == dict.fromkeys(again.recap, 0), again.output[-4000:]
    for role, task in (
        ("visitor_board_app", "Write the service environment file"),
        ("visitor_board_front", "Write nginx's configuration"),
    ):
        assert f"TASK [{role} : {task}" not in again.output, f"{role} ran in full on an unchanged host"
    # The app role records two fingerprints (its configuration's, then the whole run's), the front one.
    for host in hosts:
        records = {"/opt/visitor-board/.applied": 2, "/etc/nginx/.visitor-board-front.applied": 1}
        for path, count in records.items():
            applied = host.ssh(f"sudo cat {path}").split()
            assert len(applied) == count, f"{host.instance_id}: {path} holds {applied!r}"
            assert all(re.fullmatch(r"[0-9a-f]{40,}", fp) for fp in applied), applied
