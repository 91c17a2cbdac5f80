"""YAML -> :class:`~callcenter.ivr.model.Flow`, with every problem named by file and line.

A flow file is read whole and checked whole: all the problems are reported at once (an
operator fixing a flow wants the list, not one error per attempt), each as ``file:line:
message``. Lines come from PyYAML's node marks, kept on every mapping the loader builds.
A file with any error gives no flow at all (:class:`FlowError`); warnings (an unreachable
node) do not stop it.

The format (see ``ivr_flows/README.md`` for a full example)::

    flow: main                 # the name calls and the dialplan use
    languages:                 # the first is the default
      en: {voice: en-us}
      ko: {voice: ko}
    start: welcome
    nodes:
      welcome:
        type: play
        prompt: {en: "Welcome.", ko: "환영합니다."}
        next: menu
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from callcenter.ivr import model as m


@dataclass(frozen=True, slots=True)
class FlowIssue:
    """One problem of one flow file; ``error`` problems reject the file."""

    source: str
    line: int
    message: str
    error: bool = True

    def __str__(self) -> str:
        kind = "error" if self.error else "warning"
        return f"{self.source}:{self.line}: {kind}: {self.message}"


class FlowError(ValueError):
    """A flow file that cannot be used, with all its problems."""

    def __init__(self, issues: list[FlowIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(issue) for issue in issues))


class _Map(dict[Any, Any]):
    """A YAML mapping that remembers its line and the line of each key."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, with lines on mappings and duplicate keys refused."""


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> Any:
    data = _Map()
    data.line = node.start_mark.line + 1
    data.key_lines = {}
    yield data
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears twice (first on line {seen[key]})",
                key_node.start_mark)
        seen[key] = line
        data.key_lines[str(key)] = line
    data.update(loader.construct_mapping(node, deep=True))


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_VARIABLE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_KEY = re.compile(r"^[0-9*#]$")
_DAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_RETRY_FIELDS = {"retries", "timeout_s", "no_input", "no_match"}


