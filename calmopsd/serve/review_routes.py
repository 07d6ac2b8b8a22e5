"""The API's post-incident review routes, under the same prefix, tokens and JSON errors as
the rest (registered by :func:`calmopsd.serve.app.create_app`).

``GET /incidents/<id>/review``; ``PATCH /incidents/<id>/review`` with any of the fields
(``timeline``, ``root_cause``, ``helped``, ``not_helped``, ``prevention``, ``tuning``,
``notes``) as strings: those are replaced, the rest kept.
"""

from __future__ import annotations

from typing import Annotated, Any

from calmopsd.record.reviews import MAX_FIELD, Review
from calmopsd.serve.bodies import Body, Query, parse_body, parse_id, parse_query
from calmopsd.serve.reviews import Reviews
from calmopsd.serve.tokens import Caller
from calmopsd.serve.web import App, g, request
from calmopsd.typed import Field

Text = Annotated[str, Field(max_length=MAX_FIELD)] | None


class EmptyQuery(Query):
    pass


class ReviewEdit(Body):
    timeline: Text = None
    root_cause: Text = None
    helped: Text = None
    not_helped: Text = None
    prevention: Text = None
    tuning: Text = None
    notes: Text = None


def register(app: App, prefix: str, reviews: Reviews) -> None:
    def one(incident_id: str) -> dict[str, Any]:
        parse_query(EmptyQuery, _args())
        return review_view(reviews.show(_caller(), parse_id(incident_id, "incident")))

    def edit(incident_id: str) -> dict[str, Any]:
        parse_query(EmptyQuery, _args())
        body = parse_body(ReviewEdit, request.get_data(cache=True))
        changes = {k: v for k, v in body.model_dump().items() if v is not None}
        number = parse_id(incident_id, "incident")
        return review_view(reviews.edit(_caller(), number, changes))

    for methods, view in ((["GET"], one), (["PATCH"], edit)):
        app.add_url_rule(
            prefix + "/incidents/<incident_id>/review",
            endpoint=f"reviews_{view.__name__}",
            view_func=view,
            methods=methods,
            provide_automatic_options=False,
        )


def review_view(review: Review) -> dict[str, Any]:
    return {
        "incident_id": review.incident_id,
        "organization_id": review.organization_id,
        "fingerprint": review.fingerprint,
        "status": review.status.value,
        "drafted_at": review.drafted_at.isoformat(),
        "updated_at": review.updated_at.isoformat(),
        "edited_by": review.edited_by,
        "edited_fields": list(review.edited_fields),
        "fields": dict(review.texts),
        "figures": dict(review.figures),
        "learning": review.learning.to_values(),
    }


def _caller() -> Caller:
    caller: Caller = g.caller
    return caller


def _args() -> dict[str, list[str]]:
    return {key: request.args.getlist(key) for key in request.args}
