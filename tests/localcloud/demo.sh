#!/usr/bin/env bash
# `make demo` / `make demo-down`: the local fleet and site.yml on it.
#
#   demo.sh up    localcloud.fleet up (re-uses what runs), then playbooks/site.yml -i inventory/local, the URLs
#   demo.sh down  localcloud.fleet down
#
# `make demo` runs `make setup` first (packages, host fixes, venv, host image).
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
    python -m localcloud.fleet up
    ansible-playbook -i inventory/local playbooks/site.yml
    echo
    echo "Visitor Board is up ($(($(date +%s) - start)) s). Each host serves the board:"
    python -m localcloud.fleet status | grep -E '^  i-' | awk '{print "  " $3 "   (" $1 ")"}'
    echo "Stop everything with: make demo-down"
    ;;
down)
    python -m localcloud.fleet down
    ;;
*)
    echo "usage: $0 up|down" >&2
    exit 2
    ;;
esac