class _Reader:
    """Builds the model from the loaded YAML, collecting issues instead of stopping."""

    def __init__(self, source: str, prompt_root: Path | None) -> None:
        self.source = source
        self.prompt_root = prompt_root
        self.issues: list[FlowIssue] = []
        self.languages: list[str] = []

    def error(self, line: int, message: str) -> None:
        self.issues.append(FlowIssue(self.source, line, message))

    # --- small typed readers -----------------------------------------------------------

    def fields(self, data: _Map, where: str, required: set[str], optional: set[str]) -> bool:
        ok = True
        # a missing prompt is reported by :meth:`prompt`, with the same words everywhere
        for key in sorted(required - set(data) - {"prompt"}):
            self.error(data.line, f"{where}: missing '{key}'")
            ok = False
        for key in sorted(set(data) - required - optional):
            allowed = ", ".join(sorted(required | optional))
            self.error(data.line_of(key), f"{where}: unknown field '{key}' (allowed: {allowed})")
        return ok

    def text(self, data: _Map, key: str, where: str, default: str | None = None) -> str:
        value = data.get(key, default)
        if not isinstance(value, str) or not value.strip():
            self.error(data.line_of(key), f"{where}: '{key}' must be a non-empty text")
            return default or ""
        return value

    def number(self, data: _Map, key: str, where: str, default: float, low: float,
               high: float) -> float:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not (
                low <= value <= high):
            self.error(data.line_of(key), f"{where}: '{key}' must be a number from {low:g} "
                                          f"to {high:g}, not {value!r}")
            return default
        return float(value)

    def integer(self, data: _Map, key: str, where: str, default: int, low: int,
                high: int) -> int:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.error(data.line_of(key), f"{where}: '{key}' must be a whole number from "
                                          f"{low} to {high}, not {value!r}")
            return default
        return value

    def target(self, data: _Map, key: str, where: str) -> str:
        value = data.get(key)
        if not isinstance(value, str) or not _NAME.match(value):
            self.error(data.line_of(key), f"{where}: '{key}' must name a node")
            return ""
        return value

    def prompt(self, value: Any, line: int, where: str, *, required: bool = True
               ) -> m.Prompt | None:
        """A prompt: text in the default language, ``{file: ...}``, or per language."""
        if value is None:
            if required:
                self.error(line, f"{where}: missing prompt")
            return None
        default = self.languages[0] if self.languages else "en"
        if isinstance(value, str):
            return self._prompt_parts({default: value}, line, where)
        if isinstance(value, dict) and set(value) <= {"text", "file"}:
            return self._prompt_parts({default: value}, line, where)
        if isinstance(value, dict):
            unknown = [k for k in value if k not in self.languages]
            for key in unknown:
                self.error(getattr(value, "line_of", lambda _k: line)(key),
                           f"{where}: prompt in '{key}', a language the flow does not list "
                           f"({', '.join(self.languages)})")
            return self._prompt_parts({k: v for k, v in value.items() if k not in unknown},
                                      line, where)
        self.error(line, f"{where}: a prompt is a text, {{file: ...}} or one per language")
        return None

    def _prompt_parts(self, raw: dict[str, Any], line: int, where: str) -> m.Prompt | None:
        parts: dict[str, m.PromptPart] = {}
        for language, value in raw.items():
            if isinstance(value, str) and value.strip():
                parts[language] = m.PromptPart(text=value.strip())
            elif isinstance(value, dict) and set(value) <= {"text", "file"} and value:
                text, file = value.get("text"), value.get("file")
                if file is not None and not self._file_ok(file, line, where):
                    continue
                parts[language] = m.PromptPart(text=text, file=file)
            else:
                self.error(line, f"{where}: the '{language}' prompt is empty or malformed")
        if self.languages and self.languages[0] not in parts:
            self.error(line, f"{where}: missing prompt in the default language "
                             f"'{self.languages[0]}'")
            return None
        for lang in self.languages[1:]:
            if lang not in parts:
                self.issues.append(FlowIssue(
                    self.source, line, f"{where}: no '{lang}' prompt: the "
                                       f"'{self.languages[0]}' one is played", error=False))
        return m.Prompt(parts) if parts else None

    def _file_ok(self, file: Any, line: int, where: str) -> bool:
        if not isinstance(file, str) or not file or ".." in Path(file).parts:
            self.error(line, f"{where}: prompt file must be a relative path, not {file!r}")
            return False
        if self.prompt_root is not None and not (self.prompt_root / file).is_file():
            self.error(line, f"{where}: prompt file {file!r} not found in {self.prompt_root}")
            return False
        return True

    def phrases(self, value: Any, line: int, where: str) -> dict[str, tuple[str, ...]]:
        """Spoken phrases: a list (default language) or one list per language."""
        if value is None:
            return {}
        default = self.languages[0] if self.languages else "en"
        raw = {default: value} if isinstance(value, list | str) else value
        if not isinstance(raw, dict):
            self.error(line, f"{where}: 'say' is a list of phrases or one list per language")
            return {}
        found: dict[str, tuple[str, ...]] = {}
        for language, items in raw.items():
            if language not in self.languages:
                self.error(line, f"{where}: phrases in '{language}', a language the flow does "
                                 "not list")
                continue
            items = [items] if isinstance(items, str) else items
            if not isinstance(items, list) or not all(
                    isinstance(p, str) and p.strip() for p in items):
                self.error(line, f"{where}: phrases must be non-empty texts (quote words YAML "
                                 f"reads as true/false/null: \"no\", \"yes\", \"off\")")
                continue
            found[language] = tuple(" ".join(p.lower().split()) for p in items)
        return found

    def retry(self, data: _Map, where: str) -> m.Retry:
        return m.Retry(
            retries=self.integer(data, "retries", where, 2, 0, 10),
            timeout_s=self.number(data, "timeout_s", where, 5.0, 0.5, 60.0),
            no_input=self.prompt(data.get("no_input"), data.line_of("no_input"), where,
                                 required=False),
            no_match=self.prompt(data.get("no_match"), data.line_of("no_match"), where,
                                 required=False))


# --- one reader per node kind ---------------------------------------------------------------


def _play(r: _Reader, node_id: str, d: _Map, where: str) -> m.Node | None:
    r.fields(d, where, {"type", "prompt", "next"}, set())
    prompt = r.prompt(d.get("prompt"), d.line_of("prompt"), where)
    return m.PlayNode(node_id, d.line, prompt, r.target(d, "next", where)) if prompt else None


