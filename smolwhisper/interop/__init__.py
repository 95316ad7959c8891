"""Whisper weights from and to other formats: state-dict and config maps for Hugging Face and
openai-whisper (weights.py), CTranslate2's model.bin (ctranslate2.py), and the `smolwhisper
import` / `smolwhisper export` commands (convert.py)."""
