"""Reads the data files its distribution installs next to its code, as wordcloud reads its
``stopwords``."""

from pathlib import Path

HERE = Path(__file__).parent
GREETING = (HERE / "greeting.txt").read_text(encoding="utf-8").strip()


def messages() -> dict[str, str]:
    """Every message file in ``messages/``: found by listing the directory."""
    return {
        path.stem: path.read_text(encoding="utf-8").strip()
        for path in sorted((HERE / "messages").glob("*.txt"))
    }
