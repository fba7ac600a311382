"""The only code that touches moto: one module per service, each patch with one line saying why and which moto
behaviour it replaces. They answer as the world (emulator/world) says and never import the facade.

install.py applies them all once per process; registry.py finds the emulated account a request belongs to;
process.py holds what the process has only once (time, IAM enforcement, os.environ, threads); speed.py the patches
that only save time (EMULATOR_SPEEDUPS=0 turns them off); moto_review.py the private names of moto they touch, and the
moto version that list was reviewed for.
"""
