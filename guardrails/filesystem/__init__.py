"""Path-based permissions for an agent's file tools, with nothing leaking through bulk results.

:class:`FilesystemPermission` rules (first match wins, like deepagents' own) are compiled once at
construction; :class:`FilesystemPermissionMiddleware` checks every file tool call in
``wrap_tool_call`` / ``awrap_tool_call``:

* every path is normalized first (``.``/``..`` resolved, repeated and trailing slashes removed;
  backslashes, NUL, C0/C1 control characters and U+2028/U+2029 rejected; a path escaping the root
  is denied); the rules match its Unicode NFC form, the backend receives it as written;
* ``*`` and ``**`` match dot-names (``deny /secrets/**`` covers ``/secrets/.env``) and ``/x/**``
  covers ``/x`` itself; matching takes time linear in the path length;
* every path is placed where it really is, per backend (host ``realpath`` for a
  ``FilesystemBackend``, the sandbox's own shell for a ``BaseSandbox``, per composite route;
  other backends are refused): the link and its target must both be allowed, rule anchors that
  are links cover the real path, a relative result path is placed in the backend's working folder
  or withheld; while any rule denies an operation, a file with several hard links is refused for it;
  a name refused for what it links to answers like a missing one;
* ``ls``, ``glob`` and ``grep`` run on a guarded copy of the backend that drops denied entries,
  lines and error lines *before* deepagents counts, truncates or hints;
* ``edit_file`` needs read and write; ``execute`` is judged on the folder commands run in and
  denied unless a rule allows ``"execute"``;
* a ``task`` call to a subagent not held to the rules is denied.

Modules: :mod:`~guardrails.filesystem.paths` (normalization), :mod:`~.rules` (rules and the
matcher), :mod:`~.layers` (decisions, layers, the active context, the ``fs.denied`` event),
:mod:`~.links` (placement per backend and the one judgement: normalize, decide, check links),
:mod:`~.backends` (the guarded backend and filters), :mod:`~.subagents` (holding subagents),
:mod:`~.toolargs` (``tool_paths`` against tool schemas), :mod:`~.approvals` (one approval
request per model turn), :mod:`~.middleware` (the rules, settings and composition),
:mod:`~.tool_flow` (each tool call judged and run), :mod:`~.review` (asking a human about the
calls of a turn).
"""

from guardrails.filesystem.backends import guard_backend
from guardrails.filesystem.middleware import FilesystemPermissionMiddleware
from guardrails.filesystem.paths import PathRejectedError, normalize_path
from guardrails.filesystem.rules import FilesystemPermission, PatternNotSupportedError

__all__ = [
    "FilesystemPermission",
    "FilesystemPermissionMiddleware",
    "PathRejectedError",
    "PatternNotSupportedError",
    "guard_backend",
    "normalize_path",
]
