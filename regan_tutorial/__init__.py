"""regan_tutorial: the package behind the ReGAN course (GANs, from the minimax game to the JS regularizer).

Importing it does nothing but define names: no seeding, no downloads, no prints.
"""

import inspect
import re

from .profiles import budget, get_device, profile, run_solutions, seed_everything

__version__ = "0.1.0"
__all__ = ["budget", "get_device", "profile", "run_solutions", "seed_everything", "show_source", "Listing", "__version__"]


class Listing:
    """A piece of source code that shows as a highlighted Python block (a Markdown code fence, which
    Jupyter, Colab and the web book's MyST-NB highlight) and as its plain text everywhere else."""

    def __init__(self, source):
        self.source = source.rstrip()

    def __repr__(self):
        return self.source

    def _repr_markdown_(self):
        fence = "`" * max(3, 1 + max((len(run) for run in re.findall("`+", self.source)), default=0))
        return f"{fence}python\n{self.source}\n{fence}"


def show_source(*objects):
    """Show the current source of each of ``objects`` (read by :func:`inspect.getsource`) as a :class:`Listing`."""
    from IPython.display import display

    for obj in objects:
        display(Listing(inspect.getsource(obj)))
