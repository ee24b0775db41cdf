"""`python -m yourclaw`."""

from yourclaw.cli import main

main()