def _menu(r: _Reader, node_id: str, d: _Map, where: str) -> m.Node | None:
    r.fields(d, where, {"type", "prompt", "options", "on_failure"},
             _RETRY_FIELDS | {"min_confidence", "low_confidence", "barge_in"})
    prompt = r.prompt(d.get("prompt"), d.line_of("prompt"), where)
    raw = d.get("options")
    options: list[m.MenuOption] = []
    if not isinstance(raw, list) or not raw:
        r.error(d.line_of("options"), f"{where}: 'options' must be a non-empty list")
        raw = []
    keys: dict[str, int] = {}
    for i, item in enumerate(raw):
        at = f"{where} option {i + 1}"
        if not isinstance(item, _Map):
            r.error(d.line_of("options"), f"{at}: an option is a mapping (key, say, next)")
            continue
        r.fields(item, at, {"next"}, {"key", "say", "intent", "set"})
        key = item.get("key")
        if key is not None:
            key = str(key)
            if not _KEY.match(key):
                r.error(item.line_of("key"), f"{at}: key must be one of 0-9, * or #, not "
                                             f"{key!r}")
            elif key in keys:
                r.error(item.line_of("key"), f"{at}: key {key} is already option {keys[key]}")
            keys[key] = i + 1
        say = r.phrases(item.get("say"), item.line_of("say"), at)
        if key is None and not say:
            r.error(item.line, f"{at}: give a key, phrases to say, or both")
        settings = item.get("set", {})
        if not isinstance(settings, dict) or not all(
                isinstance(k, str) and _VARIABLE.match(k) for k in settings):
            r.error(item.line_of("set"), f"{at}: 'set' maps variable names to values")
            settings = {}
        if "language" in settings and settings["language"] not in r.languages:
            r.error(item.line_of("set"), f"{at}: language {settings['language']!r} is not one "
                                         "of the flow's")
        intent = item.get("intent")
        options.append(m.MenuOption(key, say, r.target(item, "next", at),
                                    str(intent) if intent is not None else None,
                                    {k: str(v) for k, v in settings.items()}))
    seen_phrase: dict[tuple[str, str], int] = {}
    for i, option in enumerate(options):
        for language, phrases in option.say.items():
            for phrase in phrases:
                other = seen_phrase.setdefault((language, phrase), i + 1)
                if other != i + 1:
                    r.error(d.line_of("options"), f"{where}: '{phrase}' ({language}) is said "
                                                  f"for options {other} and {i + 1}")
    barge_in = d.get("barge_in", True)
    if not isinstance(barge_in, bool):
        r.error(d.line_of("barge_in"), f"{where}: 'barge_in' is true or false")
        barge_in = True
    if prompt is None:
        return None
    return m.MenuNode(
        node_id, d.line, prompt, tuple(options), r.target(d, "on_failure", where),
        retry=r.retry(d, where),
        min_confidence=r.number(d, "min_confidence", where, 0.5, 0.0, 1.0),
        low_confidence=r.prompt(d.get("low_confidence"), d.line_of("low_confidence"), where,
                                required=False),
        barge_in=barge_in)


