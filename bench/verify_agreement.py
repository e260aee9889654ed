"""How closely ``verify``'s client-side decode speed agrees with the engine's own: a real llama-server (built by
tools/build_llama_server.sh) serving the tests' tiny GGUF on one thread, measured N times by ``verify --json``,
each run's client figure held against llama-server's ``timings.predicted_per_second`` for the same request.

    VRAM_ADVISOR_ENGINE_DIR=DIR python bench/verify_agreement.py [--runs 7] [--tokens 256]

The target (issue 23): within 15%. Prints each run and the median ratio; exits 0 whatever the figures (machines are
noisy), 2 where no engine is built.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.engine.server import find_engine, running_llama_server  # noqa: E402
from tests.engine.tiny_gguf import write_tiny_gguf  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    engine = find_engine()
    if engine is None:
        print("no llama-server: build one with tools/build_llama_server.sh DIR and set VRAM_ADVISOR_ENGINE_DIR=DIR")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        model = write_tiny_gguf(Path(tmp) / "tiny.gguf", engine.vocab)
        env = {**os.environ, "VRAM_ADVISOR_CALIBRATION": str(Path(tmp) / "calibration.json")}
        ratios = []
        with running_llama_server(engine.binary, model, threads=args.threads, alias="tiny-random-llama") as url:
            print(f"{'run':>3}  {'client tok/s':>12}  {'engine tok/s':>12}  {'client/engine':>13}  first token")
            for run in range(1, args.runs + 1):
                done = subprocess.run(
                    [sys.executable, "-m", "vram_advisor", "verify", "--url", url, "--json", "--no-save",
                     "--tokens", str(args.tokens)],
                    capture_output=True, text=True, env=env, check=True,
                )  # fmt: skip
                measured = json.loads(done.stdout)["measured"]
                ratio = measured["decode_tokens_per_s"] / measured["engine_decode_tokens_per_s"]
                ratios.append(ratio)
                print(
                    f"{run:>3}  {measured['decode_tokens_per_s']:>12.1f}  {measured['engine_decode_tokens_per_s']:>12.1f}"
                    f"  {ratio:>13.3f}  {measured['first_token_s']:.3f} s"
                )
    median = statistics.median(ratios)
    worst = max(abs(r - 1) for r in ratios)
    print(f"median client/engine {median:.3f}; worst run {worst:.1%} off; target: within 15% -> "
          f"{'met' if worst <= 0.15 else 'NOT met'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
