"""The one exception type for mistakes a user can fix (bad config, missing folder, corrupt image).

CLIs print its message as one line and exit with status 2; any other exception is a bug and keeps its
traceback.
"""


class UserError(Exception):
    """A problem in the user's input, with a message that names the thing and the fix."""
