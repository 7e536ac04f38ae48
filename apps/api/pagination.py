from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class ComputedListPagination(pagination.LimitOffsetPagination):
    """For lists computed in full (aggregates, not a queryset to order by a
    cursor): ``limit`` and ``offset``, at most 200 per page."""

    default_limit = 50
    max_limit = 200
