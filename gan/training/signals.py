"""Ctrl-C and SIGTERM during training: the first asks the loop to stop after the current
iteration, the second stops it at once."""
import signal
import sys
import threading


class StopRequest:
    """Ctrl-C, or SIGTERM (`kill`, a job scheduler's time limit), asks the loop to stop after
    the current iteration, so that the checkpoint it then writes is consistent; a second
    signal stops at once (latest.npz stays as it was)."""

    SIGNALS = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}

    def __init__(self):
        self.requested = False
        self.previous_handlers = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.previous_handlers = {s: signal.signal(s, self._on_signal) for s in self.SIGNALS}
        return self

    def _on_signal(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print(f"\n{self.SIGNALS[signum]}: stopping after this iteration to write a checkpoint "
              "(send it again to stop at once)", file=sys.stderr)

    def __exit__(self, *exc_info):
        for s, handler in self.previous_handlers.items():
            signal.signal(s, handler)
