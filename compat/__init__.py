"""The compat harness: LangChain's and deepagents' own tests, run against our classes."""
