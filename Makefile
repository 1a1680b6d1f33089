# A thin list of the project's commands; the work is done by .ci/setup and the console scripts.
.PHONY: setup demo test bench
setup:
	bash .ci/setup test
demo:
	bash .ci/setup demo
	.venv/bin/possync-server demo
test: setup
	.venv/bin/python -m pytest
bench: setup
	.venv/bin/possync-bench ingest --terminals 200 --rate 2 --seconds 20
	.venv/bin/possync-bench outbox
