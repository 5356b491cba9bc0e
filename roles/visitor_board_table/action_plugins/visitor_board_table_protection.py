"""Action plugin: run visitor_board_table_protection with community.aws.dynamodb_table's module_defaults.

Playbooks point the AWS modules at an endpoint (or a profile, a region...) with
`module_defaults: {group/amazon.aws.aws: ..., group/community.aws.aws: ...}`. A role-local module is in
neither group, so this plugin copies the connection options those defaults give community.aws.dynamodb_table
onto the module's arguments. The role then needs no endpoint variable of its own and no branch on it.
"""

from __future__ import annotations

from typing import Any

from ansible.executor.module_common import _apply_action_arg_defaults
from ansible.plugins.action import ActionBase

# Connection options of amazon.aws modules (and their aliases); other defaults are not ours to take.
_CONNECTION_OPTIONS = frozenset(
    {
        "access_key", "aws_access_key_id", "aws_access_key",
        "secret_key", "aws_secret_access_key", "aws_secret_key",
        "session_token", "aws_session_token",
        "profile", "aws_profile",
        "endpoint_url", "aws_endpoint_url",
        "region", "aws_region",
        "validate_certs", "aws_ca_bundle", "aws_config", "debug_botocore_endpoint_logs",
    }
)  # fmt: skip

_SIBLING_MODULE = "community.aws.dynamodb_table"


class ActionModule(ActionBase):
    """Merge the sibling module's connection defaults into the task's arguments, then run the module."""

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        defaults = _apply_action_arg_defaults(_SIBLING_MODULE, self._task, {}, self._templar)
        args = {key: value for key, value in defaults.items() if key in _CONNECTION_OPTIONS}
        args.update(self._task.args)
        result.update(
            self._execute_module(
                module_name="visitor_board_table_protection", module_args=args, task_vars=task_vars
            )
        )
        return result
