"""The LSP lifecycle of ``ctask-ls``: the checks in front of pygls' dispatch, one answer per request.

pygls 2 reads a message by trusting its ``Content-Length`` (a 1.5 GB header is
buffered), turns a body that is not JSON into a ``window/showMessage`` popup
with no response, executes requests that arrive before ``initialize``, answers
nothing after ``shutdown`` and advertises ``textDocumentSync``.  This module
replaces the reading side and the checks in front of pygls' dispatch; pygls
still runs the handlers, builds responses and writes them.  The framing of
the stream transports (``Content-Length``, the size limit) is
:mod:`.framing`'s; the checks on one message's shape are :mod:`.messages`'.

Messages (:meth:`CtaskProtocol.handle_body`)
    Not UTF-8 or not JSON: -32700 (``id: null``).  Not a JSON-RPC 2.0 request,
    notification or response (a batch, a wrong ``jsonrpc``, a missing or
    non-string ``method``, an ``id`` that is not an integer or string,
    ``params`` that is neither object nor array, nesting deeper than
    :data:`.messages.MAX_NESTING`): -32600 with the message's id when it has a valid one,
    else ``null``.  Params that do not fit the LSP method: -32602.

Lifecycle (:class:`State`)
    Before ``initialize``: requests get -32002 and are not executed,
    notifications other than ``exit`` are dropped.  A second ``initialize``:
    -32600, nothing changes.  From the moment ``shutdown`` is received: every
    request gets -32600, notifications other than ``exit`` are dropped.  ``exit``
    always exits (status 0 after ``shutdown``, 1 without: :mod:`.server`).

Cancellation (``$/cancelRequest``)
    Only a ``ctask.*`` command that has not started yet can be cancelled: it
    never runs and is answered -32800.  One that has started runs to its end
    and is answered with its result or error, whatever the client cancelled;
    any other request is answered as usual.  So the answer always says what
    happened.

Every request gets exactly one response: errors produced here carry a one-line
message and ``data.kind`` like the command errors, and a second answer to the
same request id (which would be a bug) is logged and dropped.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextvars
import dataclasses
import enum
import json
import logging
import os
import typing as t

import cattrs
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.protocol import JsonRPCNotification, JsonRPCRequestMessage, LanguageServerProtocol, lsp_method

from ctask_ls import __version__

from . import protocol
from .messages import MAX_NESTING, brief, drop_token, malformed, nested_deeper_than, one_line, valid_id

if t.TYPE_CHECKING:
    from collections.abc import Generator

    from pygls.protocol.json_rpc import MsgId

logger = logging.getLogger("ctask_ls.server.rpc")

UNSERVED: tuple[str, ...] = (
    types.TEXT_DOCUMENT_DID_OPEN,
    types.TEXT_DOCUMENT_DID_CHANGE,
    types.TEXT_DOCUMENT_DID_CLOSE,
    types.NOTEBOOK_DOCUMENT_DID_OPEN,
    types.NOTEBOOK_DOCUMENT_DID_CHANGE,
    types.NOTEBOOK_DOCUMENT_DID_CLOSE,
    types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS,
)
"""pygls' built-in document and folder tracking: unused by ctask-ls, so neither served nor advertised."""

_KIND_BY_CODE: dict[int, str] = {
    protocol.PARSE_ERROR: "ParseError",
    protocol.INVALID_REQUEST: "InvalidRequest",
    protocol.METHOD_NOT_FOUND: "MethodNotFound",
    protocol.INVALID_PARAMS: "InvalidParams",
    protocol.INTERNAL_ERROR: "InternalError",
    protocol.SERVER_NOT_INITIALIZED: "ServerNotInitialized",
    protocol.REQUEST_CANCELLED: "RequestCancelled",
}


class State(enum.Enum):
    """Where the server is in the LSP lifecycle."""

    UNINITIALIZED = "uninitialized"
    INITIALIZED = "initialized"
    SHUT_DOWN = "shut down"


