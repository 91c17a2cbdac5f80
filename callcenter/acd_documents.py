"""ACD definitions as documents: the JSON bodies of ``/api/config/...``, the YAML seed file and
``callcenter acd export``, all in one shape (the fields of
:mod:`callcenter.acd.definitions`, by the same names).

A document is checked twice: its *types* here (pydantic models generated from the frozen
dataclasses, so the two never drift: unknown fields, wrong types, NaN and infinities are
refused), then its *meaning* by the dataclasses themselves (names, levels, overflow targets).
Either way the caller gets one :class:`~callcenter.acd.definitions.DefinitionError` whose
message names the entry and the field; a YAML file's errors also name the file and the line.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from callcenter.acd.definitions import (
    AcdDefinitions,
    AgentDefinition,
    DefinitionError,
    PauseReason,
    QueueDefinition,
)

Definition = QueueDefinition | AgentDefinition | PauseReason

#: the demo's contact center (``callcenter demo``; ``callcenter acd seed`` takes any file)
DEMO_ACD_FILE = Path(__file__).resolve().parent / "seed" / "acd.yaml"
#: the document's top-level sections, in the order they are written
SECTIONS: dict[str, type[Definition]] = {
    "queues": QueueDefinition, "agents": AgentDefinition, "pause_reasons": PauseReason}
#: the field that names an entry of each kind (its key in URLs and error messages)
KEY_FIELD: dict[type[Definition], str] = {
    QueueDefinition: "name", AgentDefinition: "agent_id", PauseReason: "code"}
KIND: dict[type[Definition], str] = {
    QueueDefinition: "queue", AgentDefinition: "agent", PauseReason: "pause reason"}


def _document_model(cls: type[Any]) -> type[BaseModel]:
    """A strict pydantic model with ``cls``'s fields, types and defaults."""
    hints = typing.get_type_hints(cls)
    fields: dict[str, Any] = {}
    for item in dataclasses.fields(cls):
        if item.default is not dataclasses.MISSING:
            default: Any = item.default
        elif item.default_factory is not dataclasses.MISSING:
            default = item.default_factory()
        else:
            default = ...
        fields[item.name] = (hints[item.name], default)
    return create_model(f"{cls.__name__}Document",
                        __config__=ConfigDict(extra="forbid", allow_inf_nan=False), **fields)


_MODELS: dict[type[Definition], type[BaseModel]] = {
    cls: _document_model(cls) for cls in SECTIONS.values()}


def _describe(errors: list[Any]) -> str:
    return "; ".join(
        ".".join(str(part) for part in error["loc"]) + ": " + error["msg"] for error in errors)


def from_document(cls: type[Definition], data: object) -> Definition:
    """One definition (of kind ``cls``) from a parsed JSON/YAML object; DefinitionError
    names what is wrong."""
    kind = KIND[cls]
    if not isinstance(data, Mapping):
        raise DefinitionError(f"a {kind} must be an object, not {type(data).__name__}")
    key = data.get(KEY_FIELD[cls])
    label = f"{kind} {key}" if isinstance(key, str) else kind
    try:
        model = _MODELS[cls].model_validate(data)
    except ValidationError as exc:
        raise DefinitionError(f"{label}: {_describe(exc.errors())}") from None
    return cls(**dict(model))


def to_document(definition: Definition) -> dict[str, Any]:
    """The JSON/YAML object of a definition (every field, mappings as plain dicts)."""
    document = {}
    for item in dataclasses.fields(definition):
        value = getattr(definition, item.name)
        document[item.name] = dict(value) if isinstance(value, Mapping) else value
    return document


def definitions_document(definitions: AcdDefinitions) -> dict[str, list[dict[str, Any]]]:
    """The whole configuration as one document (what ``callcenter acd export`` writes and
    ``callcenter acd seed`` reads back)."""
    return {section: [to_document(item) for item in getattr(definitions, section)]
            for section in SECTIONS}


def definitions_from_document(data: object, source: str = "document") -> AcdDefinitions:
    """A whole configuration document; errors name ``source`` and the entry."""
    if not isinstance(data, Mapping):
        raise DefinitionError(f"{source}: expected a mapping with {', '.join(SECTIONS)}")
    unknown = sorted(str(key) for key in data if key not in SECTIONS)
    if unknown:
        raise DefinitionError(f"{source}: unknown section(s) {', '.join(unknown)} "
                              f"(known: {', '.join(SECTIONS)})")
    parsed: dict[str, tuple[Definition, ...]] = {}
    for section, cls in SECTIONS.items():
        entries = data.get(section) or []
        if not isinstance(entries, list):
            raise DefinitionError(f"{source}: {section} must be a list")
        items = []
        for index, entry in enumerate(entries):
            try:
                items.append(from_document(cls, entry))
            except DefinitionError as exc:
                raise DefinitionError(f"{source}: {section}[{index}]: {exc}") from None
        parsed[section] = tuple(items)
    try:
        return AcdDefinitions(**parsed)  # type: ignore[arg-type]
    except DefinitionError as exc:
        raise DefinitionError(f"{source}: {_entry_of(parsed, str(exc))}{exc}") from None


def _entry_of(parsed: Mapping[str, tuple[Definition, ...]], message: str) -> str:
    """``queues[3]: `` for a whole-configuration error about one entry (the last one of that
    name: a duplicate is the second), so a file's error points at its line."""
    found = ""
    for section, items in parsed.items():
        for index, item in enumerate(items):
            kind, key = KIND[type(item)], getattr(item, KEY_FIELD[type(item)])
            if message.startswith((f"{kind} {key}:", f"{kind} {key!r} ")):
                found = f"{section}[{index}]: "
    return found


def load_yaml(path: Path) -> AcdDefinitions:
    """The definitions of a YAML seed file. Errors name the file and the line of the entry
    (or of its field, when one is named): ``acd.yaml:42: queues[2]: queue vip: ...``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DefinitionError(f"{path}: {exc.strerror or exc}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DefinitionError(f"{path}: not valid YAML: {exc}") from None
    try:
        return definitions_from_document(data if data is not None else {}, str(path))
    except DefinitionError as exc:
        line = _line_of(node, str(exc))
        message = str(exc).removeprefix(f"{path}: ")
        raise DefinitionError(f"{path}:{line}: {message}" if line else str(exc)) from None


def _line_of(root: yaml.Node | None, message: str) -> int | None:
    """The 1-based line of the entry (``queues[2]``) or field a message names."""
    if not isinstance(root, yaml.MappingNode):
        return None
    for key_node, value_node in root.value:
        prefix = f": {key_node.value}["
        if prefix not in message or not isinstance(value_node, yaml.SequenceNode):
            continue
        index_text = message.split(prefix, 1)[1].split("]", 1)[0]
        if not index_text.isdigit() or int(index_text) >= len(value_node.value):
            return int(key_node.start_mark.line) + 1
        entry = value_node.value[int(index_text)]
        line = int(entry.start_mark.line) + 1
        if isinstance(entry, yaml.MappingNode):
            for field_key, _field_value in entry.value:
                if f": {field_key.value}" in message.split(f"[{index_text}]: ", 1)[-1]:
                    return int(field_key.start_mark.line) + 1
        return line
    return None
