"""Teacher accounts. Label Studio's community edition makes accounts through its sign-up page
and an organisation invite link (open sign-up is off on the embedded server); the API can make
users but not give them a password. So an account is made the way a teacher would make it:
the invite link's sign-up form, with an email and a password."""

from __future__ import annotations

import secrets

import click

from asag.annotate.connection import Api, plain


def invite_url(api: Api) -> str:
    """The organisation's sign-up link for teachers (anyone holding it can join)."""
    return f"{api.url}{api.sdk.organizations.invites.get_invite_link().invite_url}"


def create_account(api: Api, email: str, password: str | None = None) -> tuple[dict, str]:
    """Sign a teacher up through the invite link; returns (user, password)."""
    import httpx

    password = password or secrets.token_urlsafe(10)
    link = invite_url(api)
    with httpx.Client(timeout=60, follow_redirects=False) as browser:
        page = browser.get(link)
        page.raise_for_status()
        csrf = browser.cookies.get("csrftoken", "")
        response = browser.post(
            link,
            data={"email": email, "password": password, "csrfmiddlewaretoken": csrf},
            headers={"Referer": link},
        )
        if response.status_code != 302:
            raise click.ClickException(
                f"Label Studio did not create the account {email} ({_form_error(response.text)});"
                " use another email, or a password of 8+ characters that is not too common"
            )
    user = find_user(api, email)
    if user is None:  # pragma: no cover - the form said yes
        raise click.ClickException(f"account {email} was not found after sign-up")
    return user, password


def find_user(api: Api, email: str) -> dict | None:
    """The account with this email (any case), or None."""
    return next((u for u in plain(api.sdk.users.list())
                 if (u.get("email") or "").lower() == email.lower()), None)


def login(url: str, email: str, password: str):
    """A logged-in browser-like session (cookies + CSRF header), as a teacher in the web app."""
    import httpx

    session = httpx.Client(base_url=url, timeout=60, follow_redirects=False)
    session.get("/user/login/")
    csrf = session.cookies.get("csrftoken", "")
    response = session.post(
        "/user/login/",
        data={"email": email, "password": password, "csrfmiddlewaretoken": csrf},
        headers={"Referer": f"{url}/user/login/"},
    )
    if response.status_code != 302:
        session.close()
        raise click.ClickException(f"could not log in to {url} as {email}")
    session.headers["X-CSRFToken"] = session.cookies.get("csrftoken", "")
    session.headers["Referer"] = url
    return session


def _form_error(html: str) -> str:
    import re

    found = re.findall(r'class="[^"]*error[^"]*"[^>]*>\s*([^<]{3,200})<', html)
    return " ".join(found[0].split()) if found else "the sign-up form refused it"
