"""docs/sweep-format.md's YAML blocks say what the loader does: every key they show is accepted,
every key the loader accepts is named there, and the defaults and choices they state are the code's.

The accepted keys are the loader's own lists, recorded as it checks each section of the page's
example; the defaults are what the loader gives a sweep that leaves them out."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

import raydd.spec.checks
import raydd.spec.foreign
import raydd.spec.load
import raydd.spec.search
import raydd.spec.sections
from raydd.core.distill.config import INITS, METHODS, PRECISIONS
from raydd.core.experts.settings import AUGMENTS
from raydd.core.distill.matching import DISTANCES
from raydd.core.evaluate.config import DEFAULT_EPOCHS, LABEL_REGIMES, RELABEL_TEACHERS, SELECTIONS
from raydd.spec import SpecError, parse_spec
from raydd.spec.search import ALGORITHMS, WANDB_MODES, TrackingSpec

PAGE = Path(__file__).resolve().parents[1] / "docs" / "sweep-format.md"
# Sections whose keys the page names elsewhere: a grid axis is any distill field or evaluation
# axis ("any DistillConfig field can be an axis"), a search space's keys are distill keys, and
# the forms of a pool are those of its own section ("each entry one of the forms below").
NAMED_WITH = {"grid": ("grid", "distill", "evaluation"), "search": ("search", "distill"),
              "grid.pool[]": ("grid", "Pools"), "search.space.pool": ("search", "Pools")}
MINIMAL = {"name": "d", "dataset": "digits", "evaluation": {"students": ["ConvNet"]}}


def _blocks(text: str) -> list[str]:
    return re.findall(r"^```yaml\n(.*?)^```", text, flags=re.S | re.M)


def _section_texts(text: str) -> dict[str, str]:
    """Top-level key -> its lines (keys and comments) in the page's blocks; `Pools` -> the text of
    the page's section on pools."""
    texts = {"Pools": re.search(r"^### Pools\n(.*?)^#", text, flags=re.S | re.M).group(1)}
    blocks = _blocks(text)
    for block in blocks:
        section = None
        for line in block.splitlines():
            top = re.match(r"([A-Za-z_]+):", line)
            section = top.group(1) if top else section
            if section:
                texts[section] = texts.get(section, "") + line + "\n"
    return texts


def _example(blocks: list[str]) -> dict:
    example: dict = {}
    for block in blocks:
        example.update(yaml.safe_load(block))
    return example


def _record_allowed(monkeypatch, raw: dict) -> tuple[dict[str, set[str]], list[str]]:
    """(place -> the keys the loader allows there, the problems it finds) for `raw`."""
    allowed: dict[str, set[str]] = {}
    original = raydd.spec.checks.check_section

    def recording(value, place, problems, keys, required=()):
        keys = list(keys)
        allowed.setdefault(re.sub(r"\[\d+\]", "[]", place), set()).update(keys)
        return original(value, place, problems, keys, required)

    for module in (raydd.spec.load, raydd.spec.sections, raydd.spec.search, raydd.spec.foreign):
        monkeypatch.setattr(module, "check_section", recording)
    try:
        parse_spec(raw, source_name=PAGE.name, data="skip")
        problems: list[str] = []
    except SpecError as error:
        problems = error.problems
    return allowed, problems


def _undocumented(allowed: dict[str, set[str]], texts: dict[str, str]) -> dict[str, list[str]]:
    """place -> the keys allowed there that the page's blocks never name in that section."""
    missing = {}
    for place, keys in allowed.items():
        top = re.split(r"[.\[]", place)[0]
        sections = NAMED_WITH.get(place, NAMED_WITH.get(top, (top,))) if top else ()
        named = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", "".join(texts.get(s, "") for s in sections)))
        named |= set(texts) - {"Pools"} if not top else set()
        if keys - named:
            missing[place] = sorted(keys - named)
    return missing


