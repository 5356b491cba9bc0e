"""The application factory: wires configuration, AWS clients, identity and the web layer together."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from . import aws
from .badge import badge_for
from .bodylimit import BodyLimit
from .config import Config, load_config
from .cursor import CursorCodec
from .errors import init_errors
from .identity import Identity, IdentitySource
from .requestlog import configure_logging, init_request_log
from .secret import generate_dev_secret, resolve_secret
from .security import init_security
from .store import MessageStore
from .version import release_version
from .views import bp

# Forms are a name and 280 characters; anything near this limit is not a visitor's message.
MAX_CONTENT_LENGTH = 16 * 1024
STATIC_MAX_AGE_SECONDS = 24 * 3600
# A worker reading SECRET_KEY_PARAMETER itself (plain `gunicorn visitor_board.wsgi:app`) retries a failing
# SSM this long: well inside gunicorn's worker timeout, which also covers booting.
WORKER_SECRET_WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class StartupOptions:
    """Knobs for callers that already know things the app would otherwise look up."""

    dev: bool = False
    identity: Identity | None = None
    secret_key: str | None = None


class SchemeSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the Secure flag exactly on requests that came over https
    (SESSION_COOKIE_SECURE=auto): behind the host's nginx, werkzeug's ProxyFix takes the scheme from the
    X-Forwarded-Proto nginx writes, so a host that serves https marks its cookies Secure and one that (still)
    serves only http keeps working."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure


def create_app(config: Config | None = None, options: StartupOptions | None = None) -> Flask:
    """Build the app; raises ConfigError / SecretError (one line each) when it cannot run.

    Nothing here waits on DynamoDB, and a silent metadata service costs at most LOOKUP_DEADLINE_SECONDS.
    """
    options = options or StartupOptions()
    configure_logging()
    config = config or load_config(require_secret=not options.dev)
    session = aws.make_session(config)
    secret_key = options.secret_key or config.secret_key
    if secret_key is None:
        # Dev mode has no AWS account to read a parameter from; a throwaway secret only costs a fresh
        # session cookie per restart.
        if options.dev:
            secret_key = generate_dev_secret()
        else:
            secret_key = resolve_secret(
                config, lambda: aws.ssm_client(session), wait_seconds=WORKER_SECRET_WAIT_SECONDS
            )
    identity = IdentitySource.fixed(options.identity) if options.identity else IdentitySource()

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secret_key,
        MAX_CONTENT_LENGTH=MAX_CONTENT_LENGTH,
        MAX_FORM_MEMORY_SIZE=MAX_CONTENT_LENGTH,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.session_cookie_secure is True,
        SESSION_COOKIE_NAME="vb_session",
        SEND_FILE_MAX_AGE_DEFAULT=STATIC_MAX_AGE_SECONDS,
        RELEASE_VERSION=release_version(),
    )
    if config.session_cookie_secure == "auto":
        app.session_interface = SchemeSessionInterface()
    app.extensions["visitor_board.store"] = MessageStore(
        client=aws.dynamodb_client(session, config),
        probe_client=aws.dynamodb_client(session, config, attempts=aws.PROBE_ATTEMPTS),
        table_name=config.table_name,
        cursor_codec=CursorCodec(secret_key),
        page_size=config.page_size,
    )
    app.extensions["visitor_board.identity"] = identity

    # Order matters: the request id exists before anything can fail, and the content-type check runs
    # before CSRFProtect so a JSON body gets 415 rather than a confusing CSRF 400.
    init_request_log(app)
    init_security(app)
    CSRFProtect(app)
    init_errors(app)
    app.register_blueprint(bp)

    if config.trusted_proxy_hops:
        # The visitor's address and scheme from the last N X-Forwarded-For / -Proto entries, the ones our own
        # proxies wrote; anything a client put before them is ignored. Only trusted hops can reach the app
        # (the host's nginx overwrites both headers and is the only client of gunicorn's socket).
        hops = config.trusted_proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]

    @app.context_processor
    def page_globals() -> dict[str, object]:
        source: IdentitySource = app.extensions["visitor_board.identity"]
        identity = source.current()
        return {
            "identity": identity,
            "badge": badge_for(identity.instance_id),
            "release": app.config["RELEASE_VERSION"],
        }

    # Outermost, so a chunked body is measured before anything reads it.
    app.wsgi_app = BodyLimit(app.wsgi_app, MAX_CONTENT_LENGTH)  # type: ignore[method-assign]
    return app
