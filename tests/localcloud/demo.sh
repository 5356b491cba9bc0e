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

# The controller talks only to the fleet's moto: the local cloud's fake-AWS environment (fake keys, never
# the real metadata address), in the environment, not in any file the roles read.
fake_aws=(python -m localcloud.awsenv)

case ${1:-up} in
up)
    start=$(date +%s)
    python -m localcloud.fleet up
    "${fake_aws[@]}" ansible-playbook -i inventory/local playbooks/site.yml
    echo
    echo "Visitor Board is up ($(($(date +%s) - start)) s). Each host serves the board:"
    python -m localcloud.fleet status | grep -E '^  i-' | awk '{print "  " $3 "   (" $1 ")"}'
    echo "Their certificates come from the local ACME CA (pebble), whose root no browser trusts; to check one:"
    echo "  curl -sk https://127.0.0.1:15000/roots/0 > .localcloud/acme/root.pem; curl --cacert .localcloud/acme/root.pem https://<address>/"
    echo "Through the load balancer (with visitor_board_load_balancer: true; HAProxy following moto's ALB):"
    python -m localcloud.fleet status | grep -E '^  load-balancer' | awk '{print "  " $NF}'
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
