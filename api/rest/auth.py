"""POST /api/v1/auth/token (username + password → bearer token), GET /api/v1/auth/me."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from api import auth
from api.rest.common import allow
from api.rest.schemas import MeSchema, TokenRequestSchema, TokenSchema

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth",
                description="Bearer tokens: send `Authorization: Bearer <access_token>` with every other call.")


@blp.route("/token", methods=["POST"])
@blp.doc(security=[], summary="Get a bearer token",
         description="Signed and expiring (`expires_in` seconds). Five failed attempts for one user from one "
                     "address within 15 minutes block further attempts for that window (429).")
@blp.arguments(TokenRequestSchema, example={"username": "clerk", "password": "demo"})
@blp.response(200, TokenSchema)
def token(body: dict[str, Any]) -> Any:
    user = auth.authenticate(body["username"], body["password"])
    return auth.issue_token(user)


@blp.route("/me", methods=["GET"])
@allow(blp, "account.read")
@blp.response(200, MeSchema)
def me() -> Any:
    user = auth.current_user()
    return {"username": user.username, "display_name": user.display_name, "groups": sorted(user.groups)}
