"""The sweep's progress bar on stderr: points ok / failed / left, training runs done."""

from __future__ import annotations

import sys

__all__ = ["ProgressBar"]


class ProgressBar:
    def __init__(self, total: int, done: int, failed: int, enabled: bool):
        self.ok, self.failed, self.total = done - failed, failed, total
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=done, unit="point", desc="sweep", disable=None, file=sys.stderr, dynamic_ncols=True)
            self._post()

    def _post(self, note: str = "", refresh: bool = True) -> None:
        if self.bar is not None:
            left = self.total - self.ok - self.failed
            self.bar.set_postfix_str(f"ok={self.ok} failed={self.failed} left={left}{note}", refresh=refresh)

    def point(self, ok: bool) -> None:
        if ok:
            self.ok += 1
        else:
            self.failed += 1
        if self.bar is not None:
            self._post(refresh=False)
            self.bar.update(1)

    def training(self, done: int, total: int) -> None:
        self._post(f" training={done}/{total}" if done < total else "")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
