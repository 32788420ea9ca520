"""A method's authorization in the local data plane, checked as API Gateway checks it.

* ``AWS_IAM``: the request's SigV4 signature (service ``execute-api``, the API's region) is
  recomputed with botocore's ``SigV4Auth`` from the secret moto knows for the access key: an
  IAM user's key, an assumed role's temporary key (its ``x-amz-security-token`` must match and
  not be expired), the sandbox's ``testing`` key, or the fixed pair moto's GetSessionToken hands
  out. Users and roles then need ``execute-api:Invoke`` on the method's ARN in their policies
  (evaluated by moto's ``IAMPolicy``); the sandbox key and GetSessionToken's pair stand for the
  account root and may call anything. Answers, with AWS's messages: no signature ``403 Missing
  Authentication Token``; unknown key or wrong token ``403 The security token included in the
  request is invalid.``; wrong secret ``403`` "The request signature we calculated does not
  match ..." with the canonical request and string to sign; wrong service or region, or a
  clock more than 5 minutes off, ``403`` with the matching text; no permission ``403`` "User:
  <arn> is not authorized to perform: execute-api:Invoke on resource: <arn>".
* ``CUSTOM``: the authorizer's Lambda (run by ``lambdas``) gets a ``TOKEN`` or ``REQUEST``
  event; a missing identity source or an ``Unauthorized`` error is ``401``, an explicit Deny or
  no matching Allow ``403``, anything else wrong ``500 {"message": null}``. The Lambda must
  allow ``apigateway.amazonaws.com`` from ``.../<api>/authorizers/<id>`` unless the authorizer
  has credentials. Results are not cached (every request runs the authorizer).
* ``COGNITO_USER_POOLS``: the token's issuer, signature, expiry, ``token_use`` and scopes
  (``cognito``).
* ``apiKeyRequired``: ``x-api-key`` must be an enabled key in a usage plan bound to this
  API and stage, else ``403 {"message":"Forbidden"}``. Usage plan throttles and quotas are not
  enforced. (The ``AUTHORIZER`` key source takes the authorizer's ``usageIdentifierKey``.)

Not supported: presigned (query-string) SigV4, resource policies, session policies of assumed
roles, IAM conditions beyond what moto evaluates.
"""

from __future__ import annotations

import hmac
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto.apigateway.models import apigateway_backends
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.iam.access_control import IAMPolicy, PermissionResult, create_access_key
from moto.iam.models import get_account_id_from, iam_backends
from moto.sts.models import sts_backends

from sagemeter_sandbox import AWS_CREDENTIALS

from . import cognito, lambdas
from .events import request_event
from .exchange import Call, Caller, GatewayError, Route, configuration_error

__all__ = ["authorize"]

