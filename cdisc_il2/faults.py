"""Named fault points for the atomicity tests: a run can be stopped dead at a known place of the pipeline.

With the environment variable CDISC_IL2_FAULT_AT set to a point's name, the process kills itself (SIGKILL, as a
power cut or the OOM killer would) when it reaches that point; unset, a point does nothing. Tests use it to show
that a run stopped at any point leaves the previous complete package and history, on a fast or a slow machine.

With CDISC_IL2_FAULT_COPY set to a JSON pair [FOLDER, TARGET], every point copies FOLDER (the study folder: the
package, its staging folder and the history) to TARGET/<point> before going on: the disk as a SIGKILL at that
point leaves it (nothing is written between the point and the copy), for every point from one run."""
from __future__ import annotations

import json
import os
import shutil
import signal

FAULT_ENV = "CDISC_IL2_FAULT_AT"
FAULT_COPY_ENV = "CDISC_IL2_FAULT_COPY"

# every point a run passes, in order (tests read this list, so a new point is tested by adding it here)
RUN_POINTS = ("staged", "converted", "adam derived", "exported", "sdtm validated", "adam validated", "reported",
              "between renames", "published", "history in transaction")


def fault_point(name: str) -> None:
    """Stop the process here with SIGKILL when CDISC_IL2_FAULT_AT names this point (after the copy, when
    CDISC_IL2_FAULT_COPY asks for one); otherwise do nothing."""
    copy = os.environ.get(FAULT_COPY_ENV)
    if copy:
        folder, target = json.loads(copy)
        shutil.copytree(folder, os.path.join(target, name), symlinks=True)
    if os.environ.get(FAULT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
