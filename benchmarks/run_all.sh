#!/usr/bin/env bash
# `make bench`: every benchmark, each table to stdout.
# Speed: layerwise against hand-written PyTorch, Keras on torch and Keras on TensorFlow. Keras-TF lives in
# its own venv (.venv-keras-tf) so TensorFlow never shares a process, threads or packages with torch.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
TF_VENV=.venv-keras-tf

if [[ ! -x "$TF_VENV/bin/python" ]]; then
    echo "Creating $TF_VENV for the keras-tf contender (tensorflow-cpu + keras; a few minutes, once)." >&2
    # tensorflow-cpu has no wheel for some Pythons/platforms; plain tensorflow is the same on a CPU.
    if ! { python3 -m venv "$TF_VENV" \
           && { "$TF_VENV/bin/pip" install --quiet --disable-pip-version-check tensorflow-cpu keras \
                || "$TF_VENV/bin/pip" install --quiet --disable-pip-version-check tensorflow keras; }; }; then
        echo "Could not install TensorFlow; keras-tf will be reported as unavailable." >&2
        rm -rf "$TF_VENV"
    fi
fi

"$PY" benchmarks/cnn_speed.py --all
"$PY" benchmarks/lstm_speed.py --all
"$PY" benchmarks/masked_lstm_speed.py --all
"$PY" benchmarks/conv_lstm_speed.py
if "$PY" -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then
    "$PY" benchmarks/gpu_speed.py
else
    echo "No CUDA device: benchmarks/gpu_speed.py skipped."
fi

# Quality benchmarks declare themselves by name; each prints its own table. The autoencoder benchmark runs one
# part at a time, and its parts other than digits need ../shared/data (the project's data sets).
shopt -s nullglob
for bench in benchmarks/quality_*.py benchmarks/rbm_*.py; do
    echo "## $bench"
    if [[ "$bench" == *quality_autoencoders.py ]]; then
        parts=(digits)
        [[ -d ../shared/data ]] && parts+=(mnist mnist30 olivetti denoise)
        for part in "${parts[@]}"; do "$PY" "$bench" --part "$part"; done
    else
        "$PY" "$bench"
    fi
done
