"""Teacher accounts. Label Studio's community edition makes accounts through its sign-up page
and an organisation invite link (open sign-up is off on the embedded server); the API can make
users but not give them a password. So an account is made the way a teacher would make it:
the invite link's sign-up form, with an email and a password."""

from __future__ import annotations

import secrets

from asag.annotate.connection import Api, plain, sign_up
from asag.errors import LabelStudioError


def invite_url(api: Api) -> str:
    """The organisation's sign-up link for teachers (anyone holding it can join)."""
    return f"{api.url}{api.sdk.organizations.invites.get_invite_link().invite_url}"


def create_account(api: Api, email: str, password: str | None = None) -> tuple[dict, str]:
    """Sign a teacher up through the invite link; returns (user, password)."""
    password = password or secrets.token_urlsafe(10)
    link = invite_url(api)
    response = sign_up(link, email, password)
    if response.status_code != 302:
        raise LabelStudioError(
            f"Label Studio did not create the account {email}: {_refusal(response)}")
    user = find_user(api, email)
    if user is None:  # pragma: no cover - the form said yes
        raise LabelStudioError(f"account {email} was not found after sign-up")
    return user, password


def find_user(api: Api, email: str) -> dict | None:
    """The account with this email (any case), or None."""
    return next((u for u in plain(api.sdk.users.list())
                 if (u.get("email") or "").lower() == email.lower()), None)


def _refusal(response) -> str:
    """Why the sign-up form refused: its field errors ('email: User with this email already
    exists'), else the HTTP status."""
    reasons = form_errors(response.text) if response.status_code == 200 else []
    if reasons:
        return "; ".join(f"{field}: {text}".rstrip(".") if field else text.rstrip(".")
                         for field, text in reasons)
    return (f"its sign-up form answered HTTP {response.status_code} "
            f"{response.reason_phrase}; see the server's log")


def form_errors(html: str) -> list[tuple[str, str]]:
    """(field, message) for each error a Label Studio form page shows: the items of a
    `field_errors` list after the field's input, and `error` paragraphs (field '')."""
    from html.parser import HTMLParser

    class Errors(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.field, self.inside, self.found, self.text = "", [], [], None

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            classes = (attrs.get("class") or "").split()
            if tag == "input" and attrs.get("type") != "hidden":
                self.field = attrs.get("name") or ""
            if tag == "ul" and "field_errors" in classes:
                self.inside.append(self.field)
            elif (tag == "li" and self.inside) or (tag == "p" and "error" in classes):
                self.text = []

        def handle_endtag(self, tag):
            if tag == "ul" and self.inside:
                self.inside.pop()
            elif tag in ("li", "p") and self.text is not None:
                text = " ".join("".join(self.text).split())
                if text:
                    self.found.append((self.inside[-1] if self.inside else "", text))
                self.text = None

        def handle_data(self, data):
            if self.text is not None:
                self.text.append(data)

    parser = Errors()
    parser.feed(html)
    return parser.found