def _collect(r: _Reader, node_id: str, d: _Map, where: str) -> m.Node | None:
    r.fields(d, where, {"type", "prompt", "variable", "next", "on_failure"},
             _RETRY_FIELDS | {"min_digits", "max_digits", "terminator", "pattern", "checksum",
                              "invalid"})
    prompt = r.prompt(d.get("prompt"), d.line_of("prompt"), where)
    variable = r.text(d, "variable", where, "code")
    if not _VARIABLE.match(variable):
        r.error(d.line_of("variable"), f"{where}: variable {variable!r} must be lower_case")
    low = r.integer(d, "min_digits", where, 1, 1, 32)
    high = r.integer(d, "max_digits", where, 20, 1, 32)
    if low > high:
        r.error(d.line_of("min_digits"), f"{where}: min_digits {low} > max_digits {high}")
    terminator = str(d.get("terminator", "#"))
    if terminator not in ("#", "*", ""):
        r.error(d.line_of("terminator"), f"{where}: terminator is '#', '*' or ''")
    pattern = d.get("pattern")
    if pattern is not None:
        try:
            re.compile(str(pattern))
        except re.error as exc:
            r.error(d.line_of("pattern"), f"{where}: pattern {pattern!r}: {exc}")
            pattern = None
    checksum = d.get("checksum")
    if checksum not in (None, "luhn"):
        r.error(d.line_of("checksum"), f"{where}: checksum is 'luhn' or absent")
        checksum = None
    if prompt is None:
        return None
    return m.CollectNode(
        node_id, d.line, prompt, variable, r.target(d, "next", where),
        r.target(d, "on_failure", where), min_digits=low, max_digits=high,
        terminator=terminator, pattern=str(pattern) if pattern is not None else None,
        checksum=checksum,
        invalid=r.prompt(d.get("invalid"), d.line_of("invalid"), where, required=False),
        retry=r.retry(d, where))


def _lookup(r: _Reader, node_id: str, d: _Map, where: str) -> m.Node | None:
    r.fields(d, where, {"type", "by", "found", "not_found"}, set())
    by = r.text(d, "by", where, "caller")
    if by != "caller" and not _VARIABLE.match(by):
        r.error(d.line_of("by"), f"{where}: 'by' is 'caller' or a collected variable")
    return m.LookupNode(node_id, d.line, by, r.target(d, "found", where),
                        r.target(d, "not_found", where))


def _complaint(r: _Reader, node_id: str, d: _Map, where: str) -> m.Node | None:
    r.fields(d, where, {"type", "ticket", "found", "not_found"}, set())
    return m.ComplaintStatusNode(node_id, d.line, r.text(d, "ticket", where, "ticket"),
                                 r.target(d, "found", where), r.target(d, "not_found", where))


def _time(text: str) -> dt.time:
    hours, minutes = text.split(":")
    return dt.time.max if text == "24:00" else dt.time(int(hours), int(minutes))


def _hours(r: _Reader, node_id: str, d: _Map, where: str) -> m.Node | None:
    r.fields(d, where, {"type", "timezone", "schedule", "open", "closed"}, {"holidays"})
    zone = r.text(d, "timezone", where, "UTC")
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        r.error(d.line_of("timezone"), f"{where}: unknown time zone {zone!r}")
        zone = "UTC"
    week: dict[int, list[tuple[dt.time, dt.time]]] = {}
    schedule = d.get("schedule")
    if not isinstance(schedule, dict) or not schedule:
        r.error(d.line_of("schedule"), f"{where}: 'schedule' maps days (mon-fri, sat) to "
                                       "times (08:00-20:00)")
        schedule = {}
    for days, spans in schedule.items():
        line = schedule.line_of(days) if isinstance(schedule, _Map) else d.line
        try:
            first, _, last = str(days).lower().partition("-")
            start, end = _DAYS[first], _DAYS[last or first]
            chosen = [day % 7 for day in range(start, end + (1 if end >= start else 8))]
            for span in [spans] if isinstance(spans, str) else spans:
                opens, closes = (_time(t.strip()) for t in str(span).split("-"))
                if closes <= opens:
                    raise ValueError(f"{span} closes before it opens")
                for day in chosen:
                    week.setdefault(day, []).append((opens, closes))
        except (KeyError, ValueError, TypeError) as exc:
            r.error(line, f"{where}: schedule {days}: {spans!r} is not like 'mon-fri: "
                          f"08:00-20:00' ({exc})")
    holidays: set[dt.date] = set()
    for item in d.get("holidays") or []:
        if isinstance(item, dt.date):
            holidays.add(item)
        else:
            r.error(d.line_of("holidays"), f"{where}: holiday {item!r} is not a date "
                                           "(2026-12-25)")
    hours = m.OpeningHours(zone, {day: tuple(sorted(s)) for day, s in week.items()},
                           frozenset(holidays))
    return m.HoursNode(node_id, d.line, hours, r.target(d, "open", where),
                       r.target(d, "closed", where))


