from prestacop.cli.main import app

app(prog_name="prestacop")
