"""The pure parts of ``verify``, on golden transcripts of real servers (tests/fixtures/verify/SOURCES.md names each
one's public source): which engine and model a server runs, the engine's own figures from ``/metrics``, the stream's
measurement, and the mapping of what is served to a profile option."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vram_advisor.catalog.userprofiles import default_catalog
from vram_advisor.engine import promtext
from vram_advisor.engine.http import EngineError
from vram_advisor.engine.identify import identify
from vram_advisor.engine.sse import measure
from vram_advisor.plan.served import map_served

GOLDEN = Path(__file__).parent / "fixtures" / "verify"


def _json(name: str) -> object:
    return json.loads((GOLDEN / name).read_text())


def test_vllm_is_named_by_its_models_answer_with_its_context() -> None:
    served = identify(_json("vllm_models.json"))
    assert served.engine == "vllm"
    assert served.model_id == "meta-llama/Meta-Llama-3.1-8B-Instruct"
    assert served.root == "meta-llama/Meta-Llama-3.1-8B-Instruct"
    assert served.context_tokens == 8096


def test_llama_server_is_named_by_props_with_its_context_size_and_parameters() -> None:
    served = identify(_json("llamacpp_models.json"), _json("llamacpp_props.json"))
    assert served.engine == "llama.cpp"
    assert served.context_tokens == 1024  # the slots' n_ctx, not the model's n_ctx_train
    assert served.size_bytes == 4912898304
    assert served.n_params == 8030261312
    assert "/props (llama-server)" in served.evidence


def test_ollama_and_lm_studio_are_named_by_owned_by_and_api_version() -> None:
    assert identify(_json("ollama_models.json")).engine == "ollama"
    assert identify({"data": []}, None, _json("ollama_version.json")).engine_version == "0.5.1"
    lm = identify(_json("lmstudio_models.json"))
    assert lm.engine == "lm-studio" and lm.models_served > 1


def test_a_server_that_names_nothing_known_is_an_unnamed_engine() -> None:
    served = identify({"data": [{"id": "x", "owned_by": "someone"}]})
    assert served.engine is None and served.model_id == "x"


def test_the_vllm_inter_token_histogram_is_read_per_family_and_summed_over_engines() -> None:
    found = promtext.histograms((GOLDEN / "vllm_metrics_itl_excerpt.txt").read_text())
    assert found.sums["vllm:inter_token_latency_seconds"] == pytest.approx(13.223765562288463 + 3.8492672259453684)
    assert found.counts["vllm:time_per_output_token_seconds"] == 243.0


def test_the_engine_speed_is_the_histograms_difference_over_one_request() -> None:
    text = (GOLDEN / "sglang_metrics.txt").read_text()
    before = promtext.histograms(text, "meta-llama/Llama-3.1-8B-Instruct")
    # the same server after one more request of 256 tokens at 20 ms each
    after_text = text.replace("866964.5791549598", str(866964.5791549598 + 256 * 0.02)).replace(
        "7.400757e+06", str(7400757 + 256)
    )
    after = promtext.histograms(after_text, "meta-llama/Llama-3.1-8B-Instruct")
    speed, family = promtext.decode_speed(before, after) or (0.0, "")
    assert family == "sglang:time_per_output_token_seconds"
    assert speed == pytest.approx(50.0, rel=1e-3)
    assert promtext.decode_speed(before, before) is None  # nothing moved: no figure
    assert promtext.histograms(text, "another-model").counts == {}


def _lines(events: list[tuple[float, dict[str, object] | str]]) -> list[tuple[float, bytes]]:
    out = []
    for at, event in events:
        body = event if isinstance(event, str) else json.dumps(event)
        out.append((at, f"data: {body}\n".encode()))
        out.append((at, b"\n"))
    return out


def _token(text: str) -> dict[str, object]:
    return {"choices": [{"index": 0, "text": text, "finish_reason": None}]}


def test_the_stream_measure_counts_tokens_after_the_first_over_their_time() -> None:
    events: list[tuple[float, dict[str, object] | str]] = [(10.5 + i * 0.05, _token("a")) for i in range(21)]
    events.append(
        (
            11.6,
            {
                "choices": [{"text": "", "finish_reason": "length"}],
                "timings": {"predicted_per_second": 19.0, "predicted_n": 21},
            },
        )
    )
    events.append((11.6, "[DONE]"))
    found = measure(_lines(events), 10.0, "here", 100, 10**6)
    assert found.tokens == 21
    assert found.first_token_s == pytest.approx(0.5)
    assert found.decode_tokens_per_s == pytest.approx(20.0)
    assert found.engine_decode_tokens_per_s == 19.0
    assert found.finish_reason == "length"


def test_usage_counts_the_tokens_where_one_chunk_carries_several() -> None:
    events: list[tuple[float, dict[str, object] | str]] = [(1.0 + i * 0.1, _token("ab")) for i in range(11)]
    events.append((2.0, {"choices": [], "usage": {"completion_tokens": 41}}))
    found = measure(_lines(events), 0.9, "here", 100, 10**6)
    assert found.tokens == 41 and found.chunks == 11
    assert found.decode_tokens_per_s == pytest.approx(40.0)


@pytest.mark.parametrize(
    ("events", "words"),
    [
        ([(1.0, "{not json")], "not JSON events"),
        ([(1.0, {"error": {"message": "model \x1b[31mgone"}})], "reported an error"),
        ([(1.0, _token("a")) for _ in range(50)], "more than 10 chunks"),
        ([(1.0, {"choices": []}), (1.0, "[DONE]")], "without a token"),
    ],
)
def test_a_broken_stream_is_one_error(events: list[tuple[float, object]], words: str) -> None:
    with pytest.raises(EngineError) as raised:
        measure(_lines(events), 0.0, "here", 10, 10**6)  # type: ignore[arg-type]
    assert words in raised.value.message
    assert "\x1b" not in raised.value.message


def test_the_byte_bound_stops_a_stream_of_comments() -> None:
    lines = ((1.0, b": ping" + b" " * 1000 + b"\n") for _ in range(10**6))
    with pytest.raises(EngineError, match="past 100,000 bytes"):
        measure(lines, 0.0, "here", 10, 100_000)


def test_an_official_checkpoint_is_mapped_by_its_repository() -> None:
    mapping, _ = map_served(default_catalog(), "deepseek-ai/DeepSeek-V4-Flash-0731")
    assert mapping is not None
    assert (mapping.model, mapping.quant, mapping.release) == ("deepseek-v4-flash", "fp8", "0731")
    # the root first: a --served-model-name alias of another release does not decide it
    by_root, _ = map_served(default_catalog(), "DeepSeek-V4-Flash", root="deepseek-ai/DeepSeek-V4-Flash-0731")
    assert by_root is not None and by_root.release == "0731"
    # a local folder, or another owner's repository, of the same last name may hold any quantization: not mapped
    for root in ("/models/DeepSeek-V4-Flash-0731", "some-user/DeepSeek-V4-Flash-0731"):
        assert map_served(default_catalog(), "flash", root=root)[0] is None


def test_a_gguf_is_mapped_by_its_size_not_its_file_name() -> None:
    catalog = default_catalog()
    size = 90860736928 - 30_000_000  # unsloth UD-IQ2_XXS, less some metadata
    mapping, _ = map_served(catalog, "whatever.gguf", size_bytes=size)
    assert mapping is not None and (mapping.model, mapping.quant) == ("deepseek-v4-flash", "q2")
    # the name alone says nothing: a file named like the Q4 but the size of nothing published is not mapped
    named, why = map_served(catalog, "DeepSeek-V4-Flash-0731-UD-Q4_K_XL-00001-of-00005.gguf", size_bytes=22_000_000)
    assert named is None and "no published download" in why
    unsized, why = map_served(catalog, "DeepSeek-V4-Flash-0731-UD-Q4_K_XL-00001-of-00005.gguf")
    assert unsized is None and "neither" in why


def test_sizes_that_match_two_options_are_not_guessed() -> None:
    # 158.4 GB is within 3% of both Flash's UD-Q4_K_XL (155.1 GB) and its UD-Q8_K_XL (161.9 GB)
    mapping, why = map_served(default_catalog(), "x.gguf", size_bytes=158_400_000_000)
    assert mapping is None and "deepseek-v4-flash:fp8, deepseek-v4-flash:q4" in why
    # the exact size of one of them is that one, of the release whose file it is
    exact, _ = map_served(default_catalog(), "x.gguf", size_bytes=155_095_241_120)
    assert exact is not None and (exact.quant, exact.release) == ("q4", "0731")
    # a name the server gives picks between models: a Pro-sized file named flash is nothing
    named, _ = map_served(default_catalog(), "pro.gguf", path="/m/deepseek-v4-flash.gguf", size_bytes=849_683_927_055)
    assert named is None
