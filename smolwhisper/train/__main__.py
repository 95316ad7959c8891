"""`python -m smolwhisper.train` and `torchrun -m smolwhisper.train`: the recipe's command line."""

import sys

from .recipe import main

if __name__ == "__main__":
    sys.exit(main())
