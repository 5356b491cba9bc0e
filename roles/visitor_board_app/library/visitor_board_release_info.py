#!/usr/bin/python
# ruff: noqa: E402  (Ansible modules keep DOCUMENTATION/EXAMPLES/RETURN above the imports)
"""Ansible module (role visitor_board_app): which release the front reaches on this host, and what it says.

One round trip where the rollout's last look took three (two uri requests and a stat); read-only.
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: visitor_board_release_info
short_description: Which release the front's socket link reaches, its version and whether it is ready
description:
  - Reads the symlink I(socket_path) (the front proxies to it; it names the live release's own socket,
    C(<release>.sock)) and asks through it for C(/healthz) (the version) and I(ready_path) (readiness),
    one request each, no retries. Changes nothing; runs in check mode.
options:
  socket_path:
    description: The front's socket path, a symlink to the live release's socket.
    type: path
    required: true
  ready_path:
    description: The readiness path.
    type: str
    default: /readyz
  timeout:
    description: Seconds one request may take.
    type: float
    default: 5
author:
  - Visitor Board
"""

EXAMPLES = r"""
- name: See what the front reaches
  visitor_board_release_info:
    socket_path: /run/visitor-board/gunicorn.sock
  register: live
"""

RETURN = r"""
release:
  description: The release the link names (its socket's file name without C(.sock)); '' when the path is
    not a symlink or C(/healthz) did not answer 200 through it.
  returned: always
  type: str
version:
  description: The version C(/healthz) names ('' when it did not answer 200 or named none).
  returned: always
  type: str
ready:
  description: Whether the readiness path answered 200.
  returned: always
  type: bool
status:
  description: The HTTP status of each request, by path (0 for no answer).
  returned: always
  type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.visitor_board_http import get, version


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "socket_path": {"type": "path", "required": True},
            "ready_path": {"type": "str", "default": "/readyz"},
            "timeout": {"type": "float", "default": 5},
        },
        supports_check_mode=True,
    )
    p = module.params
    target = os.readlink(p["socket_path"]) if os.path.islink(p["socket_path"]) else ""
    health, body = get("http://localhost/healthz", p["socket_path"], p["timeout"])
    ready, _ = get(f"http://localhost{p['ready_path']}", p["socket_path"], p["timeout"])
    named = os.path.basename(target).removesuffix(".sock") if target and health == 200 else ""
    module.exit_json(
        changed=False,
        release=named,
        version=version(body) if health == 200 else "",
        ready=ready == 200,
        status={"/healthz": health, p["ready_path"]: ready},
    )


if __name__ == "__main__":
    main()
