"""PyInstaller runtime hook: give programs the frozen app starts the environment the user had.

On Linux the bootloader points ``LD_LIBRARY_PATH`` at the bundled libraries (keeping the user's value in
``LD_LIBRARY_PATH_ORIG``). The dynamic loader read it when this process started, so restoring it here
changes nothing for the app itself, but a file manager or browser opened from the app (xdg-open) would
otherwise load this bundle's older libraries instead of its own and might not start.
"""

import os

for _name in ("LD_LIBRARY_PATH",):
    _original = os.environ.pop(f"{_name}_ORIG", None)
    if _original is not None:
        os.environ[_name] = _original
    else:
        os.environ.pop(_name, None)
