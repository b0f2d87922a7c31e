"""The only place where guardrails reaches into private internals of its peers.

Two modules, one per family of peers:

* :mod:`guardrails._adapters.langchain` -- LangChain, LangGraph and ``limits`` internals;
* :mod:`guardrails._adapters.deepagents` -- deepagents internals.

Each private name is imported in exactly one place here, and ``tests/test_adapters.py`` has a
canary test per name that fails with a message naming the upstream symbol when an upgrade removes
or changes it. Everything else in the package imports from these modules, never from the peers'
private paths.
"""