def test_every_key_the_page_shows_is_accepted(monkeypatch):
    allowed, problems = _record_allowed(monkeypatch, _example(_blocks(PAGE.read_text())))
    assert {"", "dataset", "distill", "grid", "grid.pool[]", "evaluation", "evaluation.sets[]", "resources",
            "resources.trial", "probe", "search", "search.space.pool", "tracking", "tracking.wandb"} <= set(allowed)
    unknown = [p for p in problems if "unknown setting" in p]
    assert not unknown, f"{PAGE.name} shows keys the loader refuses: {unknown}"


def test_every_key_the_loader_accepts_is_named_on_the_page(monkeypatch):
    text = PAGE.read_text()
    allowed, _ = _record_allowed(monkeypatch, _example(_blocks(text)))
    missing = _undocumented(allowed, _section_texts(text))
    assert not missing, f"{PAGE.name} never names these accepted keys: {missing}"


def test_a_key_missing_from_the_page_is_caught(monkeypatch):
    text = PAGE.read_text()
    blocks = _blocks(text)
    allowed, _ = _record_allowed(monkeypatch, _example(blocks))
    texts = _section_texts(text)
    texts["resources"] = texts["resources"].replace("checkpoint_every", "checkpoint_each")
    assert _undocumented(allowed, texts) == {"resources": ["checkpoint_every"]}
    example = _example(blocks)
    example["probe"]["epoch"] = example["probe"].pop("epochs")
    _, problems = _record_allowed(monkeypatch, example)
    assert any(p.startswith("probe.epoch: unknown setting") for p in problems)


# ---- defaults and choices ----------------------------------------------------------------------
def _key_lines(block: str) -> list[tuple[str, str, str]]:
    """(dotted place, shown value, comment) of every `key: value  # comment` line of a block."""
    out, path = [], []
    for line in block.splitlines():
        match = re.match(r"( *)([A-Za-z_]+):([^#]*)(?:#(.*))?$", line)
        if not match:
            continue
        indent, key, value, comment = match.groups()
        depth = len(indent) // 2
        path = path[:depth] + [key]
        out.append((".".join(path), value.strip(), (comment or "").strip()))
    return out


def _code_defaults() -> dict[str, object]:
    """What the loader gives a sweep that leaves each setting out, in the page's words."""
    spec = parse_spec(MINIMAL, data="skip")
    resources = spec.resources
    return {
        "storage": spec.storage,
        "evaluation.kd": list(spec.evaluation.kd_modes),  # YAML reads the page's off/on as False/True
        "evaluation.seeds": spec.evaluation.seeds,
        "evaluation.whole_seeds": spec.evaluation.whole_seeds,
        "evaluation.epochs": spec.evaluation.config.epochs,
        "resources.trial": {"cpu": resources.trial_cpu, "gpu": resources.trial_gpu},
        "resources.evaluators": {"count": resources.evaluators, "cpu": resources.evaluator_cpu,
                                 "gpu": resources.evaluator_gpu},
        "resources.max_concurrent_trials": resources.max_concurrent_trials,
        "resources.max_failures": resources.max_failures,
        "resources.checkpoint_every": resources.checkpoint_every,
        "tracking": spec.tracking,
    }


def _stated_defaults(text: str) -> dict[str, object]:
    """place -> the default the page states: `(default X)` in a key's comment, every value of a
    section whose comment says `defaults shown`."""
    stated: dict[str, object] = {}
    shown_under = None
    for block in _blocks(text):
        for place, value, comment in _key_lines(block):
            if shown_under and not place.startswith(shown_under + "."):
                shown_under = None
            if "defaults shown" in comment:
                shown_under = place
            elif shown_under:
                stated[place] = yaml.safe_load(value)
            default = re.search(r"\(default ([^)]+)\)", comment)
            if default:
                stated[place] = yaml.safe_load(default.group(1))
    return stated


