"""What a spec asks SageMaker for: the Model and EndpointConfig names and requests.

Resolving a JumpStart model costs a hub lookup, so results are kept per spec
generation (and per JumpStart id/version/instance type); a restart resolves once. An object
keeps one target, its latest generation's: a new generation (or a new default role) replaces
it, and the object's deletion forgets it.
"""

from __future__ import annotations

from sagemeter.aws.clients import client
from sagemeter.aws.errors import AwsError, ErrorKind
from sagemeter.aws.jumpstart import resolve_jumpstart
from sagemeter.aws.sagemaker import EndpointDescription
from sagemeter.core.endpoint.requests import ModelContainer, Target, container_from_spec, own_target
from sagemeter.core.endpoint.tags import resource_tags
from sagemeter.core.endpoint.targets import (
    EulaRefused,
    adopted_config_name,
    execution_role,
    gated_model_source,
)
from sagemeter.runtime.context import Context, Degraded
from sagemeter.runtime.settings import Settings
from sagemeter.runtime.workers import Workers


class Targets:
    def __init__(self, settings: Settings, workers: Workers) -> None:
        self.settings = settings
        self.workers = workers
        # uid -> ((generation, default role), target): one per object, the latest.
        self._targets: dict[str, tuple[tuple[int, str | None], Target]] = {}
        self._models: dict[tuple[str, str, str, str | None, bool], ModelContainer] = {}

    async def resolve(self, ctx: Context, endpoint: EndpointDescription | None) -> Target:
        spec = ctx.spec
        if spec.adopt:
            config = adopted_config_name(
                endpoint.config_name if endpoint else None, ctx.status.endpoint_config_name
            )
            if not config:
                raise Degraded(
                    "EndpointNotFound",
                    f"endpoint {ctx.endpoint_name} does not exist and no EndpointConfig is"
                    " known to recreate it: create the endpoint (this object adopts it once it"
                    " may), or delete this object",
                )
            return Target(ctx.endpoint_name, config)
        model = spec.model
        if model is None:  # admission requires a model unless adopt is set
            raise Degraded("InvalidSpec", "spec.model is required unless spec.adopt is true")
        if model.endpoint_config_name:
            return Target(ctx.endpoint_name, model.endpoint_config_name)
        made_for = (ctx.generation, ctx.default_role)
        kept = self._targets.get(ctx.uid)
        if kept is None or kept[0] != made_for:
            role = execution_role(
                model.execution_role_arn, ctx.default_role, self.settings.execution_role_arn
            )
            if not role:
                raise Degraded(
                    "ExecutionRoleMissing",
                    "no execution role: set spec.model.executionRoleArn (or the operator's"
                    " SAGEMETER_EXECUTION_ROLE_ARN, or executionRoles.default of an"
                    " EndpointPolicy that selects this namespace)",
                )
            container = container_from_spec(spec) or await self._jumpstart(ctx)
            tags = resource_tags(ctx.owner, spec.tags)
            target = own_target(ctx.endpoint_name, spec, container, role, tags, ctx.uid)
            kept = self._targets[ctx.uid] = (made_for, target)
        return kept[1]

    def forget(self, uid: str) -> None:
        """The object is deleted."""
        self._targets.pop(uid, None)

    def kept(self) -> int:
        return len(self._targets)

    async def _jumpstart(self, ctx: Context) -> ModelContainer:
        js = ctx.spec.model.jump_start if ctx.spec.model else None
        assert js is not None  # only called for JumpStart sources
        key = (ctx.region, js.model_id, js.version, ctx.spec.instance_type, js.accept_eula)
        if key not in self._models:
            try:
                resolved = await self.workers.run(
                    resolve_jumpstart,
                    client("sagemaker", ctx.region, ctx.identity),
                    js.model_id,
                    js.version,
                    ctx.region,
                    ctx.spec.instance_type,
                )
            except AwsError as error:
                if error.kind == ErrorKind.NOT_FOUND or error.kind == ErrorKind.TERMINAL:
                    raise Degraded(
                        "ModelNotFound",
                        f"JumpStart model {js.model_id} version {js.version} not found in"
                        f" SageMakerPublicHub ({ctx.region}): {error.message}; set"
                        " spec.model.jumpStart.modelId (and version) to a model the hub lists"
                        " (aws sagemaker list-hub-contents --hub-name SageMakerPublicHub"
                        " --hub-content-type Model)",
                    ) from error
                raise
            source = gated_model_source(
                resolved.model_data_source, resolved.eula_uri, js.accept_eula
            )
            if isinstance(source, EulaRefused):
                raise Degraded(
                    "EulaNotAccepted",
                    f"JumpStart model {js.model_id} is gated by a license: read"
                    f" {source.eula_uri} and set spec.model.jumpStart.acceptEula: true",
                )
            self._models[key] = ModelContainer(
                image=resolved.image,
                model_data_url=resolved.model_data_url,
                model_data_source=source,
                environment=dict(resolved.environment),
                enable_network_isolation=resolved.enable_network_isolation,
            )
        return self._models[key]
