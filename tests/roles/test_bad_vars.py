"""Bad role variables fail fast, with a message naming the variable, before any AWS call.

The endpoint is a loopback socket that counts the connections made to it and closes them: had any
module called AWS, the count would be above zero.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

SCHEMA_VARS = {
    "visitor_board_table_partition_key": "pk",
    "visitor_board_table_sort_key": "sk",
    "visitor_board_table_ttl_attribute": "expires_at",
}
TABLE_OK = {
    "visitor_board_table_name": "test_messages",
    "visitor_board_table_region": "eu-north-1",
    **SCHEMA_VARS,
}
EC2_OK = {
    "visitor_board_ec2_region": "eu-north-1",
    "visitor_board_ec2_instance_profile": "visitor-board-app",
    "visitor_board_ec2_admin_cidr": "192.0.2.0/24",
}
SECRET_OK = {"visitor_board_secret_region": "eu-north-1", "visitor_board_secret_parameter": "/vb/test/key"}
IAM_OK = {
    "visitor_board_iam_region": "eu-north-1",
    "visitor_board_iam_table_name": "workshop_messages",
    "visitor_board_iam_secret_parameter": "/vb/test/key",
}
LB_OK = {"visitor_board_lb_region": "eu-north-1"}


class Trap:
    """A loopback endpoint that accepts every connection, counts it and closes it at once."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def trap() -> Iterator[Trap]:
    trap = Trap()
    yield trap
    trap.close()


