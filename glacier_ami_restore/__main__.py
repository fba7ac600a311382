"""`python -m glacier_ami_restore` runs the command line."""

from glacier_ami_restore.cli import main

main()
