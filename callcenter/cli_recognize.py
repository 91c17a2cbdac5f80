"""``callcenter ivr recognize``: what the IVR would hear in a recording, for operators tuning
a menu's phrases (a phrase the model does not know can never be recognised: it is named)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from callcenter.ivr import model as m
from callcenter.ivr.engine import normalise
from callcenter.ivr.registry import FlowRegistry, UnknownFlow
from callcenter.speech.audio_files import AudioFileError, read_telephone_audio
from callcenter.speech.backend import SpeechUnavailable
from callcenter.speech.vosk_backend import VoskBackend, packaged_models

CHUNK = 3200  # 200 ms: how the file is fed, like a call's audio


def grammar_of(node: m.Node, language: str) -> dict[str, Any]:
    """Phrase -> what it chooses (menu option or survey score), for one node and language."""
    if isinstance(node, m.MenuNode):
        return {p: {"key": o.key, "intent": o.intent, "next": o.next}
                for o in node.options for p in o.say.get(language, ())}
    if isinstance(node, m.SurveyNode):
        return {p: {"score": score, "next": node.next}
                for score, phrases in node.say.get(language, {}).items() for p in phrases}
    if isinstance(node, m.CallbackNode):
        return {p: {"accept": True, "next": node.accepted}
                for p in node.accept_say.get(language, ())}
    raise click.ClickException(f"node {node.node_id!r} is a {node.kind}: only menu, survey and "
                               "callback nodes listen for speech")


def chosen(grammar: dict[str, Any], text: str) -> tuple[str, Any] | None:
    """The phrase heard in ``text`` (the longest, as the engine picks) and its choice."""
    heard = f" {normalise(text)} "
    found = [(p, c) for p, c in grammar.items() if p and f" {normalise(p)} " in heard]
    return max(found, key=lambda pc: len(pc[0])) if found else None


@click.command("recognize")
@click.option("--flow", "flow_name", required=True, help="flow name (flow: in its file)")
@click.option("--node", "node_id", required=True, help="a menu, survey or callback node")
@click.option("--audio", type=click.Path(path_type=Path), required=True,
              help="recording of the caller (WAV; other formats through sox)")
@click.option("--language", default="", help="language of the grammar (default: the flow's "
                                             "first language with phrases and a model)")
@click.option("--json", "as_json", is_flag=True, help="one JSON object")
@click.pass_context
def recognize(ctx: click.Context, flow_name: str, node_id: str, audio: Path, language: str,
              as_json: bool) -> None:
    """Recognise FILE against a node's phrases: prints the text heard, its confidence and the
    option it chooses. Exit status 1 when nothing of the grammar was heard."""
    from callcenter.cli import _settings

    settings = _settings(ctx)
    registry = FlowRegistry(settings.ivr.flows_dir)
    report = registry.reload()
    try:
        flow = registry.get(flow_name)
    except UnknownFlow as exc:
        problems = "; ".join(str(i) for i in report.errors)
        raise click.ClickException(f"{exc.args[0]}{'; ' + problems if problems else ''}"
                                   ) from None
    node = flow.nodes.get(node_id)
    if node is None:
        raise click.ClickException(f"flow {flow_name!r} has no node {node_id!r} (nodes: "
                                   f"{', '.join(flow.nodes)})")
    backend = VoskBackend({**packaged_models(), **settings.speech.models})
    if not language:
        language = next((lang.code for lang in flow.languages
                         if lang.code in backend.languages() and grammar_of(node, lang.code)),
                        flow.default_language)
    grammar = grammar_of(node, language)
    if not grammar:
        raise click.ClickException(f"node {node_id!r} has no phrases in {language!r}")
    try:
        pcm = read_telephone_audio(audio)
        backend.load(language)
        started = time.perf_counter()
        recognizer = backend.recognizer(language, list(grammar))
        for i in range(0, len(pcm), CHUNK):
            recognizer.accept(pcm[i:i + CHUNK])
        heard = recognizer.result()
        decode_s = time.perf_counter() - started
        unknown = backend.unknown_words(language, list(grammar))
    except (AudioFileError, SpeechUnavailable) as exc:
        raise click.ClickException(str(exc)) from None
    match = chosen(grammar, heard.text)
    min_confidence = getattr(node, "min_confidence", 0.5)
    result = {
        "flow": flow.name, "node": node_id, "language": language, "text": heard.text,
        "confidence": round(heard.confidence, 3), "min_confidence": min_confidence,
        "accepted": match is not None and heard.confidence >= min_confidence,
        "phrase": match[0] if match else None, "choice": match[1] if match else None,
        "unknown_words": unknown, "audio_s": round(len(pcm) / 16000, 2),
        "decode_ms": round(decode_s * 1000, 1),
    }
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
    else:
        if match is None:
            click.echo(f"heard {heard.text!r}: no phrase of {node_id!r} ({language})")
        else:
            verdict = "accepted" if result["accepted"] else \
                f"below min_confidence {min_confidence}: the caller would be asked for a key"
            click.echo(f"heard {heard.text!r} confidence {heard.confidence:.2f} -> "
                       f"{json.dumps(match[1], ensure_ascii=False)} ({verdict})")
        for word in unknown:
            click.echo(f"warning: {word!r} is not in the {language} model's vocabulary: "
                       "that phrase can never be recognised", err=True)
    if match is None:
        sys.exit(1)
