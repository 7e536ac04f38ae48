"""The public catalog API: output serializers, and the query filters each list takes.

Filters are serializers too, so a bad value is a 400 naming the parameter, and
the OpenAPI schema lists every parameter with its type and choices.
"""
