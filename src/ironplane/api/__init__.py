"""REST request and response bodies shared by the server and the SDK (pydantic, no server imports).

Requests forbid unknown fields so typos fail loudly; responses ignore unknown fields so an older
SDK keeps working against a newer server.
"""
