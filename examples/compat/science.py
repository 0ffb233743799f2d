"""Compatibility suite, numbers, images and documents: numpy, matplotlib (Agg), Pillow,
wordcloud, pyarrow, lxml.

Registered by compat.py; alone: ``python science.py [all | PACKAGE...]``.

Results are rounded or hashed so that the interpreter and the image print the same bytes;
matplotlib draws no text into what is hashed, since the host may find other fonts than the image.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile

from harness import check, main


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


@check("numpy")
def _numpy() -> str:
    import numpy as np

    rng = np.random.default_rng(42)
    a = rng.standard_normal((50, 50))
    x = np.linalg.solve(a, np.ones(50))
    identity = np.allclose(a @ np.linalg.inv(a), np.eye(50))
    spectrum = np.abs(np.fft.rfft(np.sin(np.linspace(0, 8 * np.pi, 64, endpoint=False))))
    return (
        f"{np.__version__} solve {np.allclose(a @ x, 1)} inv {identity} "
        f"fft peak {int(spectrum.argmax())} sum {rng.integers(0, 100, 10).sum()}"
    )


@check("matplotlib")
def _matplotlib() -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    figure = plt.figure(figsize=(2, 1), dpi=50)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.axis("off")
    axes.plot(np.linspace(0, 1, 20), np.linspace(0, 1, 20) ** 2, color="#336699")
    figure.canvas.draw()
    pixels = bytes(figure.canvas.buffer_rgba())
    figure.text(0.5, 0.5, "text drawn with a font", fontsize=8)  # a font must be found
    png = io.BytesIO()
    figure.savefig(png, format="png", metadata={"Software": None})
    plt.close(figure)
    return f"{matplotlib.get_backend()} pixels {_sha(pixels)} png {png.getvalue()[:8]!r}"


@check("Pillow")
def _pillow() -> str:
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    image = Image.new("RGB", (64, 32), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((4, 4, 40, 20), fill="#336699", outline="black")
    draw.text((2, 20), "Hi", fill="red", font=ImageFont.load_default(size=10))
    blurred = image.filter(ImageFilter.GaussianBlur(1))
    sizes = []
    for fmt in ("PNG", "JPEG", "WEBP", "GIF", "TIFF", "BMP"):
        out = io.BytesIO()
        blurred.save(out, format=fmt)
        out.seek(0)
        with Image.open(out) as again:
            sizes.append(f"{again.format}:{again.size[0]}x{again.size[1]}")
    # A font by its file name, which Pillow finds among the machine's fonts (the build adds
    # it: --add-file), and text laid out by raqm, with the FriBiDi Pillow loads by name.
    text = Image.new("L", (120, 24))
    font = ImageFont.truetype("DejaVuSans.ttf", 16)
    ImageDraw.Draw(text).text((2, 2), "AVATAR Wavy", font=font, fill=255)
    layout = "raqm" if font.layout_engine == ImageFont.Layout.RAQM else "basic"
    return f"{_sha(blurred.tobytes())} {' '.join(sizes)} text {layout} {_sha(text.tobytes())}"


@check("wordcloud")
def _wordcloud() -> str:
    from wordcloud import STOPWORDS, WordCloud

    text = (
        "pybin2img builds images; images ship apps; apps run in images. The image holds the "
        "app and the app holds its packages, and the packages hold their data."
    )
    cloud = WordCloud(width=200, height=100, random_state=1, stopwords=STOPWORDS).generate(text)
    top = sorted(cloud.words_.items(), key=lambda item: (-item[1], item[0]))[:4]
    image = cloud.to_array()
    return f"{len(STOPWORDS)} stopwords {top} {image.shape}"


@check("pyarrow")
def _pyarrow() -> str:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pa.table({"fruit": ["pears", "plums", "pears"], "count": [3, 40, 5]})
    grouped = table.group_by("fruit").aggregate([("count", "sum")]).sort_by("fruit")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t.parquet")
        pq.write_table(table, path)
        again = pq.read_table(path)
    return (
        f"{grouped.to_pylist()} total {pc.sum(table['count']).as_py()} "
        f"parquet {again.equals(table)} {again.schema.types}"
    )


@check("lxml")
def _lxml() -> str:
    from lxml import etree, html

    document = etree.fromstring(
        b"<shop><item price='3'>pears</item><item price='40'>plums</item></shop>"
    )
    cheap = document.xpath("//item[@price < 10]/text()")
    style = etree.XSLT(
        etree.XML(
            b'<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
            b'<xsl:template match="/"><list><xsl:for-each select="//item">'
            b'<li><xsl:value-of select="."/></li></xsl:for-each></list></xsl:template>'
            b"</xsl:stylesheet>"
        )
    )
    transformed = etree.tostring(style(document)).decode()
    links = html.fromstring("<p><a href='/a'>a</a> <a href='b'>b</a></p>").xpath("//a/@href")
    return f"{cheap} {transformed} {links}"


if __name__ == "__main__":
    raise SystemExit(main())
