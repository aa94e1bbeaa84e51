"""``python -m dnsmill`` runs the command line."""

from dnsmill.cli import main

main()
