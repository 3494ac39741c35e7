"""The Mixed MBI page's first view, in Streamlit's AppTest, from an empty ``MBI_HOME``.

    python -m benchmarks.mixed_first_view            # this checkout
    cd OTHER_CHECKOUT && PYTHONPATH=. python /path/to/benchmarks/mixed_first_view.py   # another one

The app is run once (the Overview), then the Mixed MBI page with its defaults (all 10,000 test
digits: the exact lookup trace, the RAM's answers and the learned gate's 16 nearest rows per step
are all computed, nothing is on disk yet) is timed in wall seconds and process CPU seconds, then
rerun (everything in memory). Prints one line per run and the load average.
"""

from __future__ import annotations

import os
import tempfile
import time


def main() -> None:
    """Time the page's first view and a rerun in a fresh MBI_HOME."""
    os.environ["MBI_HOME"] = tempfile.mkdtemp(prefix="mbi-mixed-first-view-")
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(os.path.join(os.getcwd(), "app.py"), default_timeout=10_000)
    at.run()
    at.switch_page("dashboard/pages/mixed_mbi.py")
    for what in ("first view", "rerun"):
        cpu, wall = time.process_time(), time.perf_counter()
        at.run()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        if at.exception:
            raise RuntimeError(f"the page failed: {[e.value for e in at.exception]}")
        print(f"Mixed MBI {what}: {wall:.2f} s wall, {cpu:.2f} CPU-s (load average "
              f"{' / '.join(f'{v:.1f}' for v in os.getloadavg())})", flush=True)


if __name__ == "__main__":
    main()
