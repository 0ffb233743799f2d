from django.shortcuts import render

from .models import Product


def index(request):  # type: ignore[no-untyped-def]
    return render(request, "shop/index.html", {"products": Product.objects.order_by("name")})
