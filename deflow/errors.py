"""The one exception type for mistakes a user can fix (bad config, missing folder, corrupt image), and the one way
every command line reports it: `error: <message>` on one line of stderr, exit status 2. Any other exception is a bug
and keeps its traceback.
"""
import functools
import sys


class UserError(Exception):
    """A problem in the user's input, with a message that names the thing and the fix."""


def one_line(message: str) -> str:
    """The user's message, also when a DataLoader worker re-raised it inside a multi-line report."""
    if "Original Traceback" in message:
        message = message.strip().splitlines()[-1].split("UserError: ", 1)[-1]
    return message


def close_progress_bars() -> None:
    """End the progress bars still drawn on stderr, so that a message printed now starts on a line of its own."""
    from tqdm import tqdm

    for bar in list(getattr(tqdm, "_instances", ())):
        bar.close()


def print_error(message: str) -> None:
    """`error: <message>` on one line of stderr, below any progress bar."""
    close_progress_bars()
    print(f"error: {one_line(message)}", file=sys.stderr)


def user_errors_exit_2(main):
    """Decorate a `main(argv=None)`: a UserError prints `error: <message>` and exits 2; bugs keep their traceback."""
    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserError as exc:
            print_error(str(exc))
            raise SystemExit(2) from None
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise SystemExit(130) from None
    return wrapper