def test_the_defaults_the_page_states_are_the_loaders():
    text = PAGE.read_text()
    stated, code = _stated_defaults(text), _code_defaults()
    assert {"storage", "evaluation.kd", "evaluation.seeds", "resources.trial"} <= set(stated)
    unchecked = set(stated) - set(code)
    assert not unchecked, f"defaults the page states that this test cannot check yet: {unchecked}"
    wrong = {place: (value, code[place]) for place, value in stated.items() if value != code[place]}
    assert not wrong, f"{PAGE.name} states defaults (page, code) the loader does not give: {wrong}"


def test_the_null_defaults_the_page_explains_are_the_loaders():
    text, code = PAGE.read_text(), _code_defaults()
    epochs = re.search(r"epochs: .*# null -> protocol default \((\d+) none / (\d+) augmented\)", text)
    assert code["evaluation.epochs"] is None
    assert (int(epochs.group(1)), int(epochs.group(2))) == (DEFAULT_EPOCHS["none"], DEFAULT_EPOCHS["dsa"])
    assert DEFAULT_EPOCHS["dc"] == DEFAULT_EPOCHS["dsa"]
    assert re.search(r"whole_seeds: null +# .*\(null: seeds\)", text) and code["evaluation.whole_seeds"] is None
    assert "TensorBoard alone by default" in text and code["tracking"] == TrackingSpec()
    assert TrackingSpec().tensorboard and TrackingSpec().mlflow is None and TrackingSpec().wandb is None


def test_a_wrong_stated_default_is_caught():
    text = PAGE.read_text().replace("max_failures: 2 ", "max_failures: 3 ")
    stated = _stated_defaults(text)
    assert stated["resources.max_failures"] == 3 != _code_defaults()["resources.max_failures"]


CHOICES = {  # a key the page lists choices for -> the code's choices
    "method": METHODS.names(),
    "init": INITS,
    "distance": DISTANCES.names(),
    "augment": tuple(DEFAULT_EPOCHS),
    "labels": LABEL_REGIMES,
    "relabel_teacher": RELABEL_TEACHERS,
    "selection": SELECTIONS,
    "algorithm": tuple(ALGORITHMS),
    "mode": WANDB_MODES,
    "precision": PRECISIONS,
    "augment_teacher": AUGMENTS,
}
CHOICE_LIST = r"((?:[\w-]+(?: \(default\))? \| )+[\w-]+(?: \(default\))?)"


def _stated_choices(text: str) -> list[tuple[str, list[str]]]:
    """(key, choices) for `key: x  # a | b | c` lines and `key (a | b)` in comments."""
    found = []
    for block in _blocks(text):
        for place, _, comment in _key_lines(block):
            listed = re.match(CHOICE_LIST, comment)
            if listed:
                found.append((place.rsplit(".", 1)[-1], listed.group(1)))
        for line in block.splitlines():
            found += re.findall(r"(\w+) \(" + CHOICE_LIST + r"[);]", line.partition("#")[2])
    return [(key, [c.replace(" (default)", "") for c in choices.split(" | ")]) for key, choices in found]


def test_the_choices_the_page_lists_are_the_codes():
    stated = _stated_choices(PAGE.read_text())
    assert {"method", "augment", "labels", "distance", "precision"} <= {key for key, _ in stated}
    for key, choices in stated:
        assert key in CHOICES, f"{PAGE.name} lists choices of {key!r} that this test does not check yet"
        assert sorted(choices) == sorted(CHOICES[key]), f"{PAGE.name}: {key} takes {list(CHOICES[key])}"


def test_a_wrong_choice_list_is_caught():
    text = PAGE.read_text().replace("# dc | dsa | dm | mtt", "# dc | dsa | dm")
    method = [choices for key, choices in _stated_choices(text) if key == "method"]
    assert method == [["dc", "dsa", "dm"]] and sorted(method[0]) != sorted(CHOICES["method"])