# What moto's GetSessionToken and GetFederationToken always answer.
MOTO_SESSION_KEY = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY")
SANDBOX_KEY = (AWS_CREDENTIALS["AWS_ACCESS_KEY_ID"], AWS_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
MAX_SKEW = timedelta(minutes=5)
INVOKE = "execute-api:Invoke"


def authorize(call: Call, route: Route) -> Caller:
    """Who is calling, or a ``GatewayError`` saying why they may not."""
    caller = Caller(identity={"sourceIp": call.source_ip, "userAgent": call.header("User-Agent")})
    kind = (route.method.authorization_type or "NONE").upper()
    if kind == "AWS_IAM":
        caller.identity.update(_iam(call, route))
    elif kind == "CUSTOM":
        caller.authorizer = _custom(call, route, caller)
    elif kind == "COGNITO_USER_POOLS":
        caller.authorizer = cognito.authorize(call, route)
    elif kind != "NONE":
        raise configuration_error(f"the local data plane does not support {kind} authorization")
    if route.method.api_key_required:
        caller.identity.update(_api_key(call, route, caller))
    return caller


# --------------------------------------------------------------------------- API keys


def _api_key(call: Call, route: Route, caller: Caller) -> dict[str, str]:
    if route.api_key_source == "AUTHORIZER":
        value = (caller.authorizer or {}).get("usageIdentifierKey")
    else:
        value = call.header("x-api-key")
    backend = apigateway_backends[route.account][route.region]
    key = next((k for k in list(backend.keys.values()) if value and k.value == value), None)
    bound = (
        key is not None
        and str(key.enabled).lower() == "true"
        and any(
            {"apiId": route.api_id, "stage": route.stage} in plan.api_stages
            and key.id in backend.usage_plan_keys.get(plan.id, {})
            for plan in list(backend.usage_plans.values())
        )
    )
    if not bound or key is None:
        where = f"{route.api_id}/{route.stage}"
        why = f"the key is unknown, disabled or in no usage plan of {where}" if value else None
        raise GatewayError(403, "Forbidden", "ForbiddenException", detail=why or "no API key")
    return {"apiKey": key.value, "apiKeyId": key.id}


# --------------------------------------------------------------------------- AWS_IAM


def _denied(message: str, error_type: str = "InvalidSignatureException") -> GatewayError:
    return GatewayError(403, message, error_type)


def _iam(call: Call, route: Route) -> dict[str, Any]:
    header = call.header("Authorization")
    if not header:
        raise GatewayError(
            403,
            "Missing Authentication Token",
            "MissingAuthenticationTokenException",
            detail="the request is unsigned",
        )
    fields = dict(re.findall(r"(Credential|SignedHeaders|Signature)=([^,\s]+)", header))
    amz_date = call.header("X-Amz-Date")
    missing = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if name not in fields
    ]
    if not amz_date:
        missing.append(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    scope = fields.get("Credential", "").split("/")
    if not header.startswith("AWS4-HMAC-SHA256 ") or missing or len(scope) != 5:
        raise _denied(
            " ".join(missing or ["Invalid authorization header."]) + f" Authorization={header}",
            "IncompleteSignatureException",
        )
    assert amz_date is not None
    key_id, day, region, service, _ = scope
    if service != "execute-api":
        raise _denied("Credential should be scoped to correct service: 'execute-api'. ")
    if region != route.region:
        # API Gateway's own words, with the region the caller signed for: a REST API with
        # AWS_IAM answers a call signed for another region 403
        # {"message": "Credential should be scoped to a valid region, not 'ap-northeast-1'. "}
        # (quoted in zenn.dev/hiroga/articles/api-gateway-cross-account-trouble-shooting).
        raise _denied(f"Credential should be scoped to a valid region, not '{region}'. ")
    _check_clock(amz_date, day)
    token = call.header("X-Amz-Security-Token")
    secret, principal, principal_id, policies = _principal(key_id, token)
    signer = SigV4Auth(Credentials(key_id, secret, token), "execute-api", region)
    signed = fields["SignedHeaders"].split(";")
    request = AWSRequest(
        method=call.method,
        url=call.url,
        data=call.body,
        headers={name: call.header(name) or "" for name in signed},
    )
    request.context["timestamp"] = amz_date
    canonical = signer.canonical_request(request)
    to_sign = signer.string_to_sign(request, canonical)
    if not hmac.compare_digest(signer.signature(to_sign, request), fields["Signature"]):
        raise _denied(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service "
            f"documentation for details.\n\nThe Canonical String for this request should have "
            f"been\n'{canonical}'\n\nThe String-to-Sign should have been\n'{to_sign}'\n"
        )
    if policies is not None:
        _check_invoke(principal, policies, route.method_arn(call))
    account = principal.split(":")[4]
    return {
        "accessKey": key_id,
        "accountId": account,
        # API Gateway's $context.identity.caller and .user are the principal identifier of who
        # signed, not the key: the account id for its root, an IAM user's unique id, and
        # "<role id>:<session name>" for an assumed role (the value of IAM's aws:userid).
        "caller": principal_id,
        "user": principal_id,
        "userArn": principal,
    }


def _check_clock(amz_date: str, day: str) -> None:
    if day != amz_date[:8]:
        raise _denied(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{day}' != '{amz_date[:8]}', from '{amz_date}'."
        )
    try:
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError as error:
        raise _denied(f"Invalid X-Amz-Date: {amz_date}", "IncompleteSignatureException") from error
    now = datetime.now(UTC)
    stamp = "%Y%m%dT%H%M%SZ"
    if signed_at < now - MAX_SKEW:
        raise _denied(
            f"Signature expired: {amz_date} is now earlier than "
            f"{(now - MAX_SKEW):{stamp}} ({now:{stamp}} - 5 min.)"
        )
    if signed_at > now + MAX_SKEW:
        raise _denied(
            f"Signature not yet current: {amz_date} is still later than "
            f"{(now + MAX_SKEW):{stamp}} ({now:{stamp}} + 5 min.)"
        )


def _principal(key_id: str, token: str | None) -> tuple[str, str, str, list[Any] | None]:
    """The secret, the principal's ARN, its identifier (IAM's aws:userid) and its policies
    (None: the account root, allowed everything) for an access key moto knows;
    ``GatewayError`` for any other key."""
    invalid = _denied(
        "The security token included in the request is invalid.", "UnrecognizedClientException"
    )
    if key_id in (SANDBOX_KEY[0], MOTO_SESSION_KEY[0]):
        secret = SANDBOX_KEY[1] if key_id == SANDBOX_KEY[0] else MOTO_SESSION_KEY[1]
        return secret, f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:root", DEFAULT_ACCOUNT_ID, None
    account = get_account_id_from(key_id)
    access_key = iam_backends[account]["aws"].access_keys.get(key_id)
    if access_key is None or access_key.status != "Active":
        raise invalid
    headers = {"X-Amz-Security-Token": token} if token else {}
    try:
        principal = create_access_key(account, "aws", key_id, headers)
    except Exception as error:  # moto's CreateAccessKeyFailure: unknown key or wrong token
        raise invalid from error
    if access_key.role_arn:
        role = sts_backends[account]["aws"].get_assumed_role_from_access_key(key_id)
        if role is None or role.expiration < datetime.now(UTC).replace(tzinfo=None):
            raise _denied(
                "The security token included in the request is expired", "ExpiredTokenException"
            )
        principal_id = role.user_id
    else:
        user = access_key.user_name
        principal_id = iam_backends[account]["aws"].get_user(user).id if user else account
    try:
        policies = list(principal.collect_policies())
    except Exception:  # moto: an assumed role that does not exist in IAM has no policies
        policies = []
    return access_key.secret_access_key, principal.arn, principal_id, policies


def _check_invoke(principal: str, policies: list[Any], resource: str) -> None:
    results = [IAMPolicy(policy).is_action_permitted(INVOKE, resource) for policy in policies]
    if PermissionResult.PERMITTED in results and PermissionResult.DENIED not in results:
        return
    explicit = " with an explicit deny" if PermissionResult.DENIED in results else ""
    raise GatewayError(
        403,
        f"User: {principal} is not authorized to perform: {INVOKE} on resource: "
        f"{resource}{explicit}",
        "AccessDeniedException",
        key="Message",
    )


# --------------------------------------------------------------------------- CUSTOM


def _unauthorized(detail: str) -> GatewayError:
    return GatewayError(401, "Unauthorized", "UnauthorizedException", detail=detail)


def _authorizer_failed(detail: str) -> GatewayError:
    return configuration_error(detail, None, "AuthorizerConfigurationException")


def _custom(call: Call, route: Route, caller: Caller) -> dict[str, Any]:
    authorizer = route.authorizers.get(route.method.authorizer_id or "")
    if authorizer is None:
        raise configuration_error(f"authorizer {route.method.authorizer_id} is not deployed")
    kind = (authorizer.type or "").upper()
    method_arn = route.method_arn(call)
    sources = [s.strip() for s in (authorizer.identity_source or "").split(",") if s.strip()]
    if kind == "TOKEN":
        source = sources[0] if sources else "method.request.header.Authorization"
        token = call.header(source.removeprefix("method.request.header."))
        if not token:
            raise _unauthorized(f"no {source}")
        pattern = authorizer.identity_validation_expression
        if pattern and not re.fullmatch(pattern, token):
            raise _unauthorized("the token fails the identity validation expression")
        event: dict[str, Any] = {
            "type": "TOKEN",
            "authorizationToken": token,
            "methodArn": method_arn,
        }
    elif kind == "REQUEST":
        query = call.query_params()
        for source in sources:
            where, _, name = source.removeprefix("method.request.").partition(".")
            if where not in ("header", "querystring"):
                raise _authorizer_failed(f"identity source {source} is not supported locally")
            if not (call.header(name) if where == "header" else query.get(name)):
                raise _unauthorized(f"no {source}")
        event = {"type": "REQUEST", "methodArn": method_arn, **request_event(call, route, caller)}
    else:
        raise _authorizer_failed(f"the local data plane does not support {kind} authorizers")
    arn = lambdas.function_arn_from_uri(authorizer.authorizer_uri)
    function = lambdas.find_function(arn) if arn else None
    if function is None:
        raise _authorizer_failed(f"authorizer Lambda {authorizer.authorizer_uri} not found")
    source_arn = route.execute_api_arn(f"authorizers/{authorizer.id}")
    if not authorizer.authorizer_credentials and not lambdas.permits_apigateway(
        function, source_arn
    ):
        raise _authorizer_failed(
            f"{function.function_arn} does not let API Gateway invoke it from {source_arn}"
        )
    try:
        result = lambdas.invoke(function, event, call.request_id, call.endpoint_url, 30)
    except (lambdas.LambdaUnsupported, TimeoutError) as error:
        raise _authorizer_failed(f"authorizer {function.function_arn}: {error}") from error
    if result.error:
        if result.payload.get("errorMessage") == "Unauthorized":
            raise _unauthorized("the authorizer said Unauthorized")
        raise _authorizer_failed(f"authorizer {function.function_arn} failed: {result.payload}")
    return _policy_decision(result.payload, method_arn)


def _policy_decision(answer: Any, method_arn: str) -> dict[str, Any]:
    """The authorizer context when the answer's policy allows ``method_arn``."""
    if (
        not isinstance(answer, dict)
        or "principalId" not in answer
        or not isinstance(answer.get("policyDocument"), dict)
    ):
        raise _authorizer_failed(f"the authorizer's answer is not a policy: {answer!r:.300}")
    statements = answer["policyDocument"].get("Statement") or []
    effects = set()
    for statement in statements if isinstance(statements, list) else [statements]:
        actions, resources = statement.get("Action", []), statement.get("Resource", [])
        if _matches_any(actions, INVOKE) and _matches_any(resources, method_arn):
            effects.add(str(statement.get("Effect", "")).capitalize())
    if "Deny" in effects or "Allow" not in effects:
        explicit = " with an explicit deny" if "Deny" in effects else ""
        raise GatewayError(
            403,
            f"User is not authorized to access this resource{explicit}",
            "AccessDeniedException",
            key="Message",
        )
    decision = {"principalId": answer["principalId"], **(answer.get("context") or {})}
    if "usageIdentifierKey" in answer:  # the API key of an AUTHORIZER key source
        decision["usageIdentifierKey"] = answer["usageIdentifierKey"]
    return decision


def _matches_any(patterns: Any, value: str) -> bool:
    listed = patterns if isinstance(patterns, list) else [patterns]
    return any(lambdas.wildcard(str(pattern)).fullmatch(value) for pattern in listed)
