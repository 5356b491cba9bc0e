#!/usr/bin/env bash
# `make demo` / `make demo-down`: the local fleet and site.yml on it.
#
#   demo.sh up    fleet.py up (re-uses what runs), then playbooks/site.yml -i inventory/local, then the URLs
#   demo.sh down  fleet.py down
#
# `make demo` runs `make setup` first (packages, host fixes, venv, host image), so `up` skips it here.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "${repo}"
export PATH=${repo}/.venv/bin:${PATH}

# The controller talks only to the fleet's moto: fake keys, never the real metadata address. These live
# in the environment, not in any file the roles read.
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_EC2_METADATA_SERVICE_ENDPOINT
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=eu-north-1
export AWS_EC2_METADATA_DISABLED=true

case ${1:-up} in
up)
    start=$(date +%s)
    python tests/localcloud/fleet.py up --skip-setup
    ansible-playbook -i inventory/local playbooks/site.yml
    echo
    echo "Visitor Board is up ($(($(date +%s) - start)) s). Each host serves the board:"
    python tests/localcloud/fleet.py status | grep -E '^  i-' | awk '{print "  " $3 "   (" $1 ")"}'
    echo "Stop everything with: make demo-down"
    ;;
down)
    python tests/localcloud/fleet.py down
    ;;
*)
    echo "usage: $0 up|down" >&2
    exit 2
    ;;
esac