def _set(r: _Reader, node_id: str, d: _Map, where: str) -> m.Node | None:
    r.fields(d, where, {"type", "variables", "next"}, set())
    variables = d.get("variables")
    if not isinstance(variables, dict) or not variables or not all(
            isinstance(k, str) and _VARIABLE.match(k) for k in variables):
        r.error(d.line_of("variables"), f"{where}: 'variables' maps lower_case names to values")
        variables = {}
    return m.SetNode(node_id, d.line, {k: str(v) for k, v in variables.items()},
                     r.target(d, "next", where))


def _queue(r: _Reader, node_id: str, d: _Map, where: str) -> m.Node | None:
    r.fields(d, where, {"type", "queue"}, {"skills", "priority", "prompt"})
    queue = r.text(d, "queue", where, "default")
    if not _NAME.match(queue):
        r.error(d.line_of("queue"), f"{where}: queue name {queue!r} is not a name")
    skills = d.get("skills", [])
    if not isinstance(skills, list) or not all(isinstance(s, str) and s for s in skills):
        r.error(d.line_of("skills"), f"{where}: 'skills' is a list of names")
        skills = []
    priority: Any = d.get("priority", "customer")
    if priority != "customer":
        priority = r.integer(d, "priority", where, 0, 0, 100)
    return m.QueueNode(node_id, d.line, queue, tuple(skills), priority,
                       r.prompt(d.get("prompt"), d.line_of("prompt"), where, required=False))


def _callback(r: _Reader, node_id: str, d: _Map, where: str) -> m.Node | None:
    r.fields(d, where, {"type", "prompt", "queue", "accepted", "declined"},
             _RETRY_FIELDS | {"accept_key", "accept_say"})
    queue = r.text(d, "queue", where, "default")
    if not _NAME.match(queue):
        r.error(d.line_of("queue"), f"{where}: queue name {queue!r} is not a name")
    prompt = r.prompt(d.get("prompt"), d.line_of("prompt"), where)
    key = str(d.get("accept_key", "1"))
    if not _KEY.match(key):
        r.error(d.line_of("accept_key"), f"{where}: accept_key is one key, not {key!r}")
    if prompt is None:
        return None
    return m.CallbackNode(node_id, d.line, prompt, queue, r.target(d, "accepted", where),
                          r.target(d, "declined", where), key,
                          r.phrases(d.get("accept_say"), d.line_of("accept_say"), where),
                          r.retry(d, where))


def _survey(r: _Reader, node_id: str, d: _Map, where: str) -> m.Node | None:
    r.fields(d, where, {"type", "prompt", "question", "next"},
             _RETRY_FIELDS | {"say", "min_confidence"})
    prompt = r.prompt(d.get("prompt"), d.line_of("prompt"), where)
    say: dict[str, dict[int, tuple[str, ...]]] = {}
    raw = d.get("say") or {}
    if not isinstance(raw, dict):
        r.error(d.line_of("say"), f"{where}: 'say' maps languages to {{score: [phrases]}}")
        raw = {}
    for language, scores in raw.items():
        if language not in r.languages or not isinstance(scores, dict) or not all(
                isinstance(s, int) and 1 <= s <= 5 for s in scores):
            r.error(d.line_of("say"), f"{where}: 'say.{language}' maps scores 1-5 to phrases "
                                      "in a language of the flow")
            continue
        say[language] = {score: r.phrases({language: ps}, d.line_of("say"), where)
                         .get(language, ()) for score, ps in scores.items()}
    if prompt is None:
        return None
    return m.SurveyNode(node_id, d.line, prompt, r.text(d, "question", where, "overall"),
                        r.target(d, "next", where), say, r.retry(d, where),
                        r.number(d, "min_confidence", where, 0.5, 0.0, 1.0))


def _hangup(r: _Reader, node_id: str, d: _Map, where: str) -> m.Node | None:
    r.fields(d, where, {"type"}, {"prompt"})
    return m.HangupNode(node_id, d.line,
                        r.prompt(d.get("prompt"), d.line_of("prompt"), where, required=False))


NODE_READERS: dict[str, Callable[[_Reader, str, _Map, str], m.Node | None]] = {
    "play": _play, "menu": _menu, "collect": _collect, "lookup": _lookup,
    "complaint_status": _complaint, "hours": _hours, "set": _set, "queue": _queue,
    "callback": _callback, "survey": _survey, "hangup": _hangup,
}


