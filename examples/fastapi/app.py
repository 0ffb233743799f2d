"""A FastAPI service run by uvicorn, given as the string "app:app" as its docs show.

uvicorn imports the module by that name at start, so the compiled program must hold this file
as the module ``app`` as well as its ``__main__`` (as ``python app.py`` does on the host).

    GET /              -> {"service": "fastapi", "compiled": ...}
    GET /items/3?q=x   -> {"item_id": 3, "q": "x", "double": 6}
    POST /items        -> the item back, validated by pydantic
"""

from __future__ import annotations

import os

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, Field

app = FastAPI(title="corpus")


class Item(BaseModel):
    name: str = Field(min_length=1)
    price: float = Field(gt=0)
    tags: list[str] = []


@app.get("/")
def index() -> dict[str, object]:
    return {"service": "fastapi", "compiled": "__compiled__" in globals()}


@app.get("/items/{item_id}")
def read_item(item_id: int, q: str | None = None) -> dict[str, object]:
    return {"item_id": item_id, "q": q, "double": item_id * 2}


@app.post("/items")
def create_item(item: Item) -> Item:
    return item


if __name__ == "__main__":
    uvicorn.run("app:app", host="0.0.0.0", port=int(os.environ.get("PORT", "8080")))  # noqa: S104
