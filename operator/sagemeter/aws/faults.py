"""Fault injection for crash-safety tests: exit the process right after an AWS call.

`SAGEMETER_FAULT_EXIT_AFTER=sagemaker:CreateModel` makes the operator exit
(status 86, no cleanup, like a SIGKILL) the moment that call has succeeded,
before anything else (a status patch, the next call) happens. Unset in
production; the crash tests use it to stop the operator at exact points.
"""

from __future__ import annotations

import logging
import os
from typing import Any

EXIT_STATUS = 86
log = logging.getLogger("sagemeter")


class ExitAfter:
    def __init__(self, service_operation: str) -> None:
        self.service, _, self.operation = service_operation.partition(":")

    def attach(self, client: Any) -> None:
        if client.meta.service_model.service_name == self.service:
            client.meta.events.register(f"after-call.{self.service}.{self.operation}", self._exit)

    def _exit(self, http_response: Any, parsed: Any, **_: Any) -> None:
        if http_response.status_code < 300:
            log.warning("fault injection: exiting after %s:%s", self.service, self.operation)
            logging.shutdown()
            os._exit(EXIT_STATUS)
