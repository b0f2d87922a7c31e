"""Benchmarks: each ``bench/bench_<area>.py`` compares our guardrail with its LangChain /
deepagents / Presidio counterpart in the same run. ``python -m bench [AREA ...] [--quick]``."""
