"""The emulated world: AWS's behaviour as plain Python, from AWS's documentation (sources and assumptions in facts.py).

It imports nothing of moto, of the adapters or of the facade, so each part can be read and unit-tested alone:
facts (what AWS documents and what is assumed), draws (the seeded World: sizes and durations), clock (virtual time),
errors, faults, s3 (restores and copies), ec2 (store and restore tasks, the quota), events (EventBridge delivery).
What the world needs of the account (stored objects, images, rules) it asks through the protocols ObjectStore,
ImageRegistry and Router, which emulator/adapters implements on moto.
"""

from emulator.world.draws import World
from emulator.world.facts import DOCUMENTED_RESTORE_WINDOW

__all__ = ["DOCUMENTED_RESTORE_WINDOW", "World"]