CASES = [
    pytest.param(
        "visitor_board_ec2",
        {k: v for k, v in EC2_OK.items() if k != "visitor_board_ec2_admin_cidr"},
        ["missing required arguments", "visitor_board_ec2_admin_cidr"],
        id="ec2-missing-admin-cidr",
    ),
    pytest.param(
        "visitor_board_ec2",
        {**EC2_OK, "visitor_board_ec2_admin_cidr": "0.0.0.0/0"},
        ["visitor_board_ec2_admin_cidr='0.0.0.0/0' would open SSH to the whole internet"],
        id="ec2-ssh-open-to-world-ipv4",
    ),
    pytest.param(
        "visitor_board_ec2",
        {**EC2_OK, "visitor_board_ec2_admin_cidr": "::/0"},
        ["visitor_board_ec2_admin_cidr='::/0' would open SSH to the whole internet"],
        id="ec2-ssh-open-to-world-ipv6",
    ),
    pytest.param(
        "visitor_board_ec2",
        {**EC2_OK, "visitor_board_ec2_admin_cidr": "my office"},
        ["visitor_board_ec2_admin_cidr must be an IPv4 or IPv6 network in CIDR notation"],
        id="ec2-admin-cidr-not-a-cidr",
    ),
    # The siblings of 0.0.0.0/0: any network as wide as /16 or wider (and their IPv6 kin) is refused too.
    *[
        pytest.param(
            "visitor_board_ec2",
            {**EC2_OK, "visitor_board_ec2_admin_cidr": cidr},
            [f"visitor_board_ec2_admin_cidr='{cidr}' is too wide", wanted],
            id=f"ec2-admin-cidr-too-wide-{cidr}",
        )
        for cidr, wanted in [
            ("0.0.0.0/1", "narrower than /16 (prefix 17-32)"),
            ("128.0.0.0/1", "narrower than /16 (prefix 17-32)"),
            ("10.0.0.0/8", "narrower than /16 (prefix 17-32)"),
            ("172.31.0.0/16", "narrower than /16 (prefix 17-32)"),
            ("::/1", "narrower than /48 (prefix 49-128)"),
            ("2001:db8::/32", "narrower than /48 (prefix 49-128)"),
        ]
    ],
    pytest.param(
        "visitor_board_ec2",
        {**EC2_OK, "visitor_board_ec2_admin_cidr": "203.0.113.7/24"},
        ["is not a network address: its host bits are set", "203.0.113.0/24", "203.0.113.7/32"],
        id="ec2-admin-cidr-host-bits",
    ),
    pytest.param(
        "visitor_board_ec2",
        {**EC2_OK, "visitor_board_ec2_admin_cidr": "300.0.113.7/32"},
        ["visitor_board_ec2_admin_cidr='300.0.113.7/32' is not an IPv4 address"],
        id="ec2-admin-cidr-bad-octet",
    ),
    pytest.param(
        "visitor_board_ec2",
        {**EC2_OK, "visitor_board_ec2_admin_cidr": "203.0.113.7/32,198.51.100.0/24"},
        ["visitor_board_ec2_admin_cidr must be an IPv4 or IPv6 network in CIDR notation"],
        id="ec2-admin-cidr-two-networks",
    ),
    pytest.param(
        "visitor_board_ec2",
        {**EC2_OK, "visitor_board_ec2_connect_address": "ipv6_address"},
        ["visitor_board_ec2_connect_address", "must be one of"],
        id="ec2-unknown-connect-address",
    ),
    pytest.param(
        "visitor_board_table",
        {**TABLE_OK, "visitor_board_table_billing_mode": "ON_DEMAND"},
        ["visitor_board_table_billing_mode", "must be one of", "PAY_PER_REQUEST"],
        id="table-unknown-billing-mode",
    ),
    pytest.param(
        "visitor_board_table",
        {**TABLE_OK, "visitor_board_table_name": ""},
        ["visitor_board_table_name must be 3-255 characters"],
        id="table-empty-name",
    ),
    pytest.param(
        "visitor_board_table",
        {k: v for k, v in TABLE_OK.items() if k != "visitor_board_table_sort_key"},
        ["missing required arguments", "visitor_board_table_sort_key"],
        id="table-missing-sort-key",
    ),
    pytest.param(
        "visitor_board_secret",
        {**SECRET_OK, "visitor_board_secret_length": 8},
        ["visitor_board_secret_length must be between 32 and 4096"],
        id="secret-too-short",
    ),
    pytest.param(
        "visitor_board_iam",
        {**IAM_OK, "visitor_board_iam_table_name": ""},
        ["visitor_board_iam_table_name"],
        id="iam-empty-table-name",
    ),
    # Patterns must match the whole value: Python's `$` also matches before a final newline.
    pytest.param(
        "visitor_board_table",
        {**TABLE_OK, "visitor_board_table_name": "workshop_messages\n"},
        ["visitor_board_table_name must be 3-255 characters"],
        id="table-name-trailing-newline",
    ),
    pytest.param(
        "visitor_board_secret",
        {**SECRET_OK, "visitor_board_secret_parameter": "/visitor-board/demo/secret-key\n"},
        ["visitor_board_secret_parameter"],
        id="secret-parameter-trailing-newline",
    ),
    pytest.param(
        "visitor_board_iam",
        {**IAM_OK, "visitor_board_iam_region": "eu-north-1\n"},
        ["visitor_board_iam_region"],
        id="iam-region-trailing-newline",
    ),
    pytest.param(
        "visitor_board_ec2",
        {**EC2_OK, "visitor_board_ec2_image_id": "ami-0123abcd\n"},
        ["visitor_board_ec2_image_id"],
        id="ec2-image-id-trailing-newline",
    ),
    pytest.param(
        "visitor_board_ec2",
        {**EC2_OK, "visitor_board_ec2_web_source_security_group": "visitor-board-lb"},
        ["visitor_board_ec2_web_source_security_group", "(empty or sg-...)"],
        id="ec2-web-source-not-a-group-id",
    ),
    # The load balancer: names, health check settings, subnets, certificate and networks.
    *[
        pytest.param("visitor_board_lb", {**LB_OK, **bad}, wanted, id=f"lb-{case}")
        for case, bad, wanted in [
            (
                "name-too-long",
                {"visitor_board_lb_name": "x" * 33},
                ["visitor_board_lb_name='" + "x" * 33 + "' is not a valid ELBv2 name"],
            ),
            (
                "name-underscore",
                {"visitor_board_lb_name": "visitor_board"},
                ["visitor_board_lb_name='visitor_board' is not a valid"],
            ),
            (
                "name-trailing-newline",
                {"visitor_board_lb_name": "board\n"},
                ["visitor_board_lb_name=", "is not a valid ELBv2 name"],
            ),
            (
                "target-group-hyphen-end",
                {"visitor_board_lb_target_group_name": "board-"},
                ["visitor_board_lb_target_group_name='board-'"],
            ),
            (
                "interval-too-short",
                {"visitor_board_lb_health_check_interval": 2},
                ["visitor_board_lb_health_check_interval", "5-300 s"],
            ),
            (
                "timeout-not-below-interval",
                {"visitor_board_lb_health_check_interval": 5, "visitor_board_lb_health_check_timeout": 5},
                ["below the interval (got 5 and 5)"],
            ),
            (
                "threshold-one",
                {"visitor_board_lb_healthy_threshold": 1},
                ["visitor_board_lb_unhealthy_threshold 2-10 (got 1 and 2)"],
            ),
            (
                "delay-negative",
                {"visitor_board_lb_deregistration_delay": -1},
                ["visitor_board_lb_deregistration_delay 0-3600 s (got -1)"],
            ),
            (
                "interval-not-a-number",
                {"visitor_board_lb_health_check_interval": "often"},
                ["visitor_board_lb_health_check_interval", "int"],
            ),
            (
                "path-relative",
                {"visitor_board_lb_health_check_path": "readyz"},
                ["a path starting with / (got 'readyz')"],
            ),
            ("one-subnet", {"visitor_board_lb_subnet_ids": ["subnet-0123abcd"]}, ["at least two subnet ids"]),
            (
                "subnet-not-an-id",
                {"visitor_board_lb_subnet_ids": ["subnet-0123abcd", "my-subnet"]},
                ["at least two subnet ids"],
            ),
            (
                "certificate-not-an-arn",
                {"visitor_board_lb_certificate_arn": "my-cert"},
                ["an ACM certificate ARN", "got 'my-cert'"],
            ),
            (
                "ingress-not-a-cidr",
                {"visitor_board_lb_ingress_cidrs": ["anywhere"]},
                ["visitor_board_lb_ingress_cidrs IPv4"],
            ),
            ("same-ports", {"visitor_board_lb_https_port": 80}, ["HTTP and HTTPS different"]),
        ]
    ],
]


@pytest.mark.parametrize(("role", "role_vars", "messages"), CASES)
def test_bad_variable_fails_before_any_aws_call(run_playbook, trap, role, role_vars, messages) -> None:
    result = run_playbook("apply_role.yml", {"test_role": role, "test_aws_endpoint": trap.url, **role_vars})
    assert result.rc != 0, result.output
    for message in messages:
        assert message in result.output, result.output
    assert trap.connections == 0, "a module contacted the AWS endpoint before the variables were validated"


def test_good_variables_do_reach_aws(run_playbook, trap) -> None:
    """The trap works: with valid variables the role does call the endpoint (and fails there)."""
    result = run_playbook(
        "apply_role.yml", {"test_role": "visitor_board_secret", "test_aws_endpoint": trap.url, **SECRET_OK}
    )
    assert result.rc != 0
    assert trap.connections > 0
