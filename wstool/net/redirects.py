"""``connect -L``: follow 301/302/303/307/308 answers to the upgrade request.

RFC 6455 §4.1 leaves it to the client: "the server might redirect the client
using a 3xx status code (but clients are not required to follow them)".
:func:`connect_following` connects as :func:`~wstool.net.client.connect`
does and, for each redirect with a Location, connects again to where it
points (a relative Location is taken from the URL redirected; http and https
as ws and wss, so ws -> wss is allowed), reporting each hop, at most
``max_redirects`` times and never to a URL already visited (a loop).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin, urlsplit

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from wstool.core.errors import UsageError
from wstool.core.uri import WebSocketURI, parse_uri
from wstool.net.client import ClientOptions, ClientSession, HandshakeRejected, connect
from wstool.net.wire import FrameObserver

__all__ = ["RedirectFailed", "connect_following", "redirect_target"]

_CREDENTIALS = ("authorization", "cookie")
"""Headers not carried to another host, as curl does without --location-trusted."""


class RedirectFailed(HandshakeRejected):
    """A redirect that cannot be followed: too many, a loop, or a Location that is no URL."""


def redirect_target(current: WebSocketURI, location: str) -> WebSocketURI:
    """The WebSocket URI a Location points to, from ``current``.

    Raises:
        UsageError: the Location is not an http(s) or ws(s) URL.
    """
    base = str(current)
    scheme = urlsplit(location).scheme.lower()
    if scheme in ("http", "https", "ws", "wss"):
        absolute = location
    elif scheme:
        raise UsageError(f"the redirect's Location {location!r} is not a WebSocket URL")
    else:
        # urljoin knows only http's hierarchy: resolve as http(s), then back.
        http_base = base.replace("ws", "http", 1)
        absolute = urljoin(http_base, location)
    target = parse_uri(absolute)
    return dataclasses.replace(target, converted_from=None)


def _next_options(options: ClientOptions, target: WebSocketURI) -> ClientOptions:
    same_host = (target.host, target.port) == (options.uri.host, options.uri.port)
    headers = options.headers
    auth = options.auth
    if not same_host:
        headers = tuple(h for h in headers if h[0].lower() not in _CREDENTIALS)
        auth = None
    return dataclasses.replace(options, uri=target, headers=headers, auth=auth)


def connect_following(
    reactor: Any,
    options: ClientOptions,
    observer: FrameObserver,
    *,
    max_redirects: int,
    on_redirect: Callable[[int, WebSocketURI, WebSocketURI], None],
    connect_once: Callable[..., Deferred[ClientSession]] = connect,
) -> Deferred[ClientSession]:
    """Connect, following redirects; ``on_redirect(status, from, to)`` is told of each hop.

    Returns:
        A Deferred that fires with the :class:`ClientSession` at the end of
        the chain, or fails as ``connect`` does, or with :class:`RedirectFailed`.
    """
    follower = _Follower(reactor, options, observer, max_redirects, on_redirect, connect_once)
    follower.attempt()
    return follower.result


class _Follower:
    """One chain of redirects: where it is, where it has been."""

    def __init__(
        self,
        reactor: Any,
        options: ClientOptions,
        observer: FrameObserver,
        max_redirects: int,
        on_redirect: Callable[[int, WebSocketURI, WebSocketURI], None],
        connect_once: Callable[..., Deferred[ClientSession]],
    ) -> None:
        self.reactor = reactor
        self.options = dataclasses.replace(options, follow_redirects=True)
        self.observer = observer
        self.max_redirects = max_redirects
        self.on_redirect = on_redirect
        self.connect_once = connect_once
        self.visited = {str(options.uri)}
        self.hops = 0
        self.result: Deferred[ClientSession] = Deferred()

    def attempt(self) -> None:
        connecting = self.connect_once(self.reactor, self.options, self.observer)
        connecting.addCallbacks(self.result.callback, self.refused)

    def refused(self, failure: Failure) -> None:
        rejected = failure.value
        if not isinstance(rejected, HandshakeRejected) or rejected.location is None:
            self.result.errback(failure)
            return
        current = self.options.uri
        try:
            target = redirect_target(current, rejected.location)
        except UsageError as exc:
            self.result.errback(Failure(_failed(str(exc), rejected)))
            return
        if str(target) in self.visited:
            self.result.errback(Failure(_failed(f"redirect loop: {target} again", rejected)))
            return
        if self.hops >= self.max_redirects:
            why = f"more than {self.max_redirects} redirects (--max-redirs); the next is {target}"
            self.result.errback(Failure(_failed(why, rejected)))
            return
        self.visited.add(str(target))
        self.hops += 1
        self.on_redirect(rejected.status, current, target)
        self.options = _next_options(self.options, target)
        self.attempt()


def _failed(why: str, rejected: HandshakeRejected) -> RedirectFailed:
    return RedirectFailed(why, rejected.status, rejected.head, rejected.body, rejected.location)
