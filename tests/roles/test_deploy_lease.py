"""The deploy lease module (visitor_board.aws.deploy_lease) against a real moto server over HTTP.

One lease item in a table with the app's key schema: taken only when absent or expired (one conditional
write, so of two runs at once exactly one gets it), renewed and released only by its token, broken on
request, and a refusal names the holder and the variable that breaks a stale lease.
"""

from __future__ import annotations

import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from roles_support import REGION

TABLE = "lease_test_messages"


@pytest.fixture
def table(moto_url: str) -> Any:
    client = boto3.client("dynamodb", endpoint_url=moto_url, region_name=REGION)
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return client


def _lease(run_playbook, moto_url: str, *args: str, **options: Any) -> dict[str, Any]:
    options = {"table": TABLE, "ttl_attribute": "expires_at", **options}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        test_vars = {"test_aws_endpoint": moto_url, "test_lease": options, "test_result_file": str(out)}
        result = run_playbook("deploy_lease.yml", test_vars, *args)
        assert result.rc == 0, result.output
        return json.loads(out.read_text())


def _item(table: Any) -> dict[str, Any] | None:
    key = {"pk": {"S": "deploy-lease#visitor-board"}, "sk": {"S": "lease"}}
    return table.get_item(TableName=TABLE, Key=key, ConsistentRead=True).get("Item")


def test_a_held_lease_refuses_others_naming_the_holder_until_it_is_released(
    table: Any, moto_url: str, run_playbook
) -> None:
    first = _lease(
        run_playbook, moto_url, token="token-alice-1", holder="alice@laptop pid 42", details="site.yml 1.0.3"
    )
    assert first["acquired"] and not first["renewed"], first
    stored = _item(table)
    assert stored["lease_holder"]["S"] == "alice@laptop pid 42"
    assert int(stored["expires_at"]["N"]) > int(stored["lease_expires"]["N"])

    second = _lease(run_playbook, moto_url, token="token-bob-22", holder="bob@ci pid 7")
    assert second.get("failed"), second
    for part in ("alice@laptop pid 42", "site.yml 1.0.3", "since", "visitor_board_deploy_lease_break=true"):
        assert part in second["msg"], second["msg"]
    assert _item(table)["lease_token"]["S"] == "token-alice-1"

    # Someone else's release leaves it alone; the holder's removes it.
    assert not _lease(run_playbook, moto_url, token="token-bob-22", state="absent")["released"]
    assert _item(table) is not None
    assert _lease(run_playbook, moto_url, token="token-alice-1", state="absent")["released"]
    assert _item(table) is None
    assert _lease(run_playbook, moto_url, token="token-bob-22", holder="bob@ci")["acquired"]


def test_renewal_moves_the_expiry_and_an_expired_lease_is_taken(
    table: Any, moto_url: str, run_playbook
) -> None:
    _lease(run_playbook, moto_url, token="token-alice-1", holder="alice", seconds=60)
    expires = int(_item(table)["lease_expires"]["N"])
    renewed = _lease(run_playbook, moto_url, token="token-alice-1", holder="alice", seconds=120)
    assert renewed["renewed"], renewed
    assert int(_item(table)["lease_expires"]["N"]) > expires
    assert _lease(run_playbook, moto_url, token="token-bob-22", holder="bob").get("failed")

    # The holder's last renewal gives it one second; then it is gone (a killed controller renews no more).
    _lease(run_playbook, moto_url, token="token-alice-1", holder="alice", seconds=1)
    deadline = int(_item(table)["lease_expires"]["N"])
    while time.time() < deadline + 1.5:
        time.sleep(0.5)
    taken = _lease(run_playbook, moto_url, token="token-bob-22", holder="bob")
    assert taken["acquired"] and not taken["renewed"], taken
    assert _item(table)["lease_holder"]["S"] == "bob"
    # The dead holder cannot renew or release what is no longer its lease.
    assert _lease(run_playbook, moto_url, token="token-alice-1", holder="alice").get("failed")
    assert not _lease(run_playbook, moto_url, token="token-alice-1", state="absent")["released"]
    assert _item(table)["lease_holder"]["S"] == "bob"


def test_breaking_takes_a_live_lease_at_once(table: Any, moto_url: str, run_playbook) -> None:
    _lease(run_playbook, moto_url, token="token-alice-1", holder="alice", seconds=600)
    broken = _lease(run_playbook, moto_url, token="token-carol-3", holder="carol", break_lease=True)
    assert broken["acquired"], broken
    assert _item(table)["lease_holder"]["S"] == "carol"


def test_check_mode_writes_nothing(table: Any, moto_url: str, run_playbook) -> None:
    result = _lease(run_playbook, moto_url, "--check", token="token-alice-1", holder="alice")
    assert result["acquired"], result
    assert _item(table) is None


def test_of_two_takers_at_once_exactly_one_gets_the_lease(table: Any, moto_url: str, run_playbook) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(
            pool.map(
                lambda who: _lease(run_playbook, moto_url, token=f"token-{who}-000", holder=who),
                ["alice", "bob"],
            )
        )
    winners = [r for r in results if r.get("acquired")]
    losers = [r for r in results if r.get("failed")]
    assert len(winners) == 1 and len(losers) == 1, results
    assert _item(table)["lease_holder"]["S"] in losers[0]["msg"]


@pytest.mark.parametrize(
    ("options", "message"),
    [({"seconds": 0}, "seconds must be at least 1"), ({"token": "short"}, "token must be at least 8")],
)
def test_bad_options_are_refused_with_the_fix(
    table: Any, moto_url: str, run_playbook, options: dict[str, Any], message: str
) -> None:
    result = _lease(run_playbook, moto_url, **{"token": "token-alice-1", **options})
    assert result.get("failed") and message in result["msg"], result
    assert _item(table) is None


def test_a_missing_table_is_named_and_a_dry_run_on_an_empty_account_passes(
    moto_url: str, run_playbook
) -> None:
    failed = _lease(run_playbook, moto_url, token="token-alice-1", holder="alice")
    assert failed.get("failed") and f"table {TABLE}, which does not exist" in failed["msg"], failed
    dry = _lease(run_playbook, moto_url, "--check", token="token-alice-1", holder="alice")
    assert dry["acquired"] and not dry.get("failed"), dry
