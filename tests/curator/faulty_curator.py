"""A curator that dies (``os._exit``) at a chosen point of its first release; for crash tests.

python tests/curator/faulty_curator.py POLICY HOME SOCKET TOKEN_FILE {charge|release}
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from jupyter_privacy.core.service import Event
from jupyter_privacy.curator.server import build


def main() -> None:
    policy, home, target, token_file, stage = sys.argv[1:6]
    server = build(Path(policy), home=Path(home), target=target, token_file=Path(token_file))

    def die(event: Event) -> None:
        if event.type == stage and not event.replayed:
            os._exit(70)  # no cleanup, no response: as if killed

    server.curator.ws.subscribe(die)
    server.start()
    print(f"faulty curator on {server.address}; dies at {stage}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
