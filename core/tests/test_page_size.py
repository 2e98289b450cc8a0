from django.test import RequestFactory

from core.pagination import PAGE_SIZES, page_size


def test_it_takes_an_offered_page_size():
    assert page_size(RequestFactory().get("/", {"per_page": "50"})) == 50


def test_it_falls_back_to_the_first_size_for_anything_else():
    for value in ("7", "abc", ""):
        assert page_size(RequestFactory().get("/", {"per_page": value})) == PAGE_SIZES[0]
    assert page_size(RequestFactory().get("/")) == PAGE_SIZES[0]
