"""Pagination for partner lists: page numbers by default, cursors for append-only streams."""

from rest_framework import pagination, serializers


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


class CursorPagination(pagination.CursorPagination):
    """Newest first by id; stable while new rows are appended (ledger, events)."""

    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = 500


PAGE_SHAPES: dict[str, type] = {}


def paginated(item_serializer: type, cursor: bool = False) -> type:
    """The serializer class documenting one page of `item_serializer` (for extend_schema):
    {count, next, previous, results} for page numbers, {next, previous, results} for cursors.

    Classes are made once per item serializer, so the schema has one component per list.
    """
    name = item_serializer.__name__.removesuffix("Serializer")
    name = f"{'Cursor' if cursor else ''}Paginated{name}ListSerializer"
    if name not in PAGE_SHAPES:
        fields = {
            "next": serializers.URLField(allow_null=True, help_text="The next page's URL; null on the last page."),
            "previous": serializers.URLField(allow_null=True, help_text="The previous page's URL; null on the first."),
            "results": item_serializer(many=True),
        }
        if not cursor:
            fields = {"count": serializers.IntegerField(help_text="Items on all pages."), **fields}
        PAGE_SHAPES[name] = type(name, (serializers.Serializer,), fields)
    return PAGE_SHAPES[name]
