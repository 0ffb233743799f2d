"""``python -m pybin2img``."""

from .cli import main

if __name__ == "__main__":
    main()
