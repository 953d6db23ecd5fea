"""Named fault points for the atomicity tests: a run can be stopped dead at a known place of the pipeline.

With the environment variable CDISC_IL2_FAULT_AT set to a point's name, the process kills itself (SIGKILL, as a
power cut or the OOM killer would) when it reaches that point; unset, a point does nothing. Tests use it to show
that a run stopped at any point leaves the previous complete package and history, on a fast or a slow machine."""
from __future__ import annotations

import os
import signal

FAULT_ENV = "CDISC_IL2_FAULT_AT"

# every point a run passes, in order (tests read this list, so a new point is tested by adding it here)
RUN_POINTS = ("staged", "converted", "adam derived", "exported", "sdtm validated", "adam validated", "reported",
              "between renames", "published", "history in transaction")


def fault_point(name: str) -> None:
    """Stop the process here with SIGKILL when CDISC_IL2_FAULT_AT names this point; otherwise do nothing."""
    if os.environ.get(FAULT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
