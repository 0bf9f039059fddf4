"""A moto server in a process of its own: `python -m devstack.moto_process HOST`.

Prints the port it listens on, then serves until its stdin closes (the parent stopped or
died). The bench runs the handlers against it so that, as on Lambda, the function's process
holds only the function: moto's tables are not in its heap for the garbage collector to walk,
and its server threads do not take the function's interpreter lock.
"""

from __future__ import annotations

import sys

from devstack.aws import serve_moto


def main(argv: list[str]) -> int:
    host = argv[0] if argv else "127.0.0.1"
    server = serve_moto(host)
    sys.stdout.write(f"{server.get_host_and_port()[1]}\n")
    sys.stdout.flush()
    sys.stdin.read()  # returns at EOF
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
