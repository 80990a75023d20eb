# The two commands a newcomer needs (see README): `make lab` and `make test`.
.PHONY: setup lab test

setup:
	bash scripts/setup.sh

lab: setup
	.venv/bin/jupyter lab --ip 127.0.0.1 notebooks/00-tour.ipynb

test: setup
	npm test --prefix js
	.venv/bin/python -m pytest
