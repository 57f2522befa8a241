"""The mails an account gets: a link to verify its address, a link to reset its password, a
mentor's invitation to watch a session. They go out in the background, so an answer never waits
on SMTP nor reveals whether an address exists."""

from __future__ import annotations

import logging
from datetime import timedelta

from server.mail import Mail, MailError
from server.node import Node
from storage.email_tokens import Purpose
from storage.users import User

log = logging.getLogger("wingman.mail")


def _verify_mail(node: Node, user: User, token: str) -> Mail:
    link = f"{node.settings.public_base()}/auth/verify?token={token}"
    hours = round(node.settings.verify_token_seconds / 3600)
    return Mail(user.id, user.email, "Confirm your email for SocraticWingman",
                f"Hello {user.name},\n\nplease confirm this is your email address by opening\n\n"
                f"    {link}\n\nThe link works once, for {hours} hours. If you did not sign up, "
                "ignore this mail.\n")


def _reset_mail(node: Node, user: User, token: str) -> Mail:
    link = f"{node.settings.public_base()}/#reset={token}"
    minutes = round(node.settings.reset_token_seconds / 60)
    return Mail(user.id, user.email, "Reset your SocraticWingman password",
                f"Hello {user.name},\n\nsomeone asked to reset the password of this account. "
                f"To choose a new one, open\n\n    {link}\n\nThe link works once, for {minutes} "
                "minutes. If it was not you, ignore this mail: your password stays as it is.\n")


async def _send(node: Node, user: User, purpose: Purpose) -> None:
    # A failure is logged and dropped: it must never take the node's task group down.
    try:
        seconds = (node.settings.verify_token_seconds if purpose is Purpose.VERIFY
                   else node.settings.reset_token_seconds)
        token = await node.email_tokens.issue(user.id, purpose, timedelta(seconds=seconds))
        compose = _verify_mail if purpose is Purpose.VERIFY else _reset_mail
        await node.mail.send(compose(node, user, token))
    except Exception as err:
        # Only our own MailError is known to say nothing of the address.
        detail = str(err) if isinstance(err, MailError) else type(err).__name__
        log.error("could not send the %s mail to user %s: %s", purpose.value, user.id, detail)


async def _send_reset(node: Node, email: str) -> None:
    try:
        user = await node.users.by_email(email)
    except Exception as err:
        log.error("could not look up a password reset: %s", type(err).__name__)
        return
    # An unknown address gets nothing, and the answer already went out the same either way.
    if user is not None:
        await _send(node, user, Purpose.RESET)


def send_verification(node: Node, user: User) -> None:
    node.tasks.start_soon(_send, node, user, Purpose.VERIFY)


def send_reset(node: Node, email: str) -> None:
    node.tasks.start_soon(_send_reset, node, email)


def _invitation_mail(node: Node, mentor: User, learner_name: str, title: str,
                     invisible: bool) -> Mail:
    watching = ("You may watch without being shown to the learner." if invisible
                else "The learner will see that you are watching.")
    # The subject is all a log line shows of a mail: it names nobody.
    return Mail(mentor.id, mentor.email, "You are invited to watch a SocraticWingman session",
                f"Hello {mentor.name},\n\n{learner_name} invited you to watch their session on "
                f"\"{title}\" live, and to leave them notes. {watching}\n\nTo accept, sign in at"
                f"\n\n    {node.settings.public_base()}/\n\nand open your invitations. If you "
                "do not know this learner, ignore this mail: nothing happens until you "
                "accept.\n")


async def _send_invitation(node: Node, mail: Mail) -> None:
    try:
        await node.mail.send(mail)
    except Exception as err:
        detail = str(err) if isinstance(err, MailError) else type(err).__name__
        log.error("could not send the invitation mail to user %s: %s", mail.user, detail)


def send_invitation(node: Node, mentor: User, learner_name: str, title: str,
                    invisible: bool) -> None:
    """Mails a mentor their invitation, in the background: the learner's reply never waits."""
    node.tasks.start_soon(_send_invitation, node,
                          _invitation_mail(node, mentor, learner_name, title, invisible))
