"""A Flask script with its templates and static files beside it, as Flask finds them by default.

``app.py render`` prints the rendered page and the static file's status, through Flask's test
client: the same under the interpreter and in the image.
"""

import sys

from flask import Flask, render_template

app = Flask(__name__)


@app.get("/")
def index() -> str:
    return render_template("index.html", name="pybin2img")


if __name__ == "__main__":
    if sys.argv[1:] == ["render"]:
        with app.test_client() as client:
            print(client.get("/").data.decode().strip())
            print("static:", client.get("/static/site.css").status_code)
    else:
        app.run(host="0.0.0.0", port=8080)
