from kho.cli import run

run()
