"""A typer + rich command line tool: the kind of CLI people ship as an image.

    cli.py report            a table, a panel and syntax-highlighted JSON (pygments)
    cli.py greet NAME -n 2   plain output
    cli.py --help            typer's help, formatted by rich

Output is forced to a 100-column true-colour terminal so that the image and the host print the
same bytes whatever runs them; the highlighting goes through pygments' lexers and styles, which
are looked up by name at run time.
"""

from __future__ import annotations

import json
import platform

import typer
from rich.console import Console
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table

app = typer.Typer(add_completion=False, help="A small typer + rich tool.")
console = Console(width=100, force_terminal=True, color_system="truecolor", legacy_windows=False)

STOCK = {"apples": 12, "pears": 3, "plums": 40}


@app.command()
def report(theme: str = typer.Option("monokai", help="pygments style of the JSON")) -> None:
    """Print the stock as a table, then as highlighted JSON."""
    table = Table(title="Stock")
    table.add_column("fruit")
    table.add_column("count", justify="right")
    for fruit, count in STOCK.items():
        table.add_row(fruit, str(count))
    console.print(table)
    console.print(Panel(f"python {platform.python_version()}", title="built with"))
    console.print(Syntax(json.dumps(STOCK, indent=2), "json", theme=theme))
    console.print(Syntax("def f(x):\n    return x + 1\n", "python", theme="default"))


@app.command()
def greet(name: str, count: int = typer.Option(1, "--count", "-n", min=1)) -> None:
    """Greet NAME, COUNT times."""
    for _ in range(count):
        typer.echo(f"hello {name}")


if __name__ == "__main__":
    app()
