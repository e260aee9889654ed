"""What doctor may print: secrets in the environment and in any text are redacted."""

from __future__ import annotations

import pytest

from vram_advisor.probe import redact


@pytest.mark.parametrize(
    "name",
    ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "OPENAI_API_KEY", "DB_PASSWORD",
     "MY_PASSWD", "GOOGLE_APPLICATION_CREDENTIALS", "WANDB_KEY", "HF_AUTH", "SSH_PRIVATE"],
)  # fmt: skip
def test_secret_names(name):
    assert redact.is_secret_name(name)


@pytest.mark.parametrize("name", ["CUDA_VISIBLE_DEVICES", "HF_HOME", "PATH", "PWD", "NVIDIA_VISIBLE_DEVICES"])
def test_plain_names(name):
    assert not redact.is_secret_name(name)


def test_relevant_environment_lists_probe_variables_and_redacts_secrets():
    shown = redact.relevant_environment(
        {"HF_TOKEN": "hf_x" * 10, "HF_HOME": "/data/hf", "CUDA_VISIBLE_DEVICES": "0", "PATH": "/usr/bin", "X": "y"}
    )
    assert shown["HF_TOKEN"] == "<redacted>"
    assert shown["HF_HOME"] == "/data/hf" and shown["CUDA_VISIBLE_DEVICES"] == "0"
    assert shown["CUDA_DEVICE_ORDER"] is None  # key variables are listed even when unset
    assert "PATH" not in shown and "X" not in shown


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("https://user:p4ssw0rd@hub.example.com/x", "p4ssw0rd"),
        ("https://oauth2:glpat-abcdefghijklmnopqrst@gitlab.example.com", "glpat-"),
        ("token hf_abcdefghijklmnopqrstuvwxyz", "hf_abcdefghij"),
        ("ghp_0123456789abcdefghijABCDEFGHIJ0123", "ghp_0123456789"),
        ("sk-proj-0123456789abcdefghij", "sk-proj-0123"),
        ("AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7"),
        ("Authorization: Bearer abc.def.ghi12345", "abc.def.ghi12345"),
        ("//server/share username=bob,password=hunter22", "hunter22"),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N", "dozjgNryP4J3"),
    ],
)
def test_credentials_in_text_are_replaced(text, leak):
    assert leak not in redact.scrub_text(text)
    assert "<redacted>" in redact.scrub_text(text)


def test_exact_secret_values_are_replaced_anywhere_but_paths_are_left_alone():
    environ = {"MY_TOKEN": "opaque-value-42", "XAUTHORITY": "/home/me/.Xauthority", "SHORT_KEY": "abc"}
    secrets = redact.secret_values(environ)
    assert secrets == ("opaque-value-42",)
    report = {"calls": [{"result": "mount /srv/opaque-value-42/x"}], "paths": ["/home/me/.Xauthority"]}
    assert redact.scrub(report, secrets) == {
        "calls": [{"result": "mount /srv/<redacted>/x"}],
        "paths": ["/home/me/.Xauthority"],
    }


def test_plain_text_is_unchanged():
    text = "nvmlDeviceGetName(gpu 0) -> NVIDIA H100 80GB HBM3; /root/.cache/huggingface/hub; keyboard=us"
    assert redact.scrub_text(text) == text
