/** The server's questions (`window/showMessageRequest`), asked as modal dialogs. */
import * as api from './vscodeapi';

/** LSP MessageType: Error = 1, Warning = 2, Info = 3, Log = 4. */
const ERROR = 1;
const WARNING = 2;

export interface MessageActionItem {
  title: string;
}

export interface ShowMessageRequestParams {
  type: number;
  message: string;
  actions?: MessageActionItem[];
}

/**
 * Ask modally: the question blocks a command the user just ran (e.g. adopting
 * a session another host holds: "Adopt" / "Cancel").  A "Cancel" (or "No")
 * action becomes the dialog's close affordance, so Escape picks it; the
 * answer is the chosen action, or null when the dialog was dismissed.
 */
export async function askModal(params: ShowMessageRequestParams): Promise<MessageActionItem | null> {
  const actions = (params.actions ?? []).map((a) => a.title);
  const cancelIndex = actions.findIndex((a) => /^(cancel|no)$/i.test(a));
  const cancel = cancelIndex >= 0 ? actions[cancelIndex] : 'Cancel';
  const others = actions.filter((_, i) => i !== cancelIndex);
  const kind = params.type === ERROR ? 'error' : params.type === WARNING ? 'warning' : 'info';
  const picked = await api.showModal(kind, params.message, others, cancel);
  if (picked === undefined || (cancelIndex < 0 && picked === cancel)) {
    return null;
  }
  return { title: picked };
}
