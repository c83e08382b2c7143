"""Keeps the trained model in step with the training data.

``python -m bot.model`` trains ``models/northwind.tar.gz`` when anything the
model is built from has changed since it was trained (config, domain, data,
the brand file, our NLU components, the locked dependency versions), and
does nothing otherwise. ``--force`` trains regardless.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

from bot.brand import PROJECT_ROOT

MODEL_NAME = "northwind"
MODELS_DIR = PROJECT_ROOT / "models"
MODEL_PATH = MODELS_DIR / f"{MODEL_NAME}.tar.gz"
FINGERPRINT_PATH = MODELS_DIR / f"{MODEL_NAME}.fingerprint"
# Everything the trained model depends on.
MODEL_INPUTS = (
    "config.yml",
    "domain.yml",
    "data",
    "brand.yml",
    "in_rasa/nlu",
    "requirements.lock",
    "requirements-nodeps.txt",
)


def fingerprint(root: Path = PROJECT_ROOT) -> str:
    """A hash of the model's inputs (file names and contents)."""
    digest = hashlib.sha256()
    for name in MODEL_INPUTS:
        path = root / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if not file.exists() or "__pycache__" in file.parts:
                continue
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def is_up_to_date(root: Path = PROJECT_ROOT) -> bool:
    """Whether the model exists and was trained from the current inputs."""
    return (
        MODEL_PATH.exists()
        and FINGERPRINT_PATH.exists()
        and FINGERPRINT_PATH.read_text().strip() == fingerprint(root)
    )


def rasa_env() -> dict[str, str]:
    """Environment for Rasa commands: quiet TensorFlow and SQLAlchemy banners."""
    return {
        **os.environ,
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONWARNINGS": os.environ.get("PYTHONWARNINGS", "ignore::DeprecationWarning"),
    }


def training_env() -> dict[str, str]:
    """Environment for ``rasa train``: :func:`rasa_env`, and every core for the encoder.

    A training has the cores to itself: the encoder may use them all (a running
    assistant uses one thread per process, in_rasa/nlu/onnx_encoder.py), unless
    ``CARE_ENCODER_THREADS`` says otherwise.
    """
    return {"CARE_ENCODER_THREADS": str(os.cpu_count() or 1), **rasa_env()}


def train() -> float:
    """Trains the model with ``rasa train``; returns the seconds it took."""
    MODELS_DIR.mkdir(exist_ok=True)
    inputs = fingerprint()
    started = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "rasa",
            "train",
            "--out",
            str(MODELS_DIR),
            "--fixed-model-name",
            MODEL_NAME,
        ],
        cwd=PROJECT_ROOT,
        env=training_env(),
        check=True,
    )
    FINGERPRINT_PATH.write_text(inputs + "\n")
    return time.monotonic() - started


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="train even if up to date")
    args = parser.parse_args()
    if not args.force and is_up_to_date():
        print(f"model: {MODEL_PATH.relative_to(PROJECT_ROOT)} is up to date")
        return
    seconds = train()
    print(f"model: trained {MODEL_PATH.relative_to(PROJECT_ROOT)} in {seconds:.0f} s")


if __name__ == "__main__":
    main()
