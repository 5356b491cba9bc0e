"""The local cloud: AWS, instance metadata and EC2 machines on one Linux host, for Visitor Board's demo,
tests, Molecule scenarios and benchmarks. Nothing here is imported by the app or known to the roles.

Modules (each also a command: `python -m localcloud.<module>`):
  awsenv           the one fake-AWS environment (fake keys, no metadata probing)
  ports            free ports, waiting for a listener
  processes        the process supervisor (start detached, pid files checked against /proc, stop)
  moto_server      moto as AWS, with moto's gaps bridged
  metadata         the instance metadata service (per-instance identity, role credentials, IMDSv2)
  instance_runner  boots one systemd host container per running EC2 instance moto holds
  fleet            the local fleet: network, the three services above, hosts (up / down / status)
  scenario         the stand-ins of one Molecule scenario
  playbook         runs ansible-playbook with the fake-AWS environment and reads its recap
"""
