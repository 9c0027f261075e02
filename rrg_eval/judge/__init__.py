"""A reusable LLM-judge toolkit: chat backends, privacy checks, an answer cache, prompts and answer parsing.

Used by the ``chexprompt`` metric; later judge metrics (GREEN-style, CRIMSON-style) reuse
:mod:`rrg_eval.judge.client` (backends, runner), :mod:`~rrg_eval.judge.privacy`, :mod:`~rrg_eval.judge.cache`
and :mod:`~rrg_eval.judge.dryrun`. Importing this package imports neither ``openai`` nor anything heavy.
"""