# --- the whole file --------------------------------------------------------------------------


def parse_flow(text: str, source: str = "<flow>", prompt_root: Path | None = None
               ) -> tuple[m.Flow, list[FlowIssue]]:
    """The flow in ``text`` and its warnings; raises :class:`FlowError` on any error."""
    from callcenter.ivr.checks import check_graph

    reader = _Reader(source, prompt_root)
    try:
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise FlowError([FlowIssue(source, line, f"not valid YAML: {problem}")]) from None
    if not isinstance(data, _Map):
        raise FlowError([FlowIssue(source, 1, "a flow file is a mapping (flow, languages, "
                                              "start, nodes)")])
    reader.fields(data, "flow", {"flow", "start", "nodes"}, {"languages", "description"})
    name = reader.text(data, "flow", "flow", "flow")
    if not _NAME.match(name):
        reader.error(data.line_of("flow"), f"flow name {name!r} must be letters, digits, - _")
    languages = _languages(reader, data)
    reader.languages = [lang.code for lang in languages]
    nodes: dict[str, m.Node] = {}
    raw_nodes = data.get("nodes")
    if not isinstance(raw_nodes, _Map) or not raw_nodes:
        reader.error(data.line_of("nodes"), "'nodes' must map node ids to nodes")
        raw_nodes = _Map()
    for node_id, raw in raw_nodes.items():
        where = f"node '{node_id}'"
        if not _NAME.match(str(node_id)):
            reader.error(raw_nodes.line_of(node_id), f"{where}: ids are letters, digits, - _")
            continue
        if not isinstance(raw, _Map):
            reader.error(raw_nodes.line_of(node_id), f"{where}: a node is a mapping with a "
                                                     "'type'")
            continue
        kind = raw.get("type")
        read = NODE_READERS.get(str(kind))
        if read is None:
            kinds = ", ".join(NODE_READERS)
            reader.error(raw.line_of("type"), f"{where}: unknown type {kind!r} (one of {kinds})")
            continue
        node = read(reader, str(node_id), raw, where)
        if node is not None:
            nodes[str(node_id)] = node
    start = reader.target(data, "start", "flow")
    flow = m.Flow(name, start, nodes, tuple(languages), source,
                  str(data.get("description", "")))
    if not any(issue.error for issue in reader.issues):
        reader.issues.extend(check_graph(flow, {n: raw_nodes.line_of(n) for n in raw_nodes},
                                         data.line_of("start")))
    if any(issue.error for issue in reader.issues):
        raise FlowError(sorted(reader.issues, key=lambda i: (i.line, i.message)))
    return flow, [issue for issue in reader.issues if not issue.error]


def _languages(reader: _Reader, data: _Map) -> list[m.Language]:
    raw = data.get("languages", {"en": {"voice": "en-us"}})
    if not isinstance(raw, dict) or not raw:
        reader.error(data.line_of("languages"), "'languages' maps codes (en, ko, zh) to "
                                                "{voice: ...}")
        return [m.Language("en", "en-us")]
    found = []
    for code, spec in raw.items():
        voice = spec.get("voice") if isinstance(spec, dict) else None
        if not re.match(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$", str(code)) or not isinstance(
                voice, str):
            reader.error(data.line_of("languages"), f"language {code!r}: a code like 'en' with "
                                                    "{voice: en-us}")
            continue
        found.append(m.Language(str(code), voice))
    return found or [m.Language("en", "en-us")]


def load_flow(path: Path, prompt_root: Path | None = None) -> tuple[m.Flow, list[FlowIssue]]:
    """Read and check one flow file (``prompt_root``: where recorded prompt files live)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FlowError([FlowIssue(str(path), 1, f"cannot read: {exc}")]) from None
    return parse_flow(text, str(path), prompt_root)


def flow_files(directory: Path) -> Iterable[Path]:
    """The flow files of a folder: ``*.yaml`` and ``*.yml``, in name order."""
    return sorted(p for p in directory.iterdir()
                  if p.suffix in (".yaml", ".yml") and p.is_file())
