"""The HTTP API: what people can do to calmopsd, over one org-scoped business layer.

    tokens.py      bearer tokens → Caller (name, scope, role), compared in constant time
    operations.py  Operations: the business layer the API and the CLI both call
    bodies.py      request bodies and query strings, checked before anything runs
    views.py       the JSON shape of each answer
    app.py         create_app(operations, tokens): the routes and JSON errors
    server.py      ApiServer: waitress on IP:PORT and/or a unix socket, in a thread

Importing this package starts nothing.
"""
