"""CheXprompt prompts: rrg-eval's own (default) and the published one read from the ``chexprompt`` package.

A :class:`Prompt` turns one (reference, candidate) pair into chat messages. Its ``digest`` hashes every fixed
text of the prompt (system message, templates, examples), so the signature and cache keys change whenever the
prompt does.

``official`` is never copied into rrg-eval: it is read at run time from the installed ``chexprompt`` package
(``chexprompt/evaluator.py``: ``SYSTEM_INSTRUCTIONS``, ``USER_INSTRUCTIONS``, ``EXAMPLES_FORMATTED``) by
parsing its source with :mod:`ast`, without importing it (that module imports the pre-1.0 ``openai`` API), and
used as the package does: one system message and one user message holding the examples and the pair.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

from ...errors import MetricUnavailable
from . import rrg_eval_v1

PROMPT_CHOICES = ("rrg-eval", "official")
Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Prompt:
    """A prompt: builds the messages for a pair; ``name`` and ``digest`` go into signatures."""

    name: str
    system: str
    user_template: str
    examples: tuple[tuple[str, str, str], ...] = ()
    examples_text: str | None = None  # official style: examples inlined into the user message

    @property
    def digest(self) -> str:
        fixed = json.dumps([self.name, self.system, self.user_template, list(self.examples), self.examples_text],
                           ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(fixed.encode("utf-8")).hexdigest()[:12]

    def messages(self, reference: str, candidate: str) -> Messages:
        """The chat messages asking the judge about one pair."""
        if self.examples_text is not None:
            user = self.user_template.format(examples_formatted=self.examples_text, eval_reference=reference,
                                             eval_candidate=candidate)
            return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]
        out: Messages = [{"role": "system", "content": self.system}]
        for ref, cand, answer in self.examples:
            out.append({"role": "user", "content": self.user_template.format(reference=ref, candidate=cand)})
            out.append({"role": "assistant", "content": answer})
        out.append({"role": "user", "content": self.user_template.format(reference=reference, candidate=candidate)})
        return out


def rrg_eval_prompt() -> Prompt:
    """rrg-eval's own prompt (default)."""
    return Prompt(name="rrg-eval-v1", system=rrg_eval_v1.SYSTEM, user_template=rrg_eval_v1.USER_TEMPLATE,
                  examples=rrg_eval_v1.EXAMPLES)


_OFFICIAL_NAMES = ("SYSTEM_INSTRUCTIONS", "USER_INSTRUCTIONS", "EXAMPLES_FORMATTED")


def _official_source() -> Path:
    spec = importlib.util.find_spec("chexprompt")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location) / "evaluator.py"
        if path.is_file():
            return path
    raise MetricUnavailable(
        "the official CheXprompt prompt is read from the 'chexprompt' package, which is not installed here; "
        "install it (pip install git+https://github.com/microsoft/chexprompt) or use the default prompt "
        "(--chexprompt-prompt rrg-eval)")


def official_prompt() -> Prompt:
    """The published CheXprompt prompt, read from the installed ``chexprompt`` package."""
    path = _official_source()
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError) as exc:
        raise MetricUnavailable(f"cannot read the official CheXprompt prompt from {path}: {exc}") from None
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in _OFFICIAL_NAMES and isinstance(node.value, ast.Constant) and isinstance(node.value.value,
                                                                                               str):
                found[name] = node.value.value
    missing = [n for n in _OFFICIAL_NAMES if n not in found]
    if missing:
        raise MetricUnavailable(f"{path} does not define {', '.join(missing)} as plain strings; this chexprompt "
                                "version is not supported, use --chexprompt-prompt rrg-eval")
    return Prompt(name="official", system=found["SYSTEM_INSTRUCTIONS"], user_template=found["USER_INSTRUCTIONS"],
                  examples_text=found["EXAMPLES_FORMATTED"])


def load_prompt(choice: str) -> Prompt:
    """The prompt named ``choice`` ('rrg-eval' or 'official')."""
    if choice == "official":
        return official_prompt()
    return rrg_eval_prompt()
