"""Speech for the IVR: recognition behind one interface (vosk), prompts as telephone audio."""

from callcenter.speech.backend import Recognition, Recognizer, SpeechBackend, SpeechUnavailable
from callcenter.speech.prompts import PromptError, PromptLibrary

__all__ = ["PromptError", "PromptLibrary", "Recognition", "Recognizer", "SpeechBackend",
           "SpeechUnavailable"]
