"""Stop strings, for every generation backend: a finished reply is cut before the first
one, and streamed text is held back just enough to never show the start of one."""

from __future__ import annotations

from collections.abc import Sequence


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """``text`` cut before the earliest stop string, and whether one was found."""
    found = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return (text[: min(found)], True) if found else (text, False)


class StopBuffer:
    """Applies stop strings to streamed text that arrives in pieces.

    A stop string may straddle two pieces, so the last ``len(longest stop) - 1`` characters
    are held back until the next piece shows whether they start a stop string.
    """

    def __init__(self, stop: Sequence[str]) -> None:
        self.stop = [s for s in stop if s]
        self.hold = max((len(s) for s in self.stop), default=1) - 1
        self.text = ""
        self.emitted = 0
        self.stopped = False

    def feed(self, piece: str) -> str:
        """The text that may be shown now; sets ``stopped`` once a stop string appeared."""
        self.text += piece
        cut, self.stopped = cut_at_stop(self.text, self.stop)
        end = len(cut) if self.stopped else max(self.emitted, len(self.text) - self.hold)
        out, self.emitted = self.text[self.emitted : end], end
        return out

    def flush(self) -> str:
        """The held-back tail, once the stream has ended without a stop string."""
        out, self.emitted = ("" if self.stopped else self.text[self.emitted :]), len(self.text)
        return out
