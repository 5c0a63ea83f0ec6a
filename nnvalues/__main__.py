from nnvalues.cli.main import app

app()
