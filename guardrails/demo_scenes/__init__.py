"""Scenes of ``guardrails demo``: each module has ``TITLE: str`` and ``run(out) -> None``."""
