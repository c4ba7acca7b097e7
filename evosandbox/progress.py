"""Progress of a long job on stderr: a tqdm bar in place on a terminal, a plain line now and then otherwise.

``evolve`` counts generations and ``sweep`` counts cells through the same display. On a
terminal the bar (tqdm) is redrawn in place with the count, the rate, the elapsed time, the
ETA and a short status (best fitness, validation door rate; the last cell). Anywhere else (a
log file, a pipe, CI) a line is printed when the count passes each tenth of the total, when
``every_seconds`` have gone by since the last line, and at the end: a 2,000-generation run
writes about ten lines, not 2,000.
"""

import math
import os
import sys
import time

LINES_PER_JOB = 10
"""Plain lines printed at the tenths of the total (besides the time-driven ones)."""
EVERY_SECONDS = 60.0
"""Longest gap between two plain lines while the count moves."""


def is_terminal(stream) -> bool:
    """Whether ``stream`` is an interactive terminal."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or not a real file
        return False


def _terminal_width(stream) -> int:
    """Return the terminal's width in columns, 0 when it reports none."""
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 0


def format_duration(seconds: float) -> str:
    """Render seconds as ``M:SS`` or ``H:MM:SS`` (tqdm's format), ``?`` when unknown."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    from tqdm import tqdm

    return tqdm.format_interval(seconds)


class ProgressDisplay:
    """Show a count towards a total: a tqdm bar on a terminal, else plain lines at the tenths and every minute.

    Args:
        total: the count at which the job is done.
        label: what is counted, first word of every plain line (``gen``, ``sweep``).
        unit: tqdm's unit (``gen``, ``cell``).
        initial: the count already done when the display starts (a resumed job).
        stream: where to write (default: stderr at the time of the call).
        terminal: force the bar (True) or the plain lines (False); default: whether ``stream`` is a terminal.
        every_seconds: longest gap between two plain lines while the count moves.
    """

    def __init__(
        self,
        total: int,
        label: str,
        unit: str,
        initial: int = 0,
        stream=None,
        terminal: bool | None = None,
        every_seconds: float = EVERY_SECONDS,
    ):
        """Start the clock (and the bar, on a terminal)."""
        self.stream = sys.stderr if stream is None else stream
        self.total = max(int(total), 0)
        self.label = label
        self.count = int(initial)
        self.initial = int(initial)
        self.every_seconds = float(every_seconds)
        self.started = time.perf_counter()
        self.last_line = self.started
        self.next_tenth = self._tenth_after(self.count)
        self.printed = self.count if self.count else None
        """The count of the last plain line (no second line for the same count)."""
        self.bar = None
        if is_terminal(self.stream) if terminal is None else terminal:
            from tqdm import tqdm

            # A terminal that reports no width (a bare pty) would get an empty bar: assume 100 columns.
            width = _terminal_width(self.stream)
            self.bar = tqdm(
                total=self.total,
                initial=self.initial,
                unit=unit,
                desc=label,
                file=self.stream,
                dynamic_ncols=bool(width),
                ncols=None if width else 100,
                nrows=None if width else 24,
                mininterval=0.25,
                leave=True,
            )

    def _tenth_after(self, count):
        """Return the first tenth of the total above ``count`` (as a count)."""
        if self.total <= 0:
            return math.inf
        tenth = math.floor(count * LINES_PER_JOB / self.total) + 1
        return math.ceil(tenth * self.total / LINES_PER_JOB) if tenth <= LINES_PER_JOB else math.inf

    def update(self, count: int, status: str = "", detail: str = "") -> None:
        """Move the count to ``count`` with ``status`` (e.g. ``best +0.81  val door 74.0%``).

        ``detail`` (e.g. evaluations per second) goes into the plain lines only: the bar has its own rate.
        """
        self.count = int(count)
        now = time.perf_counter()
        if self.bar is not None:
            self.bar.set_postfix_str(status, refresh=False)
            self.bar.update(self.count - self.bar.n)
            return
        status = f"{status}  {detail}" if status and detail else status or detail
        due = self.count >= self.next_tenth or self.count >= self.total or now - self.last_line >= self.every_seconds
        if not due or self.count == self.printed:
            return
        self.next_tenth = self._tenth_after(self.count)
        self.last_line = now
        self.printed = self.count
        self.line(self.plain_line(status, now))

    def plain_line(self, status: str, now: float | None = None) -> str:
        """Return the plain line for the count as it stands: count, share, elapsed, ETA, status."""
        now = time.perf_counter() if now is None else now
        elapsed = now - self.started
        done_now = self.count - self.initial
        left = (self.total - self.count) * elapsed / done_now if done_now > 0 else math.nan
        width = len(str(self.total))
        share = 100.0 * self.count / self.total if self.total else 100.0
        text = (
            f"{self.label} {self.count:>{width}}/{self.total} ({share:3.0f}%)  "
            f"elapsed {format_duration(elapsed)}  ETA {format_duration(max(left, 0.0) if done_now else math.nan)}"
        )
        return f"{text}  {status}" if status else text

    def line(self, text: str) -> None:
        """Write one line of its own (above the bar on a terminal)."""
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    def close(self) -> None:
        """Leave the bar in its final state (a plain display has printed its last line already)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


__all__ = ["EVERY_SECONDS", "LINES_PER_JOB", "ProgressDisplay", "format_duration", "is_terminal"]
