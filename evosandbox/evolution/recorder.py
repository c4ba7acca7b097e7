"""What a run shows and saves while it goes: the background run-file writer, progress lines, interrupts."""

import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from evosandbox.evolution.checkpoint import write_checkpoint_bytes
from evosandbox.progress import ProgressDisplay, is_terminal

START_PAUSE = 0.002
"""Seconds the writer waits before writing a generation (see Recorder._write)."""


class Interrupt:
    """SIGINT/SIGTERM: the first finishes the generation in flight, a second abandons it."""

    def __init__(self):
        """Set up the instance."""
        self.requested = False
        self._previous = {}

    def __enter__(self):
        """Install the handlers (main thread only)."""
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc):
        """Restore the previous handlers."""
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def _handle(self, number, frame):
        """Ask the loop to stop after this generation; a second signal abandons it."""
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True


class Progress:
    """A run's progress on stderr: a bar in place on a terminal, else a plain line at each tenth of the run.

    ``enabled`` None shows it only on a terminal; True shows it anywhere (plain lines off a
    terminal); False shows nothing. See ``evosandbox.progress``.
    """

    def __init__(self, enabled, total, initial=0):
        """Start the clock (and the bar, on a terminal)."""
        self.enabled = is_terminal(sys.stderr) if enabled is None else bool(enabled)
        self.display = ProgressDisplay(total, "gen", "gen", initial=initial) if self.enabled else None

    def generation(self, generation, best, mean, door_rate, evaluations_per_s, test_line=""):
        """Show that generation ``generation`` (0-based) is done, with its figures."""
        if self.display is None:
            return
        self.display.update(
            generation + 1,
            f"best {best:+.3f}  mean {mean:+.3f}  val door {100 * door_rate:5.1f}%",
            f"{evaluations_per_s:,.0f} eval/s{test_line}",
        )

    def close(self):
        """Leave the bar in its final state."""
        if self.display is not None:
            self.display.close()
            self.display = None


class Recorder:
    """Append each generation to the run file, then write its checkpoint, on a background thread.

    ``submit`` hands over a generation; ``start`` (called by the loop once the next batch is
    bred, so the writing overlaps the rollouts rather than the memory-bound breeding) begins
    writing it, and the thread runs while the next generation plays (h5py and the file system
    release the GIL). At most one generation is in flight: ``submit`` first waits for the
    previous one, so generations reach the file in order, and a checkpoint is written only
    after the rows it counts are appended and flushed (a crash at any moment leaves a file
    holding at least the checkpoint's generations, which resume cuts back to). An error in the
    thread is raised in the caller at the next ``submit`` or ``wait``, and no later generation
    or checkpoint is written after it.
    """

    def __init__(self, writer, checkpoint_path, open_files=None):
        """Set up the instance.

        ``writer``: the RunWriter; or None and ``open_files``, a function that creates the
        run's files and returns their RunWriter, which the first ``start`` calls on the thread
        (a new run's files are made while its first generation plays; an error comes back at
        the next ``submit`` or ``wait``, like a write's).
        """
        self.writer = writer
        """The RunWriter (None until ``open_files`` made it)."""
        self._open = open_files
        self.checkpoint_path = checkpoint_path
        self.seconds = 0.0
        """Time the thread spent writing (overlapped with the loop)."""
        self._pending = None
        self._future = None
        self._error = None
        # One thread for the whole run: starting a thread per generation waits for the new
        # thread to be scheduled, which on a busy machine takes milliseconds.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evosandbox-recorder")

    @property
    def thread(self):
        """Return the ThreadPoolExecutor of the recorder's one thread (other background work may queue on it)."""
        return self._executor

    def submit(self, record, checkpoint):
        """Wait for the previous generation, then queue ``record`` and the ``checkpoint`` (its bytes,
        or a function that returns them, called on the thread)."""
        self.wait()
        self._pending = (record, checkpoint)

    def start(self):
        """Start making the files, if not yet made, else writing the queued generation, if any."""
        if self._future is not None:
            return
        if self._open is not None:
            self._future = self._executor.submit(self._make_files, self._open)
            self._open = None
        elif self._pending is not None:
            arguments, self._pending = self._pending, None
            self._future = self._executor.submit(self._write, *arguments)

    def wait(self):
        """Write the queued generation, wait until it is written; raise the thread's error, if any."""
        self.start()
        self._finish()
        if self._pending is not None and self._error is None:  # queued behind the files' making
            self.start()
            self._finish()
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _finish(self):
        """Wait for the job in flight, if any."""
        future, self._future = self._future, None
        if future is not None:
            interrupted = False
            while True:
                # A second Ctrl-C abandons the generation being bred, never one half written.
                try:
                    future.result()
                    break
                except KeyboardInterrupt:
                    interrupted = True
            if interrupted:
                raise KeyboardInterrupt

    def close(self):
        """Write what is queued, wait for it (raising its error, if any) and end the thread."""
        try:
            self.wait()
        finally:
            self._executor.shutdown(wait=True)

    def _make_files(self, open_files):
        """Create the run's files (runs on the thread)."""

        def make():
            self.writer = open_files()

        self._run(make)

    def _write(self, record, checkpoint):
        """Append the rows, flush, then replace the checkpoint (runs on the thread)."""

        def write():
            self.writer.append(record)
            write_checkpoint_bytes(self.checkpoint_path, checkpoint() if callable(checkpoint) else checkpoint)

        self._run(write)

    def _run(self, job):
        """Run one job of the thread, keeping its error for the main thread and counting its seconds."""
        # The loop starts the thread just before the kernel call; a writer that took the GIL
        # and the CPU at once held the main thread in the call's preparation, about 5 ms a
        # generation (measured: 5.1 ms median at 129 x 64 episodes with one core busy, 0.2 ms
        # with this pause). Sleeping releases the GIL; by the time it wakes the kernel runs.
        time.sleep(START_PAUSE)
        started = time.perf_counter()
        try:
            job()
        except BaseException as error:  # handed to the main thread
            self._error = error
        finally:
            self.seconds += time.perf_counter() - started
