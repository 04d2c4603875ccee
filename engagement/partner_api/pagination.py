"""Pagination for partner lists: page numbers by default, cursors for append-only streams."""

from rest_framework import pagination


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


class CursorPagination(pagination.CursorPagination):
    """Newest first by id; stable while new rows are appended (ledger, events)."""

    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = 500
