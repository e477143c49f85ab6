"""regan_tutorial: the package behind the ReGAN course (GANs, from the minimax game to the JS regularizer).

Importing it does nothing but define names: no seeding, no downloads, no prints.
"""

from .profiles import budget, get_device, profile, run_solutions, seed_everything

__version__ = "0.1.0"
__all__ = ["budget", "get_device", "profile", "run_solutions", "seed_everything", "__version__"]
