"""anvil (npm ``@foundry-rs/anvil``) for the integration tests and benchmarks: the venue's own
:class:`venue.localchain.AnvilProcess` (127.0.0.1, a free port, bounded waits, ``stop()`` always
kills it), automining a block per transaction. A missing binary is an error: the tests fail,
they never skip.
"""

from __future__ import annotations

from pathlib import Path

from venue.localchain import AnvilProcess, anvil_binary


class Anvil(AnvilProcess):
    def __init__(self, *, state: Path | None = None, port: int | None = None) -> None:
        binary = anvil_binary()
        if binary is None:
            raise FileNotFoundError("anvil is not installed: run `npm ci` (package.json pins "
                                    "@foundry-rs/anvil)")
        super().__init__(binary, state=state, port=port, block_time=0)

    def __enter__(self) -> Anvil:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
