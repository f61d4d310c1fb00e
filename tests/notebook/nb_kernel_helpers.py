"""Driving a real Jupyter kernel over jupyter_client, as a notebook front end would."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from typing import Any


class Kernel:
    """A real IPython kernel driven over jupyter_client, as a notebook front end would.

    ``execute(code)`` runs a cell and returns its iopub messages and reply;
    ``click(comm_id)`` sends the exact ``comm_msg`` a widget Button click sends.
    """

    def __init__(self, km: Any, kc: Any, **start_kwargs: Any) -> None:
        self.km = km
        self.kc = kc
        self._start_kwargs = start_kwargs

    def execute(
        self,
        code: str,
        *,
        timeout: float = 30.0,
        after: tuple[float, Callable[[], None]] | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Run ``code``; ``after=(seconds, fn)`` calls ``fn`` that long into the cell."""
        msg_id = self.kc.execute(code)
        start = time.monotonic()
        fired = after is None
        messages: list[dict[str, Any]] = []
        while True:
            if time.monotonic() - start > timeout:
                raise TimeoutError(f"cell did not finish in {timeout} s: {code!r}")
            if not fired and after is not None and time.monotonic() - start >= after[0]:
                after[1]()
                fired = True
            try:
                msg = self.kc.get_iopub_msg(timeout=0.05)
            except queue.Empty:
                continue
            messages.append(msg)
            if (
                msg["parent_header"].get("msg_id") == msg_id
                and msg["msg_type"] == "status"
                and msg["content"]["execution_state"] == "idle"
            ):
                break
        reply = self.kc.get_shell_msg(timeout=timeout)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = self.kc.get_shell_msg(timeout=timeout)
        return messages, reply

    def restart(self) -> None:
        """Start a fresh kernel process (after the old one died or was shut down)."""
        from jupyter_client.manager import start_new_kernel

        self.kc.stop_channels()
        self.km, self.kc = start_new_kernel(kernel_name="python3", **self._start_kwargs)

    def click(self, comm_id: str) -> None:
        content = {"comm_id": comm_id, "data": {"method": "custom", "content": {"event": "click"}}}
        self.kc.shell_channel.send(self.kc.session.msg("comm_msg", content))

    @staticmethod
    def stream(messages: list[dict[str, Any]], name: str = "stdout") -> str:
        return "".join(
            m["content"]["text"]
            for m in messages
            if m["msg_type"] == "stream" and m["content"]["name"] == name
        )

    @staticmethod
    def errors(messages: list[dict[str, Any]]) -> list[str]:
        return [
            f"{m['content']['ename']}: {m['content']['evalue']}"
            for m in messages
            if m["msg_type"] == "error"
        ]