@dataclasses.dataclass
class CommandRun:
    """One ``workspace/executeCommand`` request in flight, for ``$/cancelRequest``."""

    cancelled: bool = False
    """The client cancelled it: if its job has not been submitted yet, it never will be."""
    job: concurrent.futures.Future[t.Any] | None = None
    """Its job on the requests executor, once submitted."""

    def cancel(self) -> bool:
        """Cancel unless the job has started; True when nothing will be done."""
        self.cancelled = True
        return self.job is None or self.job.cancel()


class CtaskProtocol(LanguageServerProtocol):
    """pygls' LSP protocol with the lifecycle, the checks and the cancellation rules above."""

    def __init__(self, server: t.Any, converter: cattrs.Converter) -> None:
        super().__init__(server, converter)
        for method in UNSERVED:
            self.fm.builtin_features.pop(method, None)
        self.state = State.UNINITIALIZED
        self._initialized_seen = False
        self._in_flight: collections.Counter[MsgId] = collections.Counter()
        """Requests dispatched to a handler and not answered yet (by id)."""
        self._runs: dict[MsgId, CommandRun] = {}

    # -- reading a body ------------------------------------------------------------------------

    def handle_body(self, body: bytes) -> None:
        """One message's body, as read from the transport; never raises."""
        try:
            data = json.loads(body.decode("utf-8"))
        except RecursionError:
            self.refuse(None, "InvalidRequest", f"the message is nested deeper than {MAX_NESTING} levels")
            return
        except UnicodeDecodeError as exc:
            self.refuse(None, "ParseError", f"the message is not UTF-8 ({exc.reason} at byte {exc.start})")
            return
        except ValueError as exc:  # json.JSONDecodeError, an integer too long to convert
            self.refuse(None, "ParseError", f"the message is not JSON ({one_line(str(exc))})")
            return
        try:
            self.handle_data(data)
        except Exception:  # a bug in the checks below: say so, and answer if it was a request
            logger.exception("handling a message failed")
            if isinstance(data, dict) and "method" in data and valid_id(data.get("id")):
                msg_id = data["id"]
                if msg_id not in self._in_flight:
                    self.refuse(msg_id, "InternalError", "internal error in ctask-ls; see the server's stderr log")

    def handle_data(self, data: object) -> None:
        """One parsed message: check it, apply the lifecycle, hand it to pygls."""
        if not isinstance(data, dict):
            what = "an array (ctask-ls takes no batches)" if isinstance(data, list) else brief(data)
            self.refuse(None, "InvalidRequest", f"a message must be a JSON object, not {what}")
            return
        msg_id = data.get("id") if valid_id(data.get("id")) else None
        is_response = "method" not in data and ("result" in data or "error" in data)
        if nested_deeper_than(data, MAX_NESTING):
            if is_response:
                logger.warning("dropped a response nested deeper than %d levels (id %s)", MAX_NESTING, msg_id)
            else:
                self.refuse(msg_id, "InvalidRequest", f"the message is nested deeper than {MAX_NESTING} levels")
            return
        if is_response:
            self._on_response(data)
            return
        problem = malformed(data)
        if problem is not None:
            self.refuse(msg_id, "InvalidRequest", f"not a JSON-RPC 2.0 request: {problem}")
            return
        if "id" in data:
            self._on_request(data["id"], data["method"], data)
        else:
            self._on_notification(data["method"], data)

    # -- requests ------------------------------------------------------------------------------

    def _has_handler(self, method: str) -> bool:
        return method in self.fm.builtin_features or method in self.fm.features

    def _on_request(self, msg_id: MsgId, method: str, data: dict[str, t.Any]) -> None:
        named = method if len(method) <= 80 else method[:77] + "..."  # as messages show it
        if self.state is State.SHUT_DOWN:
            self.refuse(msg_id, "ServerShutDown", f"the server is shut down: {named} refused; only 'exit' is accepted")
            return
        if self.state is State.UNINITIALIZED and method != types.INITIALIZE:
            self.refuse(
                msg_id, "ServerNotInitialized", f"{named} before initialize: send 'initialize' first; nothing was done"
            )
            return
        if method == types.INITIALIZE and self.state is not State.UNINITIALIZED:
            self.refuse(
                msg_id, "AlreadyInitialized", "the server is already initialized: a second initialize changes nothing"
            )
            return
        if not self._has_handler(method):
            self.refuse(msg_id, "MethodNotFound", f"ctask-ls does not serve {named}")
            return
        if method == types.INITIALIZE:
            drop_token(data)
        message = self._structure(data, method)
        if method == types.WORKSPACE_EXECUTE_COMMAND and not isinstance(message, str):
            command = data["params"].get("command") if isinstance(data.get("params"), dict) else None
            if not isinstance(command, str):  # cattrs would make a string of anything
                message = f"'command' must be a string, not {brief(command)}"
        if isinstance(message, str):
            self.refuse(msg_id, "InvalidParams", f"invalid params for {method}: {message}")
            return
        if method == types.INITIALIZE:
            self.state = State.INITIALIZED
        elif method == types.SHUTDOWN:
            # From now on requests are refused, even while shutdown itself runs; exit answers 0.
            self.state = State.SHUT_DOWN
            self._shutdown = True
        elif method == types.WORKSPACE_EXECUTE_COMMAND:
            command = message.params.command
            if command not in self.fm.commands:
                shown = command if len(command) <= 80 else command[:77] + "..."
                self.refuse(
                    msg_id,
                    "UnknownCommand",
                    f"unknown command {shown!r}; ctask-ls serves {', '.join(self.fm.commands)}",
                    command=shown,
                )
                return
            self._runs[msg_id] = CommandRun()
        self._in_flight[msg_id] += 1
        ctx = contextvars.copy_context()
        ctx.run(self._handle_request, msg_id, method, message.params)

    def _structure(self, data: dict[str, t.Any], method: str) -> t.Any:
        """The typed message, or a one-line reason why its params do not fit ``method``."""
        is_request = "id" in data
        data = {"params": None, **data}  # params may be left out (an `initialized` without them is fine)
        message_type = self.get_message_type(method) or (JsonRPCRequestMessage if is_request else JsonRPCNotification)
        try:
            return self._converter.structure(data, message_type)
        except cattrs.BaseValidationError as exc:
            return "; ".join(cattrs.transform_error(exc)[:3])
        except Exception as exc:  # noqa: BLE001 - any failure to structure is the client's params
            return one_line(f"{type(exc).__name__}: {exc}")

    def command_run(self) -> CommandRun | None:
        """The ``workspace/executeCommand`` request being handled in this context, if any."""
        msg_id = self.msg_id
        return None if msg_id is None else self._runs.get(msg_id)

    # -- notifications -------------------------------------------------------------------------

    def _on_notification(self, method: str, data: dict[str, t.Any]) -> None:
        if method != types.EXIT:
            if self.state is not State.INITIALIZED:
                logger.info("dropped %s: the server is %s", method, self.state.value)
                return
            if method == types.INITIALIZED:
                if self._initialized_seen:
                    logger.info("dropped a second %s", method)
                    return
                self._initialized_seen = True
            if method == types.CANCEL_REQUEST:
                self._cancel(data.get("params"))
                return
            if not self._has_handler(method):
                logger.debug("ignored notification %s: ctask-ls does not serve it", method)
                return
        message = self._structure(data, method)
        if isinstance(message, str):
            logger.warning("dropped notification %s: invalid params: %s", method, message)
            return
        ctx = contextvars.copy_context()
        ctx.run(self._handle_notification, method, message.params)

    def _cancel(self, params: object) -> None:
        msg_id = params.get("id") if isinstance(params, dict) else None
        if msg_id is None or not valid_id(msg_id):
            logger.warning("dropped $/cancelRequest without a valid id: %s", brief(params))
            return
        run = self._runs.get(msg_id)
        if run is None:
            logger.info("$/cancelRequest %r: not a ctask command in flight; it is answered as usual", msg_id)
        elif run.cancel():
            logger.info("$/cancelRequest %r: cancelled before it started; nothing is done", msg_id)
        else:
            logger.info("$/cancelRequest %r: already running; it completes and is answered with its outcome", msg_id)

    def _handle_cancel_notification(self, msg_id: MsgId) -> None:
        """pygls' own path (unused: :meth:`_cancel` decides); never cancels a request's answer."""
        self._cancel({"id": msg_id})

    # -- responses from the client ----------------------------------------------------------------

    def _on_response(self, data: dict[str, t.Any]) -> None:
        if data.get("jsonrpc") != "2.0" or not valid_id(data.get("id")):
            logger.warning("dropped a malformed response from the client (id %s)", brief(data.get("id")))
            return
        try:
            message = self.structure_message(data)
        except Exception:  # noqa: BLE001 - pygls logged why; the request it answers fails by timeout
            return
        ctx = contextvars.copy_context()
        if "error" in data:
            ctx.run(self._handle_response, message.id, None, message.error)
        else:
            ctx.run(self._handle_response, message.id, message.result)

    # -- answering -------------------------------------------------------------------------------

    def refuse(self, msg_id: MsgId | None, kind: str, message: str, **data: t.Any) -> None:
        """Answer a request that is not handed to a handler (``msg_id`` None: ``id: null``)."""
        code = protocol.ERROR_CODES[kind]
        logger.info("refused (%s %s): %s", code, kind, message)
        error = {"code": code, "message": one_line(message), "data": {"kind": kind, **data}}
        self._send_data({"jsonrpc": "2.0", "id": msg_id, "error": error})

    def _send_response(
        self, msg_id: MsgId, result: t.Any | None = None, error: types.ResponseError | None = None
    ) -> None:
        """pygls' answer to a dispatched request: once per request, errors one line with ``data.kind``."""
        if self._in_flight[msg_id] <= 0:
            del self._in_flight[msg_id]
            logger.error("dropped a second answer to request %r", msg_id)
            return
        self._in_flight[msg_id] -= 1
        if self._in_flight[msg_id] <= 0:
            del self._in_flight[msg_id]
            self._runs.pop(msg_id, None)
        if error is not None:
            data = dict(error.data) if isinstance(error.data, dict) else {}
            data.pop("traceback", None)  # it is on stderr
            kind = data.get("kind") or _KIND_BY_CODE.get(error.code)
            if kind is not None:
                data["kind"] = kind
            error = types.ResponseError(code=error.code, message=one_line(error.message), data=data or error.data)
        super()._send_response(msg_id, result, error)

    def _run_generator(
        self,
        future: concurrent.futures.Future[t.Any] | None,
        *,
        gen: Generator[t.Any, t.Any, t.Any],
        result_future: concurrent.futures.Future[t.Any],
    ) -> None:
        """A handler step that was cancelled still ends its request with an answer."""
        if future is not None and future.cancelled() and not result_future.done():
            gen.close()
            result_future.set_exception(
                JsonRpcException("the request was cancelled", protocol.REQUEST_CANCELLED, {"kind": "RequestCancelled"})
            )
            return
        super()._run_generator(future, gen=gen, result_future=result_future)

    # -- built-in methods ------------------------------------------------------------------------

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams) -> Generator[t.Any, t.Any, types.InitializeResult]:
        """pygls' initialize, advertising only what ctask-ls serves: ``executeCommandProvider``, and under
        ``experimental.ctask`` its protocol version, ctask's version and the server's host and pid (a client names
        its own server's leases, and refuses a server of another protocol)."""
        result = yield from super().lsp_initialize(params)
        served = types.ServerCapabilities(
            execute_command_provider=result.capabilities.execute_command_provider,
            experimental={
                "ctask": {
                    "protocol": protocol.PROTOCOL_VERSION,
                    "version": __version__,
                    "host": os.uname().nodename,  # as leases name it
                    "pid": os.getpid(),
                }
            },
        )
        self.server_capabilities = served
        return types.InitializeResult(capabilities=served, server_info=result.server_info)

    @lsp_method(types.SHUTDOWN)
    def lsp_shutdown(self, *args: t.Any) -> Generator[t.Any, t.Any, None]:
        """Run the server's shutdown; requests in flight are not cancelled: each is answered with its outcome."""
        if (user_handler := self.fm.features.get(types.SHUTDOWN)) is not None:
            yield user_handler, args, None
        self._shutdown = True
