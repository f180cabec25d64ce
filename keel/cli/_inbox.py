"""`keel inbox`: serve the review inbox in the browser over the command's database."""

from __future__ import annotations

from keel.cli._common import EXIT_DONE, EXIT_FAILED, Call


def inbox(call: Call) -> int:
    """Serve until interrupted; exit 1 when the server could not start (port in use)."""
    from keel.inbox import serve

    started = serve(
        call.runner,
        call.settings,
        host=call.args.host,
        port=call.args.port,
        say=call.terminal.notice,
    )
    return EXIT_DONE if started else EXIT_FAILED
