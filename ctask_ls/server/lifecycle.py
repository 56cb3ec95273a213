"""The LSP lifecycle's handlers: initialize, initialized, settings changes, shutdown and exit.

The checks that make a request before ``initialize`` or after ``shutdown``
an error are :mod:`.rpc`'s; here is what each step does for ctask.
"""

from __future__ import annotations

import asyncio
import logging

from lsprotocol import types

from . import protocol, rpc
from .server import INIT_OPTIONS, CommandError, CtaskServer, hard_exit

logger = logging.getLogger("ctask_ls.server")


def setup_lifecycle(server: CtaskServer) -> None:
    @server.feature(types.INITIALIZE)
    def on_initialize(ls: CtaskServer, params: types.InitializeParams) -> None:
        ls.loop = asyncio.get_running_loop()
        ls.install_signal_handlers(ls.loop)
        ls.apply_settings(params.initialization_options, INIT_OPTIONS)

    @server.feature(types.INITIALIZED)
    def on_initialized(ls: CtaskServer, params: types.InitializedParams) -> None:
        for problem in ls.startup_problems:
            ls.show(problem)
        ls.start_polling()

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def on_configuration(ls: CtaskServer, params: types.DidChangeConfigurationParams) -> None:
        raw: object = params.settings
        if raw is None or raw == {}:
            raw = await _pull_configuration(ls)
            if raw is None:  # nothing to apply: keep the settings we have
                return
        ls.apply_settings(raw, "workspace/didChangeConfiguration")

    @server.feature(types.SHUTDOWN)
    async def on_shutdown(ls: CtaskServer, params: None) -> None:
        await ls.stop_polling()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, ls.close, "server shutdown")

    @server.feature(types.EXIT)
    def on_exit(ls: CtaskServer, params: None) -> None:
        ls.close("server exit")
        hard_exit(0 if ls.protocol.state is rpc.State.SHUT_DOWN else 1)


async def _pull_configuration(ls: CtaskServer) -> object:
    """Pull-model clients send empty settings: ask for the ``ctask`` section."""
    try:
        workspace = ls.client_capabilities.workspace
        if workspace is None or not workspace.configuration:
            return None
        items = [types.ConfigurationItem(section=protocol.SETTINGS_SECTION)]
        values = await ls.workspace_configuration_async(types.ConfigurationParams(items=items))
    except Exception as exc:  # noqa: BLE001 - settings are optional: keep the current ones
        logger.info("workspace/configuration failed: %s", exc)
        return None
    return {protocol.SETTINGS_SECTION: values[0]} if values else None


class QuietExpectedErrors(logging.Filter):
    """pygls logs every failed request with a traceback; ours are expected answers."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, CommandError) or exc.code == protocol.INTERNAL_ERROR
