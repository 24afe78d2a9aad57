"""The ``crosstrain`` console script (and ``python -m crosstrain``).

Nothing is imported before the ``try``, so Ctrl-C at any point, the start-up imports included,
ends with one line and exit status 130 instead of a traceback; a closed pipe on stdout ends
quietly (status 141, as for SIGPIPE).
"""

import os
import sys


def console() -> int:
    try:
        from crosstrain.cli import main
        return main()
    except KeyboardInterrupt:
        print("crosstrain: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:              # the reader of stdout left early (e.g. `| head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(console())
