"""The frozen app's entry script: the same ``sgim_desktop.cli.main`` that ``python -m sgim_desktop`` runs."""

import multiprocessing
import sys

if __name__ == "__main__":
    # Data-loader workers of ``train-encoder`` re-run this executable; this makes them workers, not new apps.
    multiprocessing.freeze_support()
    from sgim_desktop.cli import main

    sys.exit(main())
