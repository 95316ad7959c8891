"""Inference: decoding (attention, CTC, joint CTC/attention, lexicon and word LM), `transcribe`,
the evaluation a training run and `smolwhisper evaluate` share, and WER/CER. Import the module
you need; this package imports nothing itself."""
