import sys

from sgim_desktop.cli import main

sys.exit(main())
