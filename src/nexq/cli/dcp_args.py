"""dcp's command line as people type it: global options anywhere on the line.

aws-cli and doctl accept ``--output json`` after the command as well as before it; Click
only takes a group's options before its subcommand. When Click refuses a global option
after the command, the line is parsed again with the global options found after the command
moved in front of it (their values with them): both orders mean the same. A command's own
options keep their values, even a value that reads like a global option.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

# The root's options, each taking one value.
GLOBAL_OPTIONS = frozenset({"--output", "-o", "--api-url", "--api-key"})


def hoist_global_options(argv: Sequence[str], takes_value: Callable[[str], bool]) -> list[str]:
    """``argv`` with every global option (and its value) moved before the first command
    word. ``takes_value(option)``: whether the command's own ``option`` takes a value (which
    then stays where it is, whatever it reads); nothing after a ``--`` is moved."""
    words = list(argv)
    first = next((i for i, w in enumerate(words) if not w.startswith("-")), len(words))
    front, hoisted, rest = words[:first], [], []
    index = first
    while index < len(words):
        word = words[index]
        name = word.split("=", 1)[0]
        if word == "--":
            rest += words[index:]
            break
        if name in GLOBAL_OPTIONS:
            step = 1 if "=" in word else 2
            hoisted += words[index : index + step]
            index += step
            continue
        if word.startswith("-") and "=" not in word and takes_value(name):
            rest += words[index : index + 2]  # the option and its value, untouched
            index += 2
            continue
        rest.append(word)
        index += 1
    return [*front, *hoisted, *rest]
