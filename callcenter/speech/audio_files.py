"""Audio files as the IVR hears them: 16-bit 8 kHz mono PCM.

A WAV already in that format is read as it is; anything else (another rate, stereo, MP3,
FLAC...) goes through sox, which resamples it the way the prompts are made.
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

from callcenter.speech.prompts import SOX_TO_TELEPHONE


class AudioFileError(ValueError):
    """The file cannot be read as audio."""


def read_telephone_audio(path: Path) -> bytes:
    if not path.is_file():
        raise AudioFileError(f"{path}: no such file")
    try:
        with wave.open(str(path), "rb") as wav:
            if (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2):
                return wav.readframes(wav.getnframes())
    except (wave.Error, EOFError):
        pass  # not a plain PCM WAV: sox may still read it
    if shutil.which("sox") is None:
        raise AudioFileError(f"{path}: not 8 kHz 16-bit mono WAV and sox is not installed "
                             "(Debian package sox) to convert it")
    done = subprocess.run(["sox", str(path), *SOX_TO_TELEPHONE, "-"], capture_output=True,
                          check=False)
    if done.returncode != 0:
        raise AudioFileError(f"{path}: sox cannot read it: "
                             f"{done.stderr.decode(errors='replace').strip()[:300]}")
    return done.stdout


def write_telephone_wav(path: Path, pcm: bytes) -> None:
    """``pcm`` as an 8 kHz 16-bit mono WAV file (test utterances, the benchmark's set)."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(pcm)
